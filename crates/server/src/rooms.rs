//! The room logic as a sans-IO state machine.
//!
//! [`Rooms::handle`] takes one input (a frame from a connection, a
//! disconnect, the clock) and returns what to do: messages to send, sockets
//! to close, media actions for the SFU. No sockets, no tasks, no clocks of
//! its own (the monotonic time and the wall-clock time come in with each
//! frame), so every rule here is tested by feeding inputs and reading outputs.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use conclave_protocol::events::MemberField;

use crate::answer_check;
use crate::bucket::TokenBucket;
use crate::eventlog::EventLog;
use crate::secrets::Secrets;
use crate::text;
use crate::tokens::TokenKey;
use crate::turn::TurnConfig;
use conclave_protocol::{
    ClientMessage, ClientRequest, ErrorCode, ErrorInfo, Event, Join, LeaveReason, Limits, Member,
    MemberId, PROTOCOL_VERSION, ReplyBody, Role, ServerMessage, TrackKind,
    events::{ConnectionQuality, LinkDirection, VideoLayer},
};

/// One WebSocket connection. Identity on the server is the connection: a
/// request can only ever act as the member its connection joined as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

#[derive(Debug, PartialEq)]
pub enum Output {
    Send {
        to: ConnId,
        msg: ServerMessage,
    },
    /// Close the socket after the messages queued before this one are sent.
    Close {
        conn: ConnId,
    },
    Media(MediaAction),
    /// A new connection resumed a member: its socket speaks for that member now.
    Adopt(Adopt),
}

/// What the SFU must do. Connections stand for members.
#[derive(Debug, PartialEq)]
pub enum MediaAction {
    /// A member joined: open its peer connection and subscribe it to `peers`' tracks.
    Open { member: ConnId, peers: Vec<ConnId> },
    /// Apply the member's SDP answer.
    Answer { member: ConnId, sdp: String },
    /// The member will publish a screen: give it a slot (or reuse its old one).
    StartScreen { member: ConnId, peers: Vec<ConnId> },
    /// Stop forwarding the member's screen to anyone.
    StopScreen { member: ConnId, peers: Vec<ConnId> },
    /// Forward, or stop forwarding, one of the member's tracks (mute gates media at the SFU too).
    Gate {
        member: ConnId,
        kind: TrackKind,
        open: bool,
    },
    /// The member is gone: close its peer connection and remove its tracks from `peers`.
    Close { member: ConnId, peers: Vec<ConnId> },
    /// Offer the member again with new ICE credentials.
    RestartIce { member: ConnId },
    /// `member` shows `publisher`'s video of `kind` this tall.
    VideoSize {
        member: ConnId,
        publisher: ConnId,
        kind: TrackKind,
        height: u32,
    },
    /// The member sends its `kind` video's layers from `largest_level` down.
    SentLayers {
        member: ConnId,
        kind: TrackKind,
        largest_level: u8,
    },
}

/// Not a media action: the socket of connection `socket` now carries the
/// member of `session` (it resumed it); `socket` is gone from the rules.
#[derive(Debug, PartialEq)]
pub struct Adopt {
    pub socket: ConnId,
    pub session: ConnId,
}

struct MemberState {
    conn: ConnId,
    member: Member,
    /// The server's latest offer to this member while it awaits its answer.
    offer: Option<String>,
    /// Whether others' media is forwarded to it (`receive_media` in its join).
    receives_media: bool,
    /// The events sent to it, kept until it says they arrived (for a resume).
    log: EventLog,
    /// Proves this member on a new connection (`resume`).
    resume_token: String,
    /// Its connection dropped at this moment; it stays for the grace period.
    away_since: Option<Instant>,
    /// Its link as last reported (`None` before the first report).
    quality: Option<ConnectionQuality>,
    /// The server lowered what it sends this member for want of bandwidth.
    downlink_slow: bool,
}

/// What a member's media task measured of its link over the last period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkReport {
    pub quality: ConnectionQuality,
    pub downlink_slow: bool,
    pub downlink_kbps: u32,
}

/// The longest room password, in characters.
const MAX_PASSWORD_CHARS: usize = 64;
/// No tile is taller than an 8K screen.
const MAX_VIDEO_HEIGHT: u32 = 4320;

impl Room {
    /// The connection of member `id`, or `member_not_found`.
    fn conn_of(&self, id: &MemberId) -> Result<ConnId, ErrorInfo> {
        (self.members.values())
            .find(|m| m.member.id == *id)
            .map(|m| m.conn)
            .ok_or_else(|| {
                ErrorInfo::new(
                    ErrorCode::MemberNotFound,
                    format!("no member {id} in this room"),
                )
            })
    }

    /// Who may join, as members hear it.
    fn access(&self) -> Event {
        Event::RoomUpdated {
            room: self.name.clone(),
            locked: self.locked,
            password_protected: self.password.is_some(),
        }
    }

    /// The members other than `except` that others' media is forwarded to.
    fn media_receivers(&self, except: ConnId) -> Vec<ConnId> {
        self.members
            .values()
            .filter(|m| m.receives_media && m.conn != except)
            .map(|m| m.conn)
            .collect()
    }
}

struct Room {
    name: String,
    moderator_secret: Option<String>,
    /// Nobody new may join, but holders of the moderator secret.
    locked: bool,
    /// Set by a moderator; a join must give it (holders of the secret need not).
    password: Option<String>,
    /// Ordered by join so member lists are stable.
    members: BTreeMap<u64, MemberState>,
    /// Re-created after a restart by a returning participant: the next
    /// member that is not one becomes its moderator (and sets its secret).
    unclaimed: bool,
}

