//! Local media: synthetic sources or capture devices (through a
//! [`FrameFeed`] / [`AudioFeed`]), encoded and sent.
//!
//! Video renders and encodes on its own thread (VP8 at 720p is real CPU work
//! and must not stall the async runtime); an async task hands the encoded
//! frames to the track. Mute stops the encoder, so a muted member sends
//! nothing at all. For benchmarks the camera's pattern can carry sensor
//! noise, and for load tests the camera can replay a pre-encoded
//! [`EncodedClip`] instead, which costs next to no CPU.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_media::{
    ContentKind, EncodedFrame, I420Frame, MediaError, OPUS_FRAME_MS, OPUS_FRAME_SAMPLES,
    OPUS_SAMPLE_RATE, OpusEncoder, Rgb, SyntheticScreen, TalkingDetector, TestPattern, ToneSource,
    Vp8Config, Vp8Encoder, level_dbfs,
};
use conclave_protocol::TrackKind;

use crate::feed::{AudioFeed, FrameFeed};
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

/// A video source: the synthetic test pattern (camera) or synthetic screen
/// at this size, or with `feed`, frames from a device (encoded at their own
/// size, at most `fps` a second).
#[derive(Clone, Debug)]
pub struct VideoSourceConfig {
    pub colour: Rgb,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub feed: Option<FrameFeed>,
}

/// A microphone: a tone at the member's own pitch, or with `feed`, a device.
#[derive(Clone, Debug)]
pub struct AudioSourceConfig {
    pub tone_hz: f32,
    pub feed: Option<AudioFeed>,
}

/// What a member publishes. `None` publishes nothing of that kind.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub camera: Option<VideoSourceConfig>,
    pub microphone: Option<AudioSourceConfig>,
    pub screen: Option<VideoSourceConfig>,
}

/// Where the camera's frames come from. The default is the app's own: the
/// plain test pattern, encoded live.
#[derive(Clone, Debug, Default)]
pub enum CameraSource {
    #[default]
    TestPattern,
    /// The test pattern with sensor noise, which codes like a real webcam
    /// (benchmarks).
    NoisyTestPattern,
    /// A pre-encoded clip, replayed in a loop (load tests).
    Replay(EncodedClip),
}

/// A pre-encoded VP8 clip for load testing. It starts with a keyframe; a
/// keyframe request jumps to the next keyframe in the clip, and the end wraps
/// round to the start.
#[derive(Clone)]
pub struct EncodedClip {
    frames: Arc<Vec<EncodedFrame>>,
}

impl EncodedClip {
    /// `None` unless `frames` is non-empty and starts with a keyframe.
    pub fn new(frames: Vec<EncodedFrame>) -> Option<Self> {
        frames.first()?.keyframe.then(|| EncodedClip {
            frames: Arc::new(frames),
        })
    }

    /// The frame at `position`, which then moves on; with `keyframe`, the
    /// next keyframe from `position` on.
    fn next(&self, position: &mut usize, keyframe: bool) -> Vec<u8> {
        let len = self.frames.len();
        // Terminates: the first frame is a keyframe.
        while keyframe && !self.frames[*position % len].keyframe {
            *position += 1;
        }
        let frame = &self.frames[*position % len];
        *position = (*position + 1) % len;
        frame.data.clone()
    }
}

impl fmt::Debug for EncodedClip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodedClip")
            .field("frames", &self.frames.len())
            .field(
                "keyframes",
                &self.frames.iter().filter(|f| f.keyframe).count(),
            )
            .field(
                "bytes",
                &self.frames.iter().map(|f| f.data.len()).sum::<usize>(),
            )
            .finish()
    }
}

pub use conclave_protocol::clock::unix_us as now_us;

