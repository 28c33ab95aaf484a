//! Local media: what devices write into a [`FrameFeed`] / [`AudioFeed`]
//! (real ones, or the synthetic ones of `conclave-devices`), encoded and sent.
//!
//! Video encodes on its own thread (VP8 at 720p is real CPU work and must not
//! stall the async runtime), each frame as soon as the device has it; an
//! async task hands the encoded frames to the track. Mute stops the encoder,
//! so a muted member sends nothing at all. For load tests the camera can
//! replay a pre-encoded [`EncodedClip`] instead, which costs next to no CPU.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_media::pace::run_paced;
use conclave_media::{
    AudioFeed, ContentKind, EncodedFrame, FrameFeed, I420Frame, MediaError, OPUS_FRAME_MS,
    OPUS_FRAME_SAMPLES, OpusEncoder, TalkingDetector, Vp8Config, Vp8Encoder, level_dbfs,
};
use conclave_protocol::TrackKind;
use rtc::media::Sample;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::mpsc;
use webrtc::media_stream::Track;
use webrtc::media_stream::track_local::static_sample::TrackLocalStaticSample;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};

/// A video source: the frames a device writes into `feed`, encoded at their
/// own size, at most `fps` a second.
#[derive(Clone, Debug)]
pub struct VideoSourceConfig {
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub feed: FrameFeed,
}

/// A microphone: the samples a device writes into `feed`.
#[derive(Clone, Debug)]
pub struct AudioSourceConfig {
    pub feed: AudioFeed,
}

/// What a member publishes. `None` publishes nothing of that kind.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub camera: Option<VideoSourceConfig>,
    pub microphone: Option<AudioSourceConfig>,
    pub screen: Option<VideoSourceConfig>,
}

/// Where the camera's frames come from. The default is the app's own: the
/// camera's feed, encoded live.
#[derive(Clone, Debug, Default)]
pub enum CameraSource {
    #[default]
    Feed,
    /// A pre-encoded clip, replayed in a loop at the camera's `fps` (load
    /// tests); the feed is not read.
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

/// A local track and the switch that pauses it.
pub struct LocalTrack {
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

/// Starts a video source: `kind` is Camera (from `camera`) or Screen (from
/// the feed; `camera` is ignored).
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
        track,
        sending,
        frames_sent,
        stop,
    }
}

/// A device's frames, encoded. The encoder is made for the first frame's
/// size and remade when the size changes (another screen). A device may send
/// only changes (a still screen sends nothing), so the last picture is kept
/// to answer a keyframe request.
struct FeedEncoder {
    feed: FrameFeed,
    seen: u64,
    last: Option<Arc<I420Frame>>,
    encoder: Option<Vp8Encoder>,
    config: Vp8Config,
}

impl FeedEncoder {
    fn new(kind: TrackKind, config: &VideoSourceConfig) -> Self {
        let content = if kind == TrackKind::Screen {
            ContentKind::Screen
        } else {
            ContentKind::Camera
        };
        FeedEncoder {
            feed: config.feed.clone(),
            seen: 0,
            last: None,
            encoder: None,
            config: Vp8Config {
                width: 0,
                height: 0,
                fps: config.fps,
                bitrate_kbps: config.bitrate_kbps,
                content,
            },
        }
    }

    /// Waits up to `timeout` for a frame newer than the last one taken; it
    /// becomes the last picture.
    fn wait_fresh(&mut self, timeout: Duration) -> Option<Arc<I420Frame>> {
        let (sequence, picture) = self.feed.wait_newer_than(self.seen, timeout)?;
        self.seen = sequence;
        self.last = Some(picture.clone());
        Some(picture)
    }

