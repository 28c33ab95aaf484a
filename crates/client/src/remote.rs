//! Remote media: every track the SFU forwards, decoded.
//!
//! Video is reassembled and decoded on a thread per track (or, in load tests,
//! only counted). Each track's newest frame sits in its own slot (a
//! [`watch`] channel, see [`RemoteMedia::frames`]), so whoever draws it wakes
//! on every new frame and never misses one; counters ([`TrackStats`]) are
//! kept for whoever inspects them. Audio is decoded as it arrives and queued
//! for the mixer that feeds the speaker.
//!
//! Measurements only tests and the bot need (latency samples, the last
//! second of audio) are a [`TrackProbe`], kept only once
//! [`RemoteMedia::enable_probe`] is called: the app never collects them.
//!
//! A track is received until the session says it ended (`track.ended`) or a
//! newer track of the same member and kind replaces it. The WebRTC stack
//! never ends a remote track by itself (the SFU recycles m-sections: a
//! stopped track's m-section later carries another track), so the receiving
//! loop is stopped from here, and with it the track's decoder thread.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use conclave_media::{
    EchoReference, I420Frame, OPUS_FRAME_SAMPLES, OpusDecoder, Playback, Vp8Decoder, finish_mix,
    mix_into, read_stamp,
};
use conclave_protocol::clock::unix_us;
use conclave_protocol::{MemberId, TrackKind};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use tokio::sync::{mpsc, watch};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};

use crate::assembler::{Assembled, FrameAssembler};
use crate::core::Input;
use crate::reorder::Reorder;

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
/// Latency samples kept per track by a probe.
const MAX_LATENCY_SAMPLES: usize = 100_000;

/// A remote track: whose, and which.
pub type TrackKey = (MemberId, TrackKind);

/// What has been received on one remote track: counters only.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct TrackStats {
    pub packets: u64,
    /// RTP payload bytes.
    pub bytes: u64,
    /// Whole frames reassembled from RTP (video), decoded or not.
    pub frames_received: u64,
    pub frames_decoded: u64,
    pub decode_errors: u64,
    /// Freezes (see [`FreezeCounter`]) and their total length.
    pub freezes: u64,
    pub frozen_ms: u64,
    pub ended: bool,
}

/// Freezes of a video track as the W3C counts them (`freezeCount`): a gap
/// between two decoded frames of at least max(3 × the mean interval, the
/// mean interval + 150 ms), the mean over the last 30 intervals.
#[derive(Debug, Default)]
pub struct FreezeCounter {
    last: Option<Instant>,
    intervals: VecDeque<Duration>,
    pub freezes: u64,
    pub frozen: Duration,
}

impl FreezeCounter {
    const WINDOW: usize = 30;

    /// A frame was decoded at `at`.
    pub fn frame(&mut self, at: Instant) {
        let Some(last) = self.last.replace(at) else {
            return;
        };
        let gap = at.saturating_duration_since(last);
        if !self.intervals.is_empty() {
            let mean = self.intervals.iter().sum::<Duration>() / self.intervals.len() as u32;
            if gap >= (mean * 3).max(mean + Duration::from_millis(150)) {
                self.freezes += 1;
                self.frozen += gap;
            }
        }
        if self.intervals.len() == Self::WINDOW {
            self.intervals.pop_front();
        }
        self.intervals.push_back(gap);
    }

    /// The sender stopped on purpose (camera off, track ended): the wait for
    /// its next frame is no freeze.
    pub fn pause(&mut self) {
        self.last = None;
        self.intervals.clear();
    }
}

/// A decoded video frame, as a track's slot holds it.
#[derive(Clone, Debug)]
pub struct DecodedFrame {
    /// Increases with every [`DecodedFrame`] made in this process, on any
    /// track: the same `seq` is the same frame, a new one is a newer frame.
    pub seq: u64,
    pub frame: Arc<I420Frame>,
    /// When it was decoded (or captured, for a local preview), Unix time in ms.
    pub at_ms: f64,
}

impl DecodedFrame {
    /// Wraps a frame with the next sequence number.
    pub fn new(frame: Arc<I420Frame>, at_ms: f64) -> Self {
        static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);
        DecodedFrame {
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
            frame,
            at_ms,
        }
    }
}

/// A track's newest frame: `None` until its first frame (and again when the
/// track restarts). [`watch::Receiver::changed`] wakes on every new frame; a
/// frame that came while the receiver was busy is not lost, only replaced by
/// a newer one.
pub type FrameSlot = watch::Receiver<Option<DecodedFrame>>;