/// A local track and the switch that pauses it.
pub struct LocalTrack {
    pub kind: TrackKind,
    pub track: Arc<TrackLocalStaticSample>,
    pub sending: Arc<AtomicBool>,
    /// Video frames handed to the track so far (tests compare what arrived).
    pub frames_sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl LocalTrack {
    pub fn set_sending(&self, sending: bool) {
        self.sending.store(sending, Ordering::Relaxed);
    }
}

impl Drop for LocalTrack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn sample_track(kind: TrackKind) -> Arc<TrackLocalStaticSample> {
    let (codec, rtp_kind) = if kind.is_video() {
        (conclave_rtc::vp8_codec(), RtpCodecKind::Video)
    } else {
        (conclave_rtc::opus_codec(), RtpCodecKind::Audio)
    };
    let track = MediaStreamTrack::new(
        "local".to_owned(),
        kind.as_str().to_owned(),
        kind.as_str().to_owned(),
        rtp_kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(rand::random()),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    );
    Arc::new(
        TrackLocalStaticSample::new(Instant::now(), track).expect("a sample track with one coding"),
    )
}

/// Starts a video source: `kind` is Camera (from `camera`) or Screen (the
/// synthetic screen; `camera` is ignored).
pub fn start_video(
    kind: TrackKind,
    config: VideoSourceConfig,
    camera: CameraSource,
    sending: bool,
) -> LocalTrack {
    let track = sample_track(kind);
    let sending = Arc::new(AtomicBool::new(sending));
    let stop = Arc::new(AtomicBool::new(false));
    let keyframe = Arc::new(AtomicBool::new(true));
    let (frames_tx, frames_rx) = mpsc::channel::<(Vec<u8>, Instant)>(4);

    let thread_sending = sending.clone();
    let thread_stop = stop.clone();
    let thread_keyframe = keyframe.clone();
    std::thread::Builder::new()
        .name(format!("encode-{}", kind.as_str()))
        .spawn(move || {
            encode_loop(
                kind,
                config,
                camera,
                thread_sending,
                thread_stop,
                thread_keyframe,
                frames_tx,
            )
        })
        .expect("spawn encoder thread");
    let frames_sent = Arc::new(AtomicU64::new(0));
    tokio::spawn(write_samples(
        track.clone(),
        frames_rx,
        conclave_rtc::VP8_PAYLOAD_TYPE,
        frames_sent.clone(),
    ));
    tokio::spawn(watch_keyframe_requests(
        track.clone(),
        keyframe,
        stop.clone(),
    ));
    LocalTrack {
        kind,
        track,
        sending,
        frames_sent,
        stop,
    }
}

/// Where a video source's encoded frames come from.
enum VideoFrames {
    Pattern(TestPattern, Vp8Encoder),
    Screen(SyntheticScreen, Vp8Encoder),
    Replay {
        clip: EncodedClip,
        position: usize,
    },
    /// A device's frames; the encoder is made for the first frame's size and
    /// remade when the size changes (another screen). A device may send only
    /// changes (a still screen sends nothing), so the last picture is kept to
    /// answer a keyframe request.
    Live {
        feed: FrameFeed,
        seen: u64,
        last: Option<Arc<I420Frame>>,
        encoder: Option<Vp8Encoder>,
        config: Vp8Config,
    },
}

impl VideoFrames {
    fn new(
        kind: TrackKind,
        config: &VideoSourceConfig,
        camera: CameraSource,
    ) -> Result<Self, MediaError> {
        let sensor_noise = match camera {
            CameraSource::Replay(clip) if kind == TrackKind::Camera => {
                return Ok(VideoFrames::Replay { clip, position: 0 });
            }
            CameraSource::NoisyTestPattern => true,
            _ => false,
        };
        let content = if kind == TrackKind::Screen {
            ContentKind::Screen
        } else {
            ContentKind::Camera
        };
        let vp8 = Vp8Config {
            width: config.width,
            height: config.height,
            fps: config.fps,
            bitrate_kbps: config.bitrate_kbps,
            content,
        };
        if let Some(feed) = config.feed.clone() {
            return Ok(VideoFrames::Live {
                feed,
                seen: 0,
                last: None,
                encoder: None,
                config: vp8,
            });
        }
        let encoder = Vp8Encoder::new(&vp8)?;
        let (colour, width, height) = (config.colour, config.width, config.height);
        Ok(match kind {
            TrackKind::Screen => {
                VideoFrames::Screen(SyntheticScreen::new(colour, width, height), encoder)
            }
            _ => VideoFrames::Pattern(
                TestPattern::new(colour, width, height).with_sensor_noise(sensor_noise),
                encoder,
            ),
        })
    }

