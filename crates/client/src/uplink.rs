//! What the encoders may send: the uplink's estimate, shared among the
//! camera's simulcast layers and a screen share.
//!
//! Two speeds. Every frame, each layer that is on gets a bitrate from the
//! estimate ([`share_uplink`]): the smallest first, each larger one what is
//! left, down to a floor. Over seconds, [`LayerGate`] turns the camera's
//! larger layers off when even their floors do not fit, and on again once
//! there has been room for a good while. Turning a layer off is
//! make-before-break: the server is told first (`set_sent_layers`), moves
//! that layer's viewers to a smaller one at its next keyframe, and the
//! encoder stops [`BREAK_AFTER`] later. A layer that just vanished would
//! freeze its viewers until the server noticed (measured: 1.8 s at 5% loss).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use conclave_protocol::TrackKind;
use conclave_rtc::Bandwidth;

/// Kept free for Opus and packet overhead.
const AUDIO_RESERVE_KBPS: u32 = 48;
/// Below this share of its bitrate the full-size layer is starved: a slow uplink.
const LAYER_MIN_SHARE: f64 = 0.5;
/// No layer that is on gets less than this share of its bitrate; a layer
/// whose floor does not fit goes off ([`LayerGate`]).
const LAYER_FLOOR_SHARE: f64 = 0.25;
/// A layer comes back only when it would get this share of its bitrate
/// (well above the floor, so a layer does not flap around its threshold).
const LAYER_BACK_SHARE: f64 = 0.6;

/// How often the session asks the gate.
pub const GATE_INTERVAL: Duration = Duration::from_millis(250);
/// A layer's floor must be short this long before it goes off: one lost
/// burst, or a dip of the estimate under random loss, is no reason.
pub const OFF_AFTER: Duration = Duration::from_secs(2);
/// Between telling the server a layer goes off and stopping it: time for
/// the server's next allocation (every 500 ms), a keyframe request and the
/// keyframe of the smaller layer.
pub const BREAK_AFTER: Duration = Duration::from_millis(1500);
/// The room a layer needs, held this long, before it comes back; doubled
/// (up to [`MAX_BACK_AFTER`]) each time a layer that came back has to go
/// off again within [`BACK_TRIAL`]. As long as the server's hold on a
/// subscriber's layers, for the same reason: the estimate climbs again
/// within seconds of the loss stopping, whether or not the path has room,
/// so only a trial tells, and each failed trial costs the viewers a
/// moment's loss.
pub const BACK_AFTER: Duration = Duration::from_secs(60);
pub const MAX_BACK_AFTER: Duration = Duration::from_secs(480);
pub const BACK_TRIAL: Duration = Duration::from_secs(30);

/// The uplink as the encoders see it; clones share it.
#[derive(Clone, Debug)]
pub struct Uplink {
    pub bandwidth: Bandwidth,
    /// The screen share's current bitrate, which the camera leaves free.
    screen_kbps: Arc<AtomicU32>,
    /// The camera's full-size layer does not fit (a slow uplink).
    limited: Arc<AtomicBool>,
    /// The largest camera layer the encoders send (0: every layer), as the
    /// session's [`LayerGate`] says.
    camera_largest: Arc<AtomicU8>,
}

impl Uplink {
    pub fn new(bandwidth: Bandwidth) -> Self {
        Uplink {
            bandwidth,
            screen_kbps: Arc::default(),
            limited: Arc::default(),
            camera_largest: Arc::default(),
        }
    }

    /// Whether the uplink is too slow for the camera's full picture.
    pub fn limited(&self) -> bool {
        self.limited.load(Ordering::Relaxed)
    }

    /// What the camera may spend, in kb/s: the estimate, less audio and a
    /// screen share.
    pub fn camera_kbps(&self) -> u32 {
        self.available_kbps(TrackKind::Camera)
    }

