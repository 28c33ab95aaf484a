//! The microphone's processing before it is encoded: echo cancellation,
//! noise suppression, gain control and a high-pass filter, WebRTC's audio
//! processing module as ported to Rust (`sonora`).
//!
//! Echo cancellation needs the far end: what the speaker plays. The mixer
//! that feeds the speaker writes it into an [`EchoReference`]; the capture
//! loop hands it to [`VoiceProcessor::far_end`] before each microphone
//! frame. AEC3 finds the delay between the two itself (and follows it when
//! it drifts or jumps); [`VoiceProcessor::set_delay_ms`] gives it the
//! starting point the audio devices report.
//!
//! Sans-IO: 10 ms frames in, 10 ms frames out.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sonora::config::{
    EchoCanceller, GainController2, HighPassFilter, NoiseSuppression, NoiseSuppressionLevel,
};
use sonora::{AudioProcessing, Config, StreamConfig};

/// The processing's sample rate (the call's: Opus at 48 kHz, mono).
pub const VOICE_SAMPLE_RATE: u32 = 48_000;
/// One processing frame: 10 ms.
pub const VOICE_FRAME_SAMPLES: usize = 480;

/// Which parts of the processing are on. All are, by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct VoiceSettings {
    /// Off for a headset, which has no echo to cancel.
    pub echo_cancellation: bool,
    /// Off for music, which it would treat as noise.
    pub noise_suppression: bool,
    pub gain_control: bool,
    pub high_pass: bool,
}

impl Default for VoiceSettings {
    fn default() -> Self {
        VoiceSettings {
            echo_cancellation: true,
            noise_suppression: true,
            gain_control: true,
            high_pass: true,
        }
    }
}

impl VoiceSettings {
    /// Nothing on: the microphone as it is.
    pub const OFF: VoiceSettings = VoiceSettings {
        echo_cancellation: false,
        noise_suppression: false,
        gain_control: false,
        high_pass: false,
    };

    /// Noise suppression is turned off for music, and Opus then spends its
    /// bits on music too.
    pub fn content(self) -> crate::AudioContent {
        if self.noise_suppression {
            crate::AudioContent::Speech
        } else {
            crate::AudioContent::Music
        }
    }

    fn config(self) -> Config {
        Config {
            echo_canceller: self.echo_cancellation.then(EchoCanceller::default),
            // High, as Chromium sets it: 4 to 5 dB more SNR than the module's
            // default, Moderate (BENCHMARKS.md, noise suppression).
            noise_suppression: self.noise_suppression.then(|| NoiseSuppression {
                level: NoiseSuppressionLevel::High,
                ..Default::default()
            }),
            gain_controller2: self.gain_control.then(GainController2::default),
            high_pass_filter: self.high_pass.then(HighPassFilter::default),
            ..Default::default()
        }
    }
}

/// The processing of one microphone.
pub struct VoiceProcessor {
    apm: AudioProcessing,
    settings: VoiceSettings,
    scratch: Vec<i16>,
}

impl VoiceProcessor {
    pub fn new(settings: VoiceSettings) -> Self {
        let stream = StreamConfig::new(VOICE_SAMPLE_RATE, 1);
        let apm = AudioProcessing::builder()
            .config(settings.config())
            .capture_config(stream)
            .render_config(stream)
            .build();
        VoiceProcessor {
            apm,
            settings,
            scratch: vec![0; VOICE_FRAME_SAMPLES],
        }
    }

    pub fn settings(&self) -> VoiceSettings {
        self.settings
    }

    /// Turns parts on or off; what they learned so far is kept where the
    /// module allows.
    pub fn set_settings(&mut self, settings: VoiceSettings) {
        if settings != self.settings {
            self.settings = settings;
            self.apm.apply_config(settings.config());
        }
    }

