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
//! The estimator lives inside the interceptor chain, out of the
//! application's reach, so it publishes what it knows into a [`Bandwidth`]
//! handle after every change.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rtc::interceptor::{BandwidthEstimator, EstimatorStats, Gcc, PacketReport};

/// The pacer releases packets at this multiple of the estimate, as
/// Chrome's does: it smooths a keyframe into a burst the path can take,
/// without making frames wait behind the estimate.
pub const PACING_HEADROOM: f64 = 2.5;

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
            shared: self.0.clone(),
        }
    }
}

/// GCC, publishing its estimate; what it tells the pacer has headroom.
pub(crate) struct Reporting {
    gcc: Gcc,
    shared: Arc<Shared>,
}

impl Reporting {
    /// What the path carries, by the loss-based half (see the module's comment).
    fn estimate(&self) -> f64 {
        self.gcc.loss_based_bitrate()
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
        if !reports.is_empty() {
            self.shared.reports.fetch_add(1, Ordering::Relaxed);
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
}