/// A track's instrumentation, for tests and the bot (see [`RemoteMedia::enable_probe`]).
#[derive(Default, Clone, Debug)]
pub struct TrackProbe {
    /// Capture-to-decode latency of each decoded, stamped frame, in
    /// microseconds (the first [`MAX_LATENCY_SAMPLES`]).
    pub latencies_us: Vec<i64>,
    /// The most recent second of decoded audio.
    pub recent_audio: VecDeque<i16>,
}

#[derive(Default)]
pub struct RemoteMedia {
    /// Counters of every track that has started.
    tracks: Mutex<HashMap<TrackKey, TrackStats>>,
    /// Each video track's frame slot; made by whichever comes first, the
    /// track or someone who watches it, and kept for the session.
    slots: Mutex<HashMap<TrackKey, watch::Sender<Option<DecodedFrame>>>>,
    /// Instrumentation, once enabled.
    probe: OnceLock<Mutex<HashMap<TrackKey, TrackProbe>>>,
    mix_queues: Mutex<HashMap<MemberId, Playout>>,
    /// The volume chosen here for a member, where it is not the default
    /// (only members in the room: see [`RemoteMedia::forget`]).
    playback: Mutex<HashMap<MemberId, Playback>>,
    /// What the speaker plays, for the microphone's echo cancellation.
    echo: EchoReference,
    /// The track being received for each member and kind: its instance, and
    /// the switch that stops its receiving loop.
    receiving: Mutex<HashMap<TrackKey, (u64, watch::Sender<bool>)>>,
    /// The shape of the server's last offer.
    last_offer: Mutex<Option<OfferShape>>,
    /// Whose track each SSRC carries now (for the media statistics, which
    /// are per SSRC). Bounded by the slots the server offers.
    ssrcs: Mutex<HashMap<u32, TrackKey>>,
    /// Each video track's freezes.
    freezes: Mutex<HashMap<TrackKey, FreezeCounter>>,
    /// Count video without decoding it (load tests).
    skip_video_decode: bool,
    /// When the session started (its signaling connection had just opened),
    /// and when the first remote video frame was decoded: join time.
    started: Option<Instant>,
    first_video_frame: OnceLock<Instant>,
}

/// How big an SDP offer from the server was (tests watch it for growth),
/// and how it can be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OfferShape {
    pub bytes: usize,
    /// Media sections (`m=` lines).
    pub m_sections: usize,
    /// Offers received in this session so far.
    pub count: u64,
    /// Its relay (TURN) candidates.
    pub relay_candidates: usize,
}

impl RemoteMedia {
    pub(crate) fn new(decode_video: bool) -> Self {
        RemoteMedia {
            skip_video_decode: !decode_video,
            started: Some(Instant::now()),
            ..Default::default()
        }
    }

    /// From the signaling connection's opening to the first remote video
    /// frame decoded: how long a join takes as a member sees it.
    pub fn time_to_first_frame(&self) -> Option<Duration> {
        let first = self.first_video_frame.get()?;
        Some(first.duration_since(self.started?))
    }

    /// Starts keeping a [`TrackProbe`] per track (tests and the bot; the app
    /// does not). Call it right after joining: what was received before is
    /// not measured.
    pub fn enable_probe(&self) {
        self.probe.get_or_init(Default::default);
    }

    /// The size of the server's last offer, once there was one.
    pub fn last_offer(&self) -> Option<OfferShape> {
        *self.last_offer.lock().unwrap()
    }

    pub(crate) fn note_offer(&self, sdp: &str) {
        tracing::trace!(%sdp, "server offer");
        let mut last = self.last_offer.lock().unwrap();
        let count = last.map_or(0, |l| l.count) + 1;
        *last = Some(OfferShape {
            bytes: sdp.len(),
            m_sections: sdp.lines().filter(|l| l.starts_with("m=")).count(),
            count,
            relay_candidates: sdp
                .lines()
                .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ relay"))
                .count(),
        });
    }

    /// Whose track each SSRC carries now.
    pub fn ssrc_owners(&self) -> HashMap<u32, TrackKey> {
        self.ssrcs.lock().unwrap().clone()
    }

    /// The counters of every track that has started.
    pub fn stats(&self) -> HashMap<TrackKey, TrackStats> {
        self.tracks.lock().unwrap().clone()
    }