    /// The delay from the far end's frame being handed over to it being
    /// heard back in the microphone, as far as the devices know.
    pub fn set_delay_ms(&mut self, delay_ms: u32) {
        // Clamped to what the module takes (500 ms); it still proceeds.
        let _ = self.apm.set_stream_delay_ms(delay_ms.min(500) as i32);
    }

    /// 10 ms of what the speaker played ([`VOICE_FRAME_SAMPLES`]).
    pub fn far_end(&mut self, played: &[i16]) {
        debug_assert_eq!(played.len(), VOICE_FRAME_SAMPLES);
        if !self.settings.echo_cancellation {
            return;
        }
        // The render path can modify its signal; that copy is not used.
        let _ = self.apm.process_render_i16(played, &mut self.scratch);
    }

    /// 10 ms of the microphone ([`VOICE_FRAME_SAMPLES`]), processed in place.
    pub fn near_end(&mut self, captured: &mut [i16]) {
        debug_assert_eq!(captured.len(), VOICE_FRAME_SAMPLES);
        if self.settings == VoiceSettings::OFF {
            return;
        }
        self.scratch.copy_from_slice(captured);
        if self
            .apm
            .process_capture_i16(&self.scratch, captured)
            .is_err()
        {
            // Only a wrong frame size fails, and the frames are fixed.
            captured.copy_from_slice(&self.scratch);
        }
    }
}

/// What the speaker played, from its mixer to the microphone's processing.
/// Bounded: with nobody taking (the microphone muted, or none), the oldest
/// samples go.
#[derive(Clone, Default)]
pub struct EchoReference(Arc<Mutex<VecDeque<i16>>>);

/// One second of far end at most.
const ECHO_REFERENCE_SAMPLES: usize = VOICE_SAMPLE_RATE as usize;

impl EchoReference {
    /// The speaker is about to play `played`.
    pub fn push(&self, played: &[i16]) {
        let mut queue = self.0.lock().unwrap();
        queue.extend(played);
        let excess = queue.len().saturating_sub(ECHO_REFERENCE_SAMPLES);
        queue.drain(..excess);
    }

