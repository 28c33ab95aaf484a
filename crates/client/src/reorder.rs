//! Puts a track's RTP packets back in sequence order (sans-IO), waiting a
//! little for a missing one before giving up on it: under loss the missing
//! packet is usually on its way, retransmitted after a NACK, and a frame
//! completed late is better than a frame thrown away, which costs a
//! keyframe and a freeze.
//!
//! The wait adapts: one and a half times the slowest of the recent repairs
//! (a gap filled by a late packet), plus 20 ms, within [`MIN_WAIT`] and
//! [`MAX_WAIT`]; giving up too soon costs a keyframe and a freeze, so the
//! least wait leaves room for a retransmission lost once or twice. Packets
//! in order pass at once; only a gap holds anything.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rtc::rtp;

/// The least and the most a gap is waited for.
pub const MIN_WAIT: Duration = Duration::from_millis(100);
pub const MAX_WAIT: Duration = Duration::from_millis(400);
/// The wait before any repair was seen.
const FIRST_WAIT: Duration = Duration::from_millis(150);
/// Repairs remembered for the adaptive wait.
const REPAIRS_KEPT: usize = 32;
/// Most packets held behind a gap; past this the gap is given up at once.
pub const MAX_HELD: usize = 512;

#[derive(Debug, Default)]
pub struct Reorder {
    /// The extended sequence number to release next.
    next: Option<u64>,
    /// Packets behind a gap, with when each arrived.
    held: BTreeMap<u64, (rtp::Packet, Instant)>,
    /// How long recent gaps took to fill.
    repairs: VecDeque<Duration>,
    /// Gaps given up on (their packets never came in time).
    pub skipped: u64,
}

impl Reorder {
    /// Takes a packet; returns those now ready, in order.
    pub fn push(&mut self, packet: rtp::Packet, now: Instant) -> Vec<rtp::Packet> {
        let next = *self
            .next
            .get_or_insert(u64::from(packet.header.sequence_number));
        let seq = extend(next, packet.header.sequence_number);
        // Already released (or given up on): too late to help.
        if seq < next {
            return Vec::new();
        }
        let waited_since = self.gap_since();
        self.held.entry(seq).or_insert((packet, now));
        if self.held.len() > MAX_HELD {
            let mut ready = self.give_up_gap();
            ready.extend(self.poll(now));
            return ready;
        }
        let ready = self.release();
        if let Some(since) = waited_since.filter(|_| !ready.is_empty()) {
            // The gap filled: remember how long that took.
            if self.repairs.len() == REPAIRS_KEPT {
                self.repairs.pop_front();
            }
            self.repairs.push_back(now.saturating_duration_since(since));
        }
        ready
    }

    /// When the gap before the held packets was noticed: when the first
    /// packet after it arrived.
    fn gap_since(&self) -> Option<Instant> {
        self.held.values().map(|(_, arrived)| *arrived).min()
    }

    /// When [`Reorder::poll`] should be called, while a gap is waited for.
    pub fn deadline(&self) -> Option<Instant> {
        Some(self.gap_since()? + self.wait())
    }

    /// The clock: gaps waited for long enough are given up on. Each gap's
    /// wait runs from when it was noticed, so under heavy loss the gaps
    /// queued behind one another go together; waiting for them one after
    /// another held the packets behind them for ever longer (seconds of
    /// delay, then a full buffer).
    pub fn poll(&mut self, now: Instant) -> Vec<rtp::Packet> {
        let mut ready = Vec::new();
        while self.deadline().is_some_and(|deadline| deadline <= now) {
            ready.extend(self.give_up_gap());
        }
        ready
    }

    /// How long a gap is waited for now.
    pub fn wait(&self) -> Duration {
        match self.repairs.iter().max() {
            Some(slowest) => {
                (*slowest * 3 / 2 + Duration::from_millis(20)).clamp(MIN_WAIT, MAX_WAIT)
            }
            None => FIRST_WAIT,
        }
    }

    fn give_up_gap(&mut self) -> Vec<rtp::Packet> {
        if let Some(&first_held) = self.held.keys().next() {
            self.skipped += 1;
            self.next = Some(first_held);
        }
        self.release()
    }

    /// The held packets that follow on from `next`.
    fn release(&mut self) -> Vec<rtp::Packet> {
        let mut ready = Vec::new();
        let Some(mut next) = self.next else {
            return ready;
        };
        while let Some((packet, _)) = self.held.remove(&next) {
            ready.push(packet);
            next += 1;
        }
        self.next = Some(next);
        ready
    }
}

