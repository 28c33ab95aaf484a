//! The events sent to one member, numbered and kept until it says they
//! arrived, so that a member whose connection dropped can resume and get
//! each event it missed exactly once (`docs/protocol.md`, Resume).
//!
//! Sans-IO and bounded: at most [`MAX_KEPT_EVENTS`] events and
//! [`MAX_KEPT_BYTES`] bytes. Of the events that only say how things are now
//! (`memberList.updated`, a member's `member.talking`), only the newest is
//! kept, as the outgoing queue does. Past the bounds the oldest event is
//! dropped, and a resume from before it fails: the member joins again.

use std::collections::VecDeque;

use conclave_protocol::Event;

/// Most events kept for one member.
pub const MAX_KEPT_EVENTS: usize = 512;
/// Most bytes of events (as JSON) kept for one member.
pub const MAX_KEPT_BYTES: usize = 256 * 1024;

#[derive(Debug, Default)]
pub struct EventLog {
    /// The number of the last event recorded (events count from 1).
    last_seq: u64,
    kept: VecDeque<Kept>,
    bytes: usize,
    /// Events up to this one are gone without having been acknowledged.
    dropped_through: u64,
}

#[derive(Debug)]
struct Kept {
    seq: u64,
    event: Event,
    bytes: usize,
}

/// The events after the acknowledged one can no longer all be replayed.
#[derive(Debug, PartialEq, Eq)]
pub struct Lost;

impl EventLog {
    /// Numbers `event` and keeps a copy; returns its number.
    pub fn record(&mut self, event: &Event) -> u64 {
        self.last_seq += 1;
        if let Some(superseded) = supersedes(event) {
            let before = self.kept.len();
            self.kept
                .retain(|kept| supersedes(&kept.event).as_ref() != Some(&superseded));
            if self.kept.len() != before {
                self.bytes = self.kept.iter().map(|kept| kept.bytes).sum();
            }
        }
        let bytes = serde_json::to_string(event).map_or(0, |json| json.len());
        self.kept.push_back(Kept {
            seq: self.last_seq,
            event: event.clone(),
            bytes,
        });
        self.bytes += bytes;
        while self.kept.len() > MAX_KEPT_EVENTS || self.bytes > MAX_KEPT_BYTES {
            let Some(oldest) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= oldest.bytes;
            self.dropped_through = oldest.seq;
        }
        self.last_seq
    }

    /// The member has every event up to `seq`: they need not be kept.
    pub fn acknowledge(&mut self, seq: u64) {
        while self.kept.front().is_some_and(|kept| kept.seq <= seq) {
            let kept = self.kept.pop_front().expect("checked");
            self.bytes -= kept.bytes;
        }
        self.dropped_through = self.dropped_through.max(seq.min(self.last_seq));
    }

    /// The events after `seq`, in order, for a member that has every event
    /// up to `seq`; [`Lost`] if some of them were dropped.
    pub fn since(&self, seq: u64) -> Result<Vec<(u64, Event)>, Lost> {
        if seq < self.dropped_through || seq > self.last_seq {
            return Err(Lost);
        }
        Ok(self
            .kept
            .iter()
            .filter(|kept| kept.seq > seq)
            .map(|kept| (kept.seq, kept.event.clone()))
            .collect())
    }
}

/// What a newer event of this kind replaces: only the newest says how things are.
#[derive(Debug, PartialEq)]
enum Superseded {
    MemberList,
    Talking(conclave_protocol::MemberId),
}

fn supersedes(event: &Event) -> Option<Superseded> {
    match event {
        Event::MemberListUpdated { .. } => Some(Superseded::MemberList),
        Event::MemberTalking { member_id, .. } => Some(Superseded::Talking(member_id.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_protocol::{LeaveReason, MemberId};

    fn chat(text: &str) -> Event {
        Event::ChatMessage {
            from: MemberId("m1".into()),
            from_name: "Ann".into(),
            text: text.into(),
            sent_at_ms: 0,
        }
    }

    fn texts(events: &[(u64, Event)]) -> Vec<(u64, String)> {
        events
            .iter()
            .map(|(seq, event)| match event {
                Event::ChatMessage { text, .. } => (*seq, text.clone()),
                other => (*seq, format!("{other:?}")),
            })
            .collect()
    }

    #[test]
    fn events_after_the_acknowledged_one_come_back_in_order_once() {
        let mut log = EventLog::default();
        for text in ["a", "b", "c", "d"] {
            log.record(&chat(text));
        }
        log.acknowledge(2);
        assert_eq!(
            texts(&log.since(2).unwrap()),
            [(3, "c".to_owned()), (4, "d".to_owned())]
        );
        assert_eq!(texts(&log.since(4).unwrap()), []);
        // A member cannot have seen what was never sent, or what was forgotten.
        assert_eq!(log.since(5), Err(Lost));
        assert_eq!(log.since(1), Err(Lost));
    }

    #[test]
    fn only_the_newest_member_list_and_talking_state_are_kept() {
        let mut log = EventLog::default();
        let list = |n| Event::MemberListUpdated {
            members: Vec::with_capacity(n),
        };
        let talking = |who: &str, talking| Event::MemberTalking {
            member_id: MemberId(who.into()),
            talking,
        };
        log.record(&list(1));
        log.record(&talking("m1", true));
        log.record(&chat("hi"));
        log.record(&talking("m2", true));
        log.record(&talking("m1", false));
        log.record(&list(2));
        let kept: Vec<u64> = log.since(0).unwrap().iter().map(|(seq, _)| *seq).collect();
        assert_eq!(
            kept,
            [3, 4, 5, 6],
            "the chat, m2's state, m1's newest, the newest list"
        );
    }

    #[test]
    fn past_its_bounds_the_log_drops_the_oldest_and_a_resume_from_before_fails() {
        let mut log = EventLog::default();
        for n in 0..MAX_KEPT_EVENTS + 10 {
            log.record(&chat(&n.to_string()));
        }
        assert_eq!(log.since(0), Err(Lost));
        assert_eq!(log.since(10), Ok(log.since(10).unwrap()));
        assert_eq!(log.since(10).unwrap().len(), MAX_KEPT_EVENTS);
        let big = "x".repeat(4000);
        let mut log = EventLog::default();
        for _ in 0..100 {
            log.record(&chat(&big));
        }
        assert!(log.bytes <= MAX_KEPT_BYTES);
        assert!(log.since(0).is_err());
        let left = Event::MemberLeft {
            member_id: MemberId("m2".into()),
            name: "Bob".into(),
            reason: LeaveReason::Left,
        };
        let seq = log.record(&left);
        assert_eq!(log.since(seq - 1).unwrap(), [(seq, left)]);
    }
}
