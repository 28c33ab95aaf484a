//! The app's own contract with its UI: Tauri command arguments and results,
//! and the frame-stream messages. Catalog events are `conclave_protocol::Event`.
//! TypeScript types are generated from these (ts-rs) into `ui/src/generated/`.

pub use conclave_media::{Playback, VoiceSettings};
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
    /// Join a server at `address` (`HOST:PORT`; `ws://HOST:PORT` for a plain
    /// one). `fingerprint`: the SHA-256 of its certificate, from a room link,
    /// which is then the only certificate accepted.
    Server {
        address: String,
        #[serde(default)]
        fingerprint: Option<String>,
    },
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
    /// The microphone's processing (noise suppression off for music, echo
    /// cancellation off for a headset). All on when not chosen yet.
    #[serde(default)]
    pub voice: VoiceSettings,
    /// The room's password, when the server asked for one. Never remembered.
    #[serde(default)]
    pub password: Option<String>,
    /// A join token (from a link's `#token=`, or pasted), for a server that
    /// lets in only holders of one. Never remembered.
    #[serde(default)]
    pub token: Option<String>,
}

/// What the UI needs at start.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppInfo {
    pub version: String,
    /// Loopback WebSocket for video frames: `ws://127.0.0.1:PORT/frames?token=TOKEN`.
    pub frames_url: String,
    /// How frames reach the page and are drawn (`CONCLAVE_FRAME_PATH`).
    pub frame_path: FramePath,
    pub last_choices: Option<LobbyChoices>,
    pub devices: DeviceList,
    /// Choices from a `conclave://HOST:PORT/ROOM` link the app was opened with.
    pub link_choices: Option<LobbyChoices>,
    /// Why the link the app was opened with is no room link, if it is not.
    pub link_error: Option<String>,
    /// A debug build keeps WebKit's context menu (for the inspector); a
    /// release build turns it and page reloads off.
    pub debug_build: bool,
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
    /// The link names a loopback address: it works on this computer only.
    pub link_is_local: bool,
}

/// What the backend is doing, for a UI that (re)starts or comes back to the lobby.
#[derive(Clone, Debug, Serialize, TS)]
#[ts(export)]
pub struct AppState {
    /// The call it is in, if any.
    pub call: Option<CallState>,
    /// The address of the room server this app runs, if it runs one (a host
    /// who left and kept hosting sees it in the lobby).
    pub hosting_address: Option<String>,
}

/// The call the backend is in, for a UI that (re)starts while it goes on:
/// replaying `events` through the UI's reducer shows the call as it is.
#[derive(Clone, Debug, Serialize, TS)]
#[ts(export)]
pub struct CallState {
    pub choices: LobbyChoices,
    pub joined: Joined,
    pub events: Vec<conclave_protocol::Event>,
}

#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(tag = "status", rename_all = "snake_case")]
#[ts(export)]
pub enum AppStatus {
    /// Lobby microphone meter, dBFS.
    MicLevel { dbfs: f32 },
    /// The window is closing while this app hosts a meeting: ask first.
    QuitWhileHosting {},
    /// A room link opened while the app runs (another launch handed it over).
    LinkOpened { choices: LobbyChoices },
    /// A link opened while the app runs is no room link.
    LinkRefused { link: String, message: String },
}

/// How decoded video reaches the page and is drawn. The environment
/// variable `CONCLAVE_FRAME_PATH` picks one by its name (as serialised, e.g.
/// `websocket-rgba-2d`); BENCHMARKS.md measures each, and the default is the
/// fastest there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub enum FramePath {
    /// I420 over the loopback frame socket, converted to RGB by a WebGL shader
    /// (kept: with a GPU and compositing on it may be the faster one).
    #[serde(rename = "websocket-i420-webgl")]
    WebsocketI420Webgl,
    /// RGBA (converted in Rust) over the loopback frame socket, drawn with
    /// `putImageData` on a 2D canvas. The default: the fastest without a GPU,
    /// where WebGL is software GL read back for a compositor that is off.
    #[default]
    #[serde(rename = "websocket-rgba-2d")]
    WebsocketRgba2d,
    /// RGBA (converted in Rust) over a Tauri `ipc::Channel`, drawn with
    /// `putImageData`; the page's answers go back as the `frame_channel_text` command.
    #[serde(rename = "channel-rgba-2d")]
    ChannelRgba2d,
}