struct Connection {
    /// The peer's address: wrong moderator secrets are counted per address.
    ip: IpAddr,
    greeted: bool,
    /// Being closed (kicked): whatever else it sends is ignored, so a request
    /// already on its way cannot bring it back in.
    closing: bool,
    /// Room name and join sequence number, once joined.
    joined: Option<(String, u64)>,
    /// `max_messages_per_second`, twice that in a burst.
    rate: TokenBucket,
}

pub struct Rooms {
    limits: Limits,
    server_name: String,
    rooms: HashMap<String, Room>,
    connections: HashMap<ConnId, Connection>,
    secrets: Secrets,
    /// With an auth secret: only members with a token it signed may join.
    tokens: Option<TokenKey>,
    /// TURN servers, whose credentials each `welcome` hands out.
    turn: Option<TurnConfig>,
    /// Each member's resume token, to its connection.
    resume_tokens: HashMap<String, ConnId>,
    next_seq: u64,
}

type Reply = Result<ReplyBody, ErrorInfo>;

impl Rooms {
    pub fn new(limits: Limits, server_name: impl Into<String>) -> Self {
        Self {
            limits,
            server_name: server_name.into(),
            rooms: HashMap::new(),
            connections: HashMap::new(),
            secrets: Secrets::default(),
            tokens: None,
            turn: None,
            resume_tokens: HashMap::new(),
            next_seq: 1,
        }
    }

    /// Room for one more member (and, if `creating`, one more room) on this server?
    fn check_capacity(&self, creating: bool) -> Result<(), ErrorInfo> {
        if creating && self.rooms.len() >= self.limits.max_rooms {
            return Err(ErrorInfo::new(
                ErrorCode::ServerFull,
                format!(
                    "this server has {} rooms open, as many as it allows",
                    self.rooms.len()
                ),
            ));
        }
        let members: usize = self.rooms.values().map(|room| room.members.len()).sum();
        if members >= self.limits.max_members {
            return Err(ErrorInfo::new(
                ErrorCode::ServerFull,
                format!("this server has {members} members in its rooms, as many as it allows"),
            ));
        }
        Ok(())
    }

    /// Lets in only members with a join token `key` signed ([`crate::tokens`]).
    pub fn with_tokens(mut self, key: TokenKey) -> Self {
        self.tokens = Some(key);
        self
    }

    /// Hands each connection credentials for these TURN servers in `welcome`.
    pub fn with_turn(mut self, turn: TurnConfig) -> Self {
        self.turn = Some(turn);
        self
    }

    pub fn connect(&mut self, conn: ConnId, ip: IpAddr, now: Instant) {
        let rate = TokenBucket::full(self.limits.max_messages_per_second as f64, now);
        self.connections.insert(
            conn,
            Connection {
                ip,
                greeted: false,
                closing: false,
                joined: None,
                rate,
            },
        );
    }

    /// A text frame arrived on `conn` at `now`; `unix_ms` is the wall clock
    /// at that moment, for the timestamps the room hands out (`sent_at_ms`).
    pub fn handle_frame(
        &mut self,
        conn: ConnId,
        text: &str,
        now: Instant,
        unix_ms: u64,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        if self.connections.get(&conn).is_none_or(|c| c.closing) {
            return out;
        }
        if !self.take_token(conn, now) {
            out.push(error_to(
                conn,
                None,
                ErrorCode::RateLimited,
                format!(
                    "more than {} messages per second; this one was dropped",
                    self.limits.max_messages_per_second
                ),
            ));
            return out;
        }
        if text.len() > self.limits.max_frame_bytes {
            out.push(error_to(
                conn,
                None,
                ErrorCode::TooLarge,
                format!(
                    "frame of {} bytes is over the limit of {}",
                    text.len(),
                    self.limits.max_frame_bytes
                ),
            ));
            return out;
        }
        let message = match parse_request(text) {
            Ok(message) => message,
            Err((id, error)) => {
                out.push(Output::Send {
                    to: conn,
                    msg: ServerMessage::Error { id, error },
                });
                return out;
            }
        };
        let id = message.id;
        let reply = self.handle_request(conn, message.request, now, unix_ms, &mut out);
        let msg = match reply {
            Ok(body) => ServerMessage::Reply { id, body },
            Err(error) => ServerMessage::Error {
                id: Some(id),
                error,
            },
        };
        // The reply goes before any event the request caused, so a client
        // sees the answer to its request first.
        out.insert(0, Output::Send { to: conn, msg });
        self.number_events(out)
    }

    /// Numbers and logs every event to a member (each member counts its own
    /// from 1), and holds back what is addressed to a member that is away:
    /// its log keeps the events for a resume.
    fn number_events(&mut self, out: Vec<Output>) -> Vec<Output> {
        let mut delivered = Vec::with_capacity(out.len());
        for mut output in out {
            if let Output::Send { to, msg } = &mut output
                && let Some(state) = self.member_state_mut(*to)
            {
                if let ServerMessage::Event {
                    seq: seq @ 0,
                    event,
                } = msg
                {
                    *seq = state.log.record(event);
                }
                if state.away_since.is_some() {
                    continue;
                }
            }
            delivered.push(output);
        }
        delivered
    }

    fn member_state_mut(&mut self, conn: ConnId) -> Option<&mut MemberState> {
        let (room, seq) = self.connections.get(&conn)?.joined.as_ref()?;
        self.rooms.get_mut(room)?.members.get_mut(seq)
    }

    /// A frame too large to even read: the transport refused it.
    pub fn handle_oversized(&mut self, conn: ConnId, size: usize) -> Vec<Output> {
        vec![error_to(
            conn,
            None,
            ErrorCode::TooLarge,
            format!(
                "frame of {size} bytes is over the limit of {}",
                self.limits.max_frame_bytes
            ),
        )]
    }

