//! Capture-path cost, as a share of one core: screen capture (X11 shared
//! memory) plus BGRA→I420 conversion at 10 and 30 fps while the screen
//! changes all the time, and on a still screen (compared, not converted); the
//! camera stand-in (the test pattern rendered and copied out, as the app's
//! camera thread does) at 360p and 720p, 30 fps; and a real camera's
//! conversions at 720p30 (YUYV, MJPEG). Needs DISPLAY, xterm and ImageMagick;
//! bench on a 1920×1080 screen:
//!
//! `Xvfb :99 -screen 0 1920x1080x24 & DISPLAY=:99 cargo run --release -p conclave-devices --example capture_cost`

use std::process::Command;
use std::time::{Duration, Instant};

use conclave_devices::camera;
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

/// Captures `screen:0` at `fps` for the window, after `settle`; frames handed on.
fn screen_case(what: &str, fps: u32, settle: Duration) {
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
    std::thread::sleep(settle);
    rx.try_iter().for_each(drop);
    measure(what, || std::thread::sleep(WINDOW));
    drop(capture);
    let frames: Vec<_> = rx.try_iter().collect();
    let size = frames.last().copied().unwrap_or_default();
    println!(
        "  ({} frames of {}x{} handed on in {:?})",
        frames.len(),
        size.0,
        size.1,
        WINDOW
    );
}

/// Runs `step` at 30 fps for the window.
fn at_30_fps(mut step: impl FnMut(u32)) {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < WINDOW {
        n += 1;
        step(n);
        let due = start + Duration::from_secs(1) / 30 * n;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
}

fn main() {
    // A screen that changes all the time: an xterm filling it, printing as
    // fast as it can. Its own CPU is another process's, not counted.
    let mut busy = Command::new("xterm")
        .args(["-geometry", "400x120+0+0", "-e", "sh", "-c"])
        .arg("while :; do date +%s%N; done")
        .spawn()
        .expect("xterm (scripts/install-deps.sh installs it)");
    for fps in [10, 30] {
        screen_case(
            &format!("screen:0 changing: capture + compare + BGRA->I420 at {fps} fps"),
            fps,
            Duration::from_secs(1),
        );
    }
    let _ = busy.kill();
    let _ = busy.wait();
    // A still screen: after REFINE seconds only the capture and the comparison run.
    screen_case(
        "screen:0 still: capture + compare at 10 fps",
        10,
        Duration::from_secs(5),
    );

    for (width, height) in [(640, 360), (1280, 720)] {
        measure(&format!("test pattern {width}x{height} at 30 fps"), || {
            let mut pattern = TestPattern::new(Rgb::new(90, 110, 200), width, height);
            at_30_fps(|n| {
                std::hint::black_box(pattern.render(n, 0).clone());
            });
        });
    }

    // What a real camera's frames cost to convert, at 720p30: YUYV, and MJPEG
    // (a picture with ImageMagick's plasma noise, so it is as costly as a webcam's).
    let (w, h) = (1280, 720);
    let yuyv = vec![128u8; w * h * 2];
    measure("camera YUYV->I420 1280x720 at 30 fps", || {
        at_30_fps(|_| {
            std::hint::black_box(camera::yuyv_to_i420(&yuyv, w, h).unwrap());
        });
    });
    let jpeg = Command::new("convert")
        .args(["-size", "1280x720", "plasma:", "-quality", "85", "jpg:-"])
        .output()
        .expect("ImageMagick's convert (scripts/install-deps.sh installs it)")
        .stdout;
    measure(
        &format!(
            "camera MJPEG->I420 1280x720 at 30 fps ({} KB a frame)",
            jpeg.len() / 1024
        ),
        || {
            at_30_fps(|_| {
                std::hint::black_box(camera::mjpeg_to_i420(&jpeg).unwrap());
            });
        },
    );
}