    fn available_kbps(&self, kind: TrackKind) -> u32 {
        let estimate = (self.bandwidth.target_bps() / 1000.0) as u32;
        let left = estimate.saturating_sub(AUDIO_RESERVE_KBPS);
        match kind {
            TrackKind::Camera => left.saturating_sub(self.screen_kbps.load(Ordering::Relaxed)),
            // A shared screen is what the meeting looks at: it goes first.
            _ => left,
        }
    }

    /// The camera sends its layers from `level` down (the gate's decision).
    pub fn set_camera_largest(&self, level: u8) {
        self.camera_largest.store(level, Ordering::Relaxed);
    }

    /// The bitrate of each layer of `kind`'s next picture (full size first;
    /// `None`: not sent), for layers that want `wanted_kbps` at full share.
    pub(crate) fn shares(&self, kind: TrackKind, wanted_kbps: &[u32]) -> Vec<Option<u32>> {
        let largest = match kind {
            TrackKind::Camera => usize::from(self.camera_largest.load(Ordering::Relaxed)),
            _ => 0,
        };
        let largest = largest.min(wanted_kbps.len().saturating_sub(1));
        let shares = share_uplink(self.available_kbps(kind), wanted_kbps, largest);
        match kind {
            TrackKind::Camera if wanted_kbps.len() > 1 => {
                let starved = match (shares.first(), wanted_kbps.first()) {
                    (Some(Some(share)), Some(&wanted)) => {
                        f64::from(*share) < f64::from(wanted) * LAYER_MIN_SHARE
                    }
                    _ => true, // the full picture is off
                };
                self.limited.store(starved, Ordering::Relaxed);
            }
            TrackKind::Screen => {
                (self.screen_kbps).store(shares.iter().flatten().sum(), Ordering::Relaxed);
            }
            _ => {}
        }
        shares
    }

    /// A screen share that stops sending leaves the camera its room.
    pub(crate) fn screen_paused(&self) {
        self.screen_kbps.store(0, Ordering::Relaxed);
    }
}

/// The bitrate of each layer (full size first) out of `available_kbps`, for
/// the layers from `largest` down: the smallest layer first, at up to its
/// full bitrate, then each larger one with what is left, but never below
/// [`LAYER_FLOOR_SHARE`] of its own. Layers larger than `largest` are off.
pub fn share_uplink(available_kbps: u32, wanted_kbps: &[u32], largest: usize) -> Vec<Option<u32>> {
    let mut shares = vec![None; wanted_kbps.len()];
    let mut left = available_kbps;
    for (level, &wanted) in wanted_kbps.iter().enumerate().skip(largest).rev() {
        let floor = ((f64::from(wanted) * LAYER_FLOOR_SHARE) as u32).max(1);
        let share = left.min(wanted).max(floor);
        shares[level] = Some(share);
        left = left.saturating_sub(share);
    }
    shares
}

/// Which of the camera's layers are on, over time. Sans-IO: the session
/// calls [`LayerGate::update`] every [`GATE_INTERVAL`] with what the camera
/// may spend, says to the server what it returns, and gives the encoders
/// [`LayerGate::sending`].
#[derive(Debug)]
pub struct LayerGate {
    /// Each layer's bitrate at full share, full size first.
    wanted_kbps: Vec<u32>,
    /// The largest layer the encoders send.
    sending: u8,
    /// The largest layer the server was told of; smaller than `sending`'s
    /// picture while a layer is leaving.
    announced: u8,
    /// When a leaving layer stops.
    leaving_until: Option<Instant>,
    short_since: Option<Instant>,
    roomy_since: Option<Instant>,
    back_after: Duration,
    last_back: Option<Instant>,
}

impl LayerGate {
    pub fn new(wanted_kbps: Vec<u32>) -> Self {
        LayerGate {
            wanted_kbps,
            sending: 0,
            announced: 0,
            leaving_until: None,
            short_since: None,
            roomy_since: None,
            back_after: BACK_AFTER,
            last_back: None,
        }
    }

