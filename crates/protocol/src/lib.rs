//! Conclave's public contract, in one place.
//!
//! - [`events`]: the event catalog the client emits to the UI (and that the
//!   server pushes to members). Documented in `docs/events.md`.
//! - [`signaling`]: the WebSocket messages between a client and the room
//!   server. Documented in `docs/protocol.md`.
//! - [`errors`]: stable error codes shared by both.
//! - [`devices`]: capture and playback devices, for the device events.
//! - [`clock`]: the wall clock, in the units wire timestamps use.
//!
//! Every type here is the single definition; the UI's TypeScript types are
//! generated from them.

pub mod clock;
pub mod devices;
pub mod errors;
pub mod events;
pub mod fingerprint;
pub mod member;
pub mod signaling;

pub use devices::{Device, DeviceKind, DeviceList};
pub use errors::{ErrorCode, ErrorInfo};
pub use events::{
    CallStats, ConnectionQuality, Event, LeaveReason, LinkDirection, TrackKind, TrackStats,
    VideoLayer,
};
pub use fingerprint::Fingerprint;
pub use member::{Member, MemberId, Role};
pub use signaling::{
    ClientMessage, ClientRequest, IceServer, Join, Limits, PROTOCOL_VERSION, ReplyBody,
    ServerMessage,
};
