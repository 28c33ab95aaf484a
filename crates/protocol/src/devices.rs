//! Capture and playback devices, as listed to the UI and named in the
//! device events (`camera.updated`, `devices.changed`, ...).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum DeviceKind {
    Camera,
    Microphone,
    Speaker,
    Screen,
}

/// A capture or playback device. Synthetic devices (test pattern, tone,
/// synthetic screen) are always listed, so the app works with no hardware.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Device {
    pub id: String,
    pub label: String,
    pub kind: DeviceKind,
    pub synthetic: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DeviceList {
    pub cameras: Vec<Device>,
    pub microphones: Vec<Device>,
    pub speakers: Vec<Device>,
    pub screens: Vec<Device>,
}
