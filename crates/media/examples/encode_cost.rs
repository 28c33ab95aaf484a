//! What does sending video cost? Encodes N synthetic frames per resolution
//! and prints one JSON line each with the CPU time of this thread per frame
//! (render and encode measured separately) and the bitrate achieved.
//!
//! cargo run --release -p conclave-media --example encode_cost [-- FRAMES]

mod common;

use common::thread_cpu_ms;
use conclave_media::{
    ContentKind, I420Frame, SyntheticScreen, TestPattern, Vp8Config, Vp8Decoder, Vp8Encoder,
    colour_for,
};

/// What is put in front of the encoder.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    /// The synthetic camera as the app sends it: flat colour, easy to code.
    Pattern,
    /// The same with `TestPattern::with_sensor_noise`: fixed fine texture and
    /// per-frame grain, a stand-in for a real webcam, which is far harder to code.
    NoisyPattern,
    Screen,
}

struct Case {
    source: Source,
    width: u32,
    height: u32,
    fps: u32,
    bitrate_kbps: u32,
}

/// Luma PSNR in dB: a rough "does it still look ok" for the chosen speed.
fn psnr(a: &I420Frame, b: &I420Frame) -> f64 {
    let se: f64 =
        a.y.iter()
            .zip(&b.y)
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum();
    let mse = (se / a.y.len() as f64).max(1e-3);
    10.0 * (255.0 * 255.0 / mse).log10()
}

fn run(case: &Case, frames: u32) {
    let colour = colour_for("alice");
    let mut camera = TestPattern::new(colour, case.width, case.height)
        .with_sensor_noise(case.source == Source::NoisyPattern);
    let mut screen = SyntheticScreen::new(colour, case.width, case.height);
    let mut render = |n: u32, t: u64| -> I420Frame {
        match case.source {
            Source::Pattern | Source::NoisyPattern => camera.render(n, t).clone(),
            Source::Screen => screen.render(n, t).clone(),
        }
    };
    let content = if case.source == Source::Screen {
        ContentKind::Screen
    } else {
        ContentKind::Camera
    };
    let cfg = Vp8Config {
        width: case.width,
        height: case.height,
        fps: case.fps,
        bitrate_kbps: case.bitrate_kbps,
        content,
    };
    let mut enc = Vp8Encoder::new(&cfg).expect("encoder");
    let mut dec = Vp8Decoder::new().expect("decoder");
    let mut psnr_sum = 0.0;
    let interval_us = 1_000_000 / case.fps as u64;

    let (mut render_ms, mut encode_ms, mut bytes, mut keyframes) = (0.0, 0.0, 0usize, 0);
    for n in 0..frames {
        let t = n as u64 * interval_us;
        let start = thread_cpu_ms();
        let picture = render(n, t);
        let rendered = thread_cpu_ms();
        let packets = enc.encode(&picture, t as i64, false).expect("encode");
        encode_ms += thread_cpu_ms() - rendered;
        render_ms += rendered - start;
        for p in &packets {
            bytes += p.data.len();
            keyframes += p.keyframe as u32;
            if let Some(decoded) = dec.decode(&p.data).expect("decode") {
                psnr_sum += psnr(&picture, &decoded);
            }
        }
    }
    let per_frame = encode_ms / frames as f64;
    let seconds = frames as f64 / case.fps as f64;
    let kind = match case.source {
        Source::Pattern => "camera_pattern",
        Source::NoisyPattern => "camera_pattern_with_noise",
        Source::Screen => "screen",
    };
    println!(
        "{{\"resolution\":\"{}x{}\",\"content\":\"{}\",\"fps\":{},\"frames\":{},\"target_kbps\":{},\
         \"encode_ms_per_frame\":{:.3},\"share_of_one_core_at_{}fps\":{:.3},\"bitrate_kbps\":{:.1},\
         \"keyframes\":{},\"luma_psnr_db\":{:.1},\"render_ms_per_frame\":{:.3}}}",
        case.width,
        case.height,
        kind,
        case.fps,
        frames,
        case.bitrate_kbps,
        per_frame,
        case.fps,
        per_frame * case.fps as f64 / 1000.0,
        bytes as f64 * 8.0 / seconds / 1000.0,
        keyframes,
        psnr_sum / frames as f64,
        render_ms / frames as f64,
    );
}

fn main() {
    let frames: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let case = |source, width, height, fps, bitrate_kbps| Case {
        source,
        width,
        height,
        fps,
        bitrate_kbps,
    };
    let cases = [
        case(Source::Pattern, 1280, 720, 30, 1500),
        case(Source::Pattern, 640, 360, 30, 600),
        case(Source::NoisyPattern, 1280, 720, 30, 1500),
        case(Source::NoisyPattern, 640, 360, 30, 600),
        case(Source::Screen, 1920, 1080, 15, 2000),
    ];
    for case in &cases {
        run(case, frames);
    }
}
