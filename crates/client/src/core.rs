//! The session core: one member's view of a room, as a sans-IO state machine.
//!
//! [`SessionCore::handle`] takes one [`Input`] (a server message, a command,
//! something the media layer saw, the clock) and returns [`Output`]s:
//! protocol messages to send, [`MediaAction`]s for the media layer, catalog
//! events, and the results of commands. It has no sockets, tasks or clocks of
//! its own (time comes in with every input), so every rule here is tested by
//! feeding inputs and reading outputs, like the server's `rooms.rs`.
//! [`crate::session`] is the I/O shell around it.
//!
//! It owns what the member knows of the room: the pending requests and their
//! deadlines, the member list with the member's own state and role, and which
//! remote tracks are live. The member's own changes (mute, share, talking)
//! come back as the same events as everyone else's, once the server has
//! accepted them; nobody has to guess.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use conclave_media::Playback;
use conclave_protocol::events::MemberField;
use conclave_protocol::{
    ClientMessage, ClientRequest, ErrorCode, ErrorInfo, Event, IceServer, Join, LeaveReason,
    Member, MemberId, PROTOCOL_VERSION, ReplyBody, Role, ServerMessage, TrackKind,
};

use crate::error::ClientError;
use crate::media::{Description, Link};
use crate::reconnect;

/// How long the server has to answer a request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How often, at most, the client tells the server which events arrived (a
/// `ping` with `last_seq`), so the server need not keep them for a resume.
pub const ACK_EVERY: Duration = Duration::from_secs(1);

/// How long the media connection may stay interrupted before the client asks
/// for an ICE restart (a failed one: at once), and how long before it asks
/// again while the media is still not back.
pub const ICE_RESTART_AFTER: Duration = Duration::from_secs(3);
pub const ICE_RESTART_AGAIN: Duration = Duration::from_secs(10);

/// Names a command so its result can be matched to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CommandId(pub u64);

/// What the member asks for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    SetAudioMuted(bool),
    SetVideoMuted(bool),
    StartScreenShare,
    StopScreenShare,
    /// To the room, or a whisper when `to` is set.
    Chat {
        text: String,
        to: Option<MemberId>,
    },
    Kick {
        member: MemberId,
        reason: Option<String>,
    },
    Leave,
    /// End the meeting for everyone (moderators only).
    EndRoom,
    /// Lock or unlock the room (moderators only).
    SetRoomLock(bool),
    /// Set or remove the room's password (moderators only).
    SetRoomPassword(Option<String>),
    /// A member's video is shown this tall (0: not shown), so the server
    /// sends the simulcast layer that fits.
    SetVideoSize {
        member: MemberId,
        kind: TrackKind,
        height: u32,
    },
    /// This member's `kind` video is sent in its layers from `largest_level`
    /// down (the uplink has no room for the larger ones).
    SetSentLayers {
        kind: TrackKind,
        largest_level: u8,
    },
    /// How loud another member plays here (local only: nothing is sent).
    SetPlayback {
        member: MemberId,
        playback: Playback,
    },
}

/// Who joins, and with what.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    /// The `join` as first sent.
    pub ask: Join,
    /// The kinds this member has a source for.
    pub publishes: Vec<TrackKind>,
}

/// The media connection's state, as the media layer reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaState {
    Connected,
    /// Interrupted; it may come back.
    Interrupted,
    /// Failed or closed.
    Lost,
}

#[derive(Debug)]
pub enum Input {
    Server(ServerMessage),
    Command(CommandId, Command),
    /// The local microphone's talking state changed.
    Talking(bool),
    /// The media layer made a local track of `kind` ready to send (or could not).
    Published {
        kind: TrackKind,
        result: Result<(), ClientError>,
    },
    /// A description the media layer made, for the server.
    LocalDescription(Link, Description),
    /// The media layer could not apply a description or set up media.
    MediaFailed(ClientError),
    /// A remote track began (`live`) or stopped arriving. `instance` tells a
    /// new track of a member and kind from an old one that is still ending.
    RemoteTrack {
        member: MemberId,
        kind: TrackKind,
        instance: u64,
        live: bool,
    },
    MediaState(MediaState),
    /// The signaling connection dropped or closed.
    SignalingLost(String),
    /// A new signaling connection is open (after [`Output::Connect`]).
    SignalingOpened,
    /// Only time passed (a deadline from [`SessionCore::next_deadline`]).
    Tick,
}