    /// The encoded data of frame `frame_number`, captured now.
    fn next(&mut self, frame_number: u32, keyframe: bool) -> Result<Vec<Vec<u8>>, MediaError> {
        let capture_us = now_us();
        let (picture, encoder) = match self {
            VideoFrames::Replay { clip, position } => {
                return Ok(vec![clip.next(position, keyframe)]);
            }
            VideoFrames::Live {
                feed,
                seen,
                last,
                encoder,
                config,
            } => {
                let picture = match (feed.newer_than(*seen), &last) {
                    (Some((sequence, picture)), _) => {
                        *seen = sequence;
                        *last = Some(picture.clone());
                        picture
                    }
                    (None, Some(previous)) if keyframe => previous.clone(),
                    // Nothing new from the device: send nothing.
                    (None, _) => return Ok(Vec::new()),
                };
                let resized = encoder.is_some()
                    && (config.width, config.height) != (picture.width, picture.height);
                if encoder.is_none() || resized {
                    (config.width, config.height) = (picture.width, picture.height);
                    *encoder = Some(Vp8Encoder::new(config)?);
                }
                let encoder = encoder.as_mut().expect("made above");
                let packets = encoder.encode(&picture, frame_number as i64, keyframe || resized)?;
                return Ok(packets.into_iter().map(|packet| packet.data).collect());
            }
            VideoFrames::Pattern(pattern, encoder) => {
                (pattern.render(frame_number, capture_us), encoder)
            }
            VideoFrames::Screen(screen, encoder) => {
                (screen.render(frame_number, capture_us), encoder)
            }
        };
        let packets = encoder.encode(picture, frame_number as i64, keyframe)?;
        Ok(packets.into_iter().map(|packet| packet.data).collect())
    }
}

fn encode_loop(
    kind: TrackKind,
    config: VideoSourceConfig,
    camera: CameraSource,
    sending: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    keyframe: Arc<AtomicBool>,
    frames: mpsc::Sender<(Vec<u8>, Instant)>,
) {
    let mut source = match VideoFrames::new(kind, &config, camera) {
        Ok(source) => source,
        Err(err) => {
            tracing::error!(%err, "cannot start the VP8 encoder");
            return;
        }
    };
    let period = Duration::from_secs_f64(1.0 / config.fps.max(1) as f64);
    let start = Instant::now();
    let mut frame_number: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = start + period * frame_number;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        frame_number += 1;
        if !sending.load(Ordering::Relaxed) {
            // Resuming after mute must start with a keyframe.
            keyframe.store(true, Ordering::Relaxed);
            continue;
        }
        let captured = Instant::now();
        let force = keyframe.swap(false, Ordering::Relaxed);
        match source.next(frame_number, force) {
            Ok(packets) => {
                for data in packets {
                    if frames.blocking_send((data, captured)).is_err() {
                        return;
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "encode failed"),
        }
    }
}

async fn write_samples(
    track: Arc<TrackLocalStaticSample>,
    mut frames: mpsc::Receiver<(Vec<u8>, Instant)>,
    payload_type: u8,
    frames_sent: Arc<AtomicU64>,
) {
    let Some(ssrc) = track.ssrcs().await.first().copied() else {
        return;
    };
    let mut last: Option<Instant> = None;
    while let Some((data, captured)) = frames.recv().await {
        let duration = last
            .map(|l| captured.saturating_duration_since(l))
            .unwrap_or(Duration::from_millis(33));
        last = Some(captured);
        let sample = Sample {
            data: Bytes::from(data),
            duration,
            ..Sample::new(captured)
        };
        // Before negotiation completes the track is unbound and the sample is dropped, as a camera's would be.
        let written = track
            .sample_writer(ssrc, payload_type)
            .write_sample(&sample)
            .await;
        if written.is_ok() {
            frames_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Turns the receiver's PLI/FIR into a keyframe on the next encode.
async fn watch_keyframe_requests(
    track: Arc<TrackLocalStaticSample>,
    keyframe: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match track.poll().await {
            Some(TrackLocalEvent::OnRtcpPacket(_)) => keyframe.store(true, Ordering::Relaxed),
            Some(_) => {}
            // Not bound yet (or unbound): look again shortly.
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// How long a microphone may send nothing before it counts as silence.
const DEVICE_QUIET: Duration = Duration::from_millis(100);

/// Starts the microphone. Talking changes (from the level, with hysteresis) go to `talking`.
pub fn start_audio(
    config: AudioSourceConfig,
    sending: bool,
    talking: mpsc::UnboundedSender<bool>,
) -> LocalTrack {
    let track = sample_track(TrackKind::Microphone);
    let sending = Arc::new(AtomicBool::new(sending));
    let stop = Arc::new(AtomicBool::new(false));
    let task_track = track.clone();
    let task_sending = sending.clone();
    let task_stop = stop.clone();
    tokio::spawn(async move {
        let Some(ssrc) = task_track.ssrcs().await.first().copied() else {
            return;
        };
        let mut tone = ToneSource::new(config.tone_hz, OPUS_SAMPLE_RATE);
        let mut encoder = match OpusEncoder::new() {
            Ok(encoder) => encoder,
            Err(err) => {
                tracing::error!(%err, "cannot start the Opus encoder");
                return;
            }
        };
        let mut detector = TalkingDetector::new();
        let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
        let mut ticks = tokio::time::interval(Duration::from_millis(OPUS_FRAME_MS as u64));
        while !task_stop.load(Ordering::Relaxed) {
            match &config.feed {
                None => {
                    ticks.tick().await;
                    tone.next_samples(&mut pcm);
                }
                Some(feed) => {
                    if !feed.take(&mut pcm) {
                        let quiet = tokio::time::timeout(DEVICE_QUIET, feed.arrived())
                            .await
                            .is_err();
                        if !quiet {
                            continue;
                        }
                        // No samples from the device (gone, or being switched): silence.
                        pcm.fill(0);
                    }
                }
            }
            let live = task_sending.load(Ordering::Relaxed);
            // A muted microphone is silent to the detector as well.
            let level = if live { level_dbfs(&pcm) } else { -100.0 };
            if let Some(now_talking) = detector.push(level, OPUS_FRAME_MS) {
                let _ = talking.send(now_talking);
            }
            if !live {
                continue;
            }
            let Ok(packet) = encoder.encode(&pcm) else {
                continue;
            };
            let sample = Sample {
                data: Bytes::from(packet),
                duration: Duration::from_millis(OPUS_FRAME_MS as u64),
                ..Sample::new(Instant::now())
            };
            let _ = task_track
                .sample_writer(ssrc, conclave_rtc::OPUS_PAYLOAD_TYPE)
                .write_sample(&sample)
                .await;
        }
    });
    LocalTrack {
        kind: TrackKind::Microphone,
        track,
        sending,
        frames_sent: Arc::default(),
        stop,
    }
}

pub fn as_track_local(track: &LocalTrack) -> Arc<dyn TrackLocal> {
    track.track.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_still_device_sends_nothing_new_but_answers_a_keyframe_request() {
        let feed = FrameFeed::default();
        let config = VideoSourceConfig {
            colour: Rgb::new(10, 20, 30),
            width: 64,
            height: 48,
            fps: 10,
            bitrate_kbps: 300,
            feed: Some(feed.clone()),
        };
        let mut source =
            VideoFrames::new(TrackKind::Screen, &config, CameraSource::default()).unwrap();
        assert!(source.next(1, false).unwrap().is_empty(), "no frame yet");
        feed.push(I420Frame::new_black(64, 48));
        assert_eq!(
            source.next(2, false).unwrap().len(),
            1,
            "a new frame is sent"
        );
        assert!(
            source.next(3, false).unwrap().is_empty(),
            "unchanged: nothing"
        );
        let again = source.next(4, true).unwrap();
        assert_eq!(
            again.len(),
            1,
            "a keyframe request re-sends the last picture"
        );
        assert_eq!(again[0][0] & 1, 0, "as a keyframe (VP8 P bit clear)");
    }
}
