//! What does sending video cost? Encodes N synthetic frames per resolution
//! and prints one JSON line each with the CPU time of this thread per frame
//! (render and encode measured separately) and the bitrate achieved.
//!
//! cargo run --release -p conclave-media --example encode_cost [-- FRAMES]

use conclave_media::{ContentKind, I420Frame, SyntheticScreen, TestPattern, Vp8Config, Vp8Encoder, colour_for};

/// CPU time consumed by the calling thread, in milliseconds. Wall time would
/// count time this process was descheduled on a busy 2-core machine.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

struct Case {
    width: u32,
    height: u32,
    fps: u32,
    bitrate_kbps: u32,
    content: ContentKind,
}

fn run(case: &Case, frames: u32) {
    let colour = colour_for("alice");
    let mut camera = TestPattern::new(colour, case.width, case.height);
    let mut screen = SyntheticScreen::new(colour, case.width, case.height);
    let mut render = |n: u32, t: u64| -> I420Frame {
        match case.content {
            ContentKind::Camera => camera.render(n, t).clone(),
            ContentKind::Screen => screen.render(n, t).clone(),
        }
    };
    let cfg = Vp8Config {
        width: case.width,
        height: case.height,
        fps: case.fps,
        bitrate_kbps: case.bitrate_kbps,
        content: case.content,
    };
    let mut enc = Vp8Encoder::new(&cfg).expect("encoder");
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
        }
    }
    let per_frame = encode_ms / frames as f64;
    let seconds = frames as f64 / case.fps as f64;
    let kind = match case.content {
        ContentKind::Camera => "camera",
        ContentKind::Screen => "screen",
    };
    println!(
        "{{\"resolution\":\"{}x{}\",\"content\":\"{}\",\"fps\":{},\"frames\":{},\"target_kbps\":{},\
         \"encode_ms_per_frame\":{:.3},\"share_of_one_core_at_{}fps\":{:.3},\"bitrate_kbps\":{:.1},\
         \"keyframes\":{},\"render_ms_per_frame\":{:.3}}}",
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
        render_ms / frames as f64,
    );
}

fn main() {
    let frames: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(300);
    let cases = [
        Case { width: 1280, height: 720, fps: 30, bitrate_kbps: 1500, content: ContentKind::Camera },
        Case { width: 640, height: 360, fps: 30, bitrate_kbps: 600, content: ContentKind::Camera },
        Case { width: 1920, height: 1080, fps: 15, bitrate_kbps: 2000, content: ContentKind::Screen },
    ];
    for case in &cases {
        run(case, frames);
    }
}
