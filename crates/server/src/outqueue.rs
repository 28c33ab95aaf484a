//! One connection's outgoing messages, bounded, as a sans-IO queue.
//!
//! The hub and the member's media task push [`ServerMessage`]s; the
//! connection's writer takes them one at a time and writes them to the
//! socket. The queue never grows past its byte budget:
//!
//! - **Kept**: replies, errors, offers, `welcome` and every event but the two
//!   below (`room.left`, `room.kicked`, chat, `member.joined`, ...). They are
//!   never dropped or reordered.
//! - **Coalesced**: `memberList.updated` (only the newest list matters) and
//!   `member.talking` (only the newest per member). A newer one replaces the
//!   older one still waiting, and goes to the back, after the events that led
//!   to it.
//! - **Overflow**: a message that does not fit ends the queue: it is emptied,
//!   takes nothing more, and the connection is dropped (its member leaves with
//!   reason `disconnected`). A member that reads too slowly to take what its
//!   room sends cannot be served without unbounded memory.
//!
//! The queue also notes when a `welcome` went through it, which is how the
//! connection knows the hub accepted its `hello`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use conclave_protocol::{Event, MemberId, ServerMessage};
use tokio::sync::Notify;

/// Bookkeeping cost of one queued message, on top of its JSON.
const ENTRY_OVERHEAD: usize = 64;

/// Which waiting message a newer one replaces.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Coalesce {
    MemberList,
    Talking(MemberId),
}

/// A message ready to queue: serialized, and classified.
pub struct Entry {
    json: String,
    key: Option<Coalesce>,
}

impl Entry {
    pub fn new(msg: &ServerMessage) -> Self {
        Entry {
            json: serde_json::to_string(msg).expect("server messages serialize"),
            key: coalesce_key(msg),
        }
    }

    fn cost(&self) -> usize {
        self.json.len() + ENTRY_OVERHEAD
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    Queued,
    /// It replaced an older message of the same kind.
    Coalesced,
    /// The queue was full: it is now over, and the connection must be dropped.
    Overflow,
    /// The queue is closed or over; the message was discarded.
    Discarded,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Write this text frame.
    Message(String),
    /// Everything queued before the close is written: send a Close frame and stop.
    Close,
    /// The queue overflowed: drop the connection without a goodbye.
    Overflowed,
    Empty,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// Close once what is queued has been written.
    Closing,
    Overflowed,
    /// The connection is gone; nothing is kept.
    Shut,
}

pub struct OutQueue {
    entries: VecDeque<Entry>,
    bytes: usize,
    max_bytes: usize,
    state: State,
    greeted: bool,
}

impl OutQueue {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            max_bytes,
            state: State::Open,
            greeted: false,
        }
    }

    #[cfg(test)]
    pub fn push(&mut self, msg: &ServerMessage) -> Push {
        let welcome = matches!(msg, ServerMessage::Welcome { .. });
        self.push_entry(Entry::new(msg), welcome)
    }

    /// Queues a message serialized beforehand (outside any lock).
    pub fn push_entry(&mut self, entry: Entry, welcome: bool) -> Push {
        if self.state != State::Open {
            return Push::Discarded;
        }
        if welcome {
            self.greeted = true;
        }
        let mut result = Push::Queued;
        if let Some(key) = &entry.key
            && let Some(at) = self
                .entries
                .iter()
                .position(|e| e.key.as_ref() == Some(key))
        {
            let old = self.entries.remove(at).expect("position is in range");
            self.bytes -= old.cost();
            result = Push::Coalesced;
        }
        if self.bytes + entry.cost() > self.max_bytes {
            self.overflow();
            return Push::Overflow;
        }
        self.bytes += entry.cost();
        self.entries.push_back(entry);
        result
    }

    /// What the writer does next.
    pub fn pop(&mut self) -> Next {
        match self.state {
            State::Overflowed => return Next::Overflowed,
            State::Shut => return Next::Close,
            State::Open | State::Closing => {}
        }
        match self.entries.pop_front() {
            Some(entry) => {
                self.bytes -= entry.cost();
                Next::Message(entry.json)
            }
            None if self.state == State::Closing => Next::Close,
            None => Next::Empty,
        }
    }

    /// Close after what is queued now; later pushes are discarded.
    pub fn close(&mut self) {
        if self.state == State::Open {
            self.state = State::Closing;
        }
    }

    /// The connection is gone: free everything, keep nothing more.
    pub fn shut(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        if self.state != State::Overflowed {
            self.state = State::Shut;
        }
    }

    /// A `welcome` was queued: the server accepted this connection's `hello`.
    pub fn greeted(&self) -> bool {
        self.greeted
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes held, JSON plus bookkeeping.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn overflow(&mut self) {
        self.entries.clear();
        self.bytes = 0;
        self.state = State::Overflowed;
    }
}

