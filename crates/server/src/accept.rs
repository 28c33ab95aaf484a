//! An accept loop that survives errors: on a failed accept (out of file
//! descriptors, say) it waits, doubling the wait up to a second, instead of
//! spinning or giving up, and logs the failures at most once per interval.
//! The room server and the desktop app's frame socket both accept with it.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

/// The first wait after a failed accept, and the longest.
pub const BACKOFF_FIRST: Duration = Duration::from_millis(5);
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Logs the first occurrence of something, then at most one summary line per interval.
pub struct LogEvery {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogEvery {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// One occurrence at `now`. `Some(n)` means: log it now, `n` more happened
    /// since the last line; `None` means: count it, stay quiet.
    pub fn hit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// Exponential back-off: 5 ms, 10 ms, ... up to 1 s; reset by a success.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// How long to wait after this failure.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        wait
    }

    pub fn succeeded(&mut self) {
        self.next = BACKOFF_FIRST;
    }
}

/// A listener whose [`accept`](Acceptor::accept) never fails and never spins.
pub struct Acceptor {
    listener: TcpListener,
    what: &'static str,
    backoff: Backoff,
    log: LogEvery,
}

impl Acceptor {
    /// `what` names the listener in the log.
    pub fn new(listener: TcpListener, what: &'static str) -> Self {
        Self {
            listener,
            what,
            backoff: Backoff::default(),
            log: LogEvery::new(Duration::from_secs(10)),
        }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The next connection; failures are waited out.
    pub async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok(accepted) => {
                    self.backoff.succeeded();
                    return accepted;
                }
                Err(err) => {
                    let wait = self.backoff.failed();
                    if let Some(more) = self.log.hit(Instant::now()) {
                        let what = self.what;
                        if more == 0 {
                            tracing::warn!(%err, "{what}: accept failed; retrying in {wait:?}");
                        } else {
                            tracing::warn!(
                                %err,
                                "{what}: accept failed, {more} more times since the last report; retrying in {wait:?}"
                            );
                        }
                    }
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_second_and_resets() {
        let mut backoff = Backoff::default();
        let waits: Vec<u64> = (0..10)
            .map(|_| backoff.failed().as_millis() as u64)
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), BACKOFF_FIRST);
    }

    #[test]
    fn log_every_reports_the_first_then_a_count_per_interval() {
        let start = Instant::now();
        let mut log = LogEvery::new(Duration::from_secs(10));
        assert_eq!(log.hit(start), Some(0));
        for i in 1..1000 {
            assert_eq!(log.hit(start + Duration::from_millis(i)), None);
        }
        assert_eq!(log.hit(start + Duration::from_secs(10)), Some(999));
        assert_eq!(log.hit(start + Duration::from_secs(11)), None);
    }
}
