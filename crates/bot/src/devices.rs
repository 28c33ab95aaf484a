//! Real devices for the bot (`--microphone`, `--speaker`, `--screen`), for
//! demos and benchmarks that go through PulseAudio or an X display. The
//! streams feed the call through the same feeds the app uses.

use std::sync::Arc;

use conclave_client::{AudioFeed, FrameFeed, RemoteMedia};
use conclave_devices::DeviceError;
use conclave_devices::audio::{self, AudioStream};
use conclave_devices::screen::ScreenCapture;
use serde_json::json;

/// Held only to be dropped: that closes the device.
#[allow(dead_code)]
pub enum Open {
    Audio(AudioStream),
    Screen(ScreenCapture),
}

/// A device that failed mid-call is reported as an `error` line; the bot goes on.
fn report_failure(err: DeviceError) {
    crate::print_line(&json!({
        "event": "error",
        "params": { "error": conclave_protocol::ErrorInfo::from(err), "request": "device" }
    }));
}

pub fn microphone(id: &str) -> Result<(AudioFeed, Open), DeviceError> {
    let feed = AudioFeed::default();
    let pushed = feed.clone();
    let stream = audio::open_microphone(id, move |samples| pushed.push(samples), report_failure)?;
    Ok((feed, Open::Audio(stream)))
}

pub fn speaker(id: &str, remote: Arc<RemoteMedia>) -> Result<Open, DeviceError> {
    let stream = audio::open_speaker(id, move |out| remote.mix(out), report_failure)?;
    Ok(Open::Audio(stream))
}

pub fn screen(id: &str, fps: u32) -> Result<(FrameFeed, Open), DeviceError> {
    let feed = FrameFeed::default();
    let pushed = feed.clone();
    let capture = ScreenCapture::start(id, fps, move |frame| pushed.push(frame), report_failure)?;
    Ok((feed, Open::Screen(capture)))
}