    /// The next whole 10 ms of far end, if there is one.
    pub fn take_frame(&self, frame: &mut [i16; VOICE_FRAME_SAMPLES]) -> bool {
        let mut queue = self.0.lock().unwrap();
        if queue.len() < VOICE_FRAME_SAMPLES {
            return false;
        }
        for (slot, sample) in frame.iter_mut().zip(queue.drain(..VOICE_FRAME_SAMPLES)) {
            *slot = sample;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tone_power;

    /// Speech-like far end: noise in bursts of 200 ms, 100 ms apart.
    fn far_end_signal(seconds: f64) -> Vec<i16> {
        let mut state: u32 = 12345;
        let samples = (seconds * f64::from(VOICE_SAMPLE_RATE)) as usize;
        (0..samples)
            .map(|n| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let noise = f64::from((state >> 16) as i16) / 32768.0;
                let on = (n / 4800) % 3 != 2;
                if on { (noise * 6000.0) as i16 } else { 0 }
            })
            .collect()
    }

    fn power(samples: &[i16]) -> f64 {
        samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64
    }

    /// The microphone hears the far end `delay_ms(t)` later, at half
    /// amplitude (a speaker's leak), plus `near` (the member's own voice).
    /// Returns what the processing made of it.
    fn run_echo(
        settings: VoiceSettings,
        seconds: f64,
        delay_ms: impl Fn(f64) -> usize,
        near: impl Fn(usize) -> i16,
    ) -> Vec<i16> {
        let far = far_end_signal(seconds);
        let mut processor = VoiceProcessor::new(settings);
        processor.set_delay_ms(0);
        let mut out = Vec::with_capacity(far.len());
        for (index, frame) in far.chunks_exact(VOICE_FRAME_SAMPLES).enumerate() {
            processor.far_end(frame);
            let start = index * VOICE_FRAME_SAMPLES;
            let delay = delay_ms(start as f64 / f64::from(VOICE_SAMPLE_RATE)) * 48;
            let mut mic: Vec<i16> = (start..start + VOICE_FRAME_SAMPLES)
                .map(|n| n.checked_sub(delay).map_or(0, |m| far[m] / 2) + near(n))
                .collect();
            processor.near_end(&mut mic);
            out.extend(mic);
        }
        out
    }

    fn silent(_: usize) -> i16 {
        0
    }

    /// A 700 Hz tone: the member talking.
    fn voice(n: usize) -> i16 {
        let t = n as f64 / f64::from(VOICE_SAMPLE_RATE);
        (3000.0 * (2.0 * std::f64::consts::PI * 700.0 * t).sin()) as i16
    }

    /// Echo return loss enhancement over `[from, to)` seconds, in dB: the
    /// echo's power as the microphone heard it over what is left of it.
    fn erle(heard: &[i16], processed: &[i16], from: f64, to: f64) -> f64 {
        let range = (from * 48_000.0) as usize..(to * 48_000.0) as usize;
        10.0 * (power(&heard[range.clone()]) / power(&processed[range]).max(1e-9)).log10()
    }

    fn echo_only() -> VoiceSettings {
        VoiceSettings {
            echo_cancellation: true,
            ..VoiceSettings::OFF
        }
    }

    #[test]
    fn an_echo_with_a_known_delay_is_cancelled_and_the_near_end_kept() {
        let heard = run_echo(VoiceSettings::OFF, 8.0, |_| 60, silent);
        let processed = run_echo(echo_only(), 8.0, |_| 60, silent);
        let erle = erle(&heard, &processed, 5.0, 8.0);
        assert!(erle >= 25.0, "ERLE {erle:.1} dB");
        // Double talk: the member's voice over the echo comes through.
        let alone = run_echo(echo_only(), 8.0, |_| 60, voice);
        let tone: Vec<i16> = (0..alone.len()).map(voice).collect();
        let range = 5 * 48_000..8 * 48_000;
        let loss = 10.0
            * (tone_power(&tone[range.clone()], 700.0, VOICE_SAMPLE_RATE)
                / tone_power(&alone[range], 700.0, VOICE_SAMPLE_RATE))
            .log10();
        assert!(loss.abs() <= 3.0, "the near end changed by {loss:.1} dB");
    }

    #[test]
    fn a_delay_jump_of_40_ms_is_tracked_again_within_2_s() {
        let jump_at = 8.0;
        let delay = |t: f64| if t < jump_at { 60 } else { 100 };
        let heard = run_echo(VoiceSettings::OFF, 12.0, delay, silent);
        let processed = run_echo(echo_only(), 12.0, delay, silent);
        let before = erle(&heard, &processed, 5.0, jump_at);
        let after = erle(&heard, &processed, jump_at + 2.0, jump_at + 4.0);
        assert!(before >= 25.0, "ERLE {before:.1} dB before the jump");
        assert!(after >= 25.0, "ERLE {after:.1} dB from 2 s after the jump");
    }

    #[test]
    fn the_echo_reference_keeps_one_second_and_hands_out_whole_frames() {
        let reference = EchoReference::default();
        let mut frame = [0i16; VOICE_FRAME_SAMPLES];
        reference.push(&[1; 300]);
        assert!(!reference.take_frame(&mut frame), "not 10 ms yet");
        reference.push(&[2; 300]);
        assert!(reference.take_frame(&mut frame));
        assert_eq!((frame[0], frame[299], frame[300]), (1, 1, 2));
        reference.push(&vec![3; 3 * ECHO_REFERENCE_SAMPLES]);
        let mut frames = 0;
        while reference.take_frame(&mut frame) {
            frames += 1;
        }
        assert_eq!(frames, ECHO_REFERENCE_SAMPLES / VOICE_FRAME_SAMPLES);
    }
}
