//! A token bucket: `rate` a second sustained, twice that in a burst. The
//! per-connection message limit (`rooms`) and the per-address one (`gate`)
//! are both this.

use std::time::Instant;

#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket for `rate` a second.
    pub(crate) fn full(rate: f64, now: Instant) -> Self {
        TokenBucket {
            tokens: 2.0 * rate,
            last: now,
        }
    }

    /// Refills for the time since the last call, then takes one token if there is one.
    pub(crate) fn take(&mut self, rate: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(2.0 * rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
