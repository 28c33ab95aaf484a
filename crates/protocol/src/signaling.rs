//! Messages between a client and the room server over one WebSocket.
//!
//! The client sends [`ClientMessage`]s: requests with an `id`. The server
//! answers each with a [`ServerMessage::Reply`] or a [`ServerMessage::Error`]
//! carrying the same id, and pushes [`ServerMessage::Event`]s and
//! [`ServerMessage::Offer`]s on its own. See `docs/protocol.md`.

use serde::{Deserialize, Serialize};

use crate::errors::ErrorInfo;
use crate::events::{Event, TrackKind};
use crate::member::{Member, MemberId, Role};

/// Bumped on any incompatible change. Sent by the client in `hello`.
pub const PROTOCOL_VERSION: u32 = 1;

/// One request from the client. `id` is chosen by the client and echoed in the reply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct ClientMessage {
    pub id: u64,
    #[serde(flatten)]
    pub request: ClientRequest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientRequest {
    /// First message on a connection.
    Hello {
        version: u32,
        client: String,
    },
    /// Enter a room, creating it if needed (see [`Join`]).
    Join(Join),
    /// The client's SDP answer to the server's latest offer.
    Answer {
        sdp: String,
    },
    /// Change the sender's own mute state. Absent fields stay as they are.
    SetMedia {
        #[serde(default)]
        audio_muted: Option<bool>,
        #[serde(default)]
        video_muted: Option<bool>,
    },
    /// The sender's own talking state, from its microphone level.
    SetTalking {
        talking: bool,
    },
    /// Start publishing a screen track; the server re-offers with a slot for it.
    StartScreenShare {},
    StopScreenShare {},
    /// Chat to the room, or a whisper when `to` is set. `from` is optional and, if given,
    /// must be the sender's own id.
    Chat {
        text: String,
        #[serde(default)]
        to: Option<MemberId>,
        #[serde(default)]
        from: Option<MemberId>,
    },
    /// Remove a member. Moderators only.
    Kick {
        member_id: MemberId,
        #[serde(default)]
        reason: Option<String>,
    },
    Leave {},
    /// End the meeting for everyone: every member leaves with reason `ended`. Moderators only.
    EndRoom {},
    /// Lock the room (nobody new may join, but holders of the moderator
    /// secret) or open it again. Moderators only; everyone hears `room.updated`.
    SetRoomLock {
        locked: bool,
    },
    /// Require a password to join (`null`: none). Moderators only; everyone
    /// hears `room.updated`, which says whether there is one, never what it is.
    SetRoomPassword {
        #[serde(default)]
        password: Option<String>,
    },
    /// The media connection failed or stalled (the network changed, say):
    /// the server offers again, with new ICE credentials.
    RestartIce {},
    /// This member's video of `kind` is shown in a tile `height` pixels tall
    /// (0: not shown at all). The server then forwards the smallest
    /// simulcast layer that fills it, and nothing for a hidden tile; the
    /// default is the largest layer the link can carry.
    SetVideoSize {
        member_id: MemberId,
        kind: TrackKind,
        height: u32,
    },
    /// This member's `kind` video is about to be sent, or is sent again,
    /// in its simulcast layers from `largest_level` down (0: every layer;
    /// 1: all but the full picture; 2: the quarter only). A client whose
    /// uplink cannot carry a layer says so here a second before it stops
    /// sending it, so the server moves that layer's viewers to a smaller
    /// one at a keyframe, without a freeze. Only a camera has layers.
    SetSentLayers {
        kind: TrackKind,
        largest_level: u8,
    },
    /// Take back this connection's member after its connection dropped,
    /// within the grace period (`limits.reconnect_grace_secs`): the same
    /// member id, role, state and tracks. Sent instead of `join`, after
    /// `hello`. `token` is the `resume_token` of the `joined` reply; the
    /// events after `last_seq` are sent again, in order, after the reply.
    Resume {
        token: String,
        last_seq: u64,
    },
    /// Keeps the connection busy; `last_seq` says which events arrived, so
    /// the server need not keep them for a resume.
    Ping {
        #[serde(default)]
        last_seq: Option<u64>,
    },
}

/// A `join` request. `moderator_secret` makes the sender a moderator if it
/// matches the room's secret (set by the room's first member).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Join {
    pub room: String,
    pub name: String,
    #[serde(default)]
    pub moderator_secret: Option<String>,
    #[serde(default)]
    pub audio_muted: bool,
    #[serde(default)]
    pub video_muted: bool,
    /// `false`: this member receives no media (no one's audio or video is
    /// forwarded to it); it still publishes and gets every event. For load
    /// members in benchmarks, so they do not receive each other.
    #[serde(default = "receives_by_default")]
    pub receive_media: bool,
    /// The room's password, if a moderator set one.
    #[serde(default)]
    pub password: Option<String>,
    /// A join token, on a server that requires them: it names the room,
    /// the display name and the role.
    #[serde(default)]
    pub token: Option<String>,
    /// This member was a participant of this room on a server that has
    /// since forgotten it (restarted): coming back first does not make it
    /// the room's moderator, which waits for a member who was one.
    #[serde(default)]
    pub returning_participant: bool,
}