/// Where a connection's outgoing messages go: its [`OutQueue`], shared by
/// the hub and the member's media task (producers) and the connection's
/// writer (the consumer).
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

struct Shared {
    queue: Mutex<OutQueue>,
    wake: Notify,
}

impl Outbox {
    pub fn new(max_bytes: usize) -> Self {
        Outbox(Arc::new(Shared {
            queue: Mutex::new(OutQueue::new(max_bytes)),
            wake: Notify::new(),
        }))
    }

    pub fn send(&self, msg: ServerMessage) {
        let welcome = matches!(msg, ServerMessage::Welcome { .. });
        let entry = Entry::new(&msg);
        let pushed = self.0.queue.lock().unwrap().push_entry(entry, welcome);
        // A gone socket discards; its disconnect is on the way to the hub.
        if pushed != Push::Discarded {
            self.0.wake.notify_one();
        }
    }

    /// Close the socket after the messages queued before this.
    pub fn close(&self) {
        self.0.queue.lock().unwrap().close();
        self.0.wake.notify_one();
    }

    pub fn pop(&self) -> Next {
        self.0.queue.lock().unwrap().pop()
    }

    /// Waits until something was pushed since the last wait (or the queue changed state).
    pub async fn pushed(&self) {
        self.0.wake.notified().await
    }

    pub fn greeted(&self) -> bool {
        self.0.queue.lock().unwrap().greeted()
    }

    pub fn shut(&self) {
        self.0.queue.lock().unwrap().shut();
    }
}

