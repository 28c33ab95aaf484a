//! Local media: synthetic (or, later, real) sources encoded and sent.
//!
//! Video renders and encodes on its own thread (VP8 at 720p is real CPU work
//! and must not stall the async runtime); an async task hands the encoded
//! frames to the track. Mute stops the encoder, so a muted member sends
//! nothing at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use conclave_media::{
    ContentKind, OPUS_FRAME_MS, OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE, OpusEncoder, Rgb,
    SyntheticScreen, TalkingDetector, TestPattern, ToneSource, Vp8Config, Vp8Encoder, level_dbfs,
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

/// A synthetic video device: the test pattern (camera) or the synthetic screen.
#[derive(Clone, Debug)]
pub struct VideoSourceConfig {
    pub colour: Rgb,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
}

/// A synthetic microphone: a tone at the member's own pitch.
#[derive(Clone, Debug)]
pub struct AudioSourceConfig {
    pub tone_hz: f32,
}

/// What a member publishes. `None` publishes nothing of that kind.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    pub camera: Option<VideoSourceConfig>,
    pub microphone: Option<AudioSourceConfig>,
    pub screen: Option<VideoSourceConfig>,
}

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A local track and the switch that pauses it.
pub struct LocalTrack {
    pub kind: TrackKind,
    pub track: Arc<TrackLocalStaticSample>,
    pub sending: Arc<AtomicBool>,
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

fn sample_track(kind: TrackKind) -> Arc<TrackLocalStaticSample> {
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

/// Starts a video source. `kind` is Camera (test pattern) or Screen (synthetic screen).
pub fn start_video(kind: TrackKind, config: VideoSourceConfig, sending: bool) -> LocalTrack {
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
                thread_sending,
                thread_stop,
                thread_keyframe,
                frames_tx,
            )
        })
        .expect("spawn encoder thread");
    tokio::spawn(write_samples(
        track.clone(),
        frames_rx,
        conclave_rtc::VP8_PAYLOAD_TYPE,
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
        stop,
    }
}

fn encode_loop(
    kind: TrackKind,
    config: VideoSourceConfig,
    sending: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    keyframe: Arc<AtomicBool>,
    frames: mpsc::Sender<(Vec<u8>, Instant)>,
) {
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
    let mut encoder = match Vp8Encoder::new(&vp8) {
        Ok(encoder) => encoder,
        Err(err) => {
            tracing::error!(%err, "cannot start the VP8 encoder");
            return;
        }
    };
    enum Source {
        Pattern(TestPattern),
        Screen(SyntheticScreen),
    }
    let mut source = match kind {
        TrackKind::Screen => Source::Screen(SyntheticScreen::new(
            config.colour,
            config.width,
            config.height,
        )),
        _ => Source::Pattern(TestPattern::new(config.colour, config.width, config.height)),
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
        let capture_us = now_us();
        let frame = match &mut source {
            Source::Pattern(p) => p.render(frame_number, capture_us),
            Source::Screen(s) => s.render(frame_number, capture_us),
        };
        let force = keyframe.swap(false, Ordering::Relaxed);
        match encoder.encode(frame, frame_number as i64, force) {
            Ok(packets) => {
                for packet in packets {
                    if frames.blocking_send((packet.data, captured)).is_err() {
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
        let _ = track
            .sample_writer(ssrc, payload_type)
            .write_sample(&sample)
            .await;
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
            ticks.tick().await;
            tone.next_samples(&mut pcm);
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
        stop,
    }
}

pub fn as_track_local(track: &LocalTrack) -> Arc<dyn TrackLocal> {
    track.track.clone()
}
