//! Capture-path cost, as a share of one core: screen capture (X11 shared
//! memory) plus BGRA→I420 conversion at 10 and 30 fps, and the camera stand-in
//! (the test pattern rendered and copied out, as the app's camera thread does)
//! at 360p and 720p, 30 fps. Needs DISPLAY; bench on a 1920×1080 screen:
//!
//! `Xvfb :99 -screen 0 1920x1080x24 & DISPLAY=:99 cargo run --release -p conclave-devices --example capture_cost`

use std::time::{Duration, Instant};

use conclave_devices::screen::ScreenCapture;
use conclave_media::{Rgb, TestPattern};

const WINDOW: Duration = Duration::from_secs(5);

/// utime + stime of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn measure(what: &str, run: impl FnOnce()) {
    let (cpu, wall) = (cpu_seconds(), Instant::now());
    run();
    let share = (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64() * 100.0;
    println!("{{\"capture_cost\": {{\"what\": \"{what}\", \"percent_of_one_core\": {share:.1}}}}}");
}

fn main() {
    for fps in [10, 30] {
        let mut frames = 0u32;
        let mut size = (0, 0);
        measure(
            &format!("screen:0 capture + BGRA->I420 at {fps} fps"),
            || {
                let (tx, rx) = std::sync::mpsc::channel();
                let capture = ScreenCapture::start(
                    "screen:0",
                    fps,
                    move |f| {
                        let _ = tx.send((f.width, f.height));
                    },
                    |e| eprintln!("{e}"),
                )
                .expect("capture screen:0 (needs DISPLAY)");
                std::thread::sleep(WINDOW);
                drop(capture);
                for s in rx.try_iter() {
                    frames += 1;
                    size = s;
                }
            },
        );
        println!(
            "  ({} frames of {}x{} in {:?})",
            frames, size.0, size.1, WINDOW
        );
    }
    for (width, height) in [(640, 360), (1280, 720)] {
        measure(&format!("test pattern {width}x{height} at 30 fps"), || {
            let mut pattern = TestPattern::new(Rgb::new(90, 110, 200), width, height);
            let start = Instant::now();
            let mut n = 0;
            while start.elapsed() < WINDOW {
                n += 1;
                let frame = pattern.render(n, 0).clone();
                std::hint::black_box(frame);
                let due = start + Duration::from_secs(1) / 30 * n;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
    }
}