    /// The connection is gone (closed, dropped, or timed out). Its member, if
    /// it has one, stays in the room for the grace period, reconnecting.
    pub fn disconnect(&mut self, conn: ConnId, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let closing = self.connections.get(&conn).is_none_or(|c| c.closing);
        let grace = self.limits.reconnect_grace_secs > 0;
        match self.member_state_mut(conn) {
            Some(state) if grace && !closing && state.away_since.is_none() => {
                state.away_since = Some(now);
                self.set_reconnecting(conn, true, &mut out);
            }
            Some(state) if state.away_since.is_some() => {}
            _ => {
                self.remove_member(conn, LeaveReason::Disconnected, now, &mut out);
                self.connections.remove(&conn);
            }
        }
        self.number_events(out)
    }

    /// The clock: members away longer than the grace period are removed.
    pub fn tick(&mut self, now: Instant) -> Vec<Output> {
        let grace = std::time::Duration::from_secs(self.limits.reconnect_grace_secs.into());
        let expired: Vec<ConnId> = (self.rooms.values())
            .flat_map(|room| room.members.values())
            .filter(|m| {
                m.away_since
                    .is_some_and(|since| now.duration_since(since) >= grace)
            })
            .map(|m| m.conn)
            .collect();
        let mut out = Vec::new();
        for conn in expired {
            self.remove_member(conn, LeaveReason::Disconnected, now, &mut out);
            self.connections.remove(&conn);
        }
        self.number_events(out)
    }

    /// Tells the room that `conn`'s member is (or is no longer) reconnecting.
    fn set_reconnecting(&mut self, conn: ConnId, reconnecting: bool, out: &mut Vec<Output>) {
        let Some((room_key, seq)) = self.connections[&conn].joined.clone() else {
            return;
        };
        let room = self
            .rooms
            .get_mut(&room_key)
            .expect("a joined connection's room exists");
        let member = {
            let me = &mut room.members.get_mut(&seq).expect("a member").member;
            me.reconnecting = reconnecting;
            me.clone()
        };
        let peers: Vec<ConnId> = (room.members.values().map(|m| m.conn))
            .filter(|&c| c != conn)
            .collect();
        let members: Vec<Member> = room.members.values().map(|m| m.member.clone()).collect();
        broadcast(
            out,
            &peers,
            None,
            Event::MemberUpdated {
                member,
                updated: vec![MemberField::Reconnecting],
            },
        );
        broadcast(out, &peers, None, Event::MemberListUpdated { members });
    }

    /// `resume` on the fresh connection `conn`: it takes over the member the
    /// token names, which gets every event after `last_seq` again.
    fn resume(
        &mut self,
        conn: ConnId,
        token: &str,
        last_seq: u64,
        now: Instant,
        out: &mut Vec<Output>,
    ) -> Reply {
        let failed = |why: &str| ErrorInfo::new(ErrorCode::ResumeFailed, why.to_owned());
        if self.connections[&conn].joined.is_some() {
            return Err(ErrorInfo::new(
                ErrorCode::AlreadyJoined,
                "this connection is already in a room",
            ));
        }
        let Some(&session) = self.resume_tokens.get(token) else {
            return Err(failed(
                "no member to resume (it left, its grace period passed, or the server restarted): join again",
            ));
        };
        let state = self
            .member_state_mut(session)
            .expect("a token names a member");
        let missed = match state.log.since(last_seq) {
            Ok(missed) => missed,
            Err(_) => {
                // It will join again: the old member goes now, not after the grace period.
                self.remove_member(session, LeaveReason::Disconnected, now, out);
                self.connections.remove(&session);
                return Err(failed(
                    "events this member missed are no longer kept: join again",
                ));
            }
        };
        state.log.acknowledge(last_seq);
        let was_away = state.away_since.take().is_some();
        let pending_offer = state.offer.clone();
        // The new socket carries on the old session; its own record goes.
        let fresh = self.connections.remove(&conn).expect("connected");
        let session_record = self
            .connections
            .get_mut(&session)
            .expect("a member's connection");
        session_record.ip = fresh.ip;
        session_record.greeted = true;
        out.push(Output::Adopt(Adopt {
            socket: conn,
            session,
        }));
        let (room_key, _) = session_record.joined.clone().expect("joined");
        let count = missed.len() as u64;
        for (seq, event) in missed {
            out.push(Output::Send {
                to: session,
                msg: ServerMessage::Event { seq, event },
            });
        }
        if let Some(sdp) = pending_offer {
            out.push(Output::Send {
                to: session,
                msg: ServerMessage::Offer { sdp },
            });
        }
        if was_away {
            self.set_reconnecting(session, false, out);
        }
        let room = &self.rooms[&room_key];
        let me = self.member_id(session).expect("joined");
        let member = room
            .members
            .values()
            .find(|m| m.member.id == me)
            .expect("a member");
        Ok(ReplyBody::Resumed {
            room: room.name.clone(),
            member_id: me,
            role: member.member.role,
            members: room.members.values().map(|m| m.member.clone()).collect(),
            missed: count,
        })
    }

    fn take_token(&mut self, conn: ConnId, now: Instant) -> bool {
        let rate = self.limits.max_messages_per_second as f64;
        self.connections
            .get_mut(&conn)
            .is_some_and(|connection| connection.rate.take(rate, now))
    }

