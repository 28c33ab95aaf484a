//! The wall clock, in the units the protocol uses.
//!
//! Wire timestamps (`sent_at_ms`, a frame's capture stamp) are Unix time:
//! milliseconds, or microseconds where finer is needed. Every part of
//! Conclave reads the wall clock through these, so they agree on one epoch
//! and one rounding. Code that must be deterministic (the server's room
//! logic) takes the time as an input instead of calling these.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch; zero if the system clock is before it.
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}

/// Unix time in whole milliseconds.
pub fn unix_ms() -> u64 {
    since_epoch().as_millis() as u64
}

/// Unix time in microseconds.
pub fn unix_us() -> u64 {
    since_epoch().as_micros() as u64
}

/// Unix time in milliseconds with a fraction (for the UI, whose clock is a
/// `Date.now()`-style float).
pub fn unix_ms_f64() -> f64 {
    since_epoch().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_units_read_the_same_clock() {
        let ms = unix_ms();
        let us = unix_us();
        let fractional = unix_ms_f64();
        assert!(ms > 1_600_000_000_000, "Unix ms, not some other epoch");
        assert!(us / 1000 >= ms && us / 1000 - ms < 1000);
        assert!(fractional >= ms as f64 && fractional - (ms as f64) < 1000.0);
    }
}
