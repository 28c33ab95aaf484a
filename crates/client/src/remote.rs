//! Remote media: every track the SFU forwards, decoded.
//!
//! Video is reassembled and decoded on a thread per track (or, in load tests,
//! only counted); the latest frame and counters are kept for whoever draws or
//! inspects them. Audio is decoded as it arrives, kept per member for
//! inspection, and queued for the mixer that feeds the speaker.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use conclave_media::{
    I420Frame, OPUS_FRAME_SAMPLES, OpusDecoder, Vp8Decoder, finish_mix, mix_into, read_stamp,
};
use conclave_protocol::{MemberId, TrackKind};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use tokio::sync::mpsc;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::assembler::{Assembled, FrameAssembler};
use crate::core::Input;
use crate::local::now_us;

/// One second of audio at 48 kHz, kept per member for pitch measurement.
const RECENT_AUDIO_SAMPLES: usize = 48_000;
/// The mixer's queue per member; beyond this, the oldest audio is dropped to bound latency.
const MIX_QUEUE_SAMPLES: usize = 48_000 / 10;
/// After a member's queue ran dry, play again once this much is queued (20 ms,
/// one Opus packet): a late packet then costs one short gap, not a crackle each time.
const PLAYOUT_START_SAMPLES: usize = 48_000 / 50;
/// How often a standing delay is trimmed: every half second of playout.
const TRIM_WINDOW_SAMPLES: usize = 48_000 / 2;
/// What a trim leaves queued at the least, beyond what the speaker takes:
/// 10 ms against late packets. Loopback and LAN jitter fit in it; a late
/// packet beyond it costs one short gap and refills to 20 ms.
const PLAYOUT_CUSHION_SAMPLES: usize = 48_000 / 100;
/// Latency samples kept per track.
const MAX_LATENCY_SAMPLES: usize = 100_000;

/// What has been received on one remote track.
#[derive(Default, Clone)]
pub struct TrackStats {
    pub packets: u64,
    /// RTP payload bytes.
    pub bytes: u64,
    /// Whole frames reassembled from RTP (video), decoded or not.
    pub frames_received: u64,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    pub last_frame: Option<Arc<I420Frame>>,
    /// When `last_frame` was decoded, Unix time in ms (for measuring what comes after).
    pub last_frame_at_ms: f64,
    /// Capture-to-decode latency of each decoded, stamped frame, in microseconds.
    pub latencies_us: Vec<i64>,
    /// The most recent second of decoded audio.
    pub recent_audio: VecDeque<i16>,
    pub ended: bool,
}

#[derive(Default)]
pub struct RemoteMedia {
    tracks: Mutex<HashMap<(MemberId, TrackKind), TrackStats>>,
    /// Woken on every decoded frame, so a renderer need not poll.
    pub frame_decoded: tokio::sync::Notify,
    mix_queues: Mutex<HashMap<MemberId, Playout>>,
    /// Count video without decoding it (load tests).
    skip_video_decode: bool,
}

impl RemoteMedia {
    pub(crate) fn new(decode_video: bool) -> Self {
        RemoteMedia {
            skip_video_decode: !decode_video,
            ..Default::default()
        }
    }

    pub fn snapshot(&self) -> HashMap<(MemberId, TrackKind), TrackStats> {
        self.tracks.lock().unwrap().clone()
    }

    /// The newest decoded frame of a track and when it was decoded (Unix ms).
    pub fn latest_frame(
        &self,
        member: &MemberId,
        kind: TrackKind,
    ) -> Option<(Arc<I420Frame>, f64)> {
        let tracks = self.tracks.lock().unwrap();
        let stats = tracks.get(&(member.clone(), kind))?;
        Some((stats.last_frame.clone()?, stats.last_frame_at_ms))
    }

    fn update(&self, key: &(MemberId, TrackKind), f: impl FnOnce(&mut TrackStats)) {
        let mut tracks = self.tracks.lock().unwrap();
        f(tracks.entry(key.clone()).or_default());
    }

    /// Marks a track ended. Returns true the first time, so `track.ended` fires once.
    pub(crate) fn end(&self, member: &MemberId, kind: TrackKind) -> bool {
        let mut tracks = self.tracks.lock().unwrap();
        match tracks.get_mut(&(member.clone(), kind)) {
            Some(stats) if !stats.ended => {
                stats.ended = true;
                true
            }
            _ => false,
        }
    }

