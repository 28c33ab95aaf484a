//! What does the microphone's processing cost? Runs SECONDS of a synthetic
//! call (a far end of speech-like noise, its echo at half amplitude and a
//! near-end 700 Hz tone) through `VoiceProcessor`, everything on and then
//! each part alone, and prints one JSON line each with this thread's CPU
//! time per 10 ms frame (far end and near end together).
//!
//! cargo run --release -p conclave-media --example voice_cost [-- SECONDS]

mod common;

use common::{noise_bursts, thread_cpu_ms};
use conclave_media::{VOICE_FRAME_SAMPLES, VoiceProcessor, VoiceSettings};

fn main() {
    let seconds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let samples = seconds * 48_000;
    let far = noise_bursts(samples, 4800, 7);
    let off = VoiceSettings::OFF;
    let cases = [
        ("all on", VoiceSettings::default()),
        (
            "echo cancellation",
            VoiceSettings {
                echo_cancellation: true,
                ..off
            },
        ),
        (
            "noise suppression",
            VoiceSettings {
                noise_suppression: true,
                ..off
            },
        ),
        (
            "gain control",
            VoiceSettings {
                gain_control: true,
                ..off
            },
        ),
        (
            "high-pass",
            VoiceSettings {
                high_pass: true,
                ..off
            },
        ),
    ];
    for (name, settings) in cases {
        let mut processor = VoiceProcessor::new(settings);
        let frames = samples / VOICE_FRAME_SAMPLES;
        let started = thread_cpu_ms();
        for (index, frame) in far.chunks_exact(VOICE_FRAME_SAMPLES).enumerate() {
            processor.far_end(frame);
            let start = index * VOICE_FRAME_SAMPLES;
            let mut mic: Vec<i16> = (start..start + VOICE_FRAME_SAMPLES)
                .map(|n| {
                    let echo = n.checked_sub(60 * 48).map_or(0, |m| far[m] / 2);
                    let t = n as f64 / 48_000.0;
                    echo + (3000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16
                })
                .collect();
            processor.near_end(&mut mic);
        }
        let per_frame_ms = (thread_cpu_ms() - started) / frames as f64;
        println!(
            "{{\"case\":\"{name}\",\"frames\":{frames},\"cpu_ms_per_10ms_frame\":{per_frame_ms:.4},\"share_of_one_core\":{:.4}}}",
            per_frame_ms / 10.0
        );
    }
}
