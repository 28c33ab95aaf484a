//! The device list. Synthetic devices are always there, so the app works on
//! a machine with no camera, microphone or sound card; hardware devices join
//! the list when capture support finds them.

use crate::api::{Device, DeviceKind, DeviceList};

pub const TEST_PATTERN: &str = "synthetic:test-pattern";
pub const TONE: &str = "synthetic:tone";
pub const NO_SPEAKER: &str = "synthetic:discard";
pub const SYNTHETIC_SCREEN: &str = "synthetic:screen";

fn synthetic(id: &str, label: &str, kind: DeviceKind) -> Device {
    Device {
        id: id.to_owned(),
        label: label.to_owned(),
        kind,
        synthetic: true,
    }
}

pub fn list() -> DeviceList {
    DeviceList {
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
        screens: vec![synthetic(
            SYNTHETIC_SCREEN,
            "Synthetic screen",
            DeviceKind::Screen,
        )],
    }
}

/// Whether `id` names a device of `kind` that exists now.
pub fn exists(kind: DeviceKind, id: &str) -> bool {
    let list = list();
    let devices = match kind {
        DeviceKind::Camera => &list.cameras,
        DeviceKind::Microphone => &list.microphones,
        DeviceKind::Speaker => &list.speakers,
        DeviceKind::Screen => &list.screens,
    };
    devices.iter().any(|d| d.id == id)
}