    /// The remote audio of everyone, mixed: what the speaker plays. Fills
    /// `out` with silence where no audio is queued.
    pub fn mix(&self, out: &mut [i16]) {
        let mut acc = vec![0i32; out.len()];
        let mut queues = self.mix_queues.lock().unwrap();
        for queue in queues.values_mut() {
            let chunk = queue.take(out.len());
            mix_into(&mut acc[..chunk.len()], &chunk);
        }
        finish_mix(&acc, out);
    }

    fn queue_for_mix(&self, member: &MemberId, pcm: &[i16]) {
        let mut queues = self.mix_queues.lock().unwrap();
        queues.entry(member.clone()).or_default().push(pcm);
    }
}

/// One member's audio waiting for the speaker: a small jitter buffer.
///
/// It starts playing once [`PLAYOUT_START_SAMPLES`] are queued. A burst
/// (the first packets after connecting, a stalled sender catching up) would
/// otherwise stay queued as delay for the rest of the call, so every half
/// second the least that was left after a take is checked: if even that was
/// more than [`PLAYOUT_CUSHION_SAMPLES`], the excess is dropped. Dropping
/// never empties the cushion, so it cannot cause a gap.
#[derive(Default)]
struct Playout {
    samples: VecDeque<i16>,
    playing: bool,
    /// Fewest samples left after a take in this window, and how much the window played.
    least_left: Option<usize>,
    played: usize,
}

impl Playout {
    fn push(&mut self, pcm: &[i16]) {
        self.samples.extend(pcm);
        let excess = self.samples.len().saturating_sub(MIX_QUEUE_SAMPLES);
        self.samples.drain(..excess);
    }

    /// Up to `n` samples to play now; none while refilling after running dry.
    fn take(&mut self, n: usize) -> Vec<i16> {
        if !self.playing && self.samples.len() >= PLAYOUT_START_SAMPLES {
            self.playing = true;
        }
        if !self.playing {
            return Vec::new();
        }
        let take = self.samples.len().min(n);
        let chunk: Vec<i16> = self.samples.drain(..take).collect();
        if self.samples.is_empty() {
            self.playing = false;
        }
        self.trim_standing_delay(take);
        chunk
    }

    fn trim_standing_delay(&mut self, played: usize) {
        let left = self.samples.len();
        self.least_left = Some(self.least_left.map_or(left, |least| least.min(left)));
        self.played += played;
        if self.played < TRIM_WINDOW_SAMPLES {
            return;
        }
        let excess = self
            .least_left
            .unwrap_or(0)
            .saturating_sub(PLAYOUT_CUSHION_SAMPLES);
        self.samples.drain(..excess);
        self.least_left = None;
        self.played = 0;
    }
}

#[cfg(test)]
mod playout_tests {
    use super::*;

    #[test]
    fn plays_once_20ms_are_queued_refills_after_running_dry_and_bounds_delay() {
        let mut p = Playout::default();
        p.push(&[1; 480]);
        assert!(p.take(480).is_empty(), "10 ms is not enough to start");
        p.push(&[1; 480]);
        assert_eq!(p.take(480).len(), 480);
        assert_eq!(p.take(960).len(), 480, "plays what is left");
        p.push(&[1; 480]);
        assert!(p.take(480).is_empty(), "ran dry: waits for 20 ms again");
        p.push(&vec![1; MIX_QUEUE_SAMPLES * 3]);
        assert_eq!(p.samples.len(), MIX_QUEUE_SAMPLES, "at most 100 ms waits");
    }

    #[test]
    fn a_burst_does_not_stay_as_delay() {
        let mut p = Playout::default();
        // 100 ms arrive at once, then 20 ms packets in step with a speaker
        // that takes 10 ms at a time.
        p.push(&vec![1; MIX_QUEUE_SAMPLES]);
        let mut most_left_late = 0;
        for tick in 0..300 {
            if tick % 2 == 0 {
                p.push(&[1; 960]);
            }
            assert_eq!(p.take(480).len(), 480, "never runs dry (tick {tick})");
            if tick >= 200 {
                most_left_late = most_left_late.max(p.samples.len());
            }
        }
        assert!(
            most_left_late <= PLAYOUT_CUSHION_SAMPLES + 960,
            "after two seconds at most the cushion and a packet wait, not the burst: {most_left_late}"
        );
    }
}