    /// Every track's instrumentation; empty unless [`RemoteMedia::enable_probe`] was called.
    pub fn probe(&self) -> HashMap<TrackKey, TrackProbe> {
        self.probe
            .get()
            .map(|probe| probe.lock().unwrap().clone())
            .unwrap_or_default()
    }

    /// The newest decoded frame of a track.
    pub fn latest_frame(&self, member: &MemberId, kind: TrackKind) -> Option<DecodedFrame> {
        let slots = self.slots.lock().unwrap();
        slots.get(&(member.clone(), kind))?.borrow().clone()
    }

    /// Watches a track's frames. The track need not have started: its
    /// frames arrive in this slot when it does.
    pub fn frames(&self, member: &MemberId, kind: TrackKind) -> FrameSlot {
        self.slot(&(member.clone(), kind)).subscribe()
    }

    fn slot(&self, key: &TrackKey) -> watch::Sender<Option<DecodedFrame>> {
        let mut slots = self.slots.lock().unwrap();
        slots
            .entry(key.clone())
            .or_insert_with(|| watch::Sender::new(None))
            .clone()
    }

    fn update(&self, key: &TrackKey, f: impl FnOnce(&mut TrackStats)) {
        let mut tracks = self.tracks.lock().unwrap();
        f(tracks.entry(key.clone()).or_default());
    }

    fn probe_track(&self, key: &TrackKey, f: impl FnOnce(&mut TrackProbe)) {
        if let Some(probe) = self.probe.get() {
            f(probe.lock().unwrap().entry(key.clone()).or_default());
        }
    }

    /// A track (re)starts: counters, frame and probe start afresh.
    fn start(&self, key: &TrackKey) {
        self.tracks
            .lock()
            .unwrap()
            .insert(key.clone(), TrackStats::default());
        self.probe_track(key, |probe| *probe = TrackProbe::default());
        if key.1.is_video() {
            self.slot(key).send_replace(None);
        }
    }

    /// A frame was decoded: into the track's slot, and its latency into the probe.
    fn decoded(
        &self,
        key: &TrackKey,
        slot: &watch::Sender<Option<DecodedFrame>>,
        frame: I420Frame,
    ) {
        let now_us = unix_us();
        if self.probe.get().is_some()
            && let Some((_, captured_us)) = read_stamp(&frame)
        {
            let latency = now_us as i64 - captured_us as i64;
            self.probe_track(key, |probe| {
                if probe.latencies_us.len() < MAX_LATENCY_SAMPLES {
                    probe.latencies_us.push(latency);
                }
            });
        }
        let (freezes, frozen) = {
            let mut counters = self.freezes.lock().unwrap();
            let counter = counters.entry(key.clone()).or_default();
            let before = counter.frozen;
            counter.frame(Instant::now());
            if counter.frozen > before {
                let gap_ms = (counter.frozen - before).as_millis();
                tracing::debug!(?key, gap_ms, "a freeze");
            }
            (counter.freezes, counter.frozen)
        };
        self.update(key, |stats| {
            stats.frames_decoded += 1;
            stats.freezes = freezes;
            stats.frozen_ms = frozen.as_millis() as u64;
        });
        self.first_video_frame.get_or_init(Instant::now);
        slot.send_replace(Some(DecodedFrame::new(
            Arc::new(frame),
            now_us as f64 / 1000.0,
        )));
    }

    /// A track's receiving loop starts; the loop of the track it replaces
    /// (same member and kind), if any, stops. The returned switch turns true
    /// when this one is to stop.
    fn start_receiving(&self, key: &TrackKey, instance: u64) -> watch::Receiver<bool> {
        let (stop, stopped) = watch::channel(false);
        let replaced = self
            .receiving
            .lock()
            .unwrap()
            .insert(key.clone(), (instance, stop));
        if let Some((_, replaced)) = replaced {
            replaced.send_replace(true);
        }
        stopped
    }

    /// A track's receiving loop is over.
    fn stopped_receiving(&self, key: &TrackKey, instance: u64) {
        let mut receiving = self.receiving.lock().unwrap();
        if receiving
            .get(key)
            .is_some_and(|(current, _)| *current == instance)
        {
            receiving.remove(key);
        }
    }

