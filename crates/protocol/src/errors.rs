//! Stable error codes. Codes never change meaning; new ones may be added.

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error, ts_rs::TS,
)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame was not valid JSON.
    #[error("the message is not valid JSON")]
    BadJson,
    /// Valid JSON, but not a message this protocol knows: unknown `type`, missing or mistyped fields.
    #[error("the message does not match the protocol")]
    InvalidMessage,
    /// The client speaks a protocol version the server does not.
    #[error("unsupported protocol version")]
    UnsupportedVersion,
    /// The first message must be `hello`.
    #[error("say hello first")]
    HelloRequired,
    /// The request needs a joined room.
    #[error("not in a room")]
    NotJoined,
    /// `join` was sent twice on one connection.
    #[error("already in a room")]
    AlreadyJoined,
    /// A display name or room name is empty, too long, or has control characters.
    #[error("invalid name")]
    InvalidName,
    /// A WebSocket frame or chat text is larger than the limits allow.
    #[error("message too large")]
    TooLarge,
    /// The room has as many members as it may.
    #[error("room is full")]
    RoomFull,
    /// More messages per second than the limit.
    #[error("rate limit exceeded")]
    RateLimited,
    /// A moderator-only action from a participant.
    #[error("only moderators may do that")]
    NotModerator,
    /// The target member is not in the sender's room.
    #[error("no such member in this room")]
    MemberNotFound,
    /// The request claims to come from a member other than the sender.
    #[error("the sender id does not match the connection")]
    SpoofedSender,
    /// An SDP answer that could not be applied, or one that was not asked for.
    #[error("invalid session description")]
    InvalidSdp,
    /// A request that makes no sense in the current state (e.g. stopping a share that never started).
    #[error("invalid in the current state")]
    InvalidState,
    /// The media connection failed.
    #[error("media connection failed")]
    MediaFailed,
    /// The signaling connection to the server failed or was lost.
    #[error("connection to the server failed")]
    ConnectionFailed,
    /// The chosen camera, microphone, speaker or screen does not exist (any more).
    #[error("no such device")]
    DeviceNotFound,
    /// The device is in use by another program.
    #[error("the device is busy")]
    DeviceBusy,
    /// The system refused access to the device.
    #[error("access to the device was denied")]
    DevicePermissionDenied,
    /// The device opened but then failed.
    #[error("the device failed")]
    DeviceFailed,
    /// The server refused the connection: it, or the client's IP address, has
    /// as many connections open as it allows (HTTP 503 before the upgrade).
    #[error("the server has too many connections")]
    TooManyConnections,
    /// The server has as many rooms, or members in all, as it allows.
    #[error("the server is full")]
    ServerFull,
    /// This server lets in only members with a join token, and the join had none.
    #[error("a join token is required")]
    AuthRequired,
    /// The join token's time is over.
    #[error("the join token has expired")]
    TokenExpired,
    /// The join token was not signed by this server, was changed, or is for another room.
    #[error("the join token is not valid here")]
    TokenInvalid,
    /// The room has a password, and the join gave none or another.
    #[error("wrong room password")]
    WrongPassword,
    /// The room is locked: nobody new may join.
    #[error("the room is locked")]
    RoomLocked,
    /// `resume` cannot take the member back: it left or was removed (the
    /// grace period passed), the server restarted, or events it missed are
    /// no longer kept. Join again.
    #[error("the session cannot be resumed")]
    ResumeFailed,
    /// A web page from an origin the server does not allow tried to connect
    /// (HTTP 403 before the upgrade).
    #[error("this web page may not connect to the server")]
    OriginRefused,
    /// The server's TLS certificate is not signed by an authority this
    /// computer trusts, or is for another name (client side).
    #[error("the server's certificate is not trusted")]
    CertificateUntrusted,
    /// The server's certificate is not the one the room link names (client side).
    #[error("the server's certificate is not the one the link names")]
    CertificateMismatch,
    /// The server's certificate has expired or is not valid yet (client side).
    #[error("the server's certificate has expired")]
    CertificateExpired,
    /// The server did not answer a request in time (client side).
    #[error("the server did not answer in time")]
    Timeout,
    /// Something went wrong inside the server; the request had no effect.
    #[error("internal error")]
    Internal,
}

/// An error as sent on the wire and shown to users: a stable code plus a human sentence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error, ts_rs::TS)]
#[ts(export)]
#[error("{code:?}: {message}")]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorInfo {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