/// Receives one remote track until it ends, telling the session core when it
/// starts and stops (`instance` names this track among others of the same
/// member and kind).
pub(crate) async fn receive(
    track: Arc<dyn TrackRemote>,
    instance: u64,
    remote: Arc<RemoteMedia>,
    notes: mpsc::UnboundedSender<Input>,
) {
    let member = MemberId(track.stream_id().await);
    let id = track.track_id().await;
    let Some(kind) = conclave_rtc::track_kind(&id) else {
        tracing::warn!(%id, "ignoring a remote track with an unknown id");
        return;
    };
    let key = (member.clone(), kind);
    let ssrcs = track.ssrcs().await;
    tracing::debug!(%member, %id, ?ssrcs, "remote track");
    remote.update(&key, |stats| *stats = TrackStats::default());
    let note = |live| Input::RemoteTrack {
        member: member.clone(),
        kind,
        instance,
        live,
    };
    let _ = notes.send(note(true));

    if kind.is_video() {
        receive_video(&track, &remote, &key).await;
    } else {
        receive_audio(&track, &remote, &key).await;
    }
    let _ = notes.send(note(false));
}

async fn receive_video(
    track: &Arc<dyn TrackRemote>,
    remote: &Arc<RemoteMedia>,
    key: &(MemberId, TrackKind),
) {
    let decoder = (!remote.skip_video_decode).then(|| {
        let (frames_tx, frames_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let decode_remote = remote.clone();
        let decode_key = key.clone();
        std::thread::Builder::new()
            .name(format!("decode-{}-{}", key.0, key.1.as_str()))
            .spawn(move || decode_loop(frames_rx, &decode_remote, &decode_key))
            .expect("spawn decoder thread");
        frames_tx
    });

    let mut assembler = FrameAssembler::new();
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let assembled = assembler.push(&packet);
        let whole_frame = matches!(assembled, Some(Assembled::Frame { .. }));
        remote.update(key, |stats| {
            stats.packets += 1;
            stats.bytes += packet.payload.len() as u64;
            stats.frames_received += whole_frame as u64;
        });
        match assembled {
            Some(Assembled::Frame { data, .. }) => {
                // A full queue means the decoder is behind: drop, and resync on a keyframe.
                if let Some(frames_tx) = &decoder
                    && frames_tx.try_send(data).is_err()
                {
                    assembler = FrameAssembler::new();
                }
            }
            Some(Assembled::NeedKeyframe) => {
                let pli = PictureLossIndication {
                    sender_ssrc: 0,
                    media_ssrc: packet.header.ssrc,
                };
                let _ = track.write_rtcp(vec![Box::new(pli)]).await;
            }
            None => {}
        }
    }
}

fn decode_loop(
    frames: std::sync::mpsc::Receiver<Vec<u8>>,
    remote: &RemoteMedia,
    key: &(MemberId, TrackKind),
) {
    let mut decoder = match Vp8Decoder::new() {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "cannot start the VP8 decoder");
            return;
        }
    };
    while let Ok(data) = frames.recv() {
        match decoder.decode(&data) {
            Ok(Some(frame)) => {
                let latency =
                    read_stamp(&frame).map(|(_, captured_us)| now_us() as i64 - captured_us as i64);
                let frame = Arc::new(frame);
                remote.update(key, |stats| {
                    stats.frames_decoded += 1;
                    stats.last_frame = Some(frame);
                    stats.last_frame_at_ms = now_us() as f64 / 1000.0;
                    if let Some(latency) = latency
                        && stats.latencies_us.len() < MAX_LATENCY_SAMPLES
                    {
                        stats.latencies_us.push(latency);
                    }
                });
                remote.frame_decoded.notify_waiters();
            }
            Ok(None) => {}
            Err(err) => {
                tracing::debug!(%err, "VP8 decode failed");
                remote.update(key, |stats| stats.decode_errors += 1);
            }
        }
    }
}

async fn receive_audio(
    track: &Arc<dyn TrackRemote>,
    remote: &Arc<RemoteMedia>,
    key: &(MemberId, TrackKind),
) {
    let mut decoder = match OpusDecoder::new() {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "cannot start the Opus decoder");
            return;
        }
    };
    let mut pcm = Vec::with_capacity(OPUS_FRAME_SAMPLES * 6);
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        pcm.clear();
        let decoded = decoder.decode(&packet.payload, &mut pcm).is_ok();
        if decoded {
            remote.queue_for_mix(&key.0, &pcm);
        }
        remote.update(key, |stats| {
            stats.packets += 1;
            stats.bytes += packet.payload.len() as u64;
            if !decoded {
                stats.decode_errors += 1;
                return;
            }
            stats.recent_audio.extend(pcm.iter().copied());
            let excess = stats
                .recent_audio
                .len()
                .saturating_sub(RECENT_AUDIO_SAMPLES);
            stats.recent_audio.drain(..excess);
        });
    }
}
