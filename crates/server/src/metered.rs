//! Bytes of incoming messages not yet complete, per connection and in total.
//!
//! The WebSocket layer holds a message until its last fragment arrives, so a
//! client that starts messages and never finishes them holds server memory.
//! [`Metered`] wraps a connection's socket and counts the bytes read since
//! the last complete message; a shared [`Budget`] caps their sum over all
//! connections, and [`Meter::unfinished_for`] tells how long the current
//! message has been unfinished (the connection drops it after a deadline).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection may always hold this much unfinished, whatever the budget.
const ALWAYS_ALLOWED: usize = 16 * 1024;

/// The total of unfinished bytes over all connections, and its cap.
pub struct Budget {
    used: AtomicUsize,
    max: usize,
}

impl Budget {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            max,
        })
    }

    #[cfg(test)]
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// One connection's unfinished bytes.
pub struct Meter {
    budget: Arc<Budget>,
    pending: AtomicUsize,
    since: Mutex<Option<Instant>>,
}

impl Meter {
    pub fn new(budget: Arc<Budget>) -> Arc<Self> {
        Arc::new(Meter {
            budget,
            pending: AtomicUsize::new(0),
            since: Mutex::new(None),
        })
    }

    /// `n` bytes arrived. Err if they take the total over the budget while
    /// this connection holds more than a little.
    fn read(&self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Ok(());
        }
        let before = self.pending.fetch_add(n, Ordering::Relaxed);
        if before == 0 {
            *self.since.lock().unwrap() = Some(Instant::now());
        }
        let used = self.budget.used.fetch_add(n, Ordering::Relaxed) + n;
        if used > self.budget.max && before + n > ALWAYS_ALLOWED {
            return Err(io::Error::other(
                "the server's budget for unfinished messages is spent",
            ));
        }
        Ok(())
    }

    /// A data message (text, binary, close) came out whole: nothing is pending.
    pub fn message_done(&self) {
        let pending = self.pending.swap(0, Ordering::Relaxed);
        self.budget.used.fetch_sub(pending, Ordering::Relaxed);
        *self.since.lock().unwrap() = None;
    }

    /// A control frame (ping, pong) of `payload` bytes came out: its bytes
    /// on the wire (2 header bytes and a 4-byte mask) are no longer pending.
    pub fn control_done(&self, payload: usize) {
        let wire = 6 + payload;
        let mut pending = self.pending.load(Ordering::Relaxed);
        loop {
            let take = wire.min(pending);
            match self.pending.compare_exchange(
                pending,
                pending - take,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.budget.used.fetch_sub(take, Ordering::Relaxed);
                    if pending == take {
                        *self.since.lock().unwrap() = None;
                    }
                    return;
                }
                Err(now) => pending = now,
            }
        }
    }

    /// How long bytes of an unfinished message have been waiting, if any are.
    pub fn unfinished_for(&self, now: Instant) -> Option<Duration> {
        self.since
            .lock()
            .unwrap()
            .map(|since| now.saturating_duration_since(since))
    }

    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let pending = *self.pending.get_mut();
        self.budget.used.fetch_sub(pending, Ordering::Relaxed);
    }
}

/// A socket whose reads are counted by a [`Meter`].
pub struct Metered<S> {
    inner: S,
    meter: Arc<Meter>,
}

impl<S> Metered<S> {
    pub fn new(inner: S, meter: Arc<Meter>) -> Self {
        Metered { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Metered<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                Poll::Ready(this.meter.read(n))
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Metered<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_bytes_are_counted_until_the_message_is_done() {
        let budget = Budget::new(1 << 20);
        let meter = Meter::new(budget.clone());
        assert!(meter.unfinished_for(Instant::now()).is_none());
        meter.read(1000).unwrap();
        meter.read(500).unwrap();
        assert_eq!((meter.pending(), budget.used()), (1500, 1500));
        assert!(meter.unfinished_for(Instant::now()).is_some());
        meter.message_done();
        assert_eq!((meter.pending(), budget.used()), (0, 0));
        assert!(meter.unfinished_for(Instant::now()).is_none());
    }

    #[test]
    fn pongs_do_not_count_as_an_unfinished_message() {
        let budget = Budget::new(1 << 20);
        let meter = Meter::new(budget.clone());
        for _ in 0..100 {
            meter.read(6).unwrap();
            meter.control_done(0);
        }
        assert_eq!(meter.pending(), 0);
        assert!(meter.unfinished_for(Instant::now()).is_none());
        // A pong in the middle of a fragmented message leaves the message pending.
        meter.read(4000).unwrap();
        meter.read(6).unwrap();
        meter.control_done(0);
        assert_eq!(meter.pending(), 4000);
        assert!(meter.unfinished_for(Instant::now()).is_some());
    }

    #[test]
    fn the_budget_refuses_large_holders_once_spent() {
        let budget = Budget::new(100 * 1024);
        let hog = Meter::new(budget.clone());
        hog.read(90 * 1024).unwrap();
        let other = Meter::new(budget.clone());
        // Small messages still pass when the budget is spent...
        other.read(12 * 1024).unwrap();
        other.message_done();
        // ...but a connection holding a lot is refused.
        assert!(hog.read(20 * 1024).is_err());
        drop(hog);
        assert_eq!(
            budget.used(),
            0,
            "a dropped connection gives its bytes back"
        );
    }
}
