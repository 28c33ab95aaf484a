//! Captures a second of display `screen:0` and prints the size, the frame
//! count and the colour of the middle and the bottom-right corner:
//! `cargo run -p conclave-devices --example capture_screen`.

use std::sync::{Arc, Mutex};

use conclave_devices::screen::ScreenCapture;
use conclave_media::{I420Frame, mean_colour};

fn main() {
    let frames: Arc<Mutex<Vec<I420Frame>>> = Arc::default();
    let sink = frames.clone();
    let capture = ScreenCapture::start(
        "screen:0",
        10,
        move |f| sink.lock().unwrap().push(f),
        |e| eprintln!("{e}"),
    )
    .expect("capture screen:0 (needs DISPLAY)");
    std::thread::sleep(std::time::Duration::from_secs(1));
    drop(capture);
    let frames = frames.lock().unwrap();
    let last = frames.last().expect("at least one frame");
    let (w, h) = (last.width, last.height);
    println!(
        "{w}x{h}, {} frames, middle {}, corner {}",
        frames.len(),
        mean_colour(&last.crop(w / 2 - 8, h / 2 - 8, 16, 16)).to_hex(),
        mean_colour(&last.crop(w - w / 8, h - h / 8, w / 8, h / 8)).to_hex()
    );
}
