//! Bounded logs: no line of code may log more than [`BURST`] times per
//! [`WINDOW`]. A member with a broken connection, or a flood, can make the
//! WebRTC stack warn thousands of times a second (one SRTP warning per bad
//! packet); a log is only useful, and only bounded, if that stays a few lines.
//!
//! [`LogBudget`] is a per-layer filter for `tracing_subscriber`, keyed by
//! callsite and target. When a callsite's window rolls over, the first event of the new
//! window is preceded by a line that says how many were left out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::Metadata;
use tracing::callsite::Identifier;
use tracing::subscriber::Interest;
use tracing_subscriber::layer::{Context, Filter};

/// Events one callsite may log per window...
pub const BURST: u32 = 20;
/// ...and the window.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Callsites tracked at most (there are a few thousand in the binary).
const MAX_CALLSITES: usize = 10_000;

/// One callsite's count in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    logged: u32,
    left_out: u64,
}

/// What to do with one event.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Log,
    /// Log it, after saying that this many were left out before it.
    LogAfter(u64),
    Skip,
}

/// The rule, without I/O: per key, [`BURST`] events per [`WINDOW`].
pub struct Budget<K> {
    windows: HashMap<K, Window>,
}

impl<K> Default for Budget<K> {
    fn default() -> Self {
        Budget {
            windows: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Budget<K> {
    pub fn event(&mut self, key: K, now: Instant) -> Verdict {
        if self.windows.len() >= MAX_CALLSITES && !self.windows.contains_key(&key) {
            self.windows
                .retain(|_, w| now.saturating_duration_since(w.started) < WINDOW);
        }
        let window = self.windows.entry(key).or_insert(Window {
            started: now,
            logged: 0,
            left_out: 0,
        });
        if now.saturating_duration_since(window.started) >= WINDOW {
            let left_out = window.left_out;
            *window = Window {
                started: now,
                logged: 1,
                left_out: 0,
            };
            return if left_out > 0 {
                Verdict::LogAfter(left_out)
            } else {
                Verdict::Log
            };
        }
        if window.logged < BURST {
            window.logged += 1;
            Verdict::Log
        } else {
            window.left_out += 1;
            Verdict::Skip
        }
    }
}

/// The [`Budget`] as a `tracing` filter. Spans are not limited, only events.
#[derive(Default)]
pub struct LogBudget {
    /// Keyed by callsite and target: events bridged from the `log` crate
    /// share one callsite per level, and differ by their target.
    budget: Mutex<Budget<(Identifier, String)>>,
}

impl<S> Filter<S> for LogBudget {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        if !meta.is_event() {
            return true;
        }
        let verdict = self
            .budget
            .lock()
            .unwrap()
            .event((meta.callsite(), meta.target().to_owned()), Instant::now());
        match verdict {
            Verdict::Log => true,
            Verdict::LogAfter(left_out) => {
                // Not through tracing: an event from inside a filter is dropped.
                eprintln!(
                    "({left_out} more from {} at {}:{} were left out in the last {} s)",
                    meta.target(),
                    meta.file().unwrap_or("?"),
                    meta.line().unwrap_or(0),
                    WINDOW.as_secs()
                );
                true
            }
            Verdict::Skip => false,
        }
    }

    /// Asked every time, not cached per callsite: the answer depends on the count.
    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_per_callsite_then_a_count_of_what_was_left_out() {
        let mut budget = Budget::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(budget.event("srtp", t0), Verdict::Log);
        }
        for _ in 0..1000 {
            assert_eq!(budget.event("srtp", t0 + WINDOW / 2), Verdict::Skip);
        }
        assert_eq!(budget.event("joined", t0), Verdict::Log, "another callsite");
        assert_eq!(budget.event("srtp", t0 + WINDOW), Verdict::LogAfter(1000));
        assert_eq!(budget.event("srtp", t0 + WINDOW), Verdict::Log);
        assert_eq!(budget.event("srtp", t0 + WINDOW * 3), Verdict::Log);
    }
}