    /// The largest layer the encoders should send now.
    pub fn sending(&self) -> u8 {
        self.sending
    }

    /// The largest layer the server should think is sent.
    pub fn announced(&self) -> u8 {
        self.announced
    }

    /// Whether sending layers from `largest` down fits `available_kbps`,
    /// with `largest` at `share` of its bitrate and the smaller ones in full.
    fn fits(&self, largest: usize, share: f64, available_kbps: u32) -> bool {
        let smaller: u32 = self.wanted_kbps[largest + 1..].iter().sum();
        f64::from(available_kbps)
            >= f64::from(smaller) + f64::from(self.wanted_kbps[largest]) * share
    }

    /// The camera may spend `available_kbps` now. Returns the largest layer
    /// to tell the server of, when that changes ([`LayerGate::announced`]).
    pub fn update(&mut self, now: Instant, available_kbps: u32) -> Option<u8> {
        if let Some(until) = self.leaving_until {
            if now < until {
                return None;
            }
            self.leaving_until = None;
            self.sending = self.announced;
        }
        let largest = usize::from(self.sending);
        let smallest = self.wanted_kbps.len().saturating_sub(1);
        if largest < smallest && !self.fits(largest, LAYER_FLOOR_SHARE, available_kbps) {
            let since = *self.short_since.get_or_insert(now);
            self.roomy_since = None;
            if now.duration_since(since) >= OFF_AFTER {
                self.short_since = None;
                if (self.last_back).is_some_and(|at| now.duration_since(at) < BACK_TRIAL) {
                    self.back_after = (self.back_after * 2).min(MAX_BACK_AFTER);
                }
                // Straight to the largest layer that fits: a deep cut taken a
                // layer at a time would overload the link for seconds more.
                self.announced = (largest + 1..smallest)
                    .find(|level| self.fits(*level, LAYER_FLOOR_SHARE, available_kbps))
                    .unwrap_or(smallest) as u8;
                self.leaving_until = Some(now + BREAK_AFTER);
                return Some(self.announced);
            }
            return None;
        }
        self.short_since = None;
        if (self.last_back).is_some_and(|at| now.duration_since(at) >= MAX_BACK_AFTER) {
            self.back_after = BACK_AFTER; // Up for a good while: the link is better now.
        }
        if largest > 0 && self.fits(largest - 1, LAYER_BACK_SHARE, available_kbps) {
            let since = *self.roomy_since.get_or_insert(now);
            if now.duration_since(since) >= self.back_after {
                self.roomy_since = None;
                self.last_back = Some(now);
                self.sending -= 1;
                self.announced = self.sending;
                return Some(self.announced);
            }
        } else {
            self.roomy_since = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANTED: [u32; 3] = [1500, 450, 150];

    #[test]
    fn the_uplink_feeds_the_smallest_layer_first_and_starves_the_largest() {
        let all = |a, b, c| vec![Some(a), Some(b), Some(c)];
        assert_eq!(share_uplink(3000, &WANTED, 0), all(1500, 450, 150));
        assert_eq!(
            share_uplink(1400, &WANTED, 0),
            all(800, 450, 150),
            "the full layer gets what is left"
        );
        assert_eq!(
            share_uplink(700, &WANTED, 0),
            all(375, 450, 150),
            "down to its floor"
        );
        assert_eq!(
            share_uplink(20, &WANTED, 0),
            all(375, 112, 37),
            "every layer at its floor"
        );
        assert_eq!(
            share_uplink(500, &WANTED, 1),
            vec![None, Some(350), Some(150)],
            "a layer that is off gets nothing"
        );
        assert_eq!(share_uplink(900, &[800], 0), [Some(800)]);
    }

    #[test]
    fn a_camera_without_its_full_picture_is_a_slow_uplink() {
        let uplink = Uplink::new(Bandwidth::new(1_448_000.0, 10_000_000.0));
        assert_eq!(uplink.camera_kbps(), 1400);
        uplink.shares(TrackKind::Camera, &WANTED);
        assert!(!uplink.limited());
        uplink.set_camera_largest(1);
        assert_eq!(uplink.shares(TrackKind::Camera, &WANTED)[0], None);
        assert!(uplink.limited());
    }

    /// Steps the gate every [`GATE_INTERVAL`] for `seconds` at `kbps`;
    /// returns what it told the server, with when (ms from `start`).
    fn run(
        gate: &mut LayerGate,
        start: Instant,
        from_ms: u64,
        seconds: u64,
        kbps: u32,
    ) -> Vec<(u64, u8)> {
        let step = GATE_INTERVAL.as_millis() as u64;
        (from_ms..from_ms + seconds * 1000)
            .step_by(step as usize)
            .filter_map(|ms| {
                let told = gate.update(start + Duration::from_millis(ms), kbps);
                told.map(|level| (ms, level))
            })
            .collect()
    }

    #[test]
    fn a_layer_goes_off_after_the_server_is_told_and_comes_back_after_room_for_a_while() {
        let start = Instant::now();
        let mut gate = LayerGate::new(WANTED.to_vec());
        assert!(
            run(&mut gate, start, 0, 5, 2100).is_empty(),
            "everything fits"
        );
        // 500 kb/s: the full layer's floor (375) on top of 600 does not fit.
        let told = run(&mut gate, start, 5000, 3, 500);
        assert_eq!(told, [(7000, 1)], "off after 2 s short: {told:?}");
        assert_eq!(gate.update(start + Duration::from_millis(8000), 500), None);
        assert_eq!(
            gate.sending(),
            0,
            "still sent while the server moves its viewers"
        );
        assert_eq!(gate.update(start + Duration::from_millis(8500), 500), None);
        assert_eq!(gate.sending(), 1, "stopped 1.5 s after the server was told");
        // Room for the full layer at 60% (900 + 600 kb/s): back after a minute.
        let told = run(&mut gate, start, 11_000, 62, 1500);
        assert_eq!(told, [(71_000, 0)], "{told:?}");
        assert_eq!(gate.sending(), 0, "a layer comes back at once");
    }

    #[test]
    fn a_layer_does_not_flap_around_its_threshold() {
        let start = Instant::now();
        let mut gate = LayerGate::new(WANTED.to_vec());
        // Between the floor (975 kb/s) and the way back (1500): nothing moves.
        assert!(run(&mut gate, start, 0, 60, 1000).is_empty());
        // Short for less than OFF_AFTER at a time: nothing moves either.
        for second in 60..80 {
            let kbps = if second % 2 == 0 { 400 } else { 1000 };
            assert!(run(&mut gate, start, second * 1000, 1, kbps).is_empty());
        }
        // Off, back, and off again within the trial: the next way back waits twice as long.
        assert_eq!(run(&mut gate, start, 80_000, 4, 400), [(82_000, 1)]);
        assert_eq!(run(&mut gate, start, 84_000, 61, 1600), [(144_000, 0)]);
        assert_eq!(run(&mut gate, start, 145_000, 4, 400), [(147_000, 1)]);
        let told = run(&mut gate, start, 149_000, 125, 1600);
        assert_eq!(told, [(269_000, 0)], "{told:?}");
    }

    #[test]
    fn the_smallest_layer_is_never_turned_off() {
        let start = Instant::now();
        let mut gate = LayerGate::new(WANTED.to_vec());
        let told = run(&mut gate, start, 0, 30, 10);
        assert_eq!(told, [(2000, 2)], "straight to the smallest: {told:?}");
        assert_eq!(gate.sending(), 2);
        let mut single = LayerGate::new(vec![800]);
        assert!(run(&mut single, start, 0, 30, 10).is_empty());
    }
}