fn coalesce_key(msg: &ServerMessage) -> Option<Coalesce> {
    match msg {
        ServerMessage::Event {
            seq: 0,
            event: Event::MemberListUpdated { .. },
            ..
        } => Some(Coalesce::MemberList),
        ServerMessage::Event {
            seq: 0,
            event: Event::MemberTalking { member_id, .. },
            ..
        } => Some(Coalesce::Talking(member_id.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use conclave_protocol::{
        ErrorCode, ErrorInfo, LeaveReason, Member, ReplyBody, Role, ServerMessage,
    };

    use super::*;

    fn member(id: &str) -> Member {
        Member {
            id: MemberId(id.into()),
            name: id.into(),
            role: Role::Participant,
            audio_muted: false,
            video_muted: false,
            screen_sharing: false,
            talking: false,
            reconnecting: false,
        }
    }

    fn list(ids: &[&str]) -> ServerMessage {
        ServerMessage::Event {
            seq: 0,
            event: Event::MemberListUpdated {
                members: ids.iter().map(|id| member(id)).collect(),
            },
        }
    }

    fn talking(id: &str, talking: bool) -> ServerMessage {
        ServerMessage::Event {
            seq: 0,
            event: Event::MemberTalking {
                member_id: MemberId(id.into()),
                talking,
            },
        }
    }

    fn joined(id: &str) -> ServerMessage {
        ServerMessage::Event {
            seq: 0,
            event: Event::MemberJoined { member: member(id) },
        }
    }

    fn left(id: &str) -> ServerMessage {
        ServerMessage::Event {
            seq: 0,
            event: Event::MemberLeft {
                member_id: MemberId(id.into()),
                name: id.into(),
                reason: LeaveReason::Left,
            },
        }
    }

    fn offer(sdp: &str) -> ServerMessage {
        ServerMessage::Offer { sdp: sdp.into() }
    }

    fn json(msg: &ServerMessage) -> String {
        serde_json::to_string(msg).unwrap()
    }

    fn drain(queue: &mut OutQueue) -> Vec<String> {
        let mut out = Vec::new();
        while let Next::Message(text) = queue.pop() {
            out.push(text);
        }
        out
    }

    #[test]
    fn messages_come_out_in_order() {
        let mut queue = OutQueue::new(1 << 20);
        let reply = ServerMessage::Reply {
            id: 1,
            body: ReplyBody::Ok {},
        };
        for msg in [&reply, &joined("m2"), &offer("v=0")] {
            assert_eq!(queue.push(msg), Push::Queued);
        }
        assert_eq!(
            drain(&mut queue),
            vec![json(&reply), json(&joined("m2")), json(&offer("v=0"))]
        );
        assert_eq!(queue.pop(), Next::Empty);
        assert_eq!(queue.bytes(), 0);
    }

    #[test]
    fn only_the_newest_member_list_waits_and_it_moves_behind_the_events() {
        let mut queue = OutQueue::new(1 << 20);
        queue.push(&joined("m2"));
        queue.push(&list(&["m1", "m2"]));
        queue.push(&left("m2"));
        assert_eq!(queue.push(&list(&["m1"])), Push::Coalesced);
        assert_eq!(
            drain(&mut queue),
            vec![json(&joined("m2")), json(&left("m2")), json(&list(&["m1"]))]
        );
    }

    #[test]
    fn talking_is_coalesced_per_member() {
        let mut queue = OutQueue::new(1 << 20);
        queue.push(&talking("m1", true));
        queue.push(&talking("m2", true));
        assert_eq!(queue.push(&talking("m1", false)), Push::Coalesced);
        assert_eq!(
            drain(&mut queue),
            vec![json(&talking("m2", true)), json(&talking("m1", false))]
        );
    }

    #[test]
    fn a_sent_list_is_not_replaced_only_a_waiting_one() {
        let mut queue = OutQueue::new(1 << 20);
        queue.push(&list(&["m1"]));
        assert_eq!(drain(&mut queue), vec![json(&list(&["m1"]))]);
        assert_eq!(queue.push(&list(&["m1", "m2"])), Push::Queued);
        assert_eq!(drain(&mut queue), vec![json(&list(&["m1", "m2"]))]);
    }

    #[test]
    fn coalescing_keeps_a_flood_of_lists_and_talking_within_a_few_entries() {
        let mut queue = OutQueue::new(64 * 1024);
        for round in 0..10_000 {
            let ids: Vec<String> = (0..(round % 25 + 1)).map(|i| format!("m{i}")).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            assert_ne!(queue.push(&list(&ids)), Push::Overflow);
            assert_ne!(
                queue.push(&talking(&format!("m{}", round % 5), round % 2 == 0)),
                Push::Overflow
            );
        }
        assert_eq!(queue.len(), 6, "one list and one talking per member");
    }

    #[test]
    fn critical_messages_past_the_budget_overflow_and_the_queue_is_over() {
        let mut queue = OutQueue::new(4096);
        let chat = ServerMessage::Event {
            seq: 0,
            event: Event::ChatMessage {
                from: MemberId("m1".into()),
                from_name: "m1".into(),
                text: "x".repeat(1000),
                sent_at_ms: 0,
            },
        };
        let mut pushed = 0;
        let overflow = loop {
            match queue.push(&chat) {
                Push::Queued => pushed += 1,
                other => break other,
            }
        };
        assert_eq!(overflow, Push::Overflow);
        assert_eq!(pushed, 3, "three ~1.1 kB messages fit in 4 kB");
        assert!(queue.bytes() == 0 && queue.len() == 0, "overflow frees it");
        assert_eq!(queue.pop(), Next::Overflowed);
        assert_eq!(queue.push(&offer("v=0")), Push::Discarded);
        assert_eq!(queue.pop(), Next::Overflowed);
    }

    #[test]
    fn a_coalesced_message_that_still_does_not_fit_overflows() {
        let mut queue = OutQueue::new(600);
        let ids: Vec<String> = (0..20).map(|i| format!("m{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        assert_eq!(queue.push(&list(&["m1"])), Push::Queued);
        assert_eq!(queue.push(&list(&ids)), Push::Overflow);
    }

    #[test]
    fn close_writes_what_was_queued_first_then_discards() {
        let mut queue = OutQueue::new(1 << 20);
        let error = ServerMessage::Error {
            id: None,
            error: ErrorInfo::new(ErrorCode::TooLarge, "big"),
        };
        queue.push(&error);
        queue.close();
        assert_eq!(queue.push(&offer("late")), Push::Discarded);
        assert_eq!(queue.pop(), Next::Message(json(&error)));
        assert_eq!(queue.pop(), Next::Close);
        assert_eq!(queue.pop(), Next::Close);
    }

    #[test]
    fn shut_frees_everything() {
        let mut queue = OutQueue::new(1 << 20);
        queue.push(&offer("v=0"));
        queue.shut();
        assert_eq!(queue.bytes(), 0);
        assert_eq!(queue.push(&offer("v=1")), Push::Discarded);
        assert_eq!(queue.pop(), Next::Close);
    }

    #[test]
    fn a_welcome_marks_the_connection_greeted() {
        let mut queue = OutQueue::new(1 << 20);
        assert!(!queue.greeted());
        queue.push(&ServerMessage::Reply {
            id: 1,
            body: ReplyBody::Ok {},
        });
        assert!(!queue.greeted());
        queue.push(&ServerMessage::Welcome {
            version: 1,
            server: "test".into(),
            limits: Default::default(),
            ice_servers: vec![],
        });
        assert!(queue.greeted());
    }
}