impl FramePath {
    pub const ALL: [FramePath; 3] = [
        FramePath::WebsocketI420Webgl,
        FramePath::WebsocketRgba2d,
        FramePath::ChannelRgba2d,
    ];

    /// Its name, as `CONCLAVE_FRAME_PATH` and the UI spell it.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn from_name(name: &str) -> Option<FramePath> {
        FramePath::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The pixels its frames carry.
    pub fn pixels(self) -> FramePixels {
        match self {
            FramePath::WebsocketI420Webgl => FramePixels::I420,
            FramePath::WebsocketRgba2d | FramePath::ChannelRgba2d => FramePixels::Rgba,
        }
    }
}

/// The picture in a binary frame, after its [`FrameHeader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramePixels {
    /// Planes Y, U, V, tightly packed: w*h + 2*(w/2*h/2) bytes.
    I420 = 0,
    /// R, G, B, A per pixel, rows top to bottom: w*h*4 bytes.
    Rgba = 1,
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

/// The version byte that starts every binary frame; see [`FrameHeader`].
pub const FRAME_VERSION: u8 = 2;

/// A binary frame on the frame socket: this header, then the picture. This
/// is the one definition of the format: `ui/src/frames.ts` parses it (its
/// version and sizes come from `ui/src/generated/FrameFormat.ts`, written by
/// the `export_bindings_frame_format` test below, which also holds an
/// example frame that both the Rust and the TypeScript tests check).
///
/// All integers are little-endian:
///
/// | bytes | field |
/// |---|---|
/// | 1 | version, [`FRAME_VERSION`] |
/// | 1 | kind: 0 camera, 1 screen |
/// | 1 | pixels, [`FramePixels`]: 0 I420, 1 RGBA |
/// | 2 | length N of the member id, in bytes |
/// | N | member id, UTF-8 (`"self"` for the local preview) |
/// | 4 | width |
/// | 4 | height |
/// | 8 | f64: when the frame was decoded, Unix time in ms |
/// | w*h + 2*(w/2*h/2), or w*h*4 | the picture: I420 planes Y, U, V tightly packed, or RGBA rows |
#[derive(Clone, Debug, PartialEq)]
pub struct FrameHeader<'a> {
    pub kind: conclave_protocol::TrackKind,
    pub pixels: FramePixels,
    pub member_id: &'a str,
    pub width: u32,
    pub height: u32,
    /// When the frame was decoded, Unix time in ms.
    pub decoded_at_ms: f64,
}

impl FrameHeader<'_> {
    /// The header's size without the member id.
    pub const FIXED_BYTES: usize = 1 + 1 + 1 + 2 + 4 + 4 + 8;

    /// The header's size.
    pub fn len(&self) -> usize {
        Self::FIXED_BYTES + self.member_id.len()
    }

    /// Appends the header to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let kind: u8 = match self.kind {
            conclave_protocol::TrackKind::Screen => 1,
            _ => 0,
        };
        let id = self.member_id.as_bytes();
        out.push(FRAME_VERSION);
        out.push(kind);
        out.push(self.pixels as u8);
        out.extend_from_slice(&(id.len() as u16).to_le_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&self.width.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        out.extend_from_slice(&self.decoded_at_ms.to_le_bytes());
    }
}

#[cfg(test)]
mod frame_format_tests {
    use super::*;
    use conclave_protocol::TrackKind;

