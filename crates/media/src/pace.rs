//! Paced loops: a step every period on a thread of its own (the synthetic
//! devices, screen capture, a replayed clip). A loop that falls behind (a
//! slow step, a busy machine) starts again from now rather than running the
//! missed steps in a burst.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// When the next step of a paced loop is due.
struct Pacer {
    period: Duration,
    next: Instant,
}

impl Pacer {
    fn new(period: Duration, now: Instant) -> Pacer {
        Pacer { period, next: now }
    }

    /// After a step, at `now`: how long to wait for the next one. Behind
    /// schedule, the next step is now and the schedule restarts from it.
    fn wait_after_step(&mut self, now: Instant) -> Duration {
        self.next += self.period;
        match self.next.checked_duration_since(now) {
            Some(wait) => wait,
            None => {
                self.next = now;
                Duration::ZERO
            }
        }
    }
}

/// Runs `step` now and then every `period`, until `stop` is set or `step`
/// breaks. Blocks the calling thread.
pub fn run_paced(period: Duration, stop: &AtomicBool, mut step: impl FnMut() -> ControlFlow<()>) {
    let mut pacer = Pacer::new(period, Instant::now());
    while !stop.load(Ordering::Relaxed) {
        if step().is_break() {
            return;
        }
        let wait = pacer.wait_after_step(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_to_the_schedule_and_a_late_loop_restarts_instead_of_bursting() {
        let ms = Duration::from_millis;
        let start = Instant::now();
        let mut pacer = Pacer::new(ms(10), start);
        // A quick step: wait out the rest of the period.
        assert_eq!(pacer.wait_after_step(start + ms(3)), ms(7));
        // Steps are due on the schedule, not a period after each step ends.
        assert_eq!(pacer.wait_after_step(start + ms(12)), ms(8));
        // 35 ms late: the next step is now, once, and the schedule starts from it.
        assert_eq!(pacer.wait_after_step(start + ms(55)), Duration::ZERO);
        assert_eq!(pacer.wait_after_step(start + ms(56)), ms(9));
    }

    #[test]
    fn runs_until_stopped_or_broken() {
        let stop = AtomicBool::new(false);
        let mut steps = 0;
        let started = Instant::now();
        run_paced(Duration::from_millis(5), &stop, || {
            steps += 1;
            if steps == 4 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(steps, 4);
        assert!(
            started.elapsed() >= Duration::from_millis(15),
            "three waits"
        );
        stop.store(true, Ordering::Relaxed);
        run_paced(Duration::from_millis(5), &stop, || panic!("stopped before"));
    }
}
