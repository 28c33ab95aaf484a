//! Local media: what devices write into a [`FrameFeed`] / [`AudioFeed`]
//! (real ones, or the synthetic ones of `conclave-devices`), encoded and sent.
//!
//! Video encodes on its own thread (VP8 at 720p is real CPU work and must not
//! stall the async runtime), each frame as soon as the device has it; an
//! async task hands the encoded frames to the track. Mute stops the encoder,
//! so a muted member sends nothing at all. For load tests the camera can
//! replay a pre-encoded [`EncodedClip`] instead, which costs next to no CPU.
//!
//! A camera is sent in simulcast: the full picture, half and a quarter of
//! it, each its own VP8 stream and track (see `conclave_rtc`'s layers). The
//! encoders follow the uplink's estimate and the layers it has room for
//! ([`crate::uplink`]).

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use conclave_media::pace::run_paced;
use conclave_media::{
    AudioFeed, ContentKind, EchoGate, EchoReference, EncodedFrame, FrameFeed, I420Frame,
    MediaError, OpusEncoder, OpusFrame, TalkingDetector, VOICE_FRAME_SAMPLES, VoiceProcessor,
    VoiceSettings, Vp8Config, Vp8Encoder, level_dbfs,
};
use conclave_protocol::TrackKind;
use conclave_rtc::{CAMERA_LEVELS, level_bitrate_kbps, published_track_id};

use crate::uplink::Uplink;
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
    /// Of the full picture; smaller layers get a share of it.
    pub bitrate_kbps: u32,
    /// Simulcast layers for a camera ([`CAMERA_LEVELS`] normally; 1 sends
    /// the full picture only). A screen share is always one.
    pub layers: u8,
    pub feed: FrameFeed,
}

/// A microphone: the samples a device writes into `feed`, processed
/// (echo cancellation and the rest) as `voice` says.
#[derive(Clone, Debug)]
pub struct AudioSourceConfig {
    pub feed: AudioFeed,
    pub voice: VoiceControl,
    /// Opus's frame: 20 ms, or 10 ms for less delay.
    pub frame: OpusFrame,
}

/// The microphone's processing settings, which the user may change during
/// the call: the capture applies a change from its next frame on.
#[derive(Clone, Debug)]
pub struct VoiceControl(Arc<tokio::sync::watch::Sender<VoiceSettings>>);

impl VoiceControl {
    pub fn new(settings: VoiceSettings) -> Self {
        VoiceControl(Arc::new(tokio::sync::watch::Sender::new(settings)))
    }

    pub fn set(&self, settings: VoiceSettings) {
        self.0.send_replace(settings);
    }
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
    /// Pre-encoded clips, one per layer (full size first), replayed in a
    /// loop at the camera's `fps` (load tests); the feed is not read.
    Replay(Vec<EncodedClip>),
}

/// A pre-encoded VP8 clip for load testing. It starts with a keyframe; a
/// keyframe request jumps to the next keyframe in the clip, and the end wraps
/// round to the start.
#[derive(Clone)]
pub struct EncodedClip {
    frames: Arc<Vec<EncodedFrame>>,
    /// The bitrate it was encoded at.
    kbps: u32,
}

