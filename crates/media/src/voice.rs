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

/// Whether what the processed microphone carries now could be nothing but
/// the speaker's echo getting through: after the echo path changed, the
/// canceller lets echo through for a second or two while it learns the path
/// again, and that echo must not make the member "talking".
///
/// The raw microphone always hears the echo, so it tells how loud the echo
/// is: over the last second its power, frame by frame, is fitted as
/// `a × far end(t - d) + b` for each delay `d` up to 500 ms (`a`: the echo
/// path's gain; `b`: the member's own voice and noise), and the best fit
/// kept. The processed microphone is then echo only if, in each of its last
/// 60 ms, it is no louder than that echo (with 6 dB for the gain control).
/// A voice well over the echo, or with the far end silent, is the
/// member's. Sans-IO: the capture loop hands it both sides, 10 ms at a time.
#[derive(Debug, Default)]
pub struct EchoGate {
    far: VecDeque<f64>,
    raw: VecDeque<f64>,
    processed: VecDeque<f64>,
}

/// The fit's window: 1 s of 10 ms frames.
const GATE_FIT_FRAMES: usize = 100;
/// The longest echo delay looked for: 500 ms.
const GATE_MAX_DELAY: usize = 50;
/// The frames judged: 60 ms, what starts a member talking.
const GATE_RECENT_FRAMES: usize = 6;
/// The far end's frames are handed over in bursts: its echo is compared
/// with the loudest of 20 ms either side.
const GATE_JITTER_FRAMES: usize = 2;
/// How much louder than the estimated echo the processed microphone may be
/// and still be echo: 6 dB (the gain control may raise it).
const GATE_MARGIN: f64 = 4.0;

impl EchoGate {
    pub fn far_end(&mut self, played: &[i16]) {
        let bound = GATE_FIT_FRAMES + GATE_MAX_DELAY + GATE_JITTER_FRAMES;
        push_bounded(&mut self.far, frame_power(played), bound);
    }

    /// 10 ms of the microphone, as it was heard and as it was processed.
    pub fn near_end(&mut self, raw: &[i16], processed: &[i16]) {
        push_bounded(&mut self.raw, frame_power(raw), GATE_FIT_FRAMES);
        push_bounded(
            &mut self.processed,
            frame_power(processed),
            GATE_RECENT_FRAMES,
        );
    }

    /// The last 60 ms of the processed microphone could be the far end's echo alone.
    pub fn echo_only(&self) -> bool {
        let far: Vec<f64> = self.far.iter().copied().collect();
        let raw: Vec<f64> = self.raw.iter().copied().collect();
        let needed = GATE_FIT_FRAMES + GATE_JITTER_FRAMES;
        if raw.len() < GATE_FIT_FRAMES || far.len() < needed {
            return false;
        }
        // far[start + i] is the far end heard back in raw[i]: the delay is
        // how far `start` lies behind the newest window.
        let newest = far.len() - GATE_FIT_FRAMES;
        let Some((start, gain)) = (GATE_JITTER_FRAMES..=newest)
            .filter_map(|start| {
                let fit = fit(&far[start..start + GATE_FIT_FRAMES], &raw)?;
                Some((start, fit))
            })
            .min_by(|a, b| a.1.residual.total_cmp(&b.1.residual))
            .map(|(start, fit)| (start, fit.slope))
        else {
            return false;
        };
        let recent = self.processed.len();
        (self.processed.iter().enumerate()).all(|(i, power)| {
            let at = start + GATE_FIT_FRAMES - recent + i;
            let around = at - GATE_JITTER_FRAMES..(at + GATE_JITTER_FRAMES + 1).min(far.len());
            let far_loudest = far[around].iter().copied().fold(0.0, f64::max);
            *power <= GATE_MARGIN * gain * far_loudest + 1.0
        })
    }
}

struct Fit {
    slope: f64,
    residual: f64,
}

/// Least squares of `y = a x + b`, with `a` at least 0 (echo does not
/// subtract); `None` for a flat `x`, which cannot explain anything.
fn fit(x: &[f64], y: &[f64]) -> Option<Fit> {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx <= f64::EPSILON * n {
        return None;
    }
    let sxy: f64 = x.iter().zip(y).map(|(x, y)| (x - mx) * (y - my)).sum();
    let slope = (sxy / sxx).max(0.0);
    let intercept = my - slope * mx;
    let residual = (x.iter().zip(y))
        .map(|(x, y)| (y - slope * x - intercept).powi(2))
        .sum();
    Some(Fit { slope, residual })
}

fn frame_power(samples: &[i16]) -> f64 {
    samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64
}

fn push_bounded(queue: &mut VecDeque<f64>, value: f64, bound: usize) {
    queue.push_back(value);
    if queue.len() > bound {
        queue.pop_front();
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

    /// The gate after 3 s of a far end of speech-like bursts, a raw
    /// microphone that hears it 60 ms later at half amplitude plus `own`
    /// (the member's voice), and a processed microphone of `processed(n, raw)`.
    fn gate_after(own: impl Fn(usize) -> i16, processed: impl Fn(usize, i16) -> i16) -> bool {
        let far = far_end_signal(3.0);
        let mut gate = EchoGate::default();
        for (index, frame) in far.chunks_exact(VOICE_FRAME_SAMPLES).enumerate() {
            gate.far_end(frame);
            let start = index * VOICE_FRAME_SAMPLES;
            let samples = start..start + VOICE_FRAME_SAMPLES;
            let raw: Vec<i16> = (samples.clone())
                .map(|n| n.checked_sub(60 * 48).map_or(0, |m| far[m] / 2) + own(n))
                .collect();
            let out: Vec<i16> = samples.zip(&raw).map(|(n, r)| processed(n, *r)).collect();
            gate.near_end(&raw, &out);
        }
        gate.echo_only()
    }

    /// The raw microphone's echo let through at `gain` (1: not cancelled at all).
    fn leaked(gain: f64) -> impl Fn(usize, i16) -> i16 {
        move |_, raw| (f64::from(raw) * gain) as i16
    }

    #[test]
    fn echo_getting_through_is_told_from_the_members_own_voice() {
        // Bob silent, his echo let through, whole or in part: echo.
        assert!(gate_after(silent, leaked(1.0)));
        assert!(gate_after(silent, leaked(0.2)));
        // ...raised by the gain control by up to 6 dB: still echo.
        assert!(gate_after(silent, leaked(1.9)));
        // ...from its first 60 ms, after a second of cancelled echo.
        let onset = 48_000 * 3 - 60 * 48;
        assert!(gate_after(silent, |n, raw| if n >= onset {
            raw
        } else {
            0
        }));
        // Bob talks over the echo (14 dB louder than it), which is
        // cancelled: his voice, not echo. (A voice within 6 dB of the echo
        // cannot be told from it while the far end talks.)
        let loud_voice = |n| voice(n).saturating_mul(4);
        assert!(!gate_after(loud_voice, |n, _| loud_voice(n)));
        // Bob talks with the far end silent: his voice, whatever its level.
        let mut gate = EchoGate::default();
        for _ in 0..200 {
            gate.far_end(&[0; VOICE_FRAME_SAMPLES]);
            gate.near_end(&[300; VOICE_FRAME_SAMPLES], &[300; VOICE_FRAME_SAMPLES]);
        }
        assert!(!gate.echo_only());
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
