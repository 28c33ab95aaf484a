//! The devices a member captures from and plays to.
//!
//! - [`audio`]: microphones and speakers through `cpal`'s PulseAudio host.
//! - [`camera`]: cameras through `nokhwa` (Video4Linux).
//! - [`screen`]: displays to share, captured with `scrap` (X11).
//! - [`speaker_test`]: the test tone Settings plays on a speaker.
//! - [`watch`]: polls the lists and reports devices that came or went.
//! - [`synthetic`]: the synthetic devices, run in real time as devices.
//! - [`local`]: [`LocalDevices`], the devices a member uses (the app's and
//!   the bot's): picking, opening, the feeds they write into, and falling
//!   back ([`fallback_for`]) when one goes away.
//!
//! Synthetic devices (test pattern, tone, silent speaker, synthetic screen)
//! are always listed first, so the app works on a machine with no hardware.
//! Device ids carry their backend: `synthetic:tone`, `pulse:alsa_input.usb-…`,
//! `v4l:0`, `screen:0`.

pub mod audio;
pub mod camera;
mod capture_thread;
pub mod local;
pub mod screen;
pub mod speaker_test;
pub mod synthetic;
pub mod watch;

pub use conclave_media::{AudioFeed, FrameFeed};
pub use conclave_protocol::{Device, DeviceKind, DeviceList};
use conclave_protocol::{ErrorCode, ErrorInfo};
pub use local::{LocalDevices, Notice, Settings, SpeakerSource, fallback_for};

pub const TEST_PATTERN: &str = "synthetic:test-pattern";
pub const TONE: &str = "synthetic:tone";
pub const NO_SPEAKER: &str = "synthetic:discard";
pub const SYNTHETIC_SCREEN: &str = "synthetic:screen";

/// Why a device could not be used. Each maps to a protocol [`ErrorCode`], so
/// the UI can say what happened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("{0}: no such device")]
    NotFound(String),
    #[error("{0} is busy (another program may be using it)")]
    Busy(String),
    #[error("{0}: access denied")]
    PermissionDenied(String),
    #[error("{0} stopped working: {1}")]
    Failed(String, String),
}

impl DeviceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            DeviceError::NotFound(_) => ErrorCode::DeviceNotFound,
            DeviceError::Busy(_) => ErrorCode::DeviceBusy,
            DeviceError::PermissionDenied(_) => ErrorCode::DevicePermissionDenied,
            DeviceError::Failed(..) => ErrorCode::DeviceFailed,
        }
    }
}

impl From<DeviceError> for ErrorInfo {
    fn from(err: DeviceError) -> Self {
        ErrorInfo::new(err.code(), err.to_string())
    }
}

fn synthetic(id: &str, label: &str, kind: DeviceKind) -> Device {
    Device {
        id: id.to_owned(),
        label: label.to_owned(),
        kind,
        synthetic: true,
    }
}

/// Every device there is now: the synthetic ones first, then the hardware.
pub fn list() -> DeviceList {
    let audio = audio::devices();
    let mut list = DeviceList {
        cameras: vec![synthetic(
            TEST_PATTERN,
            "Test pattern (synthetic)",
            DeviceKind::Camera,
        )],
        microphones: vec![synthetic(TONE, "Tone (synthetic)", DeviceKind::Microphone)],
        speakers: vec![synthetic(
            NO_SPEAKER,
            "No speaker (synthetic)",
            DeviceKind::Speaker,
        )],
        screens: screen::displays(),
    };
    list.cameras.extend(camera::cameras());
    list.screens.push(synthetic(
        SYNTHETIC_SCREEN,
        "Synthetic screen",
        DeviceKind::Screen,
    ));
    for device in audio {
        match device.kind {
            DeviceKind::Microphone => list.microphones.push(device),
            _ => list.speakers.push(device),
        }
    }
    list
}

/// The number in a device id such as `screen:0` or `v4l:2`.
fn index_in<T: std::str::FromStr>(id: &str, prefix: &str) -> Result<T, DeviceError> {
    id.strip_prefix(prefix)
        .and_then(|i| i.parse().ok())
        .ok_or_else(|| DeviceError::NotFound(id.to_owned()))
}

/// The devices of one kind in `list`.
pub fn of_kind(list: &DeviceList, kind: DeviceKind) -> &[Device] {
    match kind {
        DeviceKind::Camera => &list.cameras,
        DeviceKind::Microphone => &list.microphones,
        DeviceKind::Speaker => &list.speakers,
        DeviceKind::Screen => &list.screens,
    }
}

/// The device `id` of `kind`, if it exists now.
pub fn find(list: &DeviceList, kind: DeviceKind, id: &str) -> Option<Device> {
    of_kind(list, kind).iter().find(|d| d.id == id).cloned()
}