#[derive(Debug)]
pub enum Output {
    Send(ClientMessage),
    Event(Event),
    Media(MediaAction),
    /// A command finished.
    Done(CommandId, Result<(), ClientError>),
    /// The member is in the room.
    Joined {
        member_id: MemberId,
        role: Role,
    },
    /// Joining failed; the session is over.
    JoinFailed(ClientError),
    /// The session is over: close the connections.
    Ended,
    /// Open a new signaling connection to the same server (within
    /// [`reconnect::ATTEMPT_TIMEOUT`]); answer with [`Input::SignalingOpened`]
    /// or [`Input::SignalingLost`].
    Connect,
}

/// What the media layer must do.
#[derive(Debug, PartialEq)]
pub enum MediaAction {
    /// Make sure a local track of `kind` exists and is part of what this
    /// member publishes, sending or paused. Answered with [`Input::Published`].
    Publish { kind: TrackKind, sending: bool },
    /// Pause or resume a local track at its source (a muted member sends nothing).
    SetSending { kind: TrackKind, sending: bool },
    /// A description from the server; answer it if it is an offer.
    RemoteDescription(Link, Description),
    /// The server stopped forwarding this remote track.
    EndRemote { member: MemberId, kind: TrackKind },
    /// Play this member's audio at this volume from now on.
    SetPlayback {
        member: MemberId,
        playback: Playback,
    },
    /// The member left: drop what was kept for them (their volume, their
    /// audio waiting to be played).
    ForgetMember(MemberId),
    /// Gather relay candidates from these TURN servers (the server's `welcome`).
    UseIceServers(Vec<IceServer>),
    /// The server forgot this member (it rejoins as new): start a new media
    /// connection with the local camera and microphone tracks; the screen
    /// share and every remote track are over.
    Reset,
}

/// What to do when a request is answered.
#[derive(Debug)]
enum Then {
    /// `hello` went through: join.
    Join,
    /// The join reply.
    Joined,
    /// `hello` on a new connection after a drop went through: resume, or join again.
    Rehello,
    /// The resume reply.
    Resumed,
    /// The reply to joining again as new, after a resume was refused.
    Rejoined,
    /// A ping that acknowledges events: its answer does not matter.
    Ack,
    /// Finish a command (with an effect on the member's own state first).
    Finish(CommandId, Own),
    /// A request of the session's own (answer, talking): report failures as events.
    Report(Own),
}

/// A change to the member's own state that the server must accept first.
#[derive(Debug, Clone, Copy)]
enum Own {
    Nothing,
    AudioMuted(bool),
    VideoMuted(bool),
    Sharing(bool),
    Talking(bool),
}

#[derive(Debug)]
struct Pending {
    request: &'static str,
    deadline: Instant,
    then: Then,
}

#[derive(Debug, PartialEq)]
enum Phase {
    Greeting,
    Joining,
    InRoom,
    /// The signaling connection dropped; the member is getting back.
    Reconnecting,
    Ended,
}

/// Getting back after the signaling connection dropped.
#[derive(Debug)]
struct Reconnect {
    since: Instant,
    attempt: u32,
    /// When to try next; `None` while an attempt is under way.
    next_try: Option<Instant>,
}

pub struct SessionCore {
    join: JoinRequest,
    phase: Phase,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    room: String,
    me: Option<MemberId>,
    role: Role,
    /// In the server's order.
    members: Vec<Member>,
    /// Live remote tracks and which instance of each is current.
    remote_tracks: HashMap<(MemberId, TrackKind), u64>,
    /// A share command waiting for its local track.
    share_waiting: Option<CommandId>,
    /// Local tracks that exist (published once).
    published: HashSet<TrackKind>,
    /// The media connection's last reported state.
    media: Option<MediaState>,
    /// Who may join the room, once the server said (`room.updated`).
    access: Option<Event>,
    /// The server's proof of this member for a resume, and the last event it numbered.
    resume_token: Option<String>,
    last_seq: u64,
    reconnect: Option<Reconnect>,
    /// The last event acknowledged, and when the next acknowledgement may go.
    acked_seq: u64,
    next_ack: Option<Instant>,
    /// Since when the media connection is not connected, and when an ICE
    /// restart was last asked for.
    media_stalled_since: Option<Instant>,
    ice_restart_asked: Option<Instant>,
}

impl SessionCore {
    /// A new session; the outputs say hello.
    pub fn new(join: JoinRequest, now: Instant) -> (Self, Vec<Output>) {
        let mut core = SessionCore {
            room: join.ask.room.clone(),
            join,
            phase: Phase::Greeting,
            next_id: 1,
            pending: HashMap::new(),
            me: None,
            role: Role::Participant,
            members: Vec::new(),
            remote_tracks: HashMap::new(),
            share_waiting: None,
            published: HashSet::new(),
            media: None,
            access: None,
            resume_token: None,
            last_seq: 0,
            reconnect: None,
            acked_seq: 0,
            next_ack: None,
            media_stalled_since: None,
            ice_restart_asked: None,
        };
        let mut out = Vec::new();
        let hello = core.hello();
        core.request(hello, Then::Join, now, &mut out);
        (core, out)
    }