/// `seq` as an extended sequence number, taking the one nearest `near`.
fn extend(near: u64, seq: u16) -> u64 {
    let delta = seq.wrapping_sub(near as u16) as i16;
    near.saturating_add_signed(i64::from(delta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16) -> rtp::Packet {
        rtp::Packet {
            header: rtp::Header {
                sequence_number: seq,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn seqs(packets: &[rtp::Packet]) -> Vec<u16> {
        packets.iter().map(|p| p.header.sequence_number).collect()
    }

    #[test]
    fn packets_in_order_pass_at_once() {
        let mut reorder = Reorder::default();
        let t0 = Instant::now();
        for seq in [65534, 65535, 0, 1] {
            assert_eq!(seqs(&reorder.push(packet(seq), t0)), [seq]);
        }
        assert_eq!(reorder.deadline(), None);
    }

    #[test]
    fn a_late_packet_fills_its_gap_and_the_held_ones_follow_in_order() {
        let mut reorder = Reorder::default();
        let t0 = Instant::now();
        reorder.push(packet(10), t0);
        assert!(reorder.push(packet(12), t0).is_empty());
        assert!(reorder.push(packet(13), t0).is_empty());
        assert_eq!(reorder.deadline(), Some(t0 + FIRST_WAIT));
        let later = t0 + Duration::from_millis(30);
        assert_eq!(seqs(&reorder.push(packet(11), later)), [11, 12, 13]);
        assert_eq!(reorder.deadline(), None);
        // A duplicate of what was released is dropped.
        assert!(reorder.push(packet(11), later).is_empty());
        // The wait now follows the repair: 30 ms, with a margin, at least MIN_WAIT.
        assert_eq!(reorder.wait(), MIN_WAIT);
        reorder.push(packet(15), later);
        assert!(reorder.push(packet(16), later).is_empty());
        reorder.push(packet(14), later + Duration::from_millis(120));
        assert_eq!(reorder.wait(), Duration::from_millis(120 * 3 / 2 + 20));
    }

    #[test]
    fn a_gap_that_never_fills_is_given_up_after_the_wait() {
        let mut reorder = Reorder::default();
        let t0 = Instant::now();
        reorder.push(packet(1), t0);
        reorder.push(packet(3), t0);
        assert!(
            reorder
                .poll(t0 + FIRST_WAIT - Duration::from_millis(1))
                .is_empty()
        );
        assert_eq!(seqs(&reorder.poll(t0 + FIRST_WAIT)), [3]);
        assert_eq!(reorder.skipped, 1);
        // The lost one turning up after all is too late.
        assert!(reorder.push(packet(2), t0 + FIRST_WAIT).is_empty());
        assert_eq!(seqs(&reorder.push(packet(4), t0 + FIRST_WAIT)), [4]);
    }

    #[test]
    fn gaps_queued_behind_one_another_are_waited_for_from_when_each_was_noticed() {
        let mut reorder = Reorder::default();
        let t0 = Instant::now();
        let ms = |ms: u64| t0 + Duration::from_millis(ms);
        reorder.push(packet(0), t0);
        // Heavy loss: 1, 3 and 5 missing, all noticed by 10 ms.
        for seq in [2, 4, 6] {
            reorder.push(packet(seq), ms(10));
        }
        assert_eq!(reorder.deadline(), Some(ms(10) + FIRST_WAIT));
        // One wait gives them all up, not one wait each.
        assert_eq!(seqs(&reorder.poll(ms(10) + FIRST_WAIT)), [2, 4, 6]);
        assert_eq!((reorder.skipped, reorder.deadline()), (3, None));
        // A gap noticed later waits from then.
        reorder.push(packet(8), ms(200));
        reorder.push(packet(10), ms(250));
        assert_eq!(seqs(&reorder.poll(ms(200) + FIRST_WAIT)), [8]);
        assert_eq!(reorder.deadline(), Some(ms(250) + FIRST_WAIT));
    }

    #[test]
    fn a_flood_behind_a_gap_is_bounded() {
        let mut reorder = Reorder::default();
        let t0 = Instant::now();
        reorder.push(packet(0), t0);
        let mut released = 0;
        for seq in 2..(2 + MAX_HELD as u16 + 1) {
            released += reorder.push(packet(seq), t0).len();
        }
        assert_eq!(
            released,
            MAX_HELD + 1,
            "the gap was given up on, not held forever"
        );
        assert!(reorder.held.is_empty());
    }
}
