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
    held: BTreeMap<u64, rtp::Packet>,
    /// When the gap before the held packets was noticed.
    gap_since: Option<Instant>,
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
        self.held.entry(seq).or_insert(packet);
        if self.held.len() > MAX_HELD {
            return self.give_up_gap(now);
        }
        self.release(now)
    }

    /// When [`Reorder::poll`] should be called, while a gap is waited for.
    pub fn deadline(&self) -> Option<Instant> {
        Some(self.gap_since? + self.wait())
    }

    /// The clock: a gap waited for long enough is given up on.
    pub fn poll(&mut self, now: Instant) -> Vec<rtp::Packet> {
        match self.deadline() {
            Some(deadline) if deadline <= now => self.give_up_gap(now),
            _ => Vec::new(),
        }
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

    fn give_up_gap(&mut self, now: Instant) -> Vec<rtp::Packet> {
        if let Some(&first_held) = self.held.keys().next() {
            self.skipped += 1;
            self.next = Some(first_held);
            self.gap_since = None;
        }
        self.release(now)
    }

    fn release(&mut self, now: Instant) -> Vec<rtp::Packet> {
        let mut ready = Vec::new();
        let Some(mut next) = self.next else {
            return ready;
        };
        while let Some(packet) = self.held.remove(&next) {
            ready.push(packet);
            next += 1;
        }
        self.next = Some(next);
        match (self.held.is_empty(), self.gap_since) {
            // The gap filled: remember how long that took.
            (_, Some(since)) if !ready.is_empty() => {
                if self.repairs.len() == REPAIRS_KEPT {
                    self.repairs.pop_front();
                }
                self.repairs.push_back(now.saturating_duration_since(since));
                self.gap_since = (!self.held.is_empty()).then_some(now);
            }
            (false, None) => self.gap_since = Some(now),
            (true, _) => self.gap_since = None,
            _ => {}
        }
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