    fn handle_request(
        &mut self,
        conn: ConnId,
        request: ClientRequest,
        now: Instant,
        unix_ms: u64,
        out: &mut Vec<Output>,
    ) -> Reply {
        let greeted = self.connections[&conn].greeted;
        match request {
            ClientRequest::Hello { version, .. } => {
                if version != PROTOCOL_VERSION {
                    return Err(ErrorInfo::new(
                        ErrorCode::UnsupportedVersion,
                        format!(
                            "this server speaks protocol version {PROTOCOL_VERSION}, not {version}"
                        ),
                    ));
                }
                self.connections.get_mut(&conn).expect("connected").greeted = true;
                out.push(Output::Send {
                    to: conn,
                    msg: ServerMessage::Welcome {
                        version: PROTOCOL_VERSION,
                        server: self.server_name.clone(),
                        limits: self.limits.clone(),
                        ice_servers: self
                            .turn
                            .iter()
                            .map(|turn| turn.credentials(&format!("c{}", conn.0), unix_ms / 1000))
                            .collect(),
                    },
                });
                Ok(ReplyBody::Ok {})
            }
            _ if !greeted => Err(ErrorInfo::new(
                ErrorCode::HelloRequired,
                "send hello before anything else",
            )),
            ClientRequest::Ping { last_seq } => {
                if let (Some(seq), Some(state)) = (last_seq, self.member_state_mut(conn)) {
                    state.log.acknowledge(seq);
                }
                Ok(ReplyBody::Pong {})
            }
            ClientRequest::Resume { token, last_seq } => {
                self.resume(conn, &token, last_seq, now, out)
            }
            ClientRequest::Join(ask) => self.join(conn, ask, now, unix_ms, out),
            other => {
                let (room, seq) = self.connections[&conn].joined.clone().ok_or_else(|| {
                    ErrorInfo::new(
                        ErrorCode::NotJoined,
                        format!("join a room before sending {}", other.type_name()),
                    )
                })?;
                self.in_room(conn, &room, seq, other, now, unix_ms, out)
            }
        }
    }

    fn join(
        &mut self,
        conn: ConnId,
        ask: Join,
        now: Instant,
        unix_ms: u64,
        out: &mut Vec<Output>,
    ) -> Reply {
        let Join {
            room: room_name,
            name,
            moderator_secret,
            audio_muted,
            video_muted,
            receive_media,
            password,
            token,
            returning_participant,
        } = ask;
        if self.connections[&conn].joined.is_some() {
            return Err(ErrorInfo::new(
                ErrorCode::AlreadyJoined,
                "this connection is already in a room",
            ));
        }
        let room_name = text::clean_name("room name", &room_name, self.limits.max_name_chars)?;
        // Room names that look alike name one room.
        let room_key = text::look_alike_key(&room_name);
        // On a server with tokens the token says who you are, and in which room.
        let claims = match &self.tokens {
            Some(key) => {
                let claims = key.check(token.as_deref(), unix_ms / 1000)?;
                let token_room =
                    text::clean_name("room name", &claims.room, self.limits.max_name_chars)?;
                if text::look_alike_key(&token_room) != room_key {
                    return Err(ErrorInfo::new(
                        ErrorCode::TokenInvalid,
                        format!("this join token is for room {token_room}, not {room_name}"),
                    ));
                }
                Some(claims)
            }
            None => None,
        };
        let name = claims.as_ref().map_or(name, |claims| claims.name.clone());
        let name = text::clean_name("display name", &name, self.limits.max_name_chars)?;
        let token_moderator = claims.as_ref().is_some_and(|c| c.role == Role::Moderator);
        if moderator_secret
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(ErrorInfo::new(
                ErrorCode::InvalidMessage,
                "an empty moderator secret is no secret: leave it out, or choose one",
            ));
        }
        // A secret is checked against the room's, or against the one kept
        // for it since it emptied; wrong ones are counted, and too many wait.
        let ip = self.connections[&conn].ip;
        let room_secret = match self.rooms.get(&room_key) {
            Some(room) => room.moderator_secret.clone(),
            None => self.secrets.kept(&room_key, now),
        };
        let guessing = moderator_secret.is_some() && room_secret.is_some();
        if guessing {
            self.secrets
                .may_guess(&room_key, ip, now)
                .map_err(|wait| too_many_guesses("moderator secrets", wait))?;
        }
        let holds_secret = guessing && room_secret == moderator_secret;
        if guessing && !holds_secret {
            self.secrets.wrong_guess(&room_key, ip, now);
        }
        // Who may come in: the holder of the secret always; others not into a
        // locked room, and with the password if there is one (a wrong one
        // counts as a guess, as a wrong secret does).
        if let Some(room) = self
            .rooms
            .get(&room_key)
            .filter(|_| !holds_secret && !token_moderator)
        {
            if room.locked {
                return Err(ErrorInfo::new(
                    ErrorCode::RoomLocked,
                    format!("{} is locked: nobody new may join", room.name),
                ));
            }
            if let Some(expected) = &room.password {
                self.secrets
                    .may_guess(&room_key, ip, now)
                    .map_err(|wait| too_many_guesses("passwords", wait))?;
                if password.as_ref() != Some(expected) {
                    self.secrets.wrong_guess(&room_key, ip, now);
                    let message = match password {
                        Some(_) => format!("that is not the password of {}", room.name),
                        None => format!("{} has a password: give it to join", room.name),
                    };
                    return Err(ErrorInfo::new(ErrorCode::WrongPassword, message));
                }
            }
        }
        // A room re-created while its old secret is kept is not the new
        // founder's: only the secret makes a moderator of it.
        let creating = !self.rooms.contains_key(&room_key);
        let kept_secret = if creating {
            self.secrets.reclaim(&room_key, now)
        } else {
            None
        };
        // With tokens, only a token makes a moderator (or the room's secret).
        // A returning participant that re-creates a room after a restart is
        // no founder: the room waits for a member who was its moderator, and
        // the first who joins as one (not returning as a participant) claims it.
        let may_found = kept_secret.is_none() && self.tokens.is_none();
        let founder = creating && may_found && !returning_participant;
        let claims = !creating
            && !returning_participant
            && self.rooms.get(&room_key).is_some_and(|room| room.unclaimed);
        self.check_capacity(creating)?;
        let max_members = self.limits.max_members_per_room;
        let room = self.rooms.entry(room_key.clone()).or_insert_with(|| Room {
            name: room_name.clone(),
            moderator_secret: kept_secret.or_else(|| moderator_secret.clone()),
            locked: false,
            password: None,
            members: BTreeMap::new(),
            unclaimed: creating && may_found && returning_participant,
        });
        if claims {
            room.unclaimed = false;
            room.moderator_secret = moderator_secret.clone();
        }
        if room.members.len() >= max_members {
            let drop_room = room.members.is_empty();
            let full = ErrorInfo::new(
                ErrorCode::RoomFull,
                format!("room {} has {max_members} members already", room.name),
            );
            if drop_room {
                self.close_room(&room_key, now);
            }
            return Err(full);
        }
        let role = if founder || claims || holds_secret || token_moderator {
            Role::Moderator
        } else {
            Role::Participant
        };
        // A name that looks like one already in the room gets a suffix: "Ada (2)".
        let name =
            text::distinct_name(&name, room.members.values().map(|m| m.member.name.as_str()));
        let seq = self.next_seq;
        self.next_seq += 1;
        let member = Member {
            id: MemberId(format!("m{seq}")),
            name,
            role,
            audio_muted,
            video_muted,
            screen_sharing: false,
            talking: false,
            reconnecting: false,
        };
        let peers: Vec<ConnId> = room.members.values().map(|m| m.conn).collect();
        let resume_token = format!("{:032x}", rand::random::<u128>());
        // A member that receives no media is subscribed to nobody's tracks.
        let publishers = if receive_media {
            peers.clone()
        } else {
            Vec::new()
        };
        room.members.insert(
            seq,
            MemberState {
                conn,
                member: member.clone(),
                offer: None,
                receives_media: receive_media,
                log: EventLog::default(),
                resume_token: resume_token.clone(),
                away_since: None,
                quality: None,
                downlink_slow: false,
            },
        );
        let members: Vec<Member> = room.members.values().map(|m| m.member.clone()).collect();
        // The room as its first member named it.
        let room_name = room.name.clone();
        self.connections.get_mut(&conn).expect("connected").joined = Some((room_key, seq));
        self.resume_tokens.insert(resume_token.clone(), conn);

