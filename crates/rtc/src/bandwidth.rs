//! Send-side bandwidth estimation, on both ends of every connection.
//!
//! The receiving end reports, with transport-wide congestion control
//! feedback (TWCC), when each packet arrived; the sending end runs Google
//! Congestion Control (GCC, the library's port) on those reports. So a
//! client learns its uplink, which its encoder follows, and the server
//! learns each subscriber's downlink, from which it picks simulcast layers.
//! Nobody's estimate depends on anybody else's link.
//!
//! Of GCC's two halves, the estimate is the loss-based one. The delay-based
//! half reads a rising one-way delay as a queue building up; on a busy host
//! the sender's own scheduling delays read the same way. Measured: nine load
//! members and the server on two cores, every stream of the room
//! fell to about a quarter of its bitrate (the full run is in
//! BENCHMARKS.md). A link that queues without losing (a deep
//! buffer) is then only found when it starts to drop.
//!
//! The loss-based half alone overshoots on the way down: it cuts every
//! 200 ms while its smoothed loss stays high, long after the rate is below
//! the path's (measured: a 600 kb/s uplink read as 150 kb/s, the floor, for
//! seconds, which switched off a layer that fitted). So the estimate never goes
//! below [`DELIVERED_FLOOR_SHARE`] of what the other end reported it
//! received over the last [`DELIVERED_WINDOW`]: what a path delivered, it
//! carries.
//!
//! The estimator lives inside the interceptor chain, out of the
//! application's reach, so it publishes what it knows into a [`Bandwidth`]
//! handle after every change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport, RateCalculator};

/// The pacer releases packets at this multiple of the estimate, as
/// Chrome's does: it smooths a keyframe into a burst the path can take,
/// without making frames wait behind the estimate.
pub const PACING_HEADROOM: f64 = 2.5;

/// The estimate stays at or above this share of the delivered rate.
pub const DELIVERED_FLOOR_SHARE: f64 = 0.85;
/// The delivered rate is measured over this window.
pub const DELIVERED_WINDOW: Duration = Duration::from_secs(1);

/// Never estimate below this: enough for audio and the lowest video layer.
pub const MIN_ESTIMATE_BPS: f64 = 150_000.0;

/// The estimate of one connection's send direction, shared between the
/// estimator (which writes it) and whoever sends (which reads it).
#[derive(Clone, Debug)]
pub struct Bandwidth(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    initial: f64,
    max: f64,
    target_bps: AtomicU64,
    /// Fraction of sent packets the other end reported lost (f64 bits);
    /// NaN before any report.
    loss: AtomicU64,
    reports: AtomicU64,
    paced: bool,
}

impl Bandwidth {
    /// An estimate that starts at `initial_bps` and never exceeds `max_bps`.
    pub fn new(initial_bps: f64, max_bps: f64) -> Self {
        let max = max_bps.max(MIN_ESTIMATE_BPS);
        let initial = initial_bps.clamp(MIN_ESTIMATE_BPS, max);
        Bandwidth(Arc::new(Shared {
            initial,
            max,
            target_bps: AtomicU64::new(initial.to_bits()),
            loss: AtomicU64::new(f64::NAN.to_bits()),
            reports: AtomicU64::new(0),
            paced: true,
        }))
    }

    /// The same, for a sender that adapts by choosing what to send (the
    /// SFU's layers) rather than by encoding less: no pacer. A pacer at the
    /// estimate queued seconds of forwarded media when the estimate fell
    /// faster than the layers could follow (measured: a receiver capped at
    /// 1500 kb/s, at the quarter layer, froze 16–18 times a minute).
    pub fn unpaced(initial_bps: f64, max_bps: f64) -> Self {
        let mut bandwidth = Bandwidth::new(initial_bps, max_bps);
        Arc::get_mut(&mut bandwidth.0).expect("just made").paced = false;
        bandwidth
    }

    /// Whether its connection paces what it sends to the estimate.
    pub fn paced(&self) -> bool {
        self.0.paced
    }

    /// What the path is estimated to carry, in bits per second.
    pub fn target_bps(&self) -> f64 {
        f64::from_bits(self.0.target_bps.load(Ordering::Relaxed))
    }

    /// Fraction of packets lost recently, from the other end's reports.
    pub fn loss(&self) -> Option<f64> {
        let loss = f64::from_bits(self.0.loss.load(Ordering::Relaxed));
        (!loss.is_nan()).then_some(loss)
    }

