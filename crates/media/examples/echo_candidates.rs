//! Which echo canceller? The candidates that build here, on the same
//! synthetic calls, in one run: `sonora` (what `VoiceProcessor` uses) and
//! `aec3`. (`webrtc-audio-processing` does not build with this machine's
//! registries: its bundled build needs a newer abseil than Debian 12 has;
//! `nnnoiseless` suppresses noise only.)
//!
//! Each call is 10 s at 48 kHz; the microphone hears the far end at half
//! amplitude after a fixed delay. Printed, one JSON line per candidate and
//! far end, over the last 4 s, with only echo cancellation on: ERLE (the
//! echo's power heard over what is left of it), the change of a near-end
//! 700 Hz tone in double talk; with everything on, that change again (noise
//! suppression takes a steady tone for noise); CPU per 10 ms frame of each.
//!
//! cargo run --release -p conclave-media --example echo_candidates

mod common;

use aec3::nodes::audio::AudioFormat;
use aec3::pipelines::linear;
use common::{noise_bursts, thread_cpu_ms};
use conclave_media::{VOICE_FRAME_SAMPLES, VoiceProcessor, VoiceSettings, tone_power};

const RATE: u32 = 48_000;
const SECONDS: usize = 10;

/// One candidate, fed 10 ms frames.
trait Canceller {
    fn far_end(&mut self, frame: &[i16]);
    fn near_end(&mut self, frame: &mut [i16]);
}

impl Canceller for VoiceProcessor {
    fn far_end(&mut self, frame: &[i16]) {
        VoiceProcessor::far_end(self, frame);
    }
    fn near_end(&mut self, frame: &mut [i16]) {
        VoiceProcessor::near_end(self, frame);
    }
}

struct Aec3(linear::LinearPipeline);

impl Aec3 {
    fn new(everything: bool) -> Self {
        let format = AudioFormat::ten_ms(RATE, 1);
        let pipeline = linear::builder(format, format)
            .enable_noise_suppression(everything)
            .enable_high_pass_filter(everything)
            .enable_gain_controller2(everything)
            .enable_post_filter(everything)
            .build()
            .expect("an aec3 pipeline");
        Aec3(pipeline)
    }
}

fn to_f32(frame: &[i16]) -> Vec<f32> {
    frame.iter().map(|&s| f32::from(s) / 32768.0).collect()
}

impl Canceller for Aec3 {
    fn far_end(&mut self, frame: &[i16]) {
        let _ = self.0.handle_render_frame(&to_f32(frame));
    }
    fn near_end(&mut self, frame: &mut [i16]) {
        let mut out = vec![0f32; frame.len()];
        if self
            .0
            .process_capture_frame(&to_f32(frame), &mut out)
            .is_ok()
        {
            for (sample, processed) in frame.iter_mut().zip(out) {
                *sample = (processed * 32768.0).clamp(-32768.0, 32767.0) as i16;
            }
        }
    }
}

fn tone(hz: f64, amplitude: f64, samples: usize) -> Vec<i16> {
    (0..samples)
        .map(|n| (amplitude * (2.0 * std::f64::consts::PI * hz * n as f64 / 48_000.0).sin()) as i16)
        .collect()
}

/// A tone in 200 ms beeps with 100 ms pauses.
fn beeps(hz: f64, samples: usize) -> Vec<i16> {
    let mut beeps = tone(hz, 8000.0, samples);
    for (n, sample) in beeps.iter_mut().enumerate() {
        if (n / 4800) % 3 == 2 {
            *sample = 0;
        }
    }
    beeps
}

/// What the canceller sends of a call whose microphone hears `far` `delay_ms` late, plus `near`.
fn call(canceller: &mut dyn Canceller, far: &[i16], near: &[i16], delay_ms: usize) -> Vec<i16> {
    let delay = delay_ms * 48;
    let mut out = Vec::with_capacity(far.len());
    for (index, frame) in far.chunks_exact(VOICE_FRAME_SAMPLES).enumerate() {
        canceller.far_end(frame);
        let start = index * VOICE_FRAME_SAMPLES;
        let mut mic: Vec<i16> = (start..start + VOICE_FRAME_SAMPLES)
            .map(|n| {
                n.checked_sub(delay)
                    .map_or(0, |m| far[m] / 2)
                    .saturating_add(near[n])
            })
            .collect();
        canceller.near_end(&mut mic);
        out.extend(mic);
    }
    out
}

fn power(samples: &[i16]) -> f64 {
    samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64
}

fn main() {
    let last = (SECONDS - 4) * RATE as usize..SECONDS * RATE as usize;
    let samples = SECONDS * RATE as usize;
    let silence = vec![0i16; samples];
    let near = tone(700.0, 3000.0, samples);
    type Make = fn(bool) -> Box<dyn Canceller>;
    let candidates: [(&str, Make); 2] = [
        ("sonora", |all| {
            Box::new(VoiceProcessor::new(if all {
                VoiceSettings::default()
            } else {
                VoiceSettings {
                    echo_cancellation: true,
                    ..VoiceSettings::OFF
                }
            }))
        }),
        ("aec3", |all| Box::new(Aec3::new(all))),
    ];
    for (far_name, far, delay_ms) in [
        (
            "speech-like bursts, 60 ms",
            noise_bursts(samples, 9600, 12345),
            60,
        ),
        (
            "speech-like bursts, 200 ms",
            noise_bursts(samples, 9600, 12345),
            200,
        ),
        ("500 Hz tone, 60 ms", tone(500.0, 8000.0, samples), 60),
        ("500 Hz tone, 200 ms", tone(500.0, 8000.0, samples), 200),
        ("500 Hz beeps, 200 ms", beeps(500.0, samples), 200),
    ] {
        let heard = call(
            &mut VoiceProcessor::new(VoiceSettings::OFF),
            &far,
            &silence,
            delay_ms,
        );
        for (name, make) in candidates {
            let started = thread_cpu_ms();
            let cancelled = call(make(false).as_mut(), &far, &silence, delay_ms);
            let cpu_ms = (thread_cpu_ms() - started) / (samples / VOICE_FRAME_SAMPLES) as f64;
            let erle = 10.0
                * (power(&heard[last.clone()]) / power(&cancelled[last.clone()]).max(1e-9)).log10();
            let started = thread_cpu_ms();
            let everything = call(make(true).as_mut(), &far, &near, delay_ms);
            let all_cpu_ms = (thread_cpu_ms() - started) / (samples / VOICE_FRAME_SAMPLES) as f64;
            let double_talk = call(make(false).as_mut(), &far, &near, delay_ms);
            let change = |processed: &[i16]| {
                10.0 * (tone_power(&processed[last.clone()], 700.0, RATE)
                    / tone_power(&near[last.clone()], 700.0, RATE))
                .log10()
            };
            let (near_change, near_change_all) = (change(&double_talk), change(&everything));
            println!(
                "{{\"candidate\":\"{name}\",\"far_end\":\"{far_name}\",\"erle_db\":{erle:.1},\
                 \"near_end_change_db\":{near_change:.1},\"near_end_change_all_on_db\":{near_change_all:.1},\
                 \"echo_cpu_ms_per_frame\":{cpu_ms:.3},\"all_on_cpu_ms_per_frame\":{all_cpu_ms:.3}}}"
            );
        }
    }
}