        for &peer in &peers {
            out.push(event_to(
                peer,
                Event::MemberJoined {
                    member: member.clone(),
                },
            ));
            out.push(event_to(
                peer,
                Event::MemberListUpdated {
                    members: members.clone(),
                },
            ));
        }
        // A newcomer to a room that is locked or has a password hears so.
        if room.locked || room.password.is_some() {
            out.push(event_to(conn, room.access()));
        }
        // And how well everyone else's connection is doing.
        for other in room.members.values().filter(|m| m.conn != conn) {
            if let Some(quality) = other.quality {
                let member_id = other.member.id.clone();
                out.push(event_to(conn, Event::MemberQuality { member_id, quality }));
            }
        }
        out.push(Output::Media(MediaAction::Open {
            member: conn,
            peers: publishers,
        }));
        if audio_muted {
            out.push(Output::Media(MediaAction::Gate {
                member: conn,
                kind: TrackKind::Microphone,
                open: false,
            }));
        }
        if video_muted {
            out.push(Output::Media(MediaAction::Gate {
                member: conn,
                kind: TrackKind::Camera,
                open: false,
            }));
        }
        Ok(ReplyBody::Joined {
            room: room_name,
            member_id: member.id,
            role,
            members,
            resume_token: Some(resume_token),
        })
    }

    fn in_room(
        &mut self,
        conn: ConnId,
        room_name: &str,
        seq: u64,
        request: ClientRequest,
        now: Instant,
        unix_ms: u64,
        out: &mut Vec<Output>,
    ) -> Reply {
        let room = self
            .rooms
            .get_mut(room_name)
            .expect("a joined connection's room exists");
        let peers: Vec<ConnId> = room
            .members
            .values()
            .map(|m| m.conn)
            .filter(|&c| c != conn)
            .collect();
        let receivers = room.media_receivers(conn);
        let MemberState {
            member: me, offer, ..
        } = room
            .members
            .get_mut(&seq)
            .expect("a joined connection is a member");
        match request {
            ClientRequest::Hello { .. }
            | ClientRequest::Join(_)
            | ClientRequest::Resume { .. }
            | ClientRequest::Ping { .. } => {
                unreachable!("handled before in_room")
            }
            ClientRequest::Answer { sdp } => {
                let Some(offered) = offer.take() else {
                    return Err(ErrorInfo::new(
                        ErrorCode::InvalidSdp,
                        "no offer is waiting for an answer",
                    ));
                };
                if let Err(why) = answer_check::check_answer(&offered, &sdp) {
                    // The offer still waits for its real answer.
                    *offer = Some(offered);
                    return Err(ErrorInfo::new(
                        ErrorCode::InvalidSdp,
                        format!("not an answer to the server's offer: {why}"),
                    ));
                }
                out.push(Output::Media(MediaAction::Answer { member: conn, sdp }));
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::SetMedia {
                audio_muted,
                video_muted,
            } => {
                let mut updated = Vec::new();
                if let Some(muted) = audio_muted.filter(|&m| m != me.audio_muted) {
                    me.audio_muted = muted;
                    updated.push(MemberField::AudioMuted);
                    out.push(Output::Media(MediaAction::Gate {
                        member: conn,
                        kind: TrackKind::Microphone,
                        open: !muted,
                    }));
                }
                if let Some(muted) = video_muted.filter(|&m| m != me.video_muted) {
                    me.video_muted = muted;
                    updated.push(MemberField::VideoMuted);
                    out.push(Output::Media(MediaAction::Gate {
                        member: conn,
                        kind: TrackKind::Camera,
                        open: !muted,
                    }));
                }
                if !updated.is_empty() {
                    let member = me.clone();
                    broadcast(
                        out,
                        &peers,
                        Some(conn),
                        Event::MemberUpdated { member, updated },
                    );
                }
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::SetTalking { talking } => {
                if talking != me.talking {
                    me.talking = talking;
                    let member_id = me.id.clone();
                    broadcast(
                        out,
                        &peers,
                        Some(conn),
                        Event::MemberTalking { member_id, talking },
                    );
                }
                Ok(ReplyBody::Ok {})
            }
            request @ (ClientRequest::StartScreenShare {} | ClientRequest::StopScreenShare {}) => {
                let on = matches!(request, ClientRequest::StartScreenShare {});
                if me.screen_sharing == on {
                    let why = if on {
                        "already sharing a screen"
                    } else {
                        "not sharing a screen"
                    };
                    return Err(ErrorInfo::new(ErrorCode::InvalidState, why));
                }
                me.screen_sharing = on;
                let (member, member_id) = (me.clone(), me.id.clone());
                let (action, event) = if on {
                    let action = MediaAction::StartScreen {
                        member: conn,
                        peers: receivers,
                    };
                    (action, Event::ScreenShareStarted { member_id })
                } else {
                    let action = MediaAction::StopScreen {
                        member: conn,
                        peers: receivers,
                    };
                    (action, Event::ScreenShareEnded { member_id })
                };
                out.push(Output::Media(action));
                let updated = vec![MemberField::ScreenSharing];
                broadcast(
                    out,
                    &peers,
                    Some(conn),
                    Event::MemberUpdated { member, updated },
                );
                broadcast(out, &peers, Some(conn), event);
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::Chat { text, to, from } => {
                if from.as_ref().is_some_and(|from| *from != me.id) {
                    return Err(ErrorInfo::new(
                        ErrorCode::SpoofedSender,
                        format!(
                            "you are {}, you cannot send as {}",
                            me.id,
                            from.unwrap_or_else(|| me.id.clone())
                        ),
                    ));
                }
                let text = text::clean_message("chat text", &text, self.limits.max_chat_bytes)?;
                let (from, from_name) = (me.id.clone(), me.name.clone());
                let sent_at_ms = unix_ms;
                match to {
                    None => {
                        let event = Event::ChatMessage {
                            from,
                            from_name,
                            text,
                            sent_at_ms,
                        };
                        broadcast(out, &peers, None, event.clone());
                        out.push(event_to(conn, event));
                    }
                    Some(to) => {
                        let target = room.conn_of(&to)?;
                        let event = Event::ChatWhisper {
                            from,
                            from_name,
                            to,
                            text,
                            sent_at_ms,
                        };
                        out.push(event_to(target, event.clone()));
                        if target != conn {
                            out.push(event_to(conn, event));
                        }
                    }
                }
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::Kick { member_id, reason } => {
                let (by, by_name, role) = (me.id.clone(), me.name.clone(), me.role);
                // Role first, so a participant cannot probe who is in the room.
                if role != Role::Moderator {
                    return Err(ErrorInfo::new(
                        ErrorCode::NotModerator,
                        "only moderators may kick",
                    ));
                }
                let reason = reason
                    .map(|reason| {
                        text::clean_message("kick reason", &reason, self.limits.max_chat_bytes)
                    })
                    .transpose()?;
                let target = room.conn_of(&member_id)?;
                let room = room.name.clone();
                out.push(event_to(
                    target,
                    Event::RoomKicked {
                        room: room.clone(),
                        by,
                        by_name,
                        reason,
                    },
                ));
                out.push(event_to(
                    target,
                    Event::RoomLeft {
                        room,
                        reason: LeaveReason::Kicked,
                    },
                ));
                self.remove_member(target, LeaveReason::Kicked, now, out);
                // Atomic for the kicked connection: nothing it already sent counts.
                if let Some(kicked) = self.connections.get_mut(&target) {
                    kicked.closing = true;
                }
                out.push(Output::Close { conn: target });
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::SetRoomLock { locked } => {
                if me.role != Role::Moderator {
                    return Err(ErrorInfo::new(
                        ErrorCode::NotModerator,
                        "only moderators may lock or unlock the room",
                    ));
                }
                room.locked = locked;
                let access = room.access();
                broadcast(out, &peers, None, access.clone());
                out.push(event_to(conn, access));
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::RestartIce {} => {
                out.push(Output::Media(MediaAction::RestartIce { member: conn }));
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::SetVideoSize {
                member_id,
                kind,
                height,
            } => {
                if !kind.is_video() {
                    return Err(ErrorInfo::new(
                        ErrorCode::InvalidMessage,
                        "only a video has a size",
                    ));
                }
                let publisher = room.conn_of(&member_id)?;
                out.push(Output::Media(MediaAction::VideoSize {
                    member: conn,
                    publisher,
                    kind,
                    height: height.min(MAX_VIDEO_HEIGHT),
                }));
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::SetSentLayers {
                kind,
                largest_level,
            } => {
                if kind != TrackKind::Camera {
                    return Err(ErrorInfo::new(
                        ErrorCode::InvalidMessage,
                        "only a camera is sent in layers",
                    ));
                }
                if largest_level >= conclave_rtc::CAMERA_LEVELS {
                    return Err(ErrorInfo::new(
                        ErrorCode::InvalidMessage,
                        format!(
                            "a camera has {} layers: largest_level is 0 to {}",
                            conclave_rtc::CAMERA_LEVELS,
                            conclave_rtc::CAMERA_LEVELS - 1
                        ),
                    ));
                }
                out.push(Output::Media(MediaAction::SentLayers {
                    member: conn,
                    kind,
                    largest_level,
                }));
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::SetRoomPassword { password } => {
                if me.role != Role::Moderator {
                    return Err(ErrorInfo::new(
                        ErrorCode::NotModerator,
                        "only moderators may set the room's password",
                    ));
                }
                if let Some(password) = &password {
                    if password.trim().is_empty() {
                        return Err(ErrorInfo::new(
                            ErrorCode::InvalidMessage,
                            "an empty password is no password: send null to remove it",
                        ));
                    }
                    if password.chars().count() > MAX_PASSWORD_CHARS {
                        return Err(ErrorInfo::new(
                            ErrorCode::TooLarge,
                            format!("a room password has at most {MAX_PASSWORD_CHARS} characters"),
                        ));
                    }
                }
                room.password = password;
                let access = room.access();
                broadcast(out, &peers, None, access.clone());
                out.push(event_to(conn, access));
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::EndRoom {} => {
                if me.role != Role::Moderator {
                    return Err(ErrorInfo::new(
                        ErrorCode::NotModerator,
                        "only moderators may end the meeting",
                    ));
                }
                let everyone: Vec<ConnId> = room.members.values().map(|m| m.conn).collect();
                let name = room.name.clone();
                self.end_meeting(&name, everyone, Some(conn), now, out);
                Ok(ReplyBody::Ok {})
            }
            ClientRequest::Leave {} => {
                let room = room.name.clone();
                self.remove_member(conn, LeaveReason::Left, now, out);
                out.push(event_to(
                    conn,
                    Event::RoomLeft {
                        room,
                        reason: LeaveReason::Left,
                    },
                ));
                Ok(ReplyBody::Ok {})
            }
        }
    }

    /// Takes `conn` out of its room, tells the others, and frees its media.
    /// Ends a meeting: every member hears `room.left` with reason `ended`
    /// first, then each leaves. Everyone but `asked_by` (who closes its own
    /// connection) is closed like a kicked member: nothing more it sent counts.
    fn end_meeting(
        &mut self,
        room_name: &str,
        everyone: Vec<ConnId>,
        asked_by: Option<ConnId>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        for &member in &everyone {
            let event = Event::RoomLeft {
                room: room_name.to_owned(),
                reason: LeaveReason::Ended,
            };
            out.push(event_to(member, event));
        }
        for member in everyone {
            self.remove_member(member, LeaveReason::Ended, now, out);
            if Some(member) != asked_by {
                if let Some(ended) = self.connections.get_mut(&member) {
                    ended.closing = true;
                }
                out.push(Output::Close { conn: member });
            }
        }
    }

    /// The server is shutting down: every meeting ends, as if a moderator ended it.
    pub fn end_all(&mut self, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        let meetings: Vec<(String, Vec<ConnId>)> = self
            .rooms
            .values()
            .map(|room| {
                let everyone = room.members.values().map(|m| m.conn).collect();
                (room.name.clone(), everyone)
            })
            .collect();
        for (name, everyone) in meetings {
            self.end_meeting(&name, everyone, None, now, &mut out);
        }
        self.number_events(out)
    }

    fn remove_member(
        &mut self,
        conn: ConnId,
        reason: LeaveReason,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        let Some(connection) = self.connections.get_mut(&conn) else {
            return;
        };
        let Some((room_name, seq)) = connection.joined.take() else {
            return;
        };
        let room = self
            .rooms
            .get_mut(&room_name)
            .expect("a joined connection's room exists");
        let gone = room
            .members
            .remove(&seq)
            .expect("a joined connection is a member");
        self.resume_tokens.remove(&gone.resume_token);
        // An away member has no socket left to say it closed: its record goes now.
        if gone.away_since.is_some() {
            self.connections.remove(&conn);
        }
        let gone = gone.member;
        let peers: Vec<ConnId> = room.members.values().map(|m| m.conn).collect();
        let members: Vec<Member> = room.members.values().map(|m| m.member.clone()).collect();
        out.push(Output::Media(MediaAction::Close {
            member: conn,
            peers: room.media_receivers(conn),
        }));
        if gone.screen_sharing {
            broadcast(
                out,
                &peers,
                None,
                Event::ScreenShareEnded {
                    member_id: gone.id.clone(),
                },
            );
        }
        broadcast(
            out,
            &peers,
            None,
            Event::MemberLeft {
                member_id: gone.id,
                name: gone.name,
                reason,
            },
        );
        broadcast(out, &peers, None, Event::MemberListUpdated { members });
        if room.members.is_empty() {
            self.close_room(&room_name, now);
        }
    }

    /// An empty room goes; its secret is kept for a while (see `secrets`).
    fn close_room(&mut self, room_key: &str, now: Instant) {
        if let Some(Room {
            moderator_secret: Some(secret),
            ..
        }) = self.rooms.remove(room_key)
        {
            self.secrets.retire(room_key, secret, now);
        }
    }

    /// The SFU made a new offer for `conn`: it is sent, and the answer will be
    /// checked against it.
    pub fn offered(&mut self, conn: ConnId, sdp: String) -> Vec<Output> {
        let Some((room, seq)) = self.connections.get(&conn).and_then(|c| c.joined.clone()) else {
            return Vec::new(); // gone meanwhile
        };
        let Some(state) = self
            .rooms
            .get_mut(&room)
            .and_then(|r| r.members.get_mut(&seq))
        else {
            return Vec::new();
        };
        state.offer = Some(sdp.clone());
        // To a member that is away it waits: a resume sends it again.
        self.number_events(vec![Output::Send {
            to: conn,
            msg: ServerMessage::Offer { sdp },
        }])
    }

    /// Members of the room `conn` is in, other than `conn`.
    #[cfg(test)]
    pub fn peers_of(&self, conn: ConnId) -> Vec<ConnId> {
        let Some((room, _)) = self.connections.get(&conn).and_then(|c| c.joined.as_ref()) else {
            return Vec::new();
        };
        self.rooms[room]
            .members
            .values()
            .map(|m| m.conn)
            .filter(|&c| c != conn)
            .collect()
    }

    /// The members `conn`'s tracks are forwarded to: its peers that receive media.
    pub fn media_receivers_of(&self, conn: ConnId) -> Vec<ConnId> {
        let Some((room, _)) = self.connections.get(&conn).and_then(|c| c.joined.as_ref()) else {
            return Vec::new();
        };
        self.rooms[room].media_receivers(conn)
    }

    /// Whether `conn`'s track of `kind` may be forwarded now (not muted, screen being shared).
    pub fn is_open(&self, conn: ConnId, kind: TrackKind) -> bool {
        let Some((room, seq)) = self.connections.get(&conn).and_then(|c| c.joined.as_ref()) else {
            return false;
        };
        let member = &self.rooms[room].members[seq].member;
        match kind {
            TrackKind::Microphone => !member.audio_muted,
            TrackKind::Camera => !member.video_muted,
            TrackKind::Screen => member.screen_sharing,
        }
    }

    pub fn member_id(&self, conn: ConnId) -> Option<MemberId> {
        let (room, seq) = self.connections.get(&conn)?.joined.as_ref()?;
        Some(self.rooms[room].members[seq].member.id.clone())
    }

    /// A member's link, as its media task measured it: the room hears of a
    /// change in its quality (the member too), the member of a downlink
    /// that turned slow or recovered.
    pub fn link_report(&mut self, conn: ConnId, report: LinkReport) -> Vec<Output> {
        let Some((room_key, seq)) = self.connections.get(&conn).and_then(|c| c.joined.clone())
        else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&room_key) else {
            return Vec::new();
        };
        let everyone: Vec<ConnId> = room.members.values().map(|m| m.conn).collect();
        let Some(state) = room.members.get_mut(&seq) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if state.quality != Some(report.quality) {
            state.quality = Some(report.quality);
            let event = Event::MemberQuality {
                member_id: state.member.id.clone(),
                quality: report.quality,
            };
            broadcast(&mut out, &everyone, None, event);
        }
        if state.downlink_slow != report.downlink_slow {
            state.downlink_slow = report.downlink_slow;
            let event = Event::LinkSlow {
                direction: LinkDirection::Downlink,
                slow: report.downlink_slow,
                estimate_kbps: report.downlink_kbps,
            };
            out.push(event_to(conn, event));
        }
        self.number_events(out)
    }

    /// The layers `conn` now receives, by publisher.
    pub fn video_layers(
        &mut self,
        conn: ConnId,
        layers: &[(ConnId, TrackKind, Option<u8>)],
    ) -> Vec<Output> {
        let layers: Vec<VideoLayer> = (layers.iter())
            .filter_map(|(publisher, kind, layer)| {
                Some(VideoLayer {
                    member_id: self.member_id(*publisher)?,
                    kind: *kind,
                    layer: *layer,
                })
            })
            .collect();
        if self.member_id(conn).is_none() {
            return Vec::new();
        }
        self.number_events(vec![event_to(conn, Event::VideoLayers { layers })])
    }
}

/// Parses a frame, keeping the request id when the JSON is readable enough to have one.
fn parse_request(text: &str) -> Result<ClientMessage, (Option<u64>, ErrorInfo)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        (
            None,
            ErrorInfo::new(ErrorCode::BadJson, format!("not JSON: {e}")),
        )
    })?;
    let id = value.get("id").and_then(|id| id.as_u64());
    if id.is_none() {
        return Err((
            None,
            ErrorInfo::new(
                ErrorCode::InvalidMessage,
                "every request needs a numeric \"id\"",
            ),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| (id, ErrorInfo::new(ErrorCode::InvalidMessage, e.to_string())))
}

fn event_to(to: ConnId, event: Event) -> Output {
    Output::Send {
        to,
        msg: ServerMessage::Event { seq: 0, event },
    }
}

fn error_to(to: ConnId, id: Option<u64>, code: ErrorCode, message: String) -> Output {
    Output::Send {
        to,
        msg: ServerMessage::Error {
            id,
            error: ErrorInfo::new(code, message),
        },
    }
}

/// A guess (a moderator secret, a password) refused until the allowance refills.
fn too_many_guesses(what: &str, wait: std::time::Duration) -> ErrorInfo {
    ErrorInfo::new(
        ErrorCode::RateLimited,
        format!(
            "too many wrong {what} for this room or from your address; try again in {} s",
            wait.as_secs().max(1)
        ),
    )
}

fn broadcast(out: &mut Vec<Output>, peers: &[ConnId], except: Option<ConnId>, event: Event) {
    for &peer in peers.iter().filter(|&&p| Some(p) != except) {
        out.push(event_to(peer, event.clone()));
    }
}

#[cfg(test)]
mod tests;