    /// How many feedback reports have been folded in (tests, stats).
    pub fn reports(&self) -> u64 {
        self.0.reports.load(Ordering::Relaxed)
    }

    /// A fresh estimator publishing into this handle (one per peer
    /// connection: a new connection starts from the initial estimate).
    pub(crate) fn estimator(&self) -> Reporting {
        self.0
            .target_bps
            .store(self.0.initial.to_bits(), Ordering::Relaxed);
        self.0.loss.store(f64::NAN.to_bits(), Ordering::Relaxed);
        Reporting {
            gcc: Gcc::new(self.0.initial, MIN_ESTIMATE_BPS, self.0.max),
            delivered: RateCalculator::new(DELIVERED_WINDOW),
            delivered_bps: None,
            shared: self.0.clone(),
        }
    }
}

/// GCC, publishing its estimate; what it tells the pacer has headroom.
pub(crate) struct Reporting {
    gcc: Gcc,
    /// What the other end reported it received, by when the reports came.
    delivered: RateCalculator,
    delivered_bps: Option<f64>,
    shared: Arc<Shared>,
}

impl Reporting {
    /// What the path carries: the loss-based half, but never much below what
    /// it delivered (see the module's comment).
    fn estimate(&self) -> f64 {
        let floor = self.delivered_bps.unwrap_or(0.0) * DELIVERED_FLOOR_SHARE;
        (self.gcc.loss_based_bitrate().max(floor)).min(self.shared.max)
    }

    fn publish(&self) {
        let shared = &self.shared;
        (shared.target_bps).store(self.estimate().to_bits(), Ordering::Relaxed);
        if let Some(loss) = self.gcc.stats().packet_loss {
            shared.loss.store(loss.to_bits(), Ordering::Relaxed);
        }
    }
}

impl BandwidthEstimator for Reporting {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        for report in reports.iter().filter(|report| report.arrived) {
            self.delivered.add(now, report.size);
        }
        if !reports.is_empty() {
            self.shared.reports.fetch_add(1, Ordering::Relaxed);
            self.delivered_bps = self.delivered.rate_bits_per_second(now);
        }
        self.publish();
    }

    /// Read by the pacer only (the application reads [`Bandwidth`]).
    fn target_bitrate(&self) -> f64 {
        self.estimate() * PACING_HEADROOM
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gcc.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.gcc.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.gcc.stats()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_estimator_starts_from_the_initial_estimate_within_bounds() {
        let bandwidth = Bandwidth::new(50_000.0, 3_000_000.0);
        assert_eq!(bandwidth.target_bps(), MIN_ESTIMATE_BPS);
        let bandwidth = Bandwidth::new(2_000_000.0, 3_000_000.0);
        let estimator = bandwidth.estimator();
        assert_eq!(bandwidth.target_bps(), 2_000_000.0);
        assert_eq!(bandwidth.loss(), None);
        assert_eq!(estimator.target_bitrate(), 2_000_000.0 * PACING_HEADROOM);
    }

    /// Feedback on `packets` packets of 1200 bytes sent over 100 ms, of
    /// which every `arrives`-th one arrived, reported at `at`.
    fn report(at: Instant, first_id: u64, packets: u64, arrives: u64) -> Vec<PacketReport> {
        (0..packets)
            .map(|n| PacketReport {
                ssrc: 1,
                id: first_id + n,
                rtp_sequence_number: (first_id + n) as u16,
                is_twcc: true,
                twcc_sequence_number: (first_id + n) as u16,
                size: 1200,
                arrived: n % arrives == 0,
                departure: at - Duration::from_millis(100 - n * 100 / packets),
                arrival: None,
                ecn: Default::default(),
            })
            .collect()
    }

    #[test]
    fn heavy_loss_lowers_the_estimate_to_about_what_was_delivered_not_below() {
        let bandwidth = Bandwidth::new(2_000_000.0, 10_000_000.0);
        let mut estimator = bandwidth.estimator();
        let start = Instant::now() + Duration::from_secs(1);
        // 2 Mb/s sent (21 packets a 100 ms), two in three lost: about 670 kb/s delivered.
        for step in 0..50u64 {
            let at = start + Duration::from_millis(100 * step);
            estimator.on_reports(at, &report(at, step * 21, 21, 3));
        }
        let estimate = bandwidth.target_bps();
        assert!(
            (500_000.0..700_000.0).contains(&estimate),
            "{estimate:.0} b/s after 5 s at 670 kb/s delivered"
        );
    }
}
