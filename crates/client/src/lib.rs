//! The Conclave client: one member's session in a room.
//!
//! - [`core`]: the session's rules as a sans-IO state machine: requests and
//!   their deadlines, the member list and the member's own state, server
//!   messages turned into catalog events.
//! - [`session`]: [`RoomSession`], the I/O shell around the core: the
//!   commands and the event stream.
//! - [`media`]: the media-setup seam between the session and an SFU engine.
//! - [`signaling`]: the seam between the session and a signaling backend.
//! - [`error`]: [`ClientError`], what can go wrong, typed.
//! - [`local`]: what devices write into the feeds, encoded and sent.
//! - [`uplink`]: what the encoders may send, and which camera layers.
//! - [`remote`]: remote tracks, received and decoded; audio mixed.
//! - [`assembler`]: VP8 RTP packets back into frames (sans-IO).

pub mod assembler;
pub mod core;
pub mod error;
pub mod local;
pub mod media;
pub mod reconnect;
pub mod remote;
pub mod reorder;
pub mod session;
pub mod signaling;
pub mod stats;
pub mod tls;
pub mod uplink;

pub use conclave_media::{AudioFeed, FrameFeed, OpusFrame, Playback, VoiceSettings};
pub use conclave_rtc::CAMERA_LEVELS;
pub use error::ClientError;
pub use local::{
    AudioSourceConfig, CameraSource, EncodedClip, Sources, VideoSourceConfig, VoiceControl,
};
pub use remote::{
    DecodedFrame, FrameSlot, OfferShape, RemoteMedia, TrackKey, TrackProbe, TrackStats,
};
pub use session::{EventStream, JoinOptions, RoomSession, TestOptions};
pub use signaling::{Signaling, SignalingError, WebSocketSignaling};
