//! Feeds from devices into the local tracks. A device (a capture thread, a
//! synthetic device) pushes; the encoder pulls. The device behind a feed can
//! be swapped (another screen, another microphone) without the track
//! noticing, so the call goes on.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::I420Frame;

type Newest = Option<(u64, Arc<I420Frame>)>;

/// Video from a device: only the newest frame matters.
#[derive(Clone, Default)]
pub struct FrameFeed(Arc<(Mutex<Newest>, Condvar)>);

impl FrameFeed {
    pub fn push(&self, frame: I420Frame) {
        let (slot, pushed) = &*self.0;
        let mut slot = slot.lock().unwrap();
        let sequence = slot.as_ref().map_or(1, |(n, _)| n + 1);
        *slot = Some((sequence, Arc::new(frame)));
        pushed.notify_all();
    }

    /// The newest frame, if it is newer than `seen` (a sequence number).
    pub fn newer_than(&self, seen: u64) -> Option<(u64, Arc<I420Frame>)> {
        newer(&self.0.0.lock().unwrap(), seen)
    }

    /// As [`FrameFeed::newer_than`], waiting up to `timeout` for a frame to
    /// be pushed if there is none yet (a blocking call, for a thread).
    pub fn wait_newer_than(&self, seen: u64, timeout: Duration) -> Option<(u64, Arc<I420Frame>)> {
        let (slot, pushed) = &*self.0;
        let slot = slot.lock().unwrap();
        let (slot, _) = pushed
            .wait_timeout_while(slot, timeout, |slot| newer(slot, seen).is_none())
            .unwrap();
        newer(&slot, seen)
    }
}

fn newer(slot: &Newest, seen: u64) -> Option<(u64, Arc<I420Frame>)> {
    slot.as_ref().filter(|(n, _)| *n > seen).cloned()
}

impl fmt::Debug for FrameFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FrameFeed")
    }
}

/// Audio from a device: 48 kHz mono samples, in order. Bounded, so a stalled
/// encoder costs at most [`AudioFeed::MAX_SAMPLES`] of delay, never memory.
#[derive(Clone, Default)]
pub struct AudioFeed(Arc<(Mutex<VecDeque<i16>>, Notify)>);

impl AudioFeed {
    /// 200 ms.
    pub const MAX_SAMPLES: usize = 9_600;

    pub fn push(&self, samples: &[i16]) {
        let (queue, arrived) = &*self.0;
        let mut queue = queue.lock().unwrap();
        queue.extend(samples);
        let excess = queue.len().saturating_sub(Self::MAX_SAMPLES);
        queue.drain(..excess);
        arrived.notify_one();
    }

    /// Fills `out` if that many samples are queued.
    pub fn take(&self, out: &mut [i16]) -> bool {
        let mut queue = self.0.0.lock().unwrap();
        if queue.len() < out.len() {
            return false;
        }
        let n = out.len();
        for (o, s) in out.iter_mut().zip(queue.drain(..n)) {
            *o = s;
        }
        true
    }

    /// Waits until something is pushed (or returns at once if it was since the last wait).
    pub async fn arrived(&self) {
        self.0.1.notified().await;
    }
}

impl fmt::Debug for AudioFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AudioFeed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_newest_wins_and_audio_is_in_order_and_bounded() {
        let video = FrameFeed::default();
        assert!(video.newer_than(0).is_none());
        video.push(I420Frame::new_black(4, 2));
        video.push(I420Frame::new_black(8, 2));
        let (seen, frame) = video.newer_than(0).unwrap();
        assert_eq!((seen, frame.width), (2, 8));
        assert!(video.newer_than(seen).is_none());
        let waited = std::time::Instant::now();
        assert!(
            video
                .wait_newer_than(seen, Duration::from_millis(20))
                .is_none()
        );
        assert!(waited.elapsed() >= Duration::from_millis(20), "it waited");
        let pusher = {
            let video = video.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(10));
                video.push(I420Frame::new_black(2, 2));
            })
        };
        let (next, frame) = video.wait_newer_than(seen, Duration::from_secs(5)).unwrap();
        assert_eq!((next, frame.width), (3, 2), "woken by the push");
        pusher.join().unwrap();

        let audio = AudioFeed::default();
        audio.push(&[1, 2, 3]);
        let mut out = [0i16; 4];
        assert!(!audio.take(&mut out), "not enough yet");
        audio.push(&[4, 5]);
        assert!(audio.take(&mut out));
        assert_eq!(out, [1, 2, 3, 4]);
        audio.push(&vec![7; AudioFeed::MAX_SAMPLES * 2]);
        let mut all = vec![0i16; AudioFeed::MAX_SAMPLES];
        assert!(audio.take(&mut all));
        assert!(
            !audio.take(&mut out),
            "the oldest audio was dropped, the queue bounded"
        );
    }
}
