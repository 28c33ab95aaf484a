//! The event catalog: everything the client tells the UI about a room.
//!
//! Names are dotted in the SignalWire style. On the wire an event is
//! `{"event": "member.joined", "params": {...}}`. `docs/events.md` has a
//! section and a JSON example for every variant; a test keeps them in step.

use serde::{Deserialize, Serialize};

use crate::devices::Device;
use crate::errors::ErrorInfo;
use crate::member::{Member, MemberId, Role};

/// Why a member is no longer in the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The member chose to leave.
    Left,
    /// A moderator removed the member.
    Kicked,
    /// The member's connection dropped or timed out.
    Disconnected,
    /// A moderator ended the meeting for everyone, or its server stopped.
    Ended,
}

/// The kind of a media track as the user sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    Camera,
    Microphone,
    Screen,
}

impl TrackKind {
    pub fn is_video(self) -> bool {
        !matches!(self, TrackKind::Microphone)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Camera => "camera",
            TrackKind::Microphone => "microphone",
            TrackKind::Screen => "screen",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "camera" => Some(TrackKind::Camera),
            "microphone" => Some(TrackKind::Microphone),
            "screen" => Some(TrackKind::Screen),
            _ => None,
        }
    }
}

/// Which member fields a `member.updated` changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum MemberField {
    AudioMuted,
    VideoMuted,
    ScreenSharing,
    Talking,
    Reconnecting,
}

/// How well a member's connection carries media, as the server sees both
/// directions of it: loss and round trip, and whether its downlink can
/// carry what it is sent. `lost` while nothing arrives (or the member is
/// reconnecting).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionQuality {
    Excellent,
    Good,
    Poor,
    Lost,
}

/// Which way media goes, from your side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum LinkDirection {
    /// What you send.
    Uplink,
    /// What you receive.
    Downlink,
}

/// One track of your session, over the last stats period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct TrackStats {
    /// Whose track: null for your own (sent) tracks.
    pub member_id: Option<MemberId>,
    pub kind: TrackKind,
    pub direction: LinkDirection,
    /// Payload and headers, kilobits a second.
    pub kbps: f64,
    /// Of the packets that should have arrived, the share that did not
    /// (received tracks: before retransmission; sent ones: as the server reported).
    pub loss_percent: f64,
    /// Interarrival jitter (received tracks), milliseconds.
    pub jitter_ms: Option<f64>,
    /// Video: frames a second decoded (received) or sent.
    pub fps: Option<f64>,
    /// Video: the picture size.
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Video: the simulcast layer (0 = full size, 1 = half, 2 = quarter):
    /// of a sent camera, each layer is its own entry; of a received video,
    /// the layer the server forwards you.
    pub layer: Option<u8>,
}

/// Your session's media now (`call.stats`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct CallStats {
    /// Over this many milliseconds.
    pub period_ms: u64,
    /// Round trip to the server, milliseconds (ICE consent checks).
    pub rtt_ms: Option<f64>,
    /// What congestion control estimates your uplink carries.
    pub uplink_estimate_kbps: u32,
    pub tracks: Vec<TrackStats>,
}

/// The layer you receive of one member's video.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct VideoLayer {
    pub member_id: MemberId,
    pub kind: TrackKind,
    /// 0 = full size, 1 = half, 2 = quarter; null: none (the tile is hidden).
    pub layer: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "event", content = "params")]
pub enum Event {
    /// You are in the room. Carries everyone already there, you included.
    #[serde(rename = "room.joined")]
    RoomJoined {
        room: String,
        member_id: MemberId,
        role: Role,
        members: Vec<Member>,
    },
    /// You are no longer in the room.
    #[serde(rename = "room.left")]
    RoomLeft { room: String, reason: LeaveReason },
    /// Your connection to the room server dropped; the client is trying to
    /// get it back (`attempt` from 1). Others see you as `reconnecting`.
    #[serde(rename = "room.reconnecting")]
    RoomReconnecting { room: String, attempt: u32 },
    /// You are back. `resumed`: as the same member, with every event missed
    /// meanwhile delivered; otherwise as a new member (the grace period
    /// passed, or the server restarted): `room.joined` follows, and what was
    /// said while you were away is lost.
    #[serde(rename = "room.reconnected")]
    RoomReconnected { room: String, resumed: bool },
    /// Who may join changed (a moderator locked the room or set a password),
    /// or you just joined a room that is locked or has a password.
    #[serde(rename = "room.updated")]
    RoomUpdated {
        room: String,
        locked: bool,
        password_protected: bool,
    },
    /// A moderator removed you. `room.left` with reason `kicked` follows.
    #[serde(rename = "room.kicked")]
    RoomKicked {
        room: String,
        by: MemberId,
        by_name: String,
        reason: Option<String>,
    },

