//! Microphones and speakers through `cpal`'s PulseAudio host (pure Rust; no
//! libpulse). PulseAudio resamples and remixes for us: we always ask for
//! 48 kHz mono 16-bit, which is what Opus takes, in 10 ms periods.
//!
//! Without a PulseAudio server there are no hardware audio devices; the
//! synthetic tone and the silent speaker remain.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use conclave_protocol::{Device, DeviceKind};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{BufferSize, DeviceId, ErrorKind, HostId, StreamConfig};

use crate::DeviceError;

pub const SAMPLE_RATE: u32 = 48_000;
/// 10 ms: short enough for conversation, long enough not to starve.
const PERIOD_FRAMES: u32 = SAMPLE_RATE / 100;
const ID_PREFIX: &str = "pulse:";
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// One connection to PulseAudio, made on first use and remade after a failure.
static HOST: Mutex<Option<Arc<cpal::Host>>> = Mutex::new(None);

fn host() -> Option<Arc<cpal::Host>> {
    let mut host = HOST.lock().unwrap();
    if host.is_none() {
        *host = cpal::host_from_id(HostId::PulseAudio).ok().map(Arc::new);
    }
    host.clone()
}

/// The next [`host`] connects again (PulseAudio may have restarted).
fn forget_host() {
    *HOST.lock().unwrap() = None;
}

fn describe(device: &cpal::Device, kind: DeviceKind) -> Option<Device> {
    let id = device.id().ok()?;
    let label = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| id.id().to_owned());
    Some(Device {
        id: format!("{ID_PREFIX}{}", id.id()),
        label,
        kind,
        synthetic: false,
    })
}

/// PulseAudio's sources (microphones, including sink monitors) and sinks (speakers).
pub fn devices() -> Vec<Device> {
    let Some(host) = host() else {
        return Vec::new();
    };
    let inputs = host.input_devices().map(|d| d.collect::<Vec<_>>());
    let outputs = host.output_devices().map(|d| d.collect::<Vec<_>>());
    let (Ok(inputs), Ok(outputs)) = (inputs, outputs) else {
        forget_host();
        return Vec::new();
    };
    let microphones = inputs
        .iter()
        .filter_map(|d| describe(d, DeviceKind::Microphone));
    let speakers = outputs
        .iter()
        .filter_map(|d| describe(d, DeviceKind::Speaker));
    microphones.chain(speakers).collect()
}

fn open_device(id: &str) -> Result<(cpal::Device, String), DeviceError> {
    let name = id
        .strip_prefix(ID_PREFIX)
        .ok_or_else(|| DeviceError::NotFound(id.to_owned()))?;
    let host =
        host().ok_or_else(|| DeviceError::NotFound(format!("{id} (PulseAudio is not running)")))?;
    let device = host
        .device_by_id(&DeviceId::new(HostId::PulseAudio, name))
        .ok_or_else(|| DeviceError::NotFound(id.to_owned()))?;
    let label = device
        .description()
        .map(|d| d.name().to_owned())
        .unwrap_or_else(|_| name.to_owned());
    Ok((device, label))
}

fn config() -> StreamConfig {
    StreamConfig {
        channels: 1,
        sample_rate: SAMPLE_RATE,
        buffer_size: BufferSize::Fixed(PERIOD_FRAMES),
    }
}

fn device_error(label: &str, err: &cpal::Error) -> DeviceError {
    match err.kind() {
        ErrorKind::DeviceNotAvailable => DeviceError::NotFound(label.to_owned()),
        ErrorKind::DeviceBusy => DeviceError::Busy(label.to_owned()),
        ErrorKind::PermissionDenied => DeviceError::PermissionDenied(label.to_owned()),
        _ => DeviceError::Failed(label.to_owned(), err.to_string()),
    }
}

/// An open capture or playback stream; dropping it closes the device.
pub struct AudioStream {
    _stream: cpal::Stream,
    pub label: String,
}

/// Opens microphone `id`. `on_audio` gets 48 kHz mono samples on the audio
/// thread; `on_error` is told if the device fails or goes away later.
pub fn open_microphone(
    id: &str,
    mut on_audio: impl FnMut(&[i16]) + Send + 'static,
    on_error: impl FnOnce(DeviceError) + Send + 'static,
) -> Result<AudioStream, DeviceError> {
    let (device, label) = open_device(id)?;
    let built = device.build_input_stream::<i16, _, _>(
        config(),
        move |samples, _| on_audio(samples),
        report(label.clone(), on_error),
        Some(OPEN_TIMEOUT),
    );
    play(built, label)
}

/// Opens speaker `id`. `fill` is asked for 48 kHz mono samples on the audio
/// thread (it must fill the whole buffer, with silence if need be).
pub fn open_speaker(
    id: &str,
    mut fill: impl FnMut(&mut [i16]) + Send + 'static,
    on_error: impl FnOnce(DeviceError) + Send + 'static,
) -> Result<AudioStream, DeviceError> {
    let (device, label) = open_device(id)?;
    let built = device.build_output_stream::<i16, _, _>(
        config(),
        move |out, _| fill(out),
        report(label.clone(), on_error),
        Some(OPEN_TIMEOUT),
    );
    play(built, label)
}

/// Starts a stream just built (streams start paused), with typed errors.
fn play(
    built: Result<cpal::Stream, cpal::Error>,
    label: String,
) -> Result<AudioStream, DeviceError> {
    let stream = built.map_err(|e| device_error(&label, &e))?;
    stream.play().map_err(|e| device_error(&label, &e))?;
    Ok(AudioStream {
        _stream: stream,
        label,
    })
}

/// Turns the stream's error callback into one typed report (the first; a dying
/// stream can repeat itself).
fn report(
    label: String,
    on_error: impl FnOnce(DeviceError) + Send + 'static,
) -> impl FnMut(cpal::Error) + Send + 'static {
    let mut on_error = Some(on_error);
    move |err| {
        tracing::warn!(%err, device = %label, "audio device error");
        if let Some(report) = on_error.take() {
            report(device_error(&label, &err));
        }
    }
}
