//! The synthetic devices, run as devices: each writes in real time from a
//! thread of its own, as a capture would, so the app and the bot work with
//! no hardware and tests drive the same paths as real devices.
//!
//! - [`tone`]: the microphone, a tone at the member's pitch, 10 ms at a time;
//! - [`video`]: the camera ([`TestPattern`]) or the screen
//!   ([`SyntheticScreen`]), a frame every `1/fps` stamped with its capture
//!   time (wall clock, µs), so a receiver can measure the latency.
//!
//! [`TestPattern`]: conclave_media::TestPattern
//! [`SyntheticScreen`]: conclave_media::SyntheticScreen

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use conclave_media::pace::run_paced;
use conclave_media::{I420Frame, SyntheticScreen, TestPattern, ToneSource};
use conclave_protocol::clock::unix_us;

use crate::audio;

/// A running synthetic device; dropping it stops its thread.
pub struct SyntheticDevice {
    stop: Arc<AtomicBool>,
}

impl Drop for SyntheticDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Runs `step` on a thread called `name` every `period` until dropped.
fn spawn_paced(
    name: &str,
    period: Duration,
    mut step: impl FnMut() + Send + 'static,
) -> SyntheticDevice {
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = stop.clone();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            run_paced(period, &thread_stop, || {
                step();
                ControlFlow::Continue(())
            })
        })
        .expect("spawn a synthetic device thread");
    SyntheticDevice { stop }
}

/// The synthetic microphone: a tone at `pitch_hz`, 48 kHz mono, given to
/// `on_audio` 10 ms at a time.
pub fn tone(pitch_hz: f32, mut on_audio: impl FnMut(&[i16]) + Send + 'static) -> SyntheticDevice {
    let mut tone = ToneSource::new(pitch_hz, audio::SAMPLE_RATE);
    let mut chunk = vec![0i16; audio::SAMPLE_RATE as usize / 100];
    spawn_paced("tone", Duration::from_millis(10), move || {
        tone.next_samples(&mut chunk);
        on_audio(&chunk);
    })
}

/// What a synthetic camera or screen draws.
pub enum Picture {
    Camera(TestPattern),
    Screen(SyntheticScreen),
}

impl Picture {
    fn render(&mut self, frame_number: u32, capture_time_us: u64) -> &I420Frame {
        match self {
            Picture::Camera(pattern) => pattern.render(frame_number, capture_time_us),
            Picture::Screen(screen) => screen.render(frame_number, capture_time_us),
        }
    }
}

/// A synthetic camera or screen: `picture` drawn `fps` times a second, each
/// frame given to `on_frame`.
pub fn video(
    mut picture: Picture,
    fps: u32,
    mut on_frame: impl FnMut(I420Frame) + Send + 'static,
) -> SyntheticDevice {
    let name = match picture {
        Picture::Camera(_) => "test-pattern",
        Picture::Screen(_) => "synthetic-screen",
    };
    let mut frame_number = 0;
    spawn_paced(name, Duration::from_secs(1) / fps.max(1), move || {
        frame_number += 1;
        on_frame(picture.render(frame_number, unix_us()).clone());
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::{Rgb, read_stamp};
    use std::sync::Mutex;

    #[test]
    fn the_synthetic_devices_write_in_real_time_until_dropped() {
        let samples = Arc::new(Mutex::new(0usize));
        let counted = samples.clone();
        let microphone = tone(440.0, move |chunk| *counted.lock().unwrap() += chunk.len());
        let frames = Arc::new(Mutex::new(Vec::new()));
        let kept = frames.clone();
        let pattern = TestPattern::new(Rgb::new(200, 40, 40), 320, 180);
        let camera = video(Picture::Camera(pattern), 50, move |frame| {
            kept.lock().unwrap().push(read_stamp(&frame))
        });
        std::thread::sleep(Duration::from_millis(300));
        drop((microphone, camera));
        std::thread::sleep(Duration::from_millis(50));
        let (samples_then, frames_then) =
            (*samples.lock().unwrap(), frames.lock().unwrap().clone());
        // 300 ms: 14 400 samples and 15 frames, give or take a busy machine.
        assert!(
            (9_600..=16_000).contains(&samples_then),
            "{samples_then} samples"
        );
        assert!(
            (10..=17).contains(&frames_then.len()),
            "{} frames",
            frames_then.len()
        );
        let (first, first_us) = frames_then[0].expect("stamped");
        let (last, last_us) = frames_then[frames_then.len() - 1].expect("stamped");
        assert_eq!((first, last as usize), (1, frames_then.len()), "in order");
        assert!(last_us > first_us, "stamped with the capture time");
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            *samples.lock().unwrap(),
            samples_then,
            "no audio after the drop"
        );
        assert_eq!(
            frames.lock().unwrap().len(),
            frames_then.len(),
            "no frames after the drop"
        );
    }
}
