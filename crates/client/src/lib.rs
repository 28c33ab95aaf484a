//! The Conclave client: one member's session in a room.
//!
//! - [`session`]: [`RoomSession`], the commands and the event stream.
//! - [`signaling`]: the seam between the session and a signaling backend.
//! - [`local`]: what devices write into the feeds, encoded and sent.
//! - [`remote`]: remote tracks, received and decoded; audio mixed.
//! - [`assembler`]: VP8 RTP packets back into frames (sans-IO).

pub mod assembler;
pub mod local;
pub mod remote;
pub mod session;
pub mod signaling;

pub use conclave_media::{AudioFeed, FrameFeed};
pub use local::{AudioSourceConfig, CameraSource, EncodedClip, Sources, VideoSourceConfig};
pub use remote::{RemoteMedia, TrackStats};
pub use session::{EventStream, JoinOptions, RoomSession, TestOptions};
pub use signaling::{Signaling, SignalingError, WebSocketSignaling};