    #[serde(rename = "member.joined")]
    MemberJoined { member: Member },
    #[serde(rename = "member.left")]
    MemberLeft {
        member_id: MemberId,
        name: String,
        reason: LeaveReason,
    },
    /// A member's mute, camera or screen-share state changed. `member` is the new state.
    #[serde(rename = "member.updated")]
    MemberUpdated {
        member: Member,
        updated: Vec<MemberField>,
    },
    /// A member started or stopped talking (from the audio level, with hysteresis).
    #[serde(rename = "member.talking")]
    MemberTalking { member_id: MemberId, talking: bool },
    /// The whole member list, after any change to it.
    #[serde(rename = "memberList.updated")]
    MemberListUpdated { members: Vec<Member> },

    #[serde(rename = "screenShare.started")]
    ScreenShareStarted { member_id: MemberId },
    #[serde(rename = "screenShare.ended")]
    ScreenShareEnded { member_id: MemberId },

    /// A remote track began to arrive and can be rendered or played.
    #[serde(rename = "track.started")]
    TrackStarted {
        member_id: MemberId,
        kind: TrackKind,
    },
    /// A remote track is gone.
    #[serde(rename = "track.ended")]
    TrackEnded {
        member_id: MemberId,
        kind: TrackKind,
    },

    /// A chat message to the whole room.
    #[serde(rename = "chat.message")]
    ChatMessage {
        from: MemberId,
        from_name: String,
        text: String,
        sent_at_ms: u64,
    },
    /// A private message. Only the sender and the target receive it.
    #[serde(rename = "chat.whisper")]
    ChatWhisper {
        from: MemberId,
        from_name: String,
        to: MemberId,
        text: String,
        sent_at_ms: u64,
    },

    /// The media connection to the room server is up.
    #[serde(rename = "media.connected")]
    MediaConnected {},
    /// The media connection is interrupted and may come back.
    #[serde(rename = "media.reconnecting")]
    MediaReconnecting {},
    /// The media connection is closed or failed.
    #[serde(rename = "media.disconnected")]
    MediaDisconnected {},
    /// A member's connection quality changed (yours included). Everyone in
    /// the room hears it; a joiner hears each member's once.
    #[serde(rename = "member.quality")]
    MemberQuality {
        member_id: MemberId,
        quality: ConnectionQuality,
    },
    /// Your session's media, every 2 s while in a call: bitrate, loss,
    /// jitter, frame rate, size and layer per track, and the round trip.
    #[serde(rename = "call.stats")]
    CallStats { stats: CallStats },
    /// Your uplink or downlink cannot carry what it should (`slow`), or can
    /// again. Uplink: the camera's full-size layer no longer fits the
    /// estimate. Downlink: the server lowered what it sends you for want of
    /// bandwidth.
    #[serde(rename = "link.slow")]
    LinkSlow {
        direction: LinkDirection,
        slow: bool,
        estimate_kbps: u32,
    },
    /// The simulcast layers the server forwards you changed (the link, or a
    /// tile size you asked for). Lists every video you receive.
    #[serde(rename = "video.layers")]
    VideoLayers { layers: Vec<VideoLayer> },

    /// The camera in use changed: picked by the user, or a fallback after the
    /// previous one went away. `previous` is null for the first choice.
    #[serde(rename = "camera.updated")]
    CameraUpdated {
        previous: Option<Device>,
        current: Device,
    },
    /// The camera in use went away. `fallback` is what is used instead; null
    /// means none was left and the camera is now off.
    #[serde(rename = "camera.disconnected")]
    CameraDisconnected {
        device: Device,
        fallback: Option<Device>,
    },
    /// The microphone in use changed (see `camera.updated`).
    #[serde(rename = "microphone.updated")]
    MicrophoneUpdated {
        previous: Option<Device>,
        current: Device,
    },
    /// The microphone in use went away; null `fallback` means now muted.
    #[serde(rename = "microphone.disconnected")]
    MicrophoneDisconnected {
        device: Device,
        fallback: Option<Device>,
    },
    /// The speaker in use changed (see `camera.updated`).
    #[serde(rename = "speaker.updated")]
    SpeakerUpdated {
        previous: Option<Device>,
        current: Device,
    },
    /// The speaker in use went away; `fallback` plays the call now.
    #[serde(rename = "speaker.disconnected")]
    SpeakerDisconnected {
        device: Device,
        fallback: Option<Device>,
    },
    /// Devices were plugged in or removed (any kind, in use or not).
    #[serde(rename = "devices.changed")]
    DevicesChanged {
        added: Vec<Device>,
        removed: Vec<Device>,
    },

    /// Something failed. `request` names the command that failed, if one did.
    #[serde(rename = "error")]
    Error {
        error: ErrorInfo,
        request: Option<String>,
    },
}

impl Event {
    /// The dotted name, as on the wire.
    pub fn name(&self) -> String {
        let json = serde_json::to_value(self).expect("events always serialize");
        json["event"].as_str().unwrap_or_default().to_owned()
    }
}
