//! Load mode: a member that costs its machine little, so that many fit on one
//! box next to the server under test, as SFU load testers do. The camera
//! clip is encoded once at startup and replayed; remote video is counted,
//! not decoded. Audio stays real (a tone through Opus is cheap).

use std::time::Instant;

use conclave_client::EncodedClip;
use conclave_devices::camera::Wanted;
use conclave_media::{ContentKind, Rgb, TestPattern, Vp8Config, Vp8Encoder};
use serde_json::{Value, json};

/// A keyframe this often in the clip, as a frame count of this many seconds.
const KEYFRAME_EVERY_SECS: u32 = 2;

/// Encodes `secs` of the test pattern with sensor noise (so VP8 spends about
/// the configured bitrate, as on a real webcam), after a second of warm-up so
/// that rate control has settled. The clip starts with a keyframe and has one
/// every 2 s. Returns the clip and a description of it.
pub fn encode_clip(
    colour: Rgb,
    size: Wanted,
    bitrate_kbps: u32,
    secs: f64,
) -> anyhow::Result<(EncodedClip, Value)> {
    let started = Instant::now();
    let mut encoder = Vp8Encoder::new(&Vp8Config {
        width: size.width,
        height: size.height,
        fps: size.fps,
        bitrate_kbps,
        content: ContentKind::Camera,
    })?;
    let mut pattern = TestPattern::new(colour, size.width, size.height).with_sensor_noise(true);
    let fps = size.fps.max(1);
    let warm_up = fps;
    let length = ((secs * fps as f64).round() as u32).max(1);
    let keyframe_every = KEYFRAME_EVERY_SECS * fps;
    let interval_us = 1_000_000 / fps as u64;
    let mut frames = Vec::with_capacity(length as usize);
    for n in 0..warm_up + length {
        let pts = n as u64 * interval_us;
        let in_clip = n.checked_sub(warm_up);
        let keyframe = in_clip.is_some_and(|i| i % keyframe_every == 0);
        let encoded = encoder.encode(pattern.render(n, pts), pts as i64, keyframe)?;
        if in_clip.is_some() {
            frames.extend(encoded);
        }
    }
    let bytes: usize = frames.iter().map(|f| f.data.len()).sum();
    let description = json!({
        "frames": frames.len(),
        "keyframes": frames.iter().filter(|f| f.keyframe).count(),
        "size": [size.width, size.height],
        "fps": fps,
        "target_kbps": bitrate_kbps,
        "kbps": bytes as f64 * 8.0 / (length as f64 / fps as f64) / 1000.0,
        "encode_s": started.elapsed().as_secs_f64(),
    });
    let clip = EncodedClip::new(frames, bitrate_kbps)
        .ok_or_else(|| anyhow::anyhow!("the clip does not start with a keyframe"))?;
    Ok((clip, description))
}