    /// A 4x2 screen frame of member "m7-é" (UTF-8: 5 bytes), decoded at 1234.5.
    const EXAMPLE: FrameHeader<'static> = FrameHeader {
        kind: TrackKind::Screen,
        pixels: FramePixels::I420,
        member_id: "m7-é",
        width: 4,
        height: 2,
        decoded_at_ms: 1234.5,
    };
    const EXAMPLE_Y: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
    const EXAMPLE_U: [u8; 2] = [20, 21];
    const EXAMPLE_V: [u8; 2] = [30, 31];

    fn example_bytes() -> Vec<u8> {
        let mut bytes = Vec::new();
        EXAMPLE.write(&mut bytes);
        assert_eq!(bytes.len(), EXAMPLE.len());
        bytes.extend_from_slice(&EXAMPLE_Y);
        bytes.extend_from_slice(&EXAMPLE_U);
        bytes.extend_from_slice(&EXAMPLE_V);
        bytes
    }

    #[test]
    fn the_header_is_as_the_table_says() {
        let bytes = example_bytes();
        assert_eq!(&bytes[..5], &[FRAME_VERSION, 1, 0, 5, 0]);
        assert_eq!(&bytes[5..10], "m7-é".as_bytes());
        assert_eq!(u32::from_le_bytes(bytes[10..14].try_into().unwrap()), 4);
        assert_eq!(u32::from_le_bytes(bytes[14..18].try_into().unwrap()), 2);
        assert_eq!(
            f64::from_le_bytes(bytes[18..26].try_into().unwrap()),
            1234.5
        );
        assert_eq!(&bytes[26..], &[1, 2, 3, 4, 5, 6, 7, 8, 20, 21, 30, 31]);
        assert_eq!(FrameHeader::FIXED_BYTES, 21);
        let rgba = FrameHeader {
            pixels: FramePixels::Rgba,
            ..EXAMPLE
        };
        let mut bytes = Vec::new();
        rgba.write(&mut bytes);
        assert_eq!(bytes[2], 1, "RGBA");
    }

    #[test]
    fn every_frame_path_is_found_by_its_name() {
        for path in FramePath::ALL {
            assert_eq!(FramePath::from_name(&path.name()), Some(path));
        }
        assert_eq!(FramePath::WebsocketRgba2d.name(), "websocket-rgba-2d");
        assert_eq!(FramePath::from_name("carrier-pigeon"), None);
    }

    /// Writes `ui/src/generated/FrameFormat.ts` (named like ts-rs's tests, so
    /// `cargo test export_bindings` refreshes it with the other bindings).
    #[test]
    fn export_bindings_frame_format() {
        let list = |bytes: &[u8]| {
            bytes
                .iter()
                .map(u8::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let ts = [
            "// Written by `export_bindings_frame_format` in src-tauri/src/api.rs from".to_owned(),
            "// `FrameHeader`, the one definition of the binary frame. Do not edit.".to_owned(),
            String::new(),
            "/** The version byte that starts every binary frame. */".to_owned(),
            format!("export const FRAME_VERSION = {FRAME_VERSION};"),
            String::new(),
            "/** The pixels byte: what the picture after the header is. */".to_owned(),
            format!(
                "export const FRAME_PIXELS_I420 = {};",
                FramePixels::I420 as u8
            ),
            format!(
                "export const FRAME_PIXELS_RGBA = {};",
                FramePixels::Rgba as u8
            ),
            String::new(),
            "/** The header's size without the member id. */".to_owned(),
            format!(
                "export const FRAME_FIXED_HEADER_BYTES = {};",
                FrameHeader::FIXED_BYTES
            ),
            String::new(),
            "/** A frame exactly as the backend writes it, and what it holds. */".to_owned(),
            "export const FRAME_EXAMPLE = {".to_owned(),
            format!("  memberId: {:?},", EXAMPLE.member_id),
            "  kind: \"screen\",".to_owned(),
            format!("  width: {},", EXAMPLE.width),
            format!("  height: {},", EXAMPLE.height),
            format!("  decodedAt: {:?},", EXAMPLE.decoded_at_ms),
            format!("  y: [{}],", list(&EXAMPLE_Y)),
            format!("  u: [{}],", list(&EXAMPLE_U)),
            format!("  v: [{}],", list(&EXAMPLE_V)),
            format!("  bytes: [{}],", list(&example_bytes())),
            "} as const;\n".to_owned(),
        ]
        .join("\n");
        let dir = std::env::var("TS_RS_EXPORT_DIR").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/generated").to_owned()
        });
        std::fs::write(std::path::Path::new(&dir).join("FrameFormat.ts"), ts).unwrap();
    }
}
