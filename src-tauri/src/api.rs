//! The app's own contract with its UI: Tauri command arguments and results,
//! and the frame-stream messages. Catalog events are `conclave_protocol::Event`.
//! TypeScript types are generated from these (ts-rs) into `ui/src/generated/`.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The Tauri event name every catalog event is emitted on.
pub const EVENT_CHANNEL: &str = "conclave://event";
/// The Tauri event name of app status (microphone level in the lobby, hosting state).
pub const STATUS_CHANNEL: &str = "conclave://status";

pub use conclave_protocol::{DeviceKind, DeviceList};

/// Where to meet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "mode", rename_all = "snake_case")]
#[ts(export)]
pub enum MeetingPlace {
    /// Start the embedded room server on this computer.
    Host,
    /// Join a server at `address` (`HOST:PORT`).
    Server { address: String },
}

/// Everything the lobby asks for; remembered between launches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct LobbyChoices {
    pub name: String,
    pub room: String,
    pub place: MeetingPlace,
    pub camera_id: Option<String>,
    pub microphone_id: Option<String>,
    pub speaker_id: Option<String>,
    pub audio_muted: bool,
    pub video_muted: bool,
}

/// What the UI needs at start.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    /// Loopback WebSocket for video frames: `ws://127.0.0.1:PORT/frames?token=TOKEN`.
    pub frames_url: String,
    pub last_choices: Option<LobbyChoices>,
    pub devices: DeviceList,
    /// Choices from a `conclave://HOST:PORT/ROOM` link the app was opened with.
    pub link_choices: Option<LobbyChoices>,
    /// When this process started (Unix ms), so the UI can time launch to lobby.
    pub launched_at_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Joined {
    /// `conclave://HOST:PORT/ROOM`, for others to join.
    pub room_link: String,
    /// When hosting: the address others on the LAN can use.
    pub hosted_address: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
#[ts(export)]
pub enum AppStatus {
    /// Lobby microphone meter, dBFS.
    MicLevel { dbfs: f32 },
}

/// One tile the UI shows, and the size it is drawn at. Frames are scaled in
/// Rust to this size; tracks without a visible tile are not sent at all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TileRequest {
    /// A remote member id, or `"self"` for the local preview.
    pub member_id: String,
    pub kind: conclave_protocol::TrackKind,
    pub width: u32,
    pub height: u32,
}

/// Text message from the UI on the frame socket: the tiles it shows now.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FrameSubscription {
    pub tiles: Vec<TileRequest>,
}

/// Text message from the UI on the frame socket: it is done with a frame of
/// this tile (drew or dropped it). The backend keeps at most
/// [`FRAMES_IN_FLIGHT`] unanswered frames per tile, so a page that draws
/// slowly gets fewer, fresher frames rather than a growing queue.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FrameDrawn {
    pub drawn: TileId,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct TileId {
    pub member_id: String,
    pub kind: conclave_protocol::TrackKind,
}

/// Frames sent for one tile and not yet answered by [`FrameDrawn`]: two, so
/// one can travel while the page draws the other.
pub const FRAMES_IN_FLIGHT: u32 = 2;

/// Any text message on the frame socket.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum FrameSocketText {
    Subscription(FrameSubscription),
    Drawn(FrameDrawn),
}

/// Binary frame on the frame socket (all integers little-endian):
///
/// | bytes | field |
/// |---|---|
/// | 1 | version, 1 |
/// | 1 | kind: 0 camera, 1 screen |
/// | 2 | length N of the member id |
/// | N | member id, UTF-8 (`"self"` for the local preview) |
/// | 4 | width |
/// | 4 | height |
/// | 8 | f64: when the frame was decoded, Unix time in ms |
/// | w*h + 2*(w/2*h/2) | I420 planes Y, U, V, tightly packed |
pub const FRAME_VERSION: u8 = 1;