    /// The member's own id and state, once joined.
    pub fn me(&self) -> Option<&Member> {
        let me = self.me.as_ref()?;
        self.members.iter().find(|m| &m.id == me)
    }

    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The call as it stands, as the events a newcomer to it would need: the
    /// room with its members as they are now, the media connection's state,
    /// and the remote tracks that are live. A UI that lost its state (a
    /// reloaded page) replays these and shows the same call. Empty before the
    /// join and after the end.
    pub fn snapshot(&self) -> Vec<Event> {
        let in_room = matches!(self.phase, Phase::InRoom | Phase::Reconnecting);
        let Some(me) = self.me.clone().filter(|_| in_room) else {
            return Vec::new();
        };
        let mut events = vec![Event::RoomJoined {
            room: self.room.clone(),
            member_id: me,
            role: self.role,
            members: self.members.clone(),
        }];
        events.extend(self.access.clone());
        events.extend(self.media.map(media_event));
        let mut tracks: Vec<_> = self.remote_tracks.keys().cloned().collect();
        tracks.sort_by(|a, b| (&a.0.0, a.1 as u8).cmp(&(&b.0.0, b.1 as u8)));
        events.extend(
            tracks
                .into_iter()
                .map(|(member_id, kind)| Event::TrackStarted { member_id, kind }),
        );
        events
    }

    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    /// In the room, with the server listening (not joining, not reconnecting).
    pub fn in_room(&self) -> bool {
        self.phase == Phase::InRoom
    }