    /// Marks a track ended and stops receiving it. Returns true the first
    /// time, so `track.ended` fires once.
    pub(crate) fn end(&self, member: &MemberId, kind: TrackKind) -> bool {
        self.pause_freezes(member, kind);
        let key = (member.clone(), kind);
        if let Some((_, stop)) = self.receiving.lock().unwrap().remove(&key) {
            stop.send_replace(true);
        }
        let mut tracks = self.tracks.lock().unwrap();
        match tracks.get_mut(&(member.clone(), kind)) {
            Some(stats) if !stats.ended => {
                stats.ended = true;
                true
            }
            _ => false,
        }
    }

    /// `member`'s video of `kind` stops on purpose (camera off, share over):
    /// the gap until its next frame is not counted as a freeze.
    pub(crate) fn pause_freezes(&self, member: &MemberId, kind: TrackKind) {
        if let Some(counter) = self
            .freezes
            .lock()
            .unwrap()
            .get_mut(&(member.clone(), kind))
        {
            counter.pause();
        }
    }

    /// Ends every remote track (the media connection is being replaced).
    pub(crate) fn end_all(&self) {
        let keys: Vec<TrackKey> = self.receiving.lock().unwrap().keys().cloned().collect();
        for (member, kind) in keys {
            self.end(&member, kind);
        }
        // A new media connection brings SSRCs of its own.
        self.ssrcs.lock().unwrap().clear();
    }

    /// The remote audio of everyone, mixed: what the speaker plays. Fills
    /// `out` with silence where no audio is queued.
    pub fn mix(&self, out: &mut [i16]) {
        let mut acc = vec![0i32; out.len()];
        let mut queues = self.mix_queues.lock().unwrap();
        let playback = self.playback.lock().unwrap();
        for (member, queue) in queues.iter_mut() {
            // A member muted here is still taken from: their queue stays short.
            let chunk = queue.take(out.len());
            let gain = playback.get(member).copied().unwrap_or_default().gain();
            mix_into(&mut acc[..chunk.len()], &chunk, gain);
        }
        finish_mix(&acc, out);
        self.echo.push(out);
    }

    /// `member` plays at `playback` from the next mix on.
    pub(crate) fn set_playback(&self, member: &MemberId, playback: Playback) {
        let mut table = self.playback.lock().unwrap();
        if playback == Playback::default() {
            table.remove(member);
        } else {
            table.insert(member.clone(), playback);
        }
    }

    /// `member` left the room: their volume and their unplayed audio go.
    pub(crate) fn forget(&self, member: &MemberId) {
        self.playback.lock().unwrap().remove(member);
        self.mix_queues.lock().unwrap().remove(member);
    }