    /// Encodes `fresh` as frame `frame_number`, or without it, the last
    /// picture again if `keyframe` asks for one; else nothing.
    fn encode(
        &mut self,
        fresh: Option<Arc<I420Frame>>,
        frame_number: u32,
        keyframe: bool,
    ) -> Result<Vec<Vec<u8>>, MediaError> {
        let picture = match (fresh, &self.last) {
            (Some(picture), _) => picture,
            (None, Some(previous)) if keyframe => previous.clone(),
            (None, _) => return Ok(Vec::new()),
        };
        let resized = self.encoder.is_some()
            && (self.config.width, self.config.height) != (picture.width, picture.height);
        if self.encoder.is_none() || resized {
            (self.config.width, self.config.height) = (picture.width, picture.height);
            self.encoder = Some(Vp8Encoder::new(&self.config)?);
        }
        let encoder = self.encoder.as_mut().expect("made above");
        let packets = encoder.encode(&picture, frame_number as i64, keyframe || resized)?;
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
    let period = Duration::from_secs(1) / config.fps.max(1);
    if let (TrackKind::Camera, CameraSource::Replay(clip)) = (kind, camera) {
        let mut position = 0;
        run_paced(period, &stop, || {
            if !sending.load(Ordering::Relaxed) {
                // Resuming after mute must start with a keyframe.
                keyframe.store(true, Ordering::Relaxed);
                return ControlFlow::Continue(());
            }
            let data = clip.next(&mut position, keyframe.swap(false, Ordering::Relaxed));
            match frames.blocking_send((data, Instant::now())) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        return;
    }
    // The device paces the loop: each frame is encoded when it arrives, but
    // no sooner than 3/4 of a period after the last (devices jitter), so at
    // most `fps` a second. Without frames it still wakes every period, to
    // answer a keyframe request and to notice the stop.
    let mut source = FeedEncoder::new(kind, &config);
    let mut frame_number: u32 = 0;
    let mut not_before = Instant::now();
    let mut live = false;
    while !stop.load(Ordering::Relaxed) {
        if let Some(early) = not_before.checked_duration_since(Instant::now()) {
            std::thread::sleep(early);
        }
        let fresh = source.wait_fresh(period);
        if !sending.load(Ordering::Relaxed) {
            // Resuming after mute must start with a keyframe.
            keyframe.store(true, Ordering::Relaxed);
            live = false;
            continue;
        }
        if !live {
            // Started or resumed (unmuted, shared again): the keyframe goes with
            // the device's next frame, not the one in hand. The server opens the
            // track (and offers a new share to the others) only when the request
            // that came with the resume reaches it: a keyframe sent at that very
            // moment is dropped there.
            live = true;
            continue;
        }
        if fresh.is_none() && !keyframe.load(Ordering::Relaxed) {
            continue;
        }
        let captured = Instant::now();
        frame_number += 1;
        let force = keyframe.swap(false, Ordering::Relaxed);
        match source.encode(fresh, frame_number, force) {
            Ok(packets) => {
                if !packets.is_empty() {
                    not_before = captured + period * 3 / 4;
                }
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
        let mut encoder = match OpusEncoder::new() {
            Ok(encoder) => encoder,
            Err(err) => {
                tracing::error!(%err, "cannot start the Opus encoder");
                return;
            }
        };
        let mut detector = TalkingDetector::new();
        let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
        let feed = &config.feed;
        while !task_stop.load(Ordering::Relaxed) {
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
            fps: 10,
            bitrate_kbps: 300,
            feed: feed.clone(),
        };
        let mut source = FeedEncoder::new(TrackKind::Screen, &config);
        let quick = Duration::from_millis(1);
        let fresh = source.wait_fresh(quick);
        assert!(
            source.encode(fresh, 1, false).unwrap().is_empty(),
            "no frame yet"
        );
        feed.push(I420Frame::new_black(64, 48));
        let fresh = source.wait_fresh(quick);
        assert_eq!(
            source.encode(fresh, 2, false).unwrap().len(),
            1,
            "a new frame is sent"
        );
        let fresh = source.wait_fresh(quick);
        assert!(
            source.encode(fresh, 3, false).unwrap().is_empty(),
            "unchanged: nothing"
        );
        let fresh = source.wait_fresh(quick);
        let again = source.encode(fresh, 4, true).unwrap();
        assert_eq!(
            again.len(),
            1,
            "a keyframe request re-sends the last picture"
        );
        assert_eq!(again[0][0] & 1, 0, "as a keyframe (VP8 P bit clear)");
        feed.push(I420Frame::new_black(32, 16));
        let fresh = source.wait_fresh(quick);
        let resized = source.encode(fresh, 5, false).unwrap();
        assert_eq!(resized[0][0] & 1, 0, "another size starts with a keyframe");
    }
}