    /// When [`Input::Tick`] is due next, if anything waits.
    pub fn next_deadline(&self) -> Option<Instant> {
        let retry = self.reconnect.as_ref().and_then(|r| r.next_try);
        (self.pending.values().map(|p| p.deadline))
            .chain(retry)
            .chain(self.next_ack.filter(|_| self.last_seq > self.acked_seq))
            .chain(self.next_ice_restart())
            .min()
    }

    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        if self.phase == Phase::Ended {
            if let Input::Command(id, _) = input {
                out.push(Output::Done(id, Err(ClientError::SessionEnded)));
            }
            return out;
        }
        match input {
            Input::Server(message) => self.on_server(message, now, &mut out),
            Input::Command(id, command) => self.on_command(id, command, now, &mut out),
            Input::Talking(talking) => {
                if self.phase == Phase::InRoom {
                    let request = ClientRequest::SetTalking { talking };
                    self.request(request, Then::Report(Own::Talking(talking)), now, &mut out);
                }
            }
            Input::Published { kind, result } => self.on_published(kind, result, now, &mut out),
            Input::LocalDescription(Link::Both, Description::Answer(sdp)) => {
                let request = ClientRequest::Answer { sdp };
                self.request(request, Then::Report(Own::Nothing), now, &mut out);
            }
            Input::LocalDescription(link, description) => {
                // Conclave's protocol has one connection, offered by the server.
                out.push(error_event(
                    ClientError::Unsupported(format!(
                        "this server cannot take a {} for the {link:?} connection",
                        description.kind()
                    )),
                    None,
                ));
            }
            Input::MediaFailed(error) => out.push(error_event(error, None)),
            Input::RemoteTrack {
                member,
                kind,
                instance,
                live,
            } => self.on_remote_track(member, kind, instance, live, &mut out),
            Input::MediaState(state) => {
                self.media = Some(state);
                match state {
                    MediaState::Connected => {
                        self.media_stalled_since = None;
                        self.ice_restart_asked = None;
                    }
                    MediaState::Interrupted => {
                        self.media_stalled_since.get_or_insert(now);
                    }
                    // Failed: no point waiting.
                    MediaState::Lost => {
                        let failed = now.checked_sub(ICE_RESTART_AFTER).unwrap_or(now);
                        self.media_stalled_since = Some(failed);
                    }
                }
                out.push(Output::Event(media_event(state)));
            }
            Input::SignalingLost(reason) => self.on_signaling_lost(reason, now, &mut out),
            Input::SignalingOpened => {
                if self.phase == Phase::Reconnecting {
                    let hello = self.hello();
                    self.request(hello, Then::Rehello, now, &mut out);
                }
            }
            Input::Tick => {}
        }
        self.expire(now, &mut out);
        self.keep_alive(now, &mut out);
        out
    }

    /// When to ask for an ICE restart, while the media connection is stalled.
    fn next_ice_restart(&self) -> Option<Instant> {
        let stalled = self.media_stalled_since? + ICE_RESTART_AFTER;
        Some(match self.ice_restart_asked {
            Some(asked) => stalled.max(asked + ICE_RESTART_AGAIN),
            None => stalled,
        })
    }

    fn hello(&self) -> ClientRequest {
        ClientRequest::Hello {
            version: PROTOCOL_VERSION,
            client: format!("conclave-client {}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Acknowledges new events (at most every [`ACK_EVERY`]), and makes the
    /// next reconnect attempt when it is due.
    fn keep_alive(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.phase == Phase::InRoom
            && self.last_seq > self.acked_seq
            && self.next_ack.is_none_or(|at| at <= now)
        {
            self.next_ack = Some(now + ACK_EVERY);
            self.acked_seq = self.last_seq;
            let ping = ClientRequest::Ping {
                last_seq: Some(self.last_seq),
            };
            self.request(ping, Then::Ack, now, out);
        }
        if self.phase == Phase::InRoom && self.next_ice_restart().is_some_and(|at| at <= now) {
            self.ice_restart_asked = Some(now);
            let restart = ClientRequest::RestartIce {};
            self.request(restart, Then::Report(Own::Nothing), now, out);
        }
        if let Some(reconnect) = &mut self.reconnect
            && reconnect.next_try.is_some_and(|at| at <= now)
        {
            reconnect.next_try = None;
            out.push(Output::Connect);
        }
    }

    fn request(&mut self, request: ClientRequest, then: Then, now: Instant, out: &mut Vec<Output>) {
        self.request_by(request, then, now + REQUEST_TIMEOUT, out);
    }

    /// A request whose answer must come by `deadline`.
    fn request_by(
        &mut self,
        request: ClientRequest,
        then: Then,
        deadline: Instant,
        out: &mut Vec<Output>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(
            id,
            Pending {
                request: request.type_name(),
                deadline,
                then,
            },
        );
        out.push(Output::Send(ClientMessage { id, request }));
    }

    fn on_command(&mut self, id: CommandId, command: Command, now: Instant, out: &mut Vec<Output>) {
        if self.phase == Phase::Reconnecting {
            let busy = ClientError::Busy("reconnecting to the room server; try again in a moment");
            out.push(Output::Done(id, Err(busy)));
            return;
        }
        if self.phase != Phase::InRoom {
            out.push(Output::Done(id, Err(ClientError::NotJoined)));
            return;
        }
        let (request, own) = match command {
            Command::SetAudioMuted(muted) => {
                if muted {
                    // Muting stops the source at once, before the server hears of it.
                    self.set_sending(TrackKind::Microphone, false, out);
                }
                let request = ClientRequest::SetMedia {
                    audio_muted: Some(muted),
                    video_muted: None,
                };
                (request, Own::AudioMuted(muted))
            }
            Command::SetVideoMuted(muted) => {
                if muted {
                    self.set_sending(TrackKind::Camera, false, out);
                }
                let request = ClientRequest::SetMedia {
                    audio_muted: None,
                    video_muted: Some(muted),
                };
                (request, Own::VideoMuted(muted))
            }
            Command::StartScreenShare => {
                if !self.join.publishes.contains(&TrackKind::Screen) {
                    out.push(Output::Done(id, Err(ClientError::NoScreenSource)));
                    return;
                }
                if self.share_waiting.is_some() {
                    let refused = ClientError::Busy("a screen share is already starting");
                    out.push(Output::Done(id, Err(refused)));
                    return;
                }
                // The track comes first, so the server's re-offer finds it.
                self.share_waiting = Some(id);
                out.push(Output::Media(MediaAction::Publish {
                    kind: TrackKind::Screen,
                    sending: true,
                }));
                return;
            }
            Command::StopScreenShare => {
                self.set_sending(TrackKind::Screen, false, out);
                (ClientRequest::StopScreenShare {}, Own::Sharing(false))
            }
            Command::Chat { text, to } => (
                ClientRequest::Chat {
                    text,
                    to,
                    from: None,
                },
                Own::Nothing,
            ),
            Command::Kick { member, reason } => (
                ClientRequest::Kick {
                    member_id: member,
                    reason,
                },
                Own::Nothing,
            ),
            Command::Leave => (ClientRequest::Leave {}, Own::Nothing),
            Command::EndRoom => (ClientRequest::EndRoom {}, Own::Nothing),
            Command::SetRoomLock(locked) => (ClientRequest::SetRoomLock { locked }, Own::Nothing),
            Command::SetRoomPassword(password) => {
                (ClientRequest::SetRoomPassword { password }, Own::Nothing)
            }
            Command::SetVideoSize {
                member,
                kind,
                height,
            } => (
                ClientRequest::SetVideoSize {
                    member_id: member,
                    kind,
                    height,
                },
                Own::Nothing,
            ),
            Command::SetPlayback { member, playback } => {
                let result = self.check_playback(&member, playback);
                if result.is_ok() {
                    out.push(Output::Media(MediaAction::SetPlayback { member, playback }));
                }
                out.push(Output::Done(id, result));
                return;
            }
            Command::SetSentLayers {
                kind,
                largest_level,
            } => (
                ClientRequest::SetSentLayers {
                    kind,
                    largest_level,
                },
                Own::Nothing,
            ),
        };
        self.request(request, Then::Finish(id, own), now, out);
    }

    /// Another member of the room, at a volume that can be played.
    fn check_playback(&self, member: &MemberId, playback: Playback) -> Result<(), ClientError> {
        let is_other = self.me.as_ref() != Some(member);
        if !is_other || !self.members.iter().any(|m| &m.id == member) {
            return Err(ClientError::NoSuchMember(member.clone()));
        }
        if playback.volume_percent > Playback::MAX_VOLUME_PERCENT {
            return Err(ClientError::OutOfRange(format!(
                "a volume of {}% is over the {}% the mixer plays",
                playback.volume_percent,
                Playback::MAX_VOLUME_PERCENT
            )));
        }
        Ok(())
    }

    fn set_sending(&self, kind: TrackKind, sending: bool, out: &mut Vec<Output>) {
        if self.published.contains(&kind) {
            out.push(Output::Media(MediaAction::SetSending { kind, sending }));
        }
    }

    fn on_published(
        &mut self,
        kind: TrackKind,
        result: Result<(), ClientError>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        if result.is_ok() {
            self.published.insert(kind);
        }
        if kind != TrackKind::Screen {
            if let Err(error) = result {
                out.push(error_event(error, None));
            }
            return;
        }
        let Some(id) = self.share_waiting.take() else {
            return;
        };
        match result {
            Ok(()) => {
                let request = ClientRequest::StartScreenShare {};
                self.request(request, Then::Finish(id, Own::Sharing(true)), now, out);
            }
            Err(error) => out.push(Output::Done(id, Err(error))),
        }
    }

    fn on_server(&mut self, message: ServerMessage, now: Instant, out: &mut Vec<Output>) {
        match message {
            ServerMessage::Welcome { ice_servers, .. } => {
                if !ice_servers.is_empty() {
                    out.push(Output::Media(MediaAction::UseIceServers(ice_servers)));
                }
            }
            ServerMessage::Reply { id, body } => {
                if let Some(pending) = self.pending.remove(&id) {
                    self.on_reply(pending, Ok(body), now, out);
                }
            }
            ServerMessage::Error {
                id: Some(id),
                error,
            } if self.pending.contains_key(&id) => {
                let pending = self.pending.remove(&id).expect("checked");
                let refused = ClientError::Refused {
                    request: pending.request,
                    error,
                };
                self.on_reply(pending, Err(refused), now, out);
            }
            ServerMessage::Error { error, .. } => out.push(Output::Event(Event::Error {
                error,
                request: None,
            })),
            ServerMessage::Offer { sdp } => out.push(Output::Media(
                MediaAction::RemoteDescription(Link::Both, Description::Offer(sdp)),
            )),
            // A resumed member may get an event again that it had: once is enough.
            ServerMessage::Event { seq, .. } if seq != 0 && seq <= self.last_seq => {}
            ServerMessage::Event { seq, event } => {
                self.last_seq = self.last_seq.max(seq);
                self.on_event(event, out);
            }
        }
    }

    fn on_reply(
        &mut self,
        pending: Pending,
        reply: Result<ReplyBody, ClientError>,
        now: Instant,
        out: &mut Vec<Output>,
    ) {
        match pending.then {
            Then::Join => match reply {
                Ok(_) => {
                    self.phase = Phase::Joining;
                    let join = ClientRequest::Join(self.join.ask.clone());
                    self.request(join, Then::Joined, now, out);
                }
                Err(error) => self.fail_join(error, out),
            },
            Then::Joined => match reply {
                Ok(joined @ ReplyBody::Joined { .. }) => {
                    let room_joined = self.enter(joined);
                    for kind in [TrackKind::Camera, TrackKind::Microphone] {
                        if self.join.publishes.contains(&kind) {
                            let muted = match kind {
                                TrackKind::Camera => self.join.ask.video_muted,
                                _ => self.join.ask.audio_muted,
                            };
                            out.push(Output::Media(MediaAction::Publish {
                                kind,
                                sending: !muted,
                            }));
                        }
                    }
                    let Event::RoomJoined {
                        member_id, role, ..
                    } = &room_joined
                    else {
                        unreachable!("enter makes room.joined");
                    };
                    out.push(Output::Joined {
                        member_id: member_id.clone(),
                        role: *role,
                    });
                    out.push(Output::Event(room_joined));
                }
                Ok(_) => self.fail_join(ClientError::UnexpectedReply { request: "join" }, out),
                Err(error) => self.fail_join(error, out),
            },
            Then::Finish(id, own) => {
                match &reply {
                    Ok(_) => self.accepted(own, out),
                    Err(_) => self.refused(own, out),
                }
                out.push(Output::Done(id, reply.map(drop)));
            }
            Then::Report(own) => match reply {
                Ok(_) => self.accepted(own, out),
                Err(error) => out.push(error_event(error, Some(pending.request))),
            },
            Then::Ack => {}
            Then::Rehello => match (reply, self.resume_token.clone()) {
                (Ok(_), Some(token)) => {
                    let last_seq = self.last_seq;
                    let resume = ClientRequest::Resume { token, last_seq };
                    self.request(resume, Then::Resumed, now, out);
                }
                (Ok(_), None) => self.join_again(now, out),
                (Err(error), _) => self.on_signaling_lost(error.to_string(), now, out),
            },
            Then::Resumed => match reply {
                Ok(ReplyBody::Resumed { role, members, .. }) => {
                    self.back_in_room();
                    self.role = role;
                    self.members = members.clone();
                    out.push(Output::Event(Event::RoomReconnected {
                        room: self.room.clone(),
                        resumed: true,
                    }));
                    out.push(Output::Event(Event::MemberListUpdated { members }));
                }
                Err(ClientError::Timeout { .. } | ClientError::Lost(_)) => {
                    self.on_signaling_lost("the resume got no answer".into(), now, out)
                }
                // The server no longer knows this member: it joins again as new.
                _ => self.join_again(now, out),
            },
            Then::Rejoined => match reply {
                Ok(joined @ ReplyBody::Joined { .. }) => {
                    self.reconnect = None;
                    let room_joined = self.enter(joined);
                    out.push(Output::Event(Event::RoomReconnected {
                        room: self.room.clone(),
                        resumed: false,
                    }));
                    out.push(Output::Event(room_joined));
                }
                Err(ClientError::Timeout { .. } | ClientError::Lost(_)) => {
                    self.on_signaling_lost("joining again got no answer".into(), now, out)
                }
                // Refused (the room locked meanwhile, say): the member is out.
                Ok(_) | Err(_) => {
                    let error = match reply {
                        Err(error) => error,
                        Ok(_) => ClientError::UnexpectedReply { request: "join" },
                    };
                    out.push(error_event(error, Some("join")));
                    self.leave_room(LeaveReason::Disconnected, out);
                }
            },
        }
    }

    /// In the room as the `joined` reply says: its `room.joined` event.
    fn enter(&mut self, joined: ReplyBody) -> Event {
        let ReplyBody::Joined {
            room,
            member_id,
            role,
            members,
            resume_token,
        } = joined
        else {
            unreachable!("a joined reply");
        };
        self.phase = Phase::InRoom;
        self.resume_token = resume_token;
        self.room = room.clone();
        self.me = Some(member_id.clone());
        self.role = role;
        self.members = members.clone();
        Event::RoomJoined {
            room,
            member_id,
            role,
            members,
        }
    }

    fn back_in_room(&mut self) {
        self.phase = Phase::InRoom;
        self.reconnect = None;
    }

    /// After a refused resume: join the same room again as a new member,
    /// as it was (name, mute state, the moderator secret), on a new media
    /// connection.
    fn join_again(&mut self, now: Instant, out: &mut Vec<Output>) {
        let mut ask = self.join.ask.clone();
        if let Some(me) = self.me() {
            (ask.audio_muted, ask.video_muted) = (me.audio_muted, me.video_muted);
        }
        ask.returning_participant = self.role != Role::Moderator;
        let join = ClientRequest::Join(ask);
        self.last_seq = 0;
        self.acked_seq = 0;
        self.resume_token = None;
        let mut ended: Vec<_> = self.remote_tracks.drain().map(|(key, _)| key).collect();
        ended.sort_by(|a, b| (&a.0.0, a.1 as u8).cmp(&(&b.0.0, b.1 as u8)));
        for (member_id, kind) in ended {
            out.push(Output::Event(Event::TrackEnded { member_id, kind }));
        }
        self.published.remove(&TrackKind::Screen);
        self.media = None;
        out.push(Output::Media(MediaAction::Reset));
        self.request(join, Then::Rejoined, now, out);
    }

    fn fail_join(&mut self, error: ClientError, out: &mut Vec<Output>) {
        self.phase = Phase::Ended;
        self.pending.clear();
        out.push(Output::JoinFailed(error));
        out.push(Output::Ended);
    }

    /// The server took a change to the member's own state: tell the member, as
    /// the server tells everyone else.
    fn accepted(&mut self, own: Own, out: &mut Vec<Output>) {
        let Some(me) = self.my_index() else {
            return;
        };
        match own {
            Own::Nothing => {}
            Own::AudioMuted(muted) => {
                if !muted {
                    self.set_sending(TrackKind::Microphone, true, out);
                }
                if replace(&mut self.members[me].audio_muted, muted) {
                    self.own_updated(me, MemberField::AudioMuted, out);
                }
            }
            Own::VideoMuted(muted) => {
                if !muted {
                    self.set_sending(TrackKind::Camera, true, out);
                }
                if replace(&mut self.members[me].video_muted, muted) {
                    self.own_updated(me, MemberField::VideoMuted, out);
                }
            }
            Own::Sharing(on) => {
                if replace(&mut self.members[me].screen_sharing, on) {
                    self.own_updated(me, MemberField::ScreenSharing, out);
                    let member_id = self.members[me].id.clone();
                    out.push(Output::Event(if on {
                        Event::ScreenShareStarted { member_id }
                    } else {
                        Event::ScreenShareEnded { member_id }
                    }));
                }
            }
            Own::Talking(talking) => {
                if replace(&mut self.members[me].talking, talking) {
                    let member_id = self.members[me].id.clone();
                    out.push(Output::Event(Event::MemberTalking { member_id, talking }));
                }
            }
        }
    }

    fn my_index(&self) -> Option<usize> {
        let me = self.me.as_ref()?;
        self.members.iter().position(|m| &m.id == me)
    }

    fn own_updated(&self, me: usize, field: MemberField, out: &mut Vec<Output>) {
        out.push(Output::Event(Event::MemberUpdated {
            member: self.members[me].clone(),
            updated: vec![field],
        }));
    }

    /// The server refused a change: the source goes back to what the member's
    /// state says, so what is sent and what others see agree.
    fn refused(&mut self, own: Own, out: &mut Vec<Output>) {
        let Some(me) = self.me().cloned() else {
            return;
        };
        match own {
            Own::AudioMuted(true) if !me.audio_muted => {
                self.set_sending(TrackKind::Microphone, true, out)
            }
            Own::VideoMuted(true) if !me.video_muted => {
                self.set_sending(TrackKind::Camera, true, out)
            }
            Own::Sharing(true) if !me.screen_sharing => {
                self.set_sending(TrackKind::Screen, false, out)
            }
            Own::Sharing(false) if me.screen_sharing => {
                self.set_sending(TrackKind::Screen, true, out)
            }
            _ => {}
        }
    }

    fn on_event(&mut self, event: Event, out: &mut Vec<Output>) {
        match &event {
            Event::MemberJoined { member } => self.upsert(member.clone()),
            Event::MemberUpdated { member, .. } => self.upsert(member.clone()),
            Event::MemberListUpdated { members } => self.members = members.clone(),
            Event::MemberTalking { member_id, talking } => {
                if let Some(member) = self.members.iter_mut().find(|m| &m.id == member_id) {
                    member.talking = *talking;
                }
            }
            Event::MemberLeft { member_id, .. } => {
                self.members.retain(|m| &m.id != member_id);
                for kind in [TrackKind::Camera, TrackKind::Microphone, TrackKind::Screen] {
                    self.end_remote(member_id, kind, out);
                }
                out.push(Output::Media(MediaAction::ForgetMember(member_id.clone())));
            }
            Event::ScreenShareEnded { member_id } => {
                self.end_remote(member_id, TrackKind::Screen, out)
            }
            Event::RoomLeft { .. } => {
                out.push(Output::Event(event));
                self.end(out);
                return;
            }
            Event::RoomUpdated { .. } => self.access = Some(event.clone()),
            _ => {}
        }
        out.push(Output::Event(event));
    }

    fn upsert(&mut self, member: Member) {
        match self.members.iter_mut().find(|m| m.id == member.id) {
            Some(known) => *known = member,
            None => self.members.push(member),
        }
    }

    /// A live remote track ended: it stopped arriving, or the server stopped
    /// forwarding it (said at once, not when its RTP times out).
    fn end_remote(&mut self, member: &MemberId, kind: TrackKind, out: &mut Vec<Output>) {
        if self.remote_tracks.remove(&(member.clone(), kind)).is_some() {
            let member = member.clone();
            out.push(Output::Media(MediaAction::EndRemote {
                member: member.clone(),
                kind,
            }));
            out.push(Output::Event(Event::TrackEnded {
                member_id: member,
                kind,
            }));
        }
    }

    fn on_remote_track(
        &mut self,
        member: MemberId,
        kind: TrackKind,
        instance: u64,
        live: bool,
        out: &mut Vec<Output>,
    ) {
        let key = (member.clone(), kind);
        if live {
            let previous = self.remote_tracks.insert(key, instance);
            if previous.is_none() {
                let member_id = member;
                out.push(Output::Event(Event::TrackStarted { member_id, kind }));
            }
        } else if self.remote_tracks.get(&key) == Some(&instance) {
            self.end_remote(&member, kind, out);
        }
    }

    /// The signaling connection is gone (or an attempt to get it back
    /// failed): in a room, try again on the [`reconnect`] schedule, and
    /// give up past [`reconnect::GIVE_UP_AFTER`].
    fn on_signaling_lost(&mut self, reason: String, now: Instant, out: &mut Vec<Output>) {
        tracing::warn!(%reason, "signaling lost");
        match self.phase {
            Phase::InRoom => {
                self.phase = Phase::Reconnecting;
                self.reconnect = Some(Reconnect {
                    since: now,
                    attempt: 0,
                    next_try: None,
                });
                // What waited for an answer will get none; the server sends a
                // pending offer again on resume.
                let mut pending: Vec<_> = self.pending.drain().collect();
                pending.sort_by_key(|(id, _)| *id);
                for (_, pending) in pending {
                    if let Then::Finish(id, own) = pending.then {
                        self.refused(own, out);
                        out.push(Output::Done(id, Err(ClientError::Lost(reason.clone()))));
                    }
                }
            }
            Phase::Reconnecting => self.pending.clear(),
            Phase::Ended => return,
            Phase::Greeting | Phase::Joining => {
                self.fail_join(ClientError::Lost(reason), out);
                return;
            }
        }
        let reconnect = self.reconnect.as_mut().expect("reconnecting");
        if now.duration_since(reconnect.since) >= reconnect::GIVE_UP_AFTER {
            let error = ErrorInfo::new(
                ErrorCode::ConnectionFailed,
                "lost the connection to the room server",
            );
            out.push(Output::Event(Event::Error {
                error,
                request: None,
            }));
            self.leave_room(LeaveReason::Disconnected, out);
            return;
        }
        reconnect.attempt += 1;
        reconnect.next_try = Some(now + reconnect::wait_before(reconnect.attempt));
        out.push(Output::Event(Event::RoomReconnecting {
            room: self.room.clone(),
            attempt: reconnect.attempt,
        }));
    }

    /// Out of the room for `reason`, as the member hears it.
    fn leave_room(&mut self, reason: LeaveReason, out: &mut Vec<Output>) {
        out.push(Output::Event(Event::RoomLeft {
            room: self.room.clone(),
            reason,
        }));
        self.end(out);
    }

    /// Out of the room: every waiting command fails, the connections close.
    fn end(&mut self, out: &mut Vec<Output>) {
        self.phase = Phase::Ended;
        if let Some(id) = self.share_waiting.take() {
            out.push(Output::Done(id, Err(ClientError::SessionEnded)));
        }
        let mut pending: Vec<_> = self.pending.drain().collect();
        pending.sort_by_key(|(id, _)| *id);
        for (_, pending) in pending {
            if let Then::Finish(id, _) = pending.then {
                // A leave is answered before `room.left`; anything else still
                // waiting ends with the session.
                out.push(Output::Done(id, Err(ClientError::SessionEnded)));
            }
        }
        out.push(Output::Ended);
    }

    fn expire(&mut self, now: Instant, out: &mut Vec<Output>) {
        let mut expired: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&id, _)| id)
            .collect();
        expired.sort();
        for id in expired {
            // An earlier one may have ended the connection, and every wait with it.
            let Some(pending) = self.pending.remove(&id) else {
                continue;
            };
            let timeout = ClientError::Timeout {
                request: pending.request,
                after: REQUEST_TIMEOUT,
            };
            self.on_reply(pending, Err(timeout), now, out);
        }
    }
}

/// Sets `*slot` to `value`; true if that changed it.
fn replace(slot: &mut bool, value: bool) -> bool {
    std::mem::replace(slot, value) != value
}

fn error_event(error: ClientError, request: Option<&str>) -> Output {
    Output::Event(Event::Error {
        error: error.into(),
        request: request.map(str::to_owned),
    })
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;

fn media_event(state: MediaState) -> Event {
    match state {
        MediaState::Connected => Event::MediaConnected {},
        MediaState::Interrupted => Event::MediaReconnecting {},
        MediaState::Lost => Event::MediaDisconnected {},
    }
}