impl EncodedClip {
    /// `None` unless `frames` is non-empty and starts with a keyframe.
    pub fn new(frames: Vec<EncodedFrame>, kbps: u32) -> Option<Self> {
        frames.first()?.keyframe.then(|| EncodedClip {
            frames: Arc::new(frames),
            kbps,
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

/// A local track (one per layer, full size first) and the switch that pauses it.
pub struct LocalTrack {
    pub layers: Vec<Arc<TrackLocalStaticSample>>,
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

pub(crate) fn sample_track(kind: TrackKind, level: u8) -> Arc<TrackLocalStaticSample> {
    let (codec, rtp_kind) = if kind.is_video() {
        (conclave_rtc::vp8_codec(), RtpCodecKind::Video)
    } else {
        (conclave_rtc::opus_codec(), RtpCodecKind::Audio)
    };
    let id = published_track_id(kind, level);
    let track = MediaStreamTrack::new(
        "local".to_owned(),
        id.clone(),
        id,
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

/// Starts a video source: `kind` is Camera (from `camera`, in `levels`
/// simulcast layers) or Screen (from the feed, one layer; `camera` is ignored).
pub fn start_video(
    kind: TrackKind,
    config: VideoSourceConfig,
    camera: CameraSource,
    levels: u8,
    uplink: Uplink,
    sending: bool,
) -> LocalTrack {
    let levels = if kind == TrackKind::Camera {
        levels.clamp(1, CAMERA_LEVELS)
    } else {
        1
    };
    let layers: Vec<_> = (0..levels).map(|level| sample_track(kind, level)).collect();
    let sending = Arc::new(AtomicBool::new(sending));
    let stop = Arc::new(AtomicBool::new(false));
    let keyframes: Arc<Vec<AtomicBool>> =
        Arc::new((0..levels).map(|_| AtomicBool::new(true)).collect());
    let frames_sent = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for (level, track) in layers.iter().enumerate() {
        let (frames_tx, frames_rx) = mpsc::channel::<(Vec<u8>, Instant)>(4);
        writers.push(frames_tx);
        // Every picture is in the smallest layer, which is always sent: it counts them.
        let counter = (level + 1 == layers.len()).then(|| frames_sent.clone());
        tokio::spawn(write_samples(
            track.clone(),
            frames_rx,
            conclave_rtc::VP8_PAYLOAD_TYPE,
            counter,
        ));
        tokio::spawn(watch_keyframe_requests(
            track.clone(),
            keyframes.clone(),
            level,
            stop.clone(),
        ));
    }

    let thread_sending = sending.clone();
    let thread_stop = stop.clone();
    std::thread::Builder::new()
        .name(format!("encode-{}", kind.as_str()))
        .spawn(move || {
            let shared = EncodeShared {
                sending: thread_sending,
                stop: thread_stop,
                keyframes,
                uplink,
            };
            encode_loop(kind, config, camera, shared, writers)
        })
        .expect("spawn encoder thread");
    LocalTrack {
        layers,
        sending,
        frames_sent,
        stop,
    }
}

/// What the encoder thread shares with the rest of the session.
struct EncodeShared {
    sending: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// A keyframe is wanted on this layer.
    keyframes: Arc<Vec<AtomicBool>>,
    uplink: Uplink,
}

impl EncodeShared {
    /// A keyframe on every layer (a start, or a resume after mute).
    fn want_keyframes(&self) {
        for wanted in self.keyframes.iter() {
            wanted.store(true, Ordering::Relaxed);
        }
    }
}

/// One layer's encoder: made for the first picture's size, remade when the
/// size changes (another screen).
struct LayerEncoder {
    /// Pictures are scaled down by 2^level.
    level: u8,
    encoder: Option<Vp8Encoder>,
    config: Vp8Config,
    /// Its bitrate at full share.
    wanted_kbps: u32,
}

impl LayerEncoder {
    fn encode(
        &mut self,
        picture: &I420Frame,
        frame_number: u32,
        keyframe: bool,
        bitrate_kbps: u32,
    ) -> Result<Vec<Vec<u8>>, MediaError> {
        let scale = 1 << self.level;
        let (width, height) = (picture.width / scale, picture.height / scale);
        let scaled;
        let picture = if self.level == 0 {
            picture
        } else {
            scaled = picture.scaled(width, height);
            &scaled
        };
        let resized = self.encoder.is_some()
            && (self.config.width, self.config.height) != (picture.width, picture.height);
        if self.encoder.is_none() || resized {
            (self.config.width, self.config.height) = (picture.width, picture.height);
            self.config.bitrate_kbps = bitrate_kbps;
            self.encoder = Some(Vp8Encoder::new(&self.config)?);
        }
        let encoder = self.encoder.as_mut().expect("made above");
        // Rate control settles anyway; retune only on a real change.
        let current = encoder.config().bitrate_kbps;
        if current.abs_diff(bitrate_kbps) * 10 > current {
            encoder.set_bitrate(bitrate_kbps)?;
        }
        let packets = encoder.encode(picture, frame_number as i64, keyframe || resized)?;
        Ok(packets.into_iter().map(|packet| packet.data).collect())
    }
}

/// A device's frames, encoded in each layer. A device may send only
/// changes (a still screen sends nothing), so the last picture is kept to
/// answer a keyframe request.
struct FeedEncoder {
    feed: FrameFeed,
    seen: u64,
    last: Option<Arc<I420Frame>>,
    layers: Vec<LayerEncoder>,
}

impl FeedEncoder {
    fn new(kind: TrackKind, config: &VideoSourceConfig, levels: usize) -> Self {
        let content = if kind == TrackKind::Screen {
            ContentKind::Screen
        } else {
            ContentKind::Camera
        };
        let layers = (0..levels as u8)
            .map(|level| LayerEncoder {
                level,
                encoder: None,
                config: Vp8Config {
                    width: 0,
                    height: 0,
                    fps: config.fps,
                    bitrate_kbps: config.bitrate_kbps,
                    content,
                },
                wanted_kbps: level_bitrate_kbps(config.bitrate_kbps, level),
            })
            .collect();
        FeedEncoder {
            feed: config.feed.clone(),
            seen: 0,
            last: None,
            layers,
        }
    }

    fn wanted_kbps(&self) -> Vec<u32> {
        self.layers.iter().map(|layer| layer.wanted_kbps).collect()
    }

    /// Waits up to `timeout` for a frame newer than the last one taken; it
    /// becomes the last picture.
    fn wait_fresh(&mut self, timeout: Duration) -> Option<Arc<I420Frame>> {
        let (sequence, picture) = self.feed.wait_newer_than(self.seen, timeout)?;
        self.seen = sequence;
        self.last = Some(picture.clone());
        Some(picture)
    }

    /// Encodes `fresh` as frame `frame_number` in each layer that has a
    /// bitrate in `shares`; without a fresh picture, the last one again in
    /// the layers that want a keyframe. Returns each layer's packets.
    fn encode(
        &mut self,
        fresh: Option<Arc<I420Frame>>,
        frame_number: u32,
        keyframes: &[bool],
        shares: &[Option<u32>],
    ) -> Result<Vec<Vec<Vec<u8>>>, MediaError> {
        let mut out = vec![Vec::new(); self.layers.len()];
        let (picture, again) = match (fresh, &self.last) {
            (Some(picture), _) => (picture, false),
            (None, Some(previous)) if keyframes.iter().any(|k| *k) => (previous.clone(), true),
            (None, _) => return Ok(out),
        };
        for (level, layer) in self.layers.iter_mut().enumerate() {
            let Some(bitrate) = shares[level] else {
                continue;
            };
            if again && !keyframes[level] {
                continue;
            }
            out[level] = layer.encode(&picture, frame_number, keyframes[level], bitrate)?;
        }
        Ok(out)
    }
}

fn encode_loop(
    kind: TrackKind,
    config: VideoSourceConfig,
    camera: CameraSource,
    shared: EncodeShared,
    layers: Vec<mpsc::Sender<(Vec<u8>, Instant)>>,
) {
    let period = Duration::from_secs(1) / config.fps.max(1);
    if let (TrackKind::Camera, CameraSource::Replay(clips)) = (kind, camera) {
        replay_loop(period, &clips, &shared, &layers);
        return;
    }
    // The device paces the loop: each frame is encoded when it arrives, but
    // no sooner than 3/4 of a period after the last (devices jitter), so at
    // most `fps` a second. Without frames it still wakes every period, to
    // answer a keyframe request and to notice the stop.
    let mut source = FeedEncoder::new(kind, &config, layers.len());
    let wanted = source.wanted_kbps();
    let mut frame_number: u32 = 0;
    let mut not_before = Instant::now();
    let mut live = false;
    let mut sent: Vec<bool> = vec![false; layers.len()];
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some(early) = not_before.checked_duration_since(Instant::now()) {
            std::thread::sleep(early);
        }
        let fresh = source.wait_fresh(period);
        if !shared.sending.load(Ordering::Relaxed) {
            // Resuming after mute must start with a keyframe.
            shared.want_keyframes();
            live = false;
            if kind == TrackKind::Screen {
                shared.uplink.screen_paused();
            }
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
        let shares = shared.uplink.shares(kind, &wanted);
        // A layer that starts again starts with a keyframe.
        for (level, share) in shares.iter().enumerate() {
            if share.is_some() && !sent[level] {
                shared.keyframes[level].store(true, Ordering::Relaxed);
            }
            sent[level] = share.is_some();
        }
        let keyframes: Vec<bool> = (shared.keyframes.iter())
            .map(|k| k.load(Ordering::Relaxed))
            .collect();
        if fresh.is_none() && !keyframes.iter().any(|k| *k) {
            continue;
        }
        let captured = Instant::now();
        frame_number += 1;
        for (level, wanted) in keyframes.iter().enumerate() {
            if *wanted && shares[level].is_some() {
                shared.keyframes[level].store(false, Ordering::Relaxed);
            }
        }
        match source.encode(fresh, frame_number, &keyframes, &shares) {
            Ok(encoded) => {
                if encoded.iter().any(|packets| !packets.is_empty()) {
                    not_before = captured + period * 3 / 4;
                }
                for (packets, layer) in encoded.into_iter().zip(&layers) {
                    for data in packets {
                        if layer.blocking_send((data, captured)).is_err() {
                            return;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "encode failed"),
        }
    }
}

/// Load tests: the clips, one per layer, in step; a layer is skipped while
/// the uplink has no room for it, as a live encoder's would be.
fn replay_loop(
    period: Duration,
    clips: &[EncodedClip],
    shared: &EncodeShared,
    layers: &[mpsc::Sender<(Vec<u8>, Instant)>],
) {
    let mut positions = vec![0; clips.len()];
    let wanted: Vec<u32> = clips.iter().map(|clip| clip.kbps).collect();
    let mut sent: Vec<bool> = vec![false; layers.len()];
    run_paced(period, &shared.stop, || {
        if !shared.sending.load(Ordering::Relaxed) {
            // Resuming after mute must start with a keyframe.
            shared.want_keyframes();
            return ControlFlow::Continue(());
        }
        let shares = shared.uplink.shares(TrackKind::Camera, &wanted);
        for (level, (clip, layer)) in clips.iter().zip(layers).enumerate() {
            if shares[level].is_none() {
                sent[level] = false;
                continue;
            }
            let restart = !std::mem::replace(&mut sent[level], true);
            let keyframe = shared.keyframes[level].swap(false, Ordering::Relaxed) || restart;
            let data = clip.next(&mut positions[level], keyframe);
            if layer.blocking_send((data, Instant::now())).is_err() {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
}

async fn write_samples(
    track: Arc<TrackLocalStaticSample>,
    mut frames: mpsc::Receiver<(Vec<u8>, Instant)>,
    payload_type: u8,
    frames_sent: Option<Arc<AtomicU64>>,
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
        if let (Ok(_), Some(sent)) = (written, &frames_sent) {
            sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Turns the receiver's PLI/FIR on a layer into a keyframe of that layer on the next encode.
async fn watch_keyframe_requests(
    track: Arc<TrackLocalStaticSample>,
    keyframes: Arc<Vec<AtomicBool>>,
    level: usize,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match track.poll().await {
            Some(TrackLocalEvent::OnRtcpPacket(_)) => {
                keyframes[level].store(true, Ordering::Relaxed)
            }
            Some(_) => {}
            // Not bound yet (or unbound): look again shortly.
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// How long a microphone may send nothing before it counts as silence.
const DEVICE_QUIET: Duration = Duration::from_millis(100);

/// Starts the microphone. Talking changes (from the level, with hysteresis) go to `talking`.
/// The microphone's track: its samples processed against `echo` (what the
/// speaker plays), then the talking detector (so echo and noise do not make
/// the member talk; echo the canceller lets through is held back by an
/// [`EchoGate`]), then Opus.
pub fn start_audio(
    config: AudioSourceConfig,
    sending: bool,
    talking: mpsc::UnboundedSender<bool>,
    echo: EchoReference,
) -> LocalTrack {
    let track = sample_track(TrackKind::Microphone, 0);
    let sending = Arc::new(AtomicBool::new(sending));
    let stop = Arc::new(AtomicBool::new(false));
    let task_track = track.clone();
    let task_sending = sending.clone();
    let task_stop = stop.clone();
    tokio::spawn(async move {
        let Some(ssrc) = task_track.ssrcs().await.first().copied() else {
            return;
        };
        let mut encoder = match OpusEncoder::new(config.frame) {
            Ok(encoder) => encoder,
            Err(err) => {
                tracing::error!(%err, "cannot start the Opus encoder");
                return;
            }
        };
        let mut detector = TalkingDetector::new();
        let mut settings = config.voice.0.subscribe();
        let mut voice = VoiceProcessor::new(*settings.borrow_and_update());
        let _ = encoder.set_content(voice.settings().content());
        let mut far_end = [0i16; VOICE_FRAME_SAMPLES];
        let mut raw = [0i16; VOICE_FRAME_SAMPLES];
        let mut gate = EchoGate::default();
        let frame_ms = config.frame.ms();
        let mut pcm = vec![0i16; config.frame.samples()];
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
            if settings.has_changed().unwrap_or(false) {
                voice.set_settings(*settings.borrow_and_update());
                let _ = encoder.set_content(voice.settings().content());
            }
            for frame in pcm.chunks_exact_mut(VOICE_FRAME_SAMPLES) {
                // The far end played so far goes first: its echo is in this frame or a later one.
                while echo.take_frame(&mut far_end) {
                    voice.far_end(&far_end);
                    gate.far_end(&far_end);
                }
                raw.copy_from_slice(frame);
                voice.near_end(frame);
                gate.near_end(&raw, frame);
            }
            let live = task_sending.load(Ordering::Relaxed);
            // Echo getting through does not make the member talking, nor
            // stop them: the detector waits until it can tell.
            let echo_only = voice.settings().echo_cancellation && gate.echo_only();
            // A muted microphone is silent to the detector as well.
            let level = if live { level_dbfs(&pcm) } else { -100.0 };
            if !live || !echo_only {
                if let Some(now_talking) = detector.push(level, frame_ms) {
                    let _ = talking.send(now_talking);
                }
            }
            if !live {
                continue;
            }
            let Ok(packet) = encoder.encode(&pcm) else {
                continue;
            };
            // A frame DTX leaves unsent is written empty: no packet goes
            // out, and the next one's timestamp counts the silence.
            let sample = Sample {
                data: packet.map(Bytes::from).unwrap_or_default(),
                duration: Duration::from_millis(u64::from(frame_ms)),
                ..Sample::new(Instant::now())
            };
            let _ = task_track
                .sample_writer(ssrc, conclave_rtc::OPUS_PAYLOAD_TYPE)
                .write_sample(&sample)
                .await;
        }
    });
    LocalTrack {
        layers: vec![track],
        sending,
        frames_sent: Arc::default(),
        stop,
    }
}

/// The track's layers, full size first, as the media setup takes them.
pub fn as_track_locals(track: &LocalTrack) -> Vec<Arc<dyn TrackLocal>> {
    (track.layers.iter())
        .map(|layer| layer.clone() as Arc<dyn TrackLocal>)
        .collect()
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
            layers: 1,
            feed: feed.clone(),
        };
        let mut source = FeedEncoder::new(TrackKind::Screen, &config, 1);
        let quick = Duration::from_millis(1);
        let all = [Some(300)];
        let encode = |source: &mut FeedEncoder, n: u32, keyframe: bool| {
            let fresh = source.wait_fresh(quick);
            let mut layers = source.encode(fresh, n, &[keyframe], &all).unwrap();
            layers.remove(0)
        };
        assert!(encode(&mut source, 1, false).is_empty(), "no frame yet");
        feed.push(I420Frame::new_black(64, 48));
        assert_eq!(
            encode(&mut source, 2, false).len(),
            1,
            "a new frame is sent"
        );
        assert!(
            encode(&mut source, 3, false).is_empty(),
            "unchanged: nothing"
        );
        let again = encode(&mut source, 4, true);
        assert_eq!(
            again.len(),
            1,
            "a keyframe request re-sends the last picture"
        );
        assert_eq!(again[0][0] & 1, 0, "as a keyframe (VP8 P bit clear)");
        feed.push(I420Frame::new_black(32, 16));
        let resized = encode(&mut source, 5, false);
        assert_eq!(resized[0][0] & 1, 0, "another size starts with a keyframe");
    }

    #[test]
    fn a_camera_is_encoded_in_three_sizes_and_a_layer_without_room_is_skipped() {
        let feed = FrameFeed::default();
        let config = VideoSourceConfig {
            fps: 10,
            bitrate_kbps: 1000,
            layers: 3,
            feed: feed.clone(),
        };
        let mut source = FeedEncoder::new(TrackKind::Camera, &config, 3);
        feed.push(I420Frame::new_black(320, 240));
        let fresh = source.wait_fresh(Duration::from_millis(1));
        let shares = [None, Some(300), Some(100)];
        let layers = source.encode(fresh, 1, &[true; 3], &shares).unwrap();
        assert!(layers[0].is_empty(), "no room for the full picture");
        let size = |layer: &LayerEncoder| (layer.config.width, layer.config.height);
        assert_eq!(layers[1].len(), 1);
        assert_eq!(layers[2].len(), 1);
        assert_eq!(size(&source.layers[1]), (160, 120));
        assert_eq!(size(&source.layers[2]), (80, 60));
    }
}