    /// What [`RemoteMedia::mix`] handed the speaker, for the echo canceller.
    pub fn echo_reference(&self) -> EchoReference {
        self.echo.clone()
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
mod freeze_tests {
    use super::*;

    #[test]
    fn a_gap_past_three_frame_intervals_or_150_ms_more_is_a_freeze_and_a_pause_is_not() {
        let t0 = Instant::now();
        let mut counter = FreezeCounter::default();
        let ms = |n| t0 + Duration::from_millis(n);
        for n in 0..10 {
            counter.frame(ms(n * 33));
        }
        assert_eq!(counter.freezes, 0);
        // 33 ms frames: the bar is max(99, 183) ms. 150 ms is late, not frozen...
        counter.frame(ms(9 * 33 + 150));
        assert_eq!(counter.freezes, 0);
        // ...250 ms is a freeze.
        counter.frame(ms(9 * 33 + 150 + 250));
        assert_eq!(counter.freezes, 1);
        assert_eq!(counter.frozen, Duration::from_millis(250));
        // A camera turned off for a minute is not.
        counter.pause();
        counter.frame(ms(70_000));
        counter.frame(ms(70_033));
        assert_eq!(counter.freezes, 1);
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

#[cfg(test)]
mod slot_tests {
    use super::*;

    fn stamped_frame(captured_us: u64) -> I420Frame {
        let mut frame = I420Frame::new_black(320, 180);
        conclave_media::write_stamp(&mut frame, 1, captured_us);
        frame
    }

    #[tokio::test]
    async fn a_watcher_wakes_on_every_new_frame_and_sees_the_newest() {
        let remote = RemoteMedia::new(true);
        let key = (MemberId("m1".into()), TrackKind::Camera);
        // Watching before the track starts is fine: its frames come here.
        let mut frames = remote.frames(&key.0, key.1);
        assert!(frames.borrow_and_update().is_none());
        remote.start(&key);
        let slot = remote.slot(&key);
        remote.decoded(&key, &slot, I420Frame::new_black(4, 2));
        frames.changed().await.unwrap();
        let first = frames.borrow_and_update().clone().unwrap();
        // Two frames while the watcher is busy: it wakes once, for the newest.
        remote.decoded(&key, &slot, I420Frame::new_black(4, 2));
        remote.decoded(&key, &slot, I420Frame::new_black(6, 2));
        frames.changed().await.unwrap();
        let newest = frames.borrow_and_update().clone().unwrap();
        assert_eq!(newest.frame.width, 6);
        assert!(newest.seq > first.seq + 1);
        assert!(!frames.has_changed().unwrap());
        assert_eq!(
            remote.latest_frame(&key.0, key.1).map(|f| f.seq),
            Some(newest.seq)
        );
        assert_eq!(remote.stats()[&key].frames_decoded, 3);
        // A restarted track starts without a frame.
        remote.start(&key);
        assert!(remote.latest_frame(&key.0, key.1).is_none());
        assert_eq!(remote.stats()[&key], TrackStats::default());
    }

    #[test]
    fn the_probe_measures_only_once_enabled() {
        let remote = RemoteMedia::new(true);
        let key = (MemberId("m1".into()), TrackKind::Camera);
        remote.start(&key);
        let slot = remote.slot(&key);
        remote.decoded(&key, &slot, stamped_frame(unix_us() - 5_000));
        assert!(remote.probe().is_empty(), "the app collects no samples");
        assert!(remote.latest_frame(&key.0, key.1).is_some());

        remote.enable_probe();
        remote.decoded(&key, &slot, stamped_frame(unix_us() - 5_000));
        let probe = &remote.probe()[&key];
        assert_eq!(probe.latencies_us.len(), 1);
        assert!((5_000..1_000_000).contains(&probe.latencies_us[0]));
        assert_eq!(remote.stats()[&key].frames_decoded, 2);
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
    tracing::debug!(%member, %id, ?ssrcs, instance, "remote track");
    {
        let mut owners = remote.ssrcs.lock().unwrap();
        for ssrc in &ssrcs {
            owners.insert(*ssrc, key.clone());
        }
    }
    let mut stop = remote.start_receiving(&key, instance);
    remote.start(&key);
    let note = |live| Input::RemoteTrack {
        member: member.clone(),
        kind,
        instance,
        live,
    };
    let _ = notes.send(note(true));

    let receiving = async {
        if kind.is_video() {
            receive_video(&track, &remote, &key).await;
        } else {
            receive_audio(&track, &remote, &key).await;
        }
    };
    tokio::select! {
        () = receiving => {}
        // Ended or replaced: the stack would keep this track open for good.
        _ = stop.wait_for(|stop| *stop) => tracing::debug!(%member, %id, instance, "remote track stopped"),
    }
    remote.stopped_receiving(&key, instance);
    let _ = notes.send(note(false));
}

/// Frames waiting for a video's decoder at most. A repaired gap releases
/// every frame held behind it at once (up to [`crate::reorder::MAX_WAIT`] of them,
/// 24 at 60 fps); a queue shorter than that dropped the burst as a decoder
/// that had fallen behind, and then waited for a keyframe: a freeze made of
/// a repair.
const DECODE_QUEUE: usize = 32;

async fn receive_video(track: &Arc<dyn TrackRemote>, remote: &Arc<RemoteMedia>, key: &TrackKey) {
    let decoder = (!remote.skip_video_decode).then(|| {
        let (frames_tx, frames_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(DECODE_QUEUE);
        let decode_remote = remote.clone();
        let decode_key = key.clone();
        std::thread::Builder::new()
            .name(format!("decode-{}-{}", key.0, key.1.as_str()))
            .spawn(move || decode_loop(frames_rx, &decode_remote, &decode_key))
            .expect("spawn decoder thread");
        frames_tx
    });

    let mut assembler = FrameAssembler::new();
    // Late packets (retransmissions after a NACK) go back in their place.
    let mut reorder = Reorder::default();
    loop {
        let deadline = reorder.deadline();
        let ready = tokio::select! {
            event = track.poll() => match event {
                Some(TrackRemoteEvent::OnRtpPacket(packet)) => reorder.push(packet, Instant::now()),
                Some(TrackRemoteEvent::OnEnded) | None => break,
                Some(_) => continue,
            },
            () = sleep_until_some(deadline) => reorder.poll(Instant::now()),
        };
        for packet in ready {
            assemble(
                &packet,
                &mut assembler,
                track,
                remote,
                key,
                decoder.as_ref(),
            )
            .await;
        }
    }
}

/// Sleeps until `deadline`, or for ever without one.
async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

/// One packet, in order, into the frame being assembled; a whole frame to the decoder.
async fn assemble(
    packet: &rtp::Packet,
    assembler: &mut FrameAssembler,
    track: &Arc<dyn TrackRemote>,
    remote: &RemoteMedia,
    key: &TrackKey,
    decoder: Option<&std::sync::mpsc::SyncSender<Vec<u8>>>,
) {
    let assembled = assembler.push(packet);
    let whole_frame = matches!(assembled, Some(Assembled::Frame { .. }));
    remote.update(key, |stats| {
        stats.packets += 1;
        stats.bytes += packet.payload.len() as u64;
        stats.frames_received += whole_frame as u64;
    });
    match assembled {
        Some(Assembled::Frame { data, .. }) => {
            // A full queue means the decoder is behind: drop, and resync on a keyframe.
            if let Some(frames_tx) = decoder
                && frames_tx.try_send(data).is_err()
            {
                tracing::debug!(?key, "the decoder is behind: a frame dropped");
                *assembler = FrameAssembler::new();
            }
        }
        Some(Assembled::NeedKeyframe) => {
            tracing::debug!(?key, "a frame is lost: keyframe asked for");
            let pli = PictureLossIndication {
                sender_ssrc: 0,
                media_ssrc: packet.header.ssrc,
            };
            let _ = track.write_rtcp(vec![Box::new(pli)]).await;
        }
        None => {}
    }
}

fn decode_loop(frames: std::sync::mpsc::Receiver<Vec<u8>>, remote: &RemoteMedia, key: &TrackKey) {
    let mut decoder = match Vp8Decoder::new() {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "cannot start the VP8 decoder");
            return;
        }
    };
    let slot = remote.slot(key);
    while let Ok(data) = frames.recv() {
        match decoder.decode(&data) {
            Ok(Some(frame)) => remote.decoded(key, &slot, frame),
            Ok(None) => {}
            Err(err) => {
                tracing::debug!(%err, "VP8 decode failed");
                remote.update(key, |stats| stats.decode_errors += 1);
            }
        }
    }
}

/// The longest gap in a member's audio that is filled in (100 ms); a longer
/// one is an outage, not played back.
const MAX_CONCEALED_SAMPLES: usize = 4_800;

async fn receive_audio(track: &Arc<dyn TrackRemote>, remote: &Arc<RemoteMedia>, key: &TrackKey) {
    let mut decoder = match OpusDecoder::new() {
        Ok(decoder) => decoder,
        Err(err) => {
            tracing::error!(%err, "cannot start the Opus decoder");
            return;
        }
    };
    let mut pcm = Vec::with_capacity(OPUS_FRAME_SAMPLES * 6);
    let mut expected: Option<u16> = None;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        let seq = packet.header.sequence_number;
        let lost = expected.map_or(0, |expected| seq.wrapping_sub(expected));
        // Late (already concealed): it would only play twice.
        if lost >= 0x8000 {
            continue;
        }
        expected = Some(seq.wrapping_add(1));
        pcm.clear();
        // A short gap is filled: concealed, and its last frame rebuilt from
        // this packet's FEC. A long one (an outage) is not played back.
        let frame =
            conclave_media::opus_frame_samples(&packet.payload).unwrap_or(OPUS_FRAME_SAMPLES);
        if lost >= 1 && usize::from(lost) * frame <= MAX_CONCEALED_SAMPLES {
            for _ in 1..lost {
                let _ = decoder.conceal(&mut pcm);
            }
            let _ = decoder.recover(&packet.payload, &mut pcm);
        }
        let decoded = decoder.decode(&packet.payload, &mut pcm).is_ok();
        if decoded {
            remote.queue_for_mix(&key.0, &pcm);
        }
        remote.update(key, |stats| {
            stats.packets += 1;
            stats.bytes += packet.payload.len() as u64;
            stats.decode_errors += !decoded as u64;
        });
        if decoded {
            remote.probe_track(key, |probe| {
                probe.recent_audio.extend(pcm.iter().copied());
                let excess = probe
                    .recent_audio
                    .len()
                    .saturating_sub(RECENT_AUDIO_SAMPLES);
                probe.recent_audio.drain(..excess);
            });
        }
    }
}