fn receives_by_default() -> bool {
    true
}

impl ClientRequest {
    /// The `type` tag, for error reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientRequest::Hello { .. } => "hello",
            ClientRequest::Join(_) => "join",
            ClientRequest::Answer { .. } => "answer",
            ClientRequest::SetMedia { .. } => "set_media",
            ClientRequest::SetTalking { .. } => "set_talking",
            ClientRequest::StartScreenShare {} => "start_screen_share",
            ClientRequest::StopScreenShare {} => "stop_screen_share",
            ClientRequest::Chat { .. } => "chat",
            ClientRequest::Kick { .. } => "kick",
            ClientRequest::Leave {} => "leave",
            ClientRequest::EndRoom {} => "end_room",
            ClientRequest::SetRoomLock { .. } => "set_room_lock",
            ClientRequest::SetRoomPassword { .. } => "set_room_password",
            ClientRequest::RestartIce {} => "restart_ice",
            ClientRequest::SetVideoSize { .. } => "set_video_size",
            ClientRequest::SetSentLayers { .. } => "set_sent_layers",
            ClientRequest::Resume { .. } => "resume",
            ClientRequest::Ping { .. } => "ping",
        }
    }
}

/// A STUN or TURN server, shaped as the W3C `RTCIceServer` (so a browser
/// passes it to `RTCPeerConnection` as it is). TURN credentials follow
/// coturn's `use-auth-secret` scheme: `username` is `EXPIRY:LABEL` (Unix
/// seconds), `credential` the Base64 HMAC-SHA1 of it under the shared secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct IceServer {
    /// `turn:HOST:PORT?transport=udp`, `stun:HOST:PORT`.
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
}

/// The server's limits, announced in `welcome` so clients can check before sending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Limits {
    pub max_name_chars: usize,
    pub max_chat_bytes: usize,
    pub max_frame_bytes: usize,
    pub max_members_per_room: usize,
    pub max_messages_per_second: u32,
    /// Rooms open at once on this server.
    #[serde(default = "default_max_rooms")]
    pub max_rooms: usize,
    /// Members in all rooms together.
    #[serde(default = "default_max_members")]
    pub max_members: usize,
    /// How long a member whose connection dropped stays in its room,
    /// reconnecting, before it is removed; 0: removed at once.
    #[serde(default = "default_reconnect_grace_secs")]
    pub reconnect_grace_secs: u32,
}

fn default_reconnect_grace_secs() -> u32 {
    Limits::default().reconnect_grace_secs
}

fn default_max_rooms() -> usize {
    Limits::default().max_rooms
}

fn default_max_members() -> usize {
    Limits::default().max_members
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_name_chars: 64,
            max_chat_bytes: 4096,
            max_frame_bytes: 256 * 1024,
            max_members_per_room: 25,
            max_messages_per_second: 20,
            max_rooms: 256,
            max_members: 1000,
            reconnect_grace_secs: 30,
        }
    }
}

/// What a successful request returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum ReplyBody {
    Ok {},
    Joined {
        room: String,
        member_id: MemberId,
        role: Role,
        members: Vec<Member>,
        /// Proves this member on a new connection (`resume`); a secret.
        #[serde(default)]
        resume_token: Option<String>,
    },
    /// `resume` went through: the member as it is now; the `missed` events
    /// it had not acknowledged follow, in order.
    Resumed {
        room: String,
        member_id: MemberId,
        role: Role,
        members: Vec<Member>,
        missed: u64,
    },
    Pong {},
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`.
    Welcome {
        version: u32,
        server: String,
        limits: Limits,
        /// TURN servers to gather relay candidates from, with credentials
        /// for this connection; none when the server was given none.
        #[serde(default)]
        ice_servers: Vec<IceServer>,
    },
    Reply {
        id: u64,
        #[serde(flatten)]
        body: ReplyBody,
    },
    /// A request failed, or (with no id) a frame could not be read as a request at all.
    Error { id: Option<u64>, error: ErrorInfo },
    /// A new SDP offer from the server; the client answers with `answer`.
    /// The server sends the next offer only after the answer to this one.
    Offer { sdp: String },
    /// A catalog event about the room. `seq` numbers the events to one
    /// member, from 1 (0: not numbered, outside a room), so a resumed member
    /// gets each one exactly once.
    Event {
        #[serde(default)]
        seq: u64,
        #[serde(flatten)]
        event: Event,
    },
}
