//! Measurements on received media, used by tests and the headless bot to
//! check that the right member's picture and voice arrived.

use rustfft::{FftPlanner, num_complex::Complex};

use crate::frame::yuv_to_rgb;
use crate::{I420Frame, Rgb, stamp};

/// Mean colour of the picture below the stamp band (the band is black and
/// white by design and would drag every colour towards grey).
pub fn mean_colour(frame: &I420Frame) -> Rgb {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut top = stamp::stamp_band_height(frame.height).next_multiple_of(2) as usize;
    if top >= h || frame.validate().is_err() {
        top = 0;
    }
    let mean = |plane: &[u8]| -> u8 {
        if plane.is_empty() {
            return 0;
        }
        let sum: u64 = plane.iter().map(|&p| p as u64).sum();
        (sum / plane.len() as u64) as u8
    };
    let y = mean(frame.y.get(top * w..).unwrap_or_default());
    let chroma_start = (top / 2) * (w / 2);
    let u = mean(frame.u.get(chroma_start..).unwrap_or_default());
    let v = mean(frame.v.get(chroma_start..).unwrap_or_default());
    yuv_to_rgb(y, u, v)
}

/// RMS level in dB relative to full scale (a full-scale square wave is 0,
/// a full-scale sine about -3). Silence, and an empty slice, give -100.
pub fn level_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return -100.0;
    }
    let energy: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    let rms = (energy / samples.len() as f64).sqrt() / 32768.0;
    if rms <= 0.0 {
        -100.0
    } else {
        (20.0 * rms.log10()).max(-100.0) as f32
    }
}

/// The power of `samples` at `hz`, as a sine of amplitude A has A²/2 of it
/// (Goertzel): how loud one tone is among others.
pub fn tone_power(samples: &[i16], hz: f64, sample_rate: u32) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let w = 2.0 * std::f64::consts::PI * hz / f64::from(sample_rate);
    let (mut s1, mut s2) = (0.0, 0.0);
    for sample in samples {
        let s0 = f64::from(*sample) + 2.0 * w.cos() * s1 - s2;
        (s2, s1) = (s1, s0);
    }
    let n = samples.len() as f64;
    2.0 * (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (n * n)
}

/// Below this the signal is treated as silence rather than a tone.
const SILENCE_DBFS: f32 = -70.0;
/// Mains hum and DC offsets are not anyone's voice.
const MIN_FREQ_HZ: f32 = 20.0;
/// At 48 kHz this is ~11 s; longer input only costs time.
const MAX_SAMPLES: usize = 1 << 19;

/// The strongest frequency in `samples`, or `None` for silence.
///
/// Hann-windowed FFT, zero-padded to at least twice the length, then a
/// parabola through the log magnitudes of the peak bin and its neighbours
/// locates the peak between bins. For a pure tone over 0.25 s at 48 kHz the
/// error is well under 1 Hz.
pub fn dominant_frequency(samples: &[i16], sample_rate: u32) -> Option<f32> {
    let samples = &samples[samples.len().saturating_sub(MAX_SAMPLES)..];
    if samples.len() < 16 || sample_rate == 0 || level_dbfs(samples) < SILENCE_DBFS {
        return None;
    }
    let len = samples.len();
    let n = len.next_power_of_two() * 2;
    let dc = samples.iter().map(|&s| s as f64).sum::<f64>() / len as f64;
    let mut buf: Vec<Complex<f32>> = samples
        .iter()
        .enumerate()
        .map(|(i, &s)| {
            let hann = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / (len - 1) as f64).cos();
            Complex::new(((s as f64 - dc) * hann) as f32, 0.0)
        })
        .collect();
    buf.resize(n, Complex::new(0.0, 0.0));
    FftPlanner::<f32>::new()
        .plan_fft_forward(n)
        .process(&mut buf);

    let bin_hz = sample_rate as f32 / n as f32;
    let first = ((MIN_FREQ_HZ / bin_hz).ceil() as usize).max(1);
    let last = n / 2 - 1;
    if first >= last {
        return None;
    }
    let power = |k: usize| buf[k].norm_sqr().max(f32::MIN_POSITIVE);
    let peak = (first..last).max_by(|&a, &b| power(a).total_cmp(&power(b)))?;
    if power(peak) <= f32::MIN_POSITIVE {
        return None;
    }
    // ln(power) is used; the offset is the same as for ln(magnitude).
    let (a, b, c) = (power(peak - 1).ln(), power(peak).ln(), power(peak + 1).ln());
    let denom = a - 2.0 * b + c;
    let offset = if denom.abs() > f32::EPSILON {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    Some((peak as f32 + offset) * bin_hz)
}

const TALK_START_DBFS: f32 = -45.0;
const TALK_START_MS: u32 = 60;
const TALK_STOP_DBFS: f32 = -55.0;
const TALK_STOP_MS: u32 = 500;

/// Voice-activity with hysteresis in both level and time, so a single loud
/// click does not light up a speaker and the indicator does not flicker
/// between words.
///
/// Starts talking once the level stays above -45 dBFS for 60 ms; stops once
/// it stays below -55 dBFS for 500 ms. Levels between the two thresholds
/// keep the current state and reset the opposing timer.
#[derive(Debug, Default)]
pub struct TalkingDetector {
    talking: bool,
    /// Time spent beyond the threshold that would flip the state.
    pending_ms: u32,
}

impl TalkingDetector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the level of the next `duration_ms` of audio. Returns
    /// `Some(new_state)` when the state changes.
    pub fn push(&mut self, level_dbfs: f32, duration_ms: u32) -> Option<bool> {
        let (towards_change, hold_ms) = if self.talking {
            (level_dbfs < TALK_STOP_DBFS, TALK_STOP_MS)
        } else {
            (level_dbfs > TALK_START_DBFS, TALK_START_MS)
        };
        if !towards_change {
            self.pending_ms = 0;
            return None;
        }
        self.pending_ms = self.pending_ms.saturating_add(duration_ms);
        if self.pending_ms < hold_ms {
            return None;
        }
        self.talking = !self.talking;
        self.pending_ms = 0;
        Some(self.talking)
    }

    pub fn talking(&self) -> bool {
        self.talking
    }
}

/// 10 ms frames at 48 kHz, the unit of [`speech_snr_db`].
const SNR_FRAME: usize = 480;
/// 50 ms of frames.
const SNR_MARGIN_FRAMES: usize = 5;

/// Each 10 ms frame's power.
fn frame_powers(samples: &[i16]) -> Vec<f64> {
    (samples.chunks_exact(SNR_FRAME))
        .map(|f| f.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / SNR_FRAME as f64)
        .collect()
}

/// The signal-to-noise ratio of speech as received, in dB, with the clean
/// speech (48 kHz) saying where it speaks: `received` is found in `clean`
/// by the best match of their loudness over time; the frames where the
/// clean speech is loud (within 20 dB of its loudest) hold speech and
/// noise, those where it is silent (50 dB below, for 50 ms either side)
/// hold noise alone. `None`
/// when `received` is not in `clean` or has no pause or no speech.
pub fn speech_snr_db(clean: &[i16], received: &[i16]) -> Option<f64> {
    let (clean, received) = (frame_powers(clean), frame_powers(received));
    if received.is_empty() || received.len() > clean.len() {
        return None;
    }
    let log = |powers: &[f64]| -> Vec<f64> { powers.iter().map(|p| (p + 1.0).log10()).collect() };
    let (clean_log, received_log) = (log(&clean), log(&received));
    let centred = |v: &[f64]| -> Vec<f64> {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        v.iter().map(|x| x - mean).collect()
    };
    let received_c = centred(&received_log);
    let offset = (0..=clean.len() - received.len())
        .map(|at| {
            let window = centred(&clean_log[at..at + received.len()]);
            let score: f64 = window.iter().zip(&received_c).map(|(a, b)| a * b).sum();
            (at, score)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?
        .0;
    let clean = &clean[offset..offset + received.len()];
    let loudest = clean.iter().copied().fold(0.0, f64::max);
    let silent = |at: usize| clean[at] <= loudest * 1e-5;
    let mean_where = |keep: &dyn Fn(usize) -> bool| -> Option<f64> {
        let picked: Vec<f64> = (0..clean.len())
            .filter(|at| keep(*at))
            .map(|at| received[at])
            .collect();
        (!picked.is_empty()).then(|| picked.iter().sum::<f64>() / picked.len() as f64)
    };
    let speech_and_noise = mean_where(&|at| clean[at] >= loudest * 1e-2)?;
    // Noise alone: silent for 50 ms either side too, so that a received
    // signal a little out of step (a jitter buffer) is not speech there.
    let margin = |at: usize| {
        at.saturating_sub(SNR_MARGIN_FRAMES)..(at + SNR_MARGIN_FRAMES + 1).min(clean.len())
    };
    let noise = mean_where(&|at| margin(at).all(silent))?.max(1e-3);
    let speech = (speech_and_noise - noise).max(1e-3);
    Some(10.0 * (speech / noise).log10())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TestPattern, ToneSource};

    #[test]
    fn speech_snr_finds_the_received_part_and_measures_its_noise() {
        // "Speech": 300 ms bursts of a tone, 200 ms pauses, for 10 s.
        let clean: Vec<i16> = (0..480_000)
            .map(|n| {
                let burst = (n / 4800) % 5 < 3 && (n / 24_000) % 3 != 1;
                if burst {
                    (8000.0 * (n as f64 * 0.05).sin()) as i16
                } else {
                    0
                }
            })
            .collect();
        let mut state: u32 = 1;
        let mut noise = |amplitude: f64| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (f64::from((state >> 16) as i16) / 32768.0 * amplitude) as i16
        };
        // 3 s from the middle, with noise 20 dB and 40 dB below the speech
        // (the tone's power is 8000²/2; uniform noise's is A²/3).
        for expected in [20.0, 40.0] {
            let amplitude = (3.0 * 32e6 / 10f64.powf(expected / 10.0)).sqrt();
            let received: Vec<i16> = clean[144_000..288_000]
                .iter()
                .map(|s| s.saturating_add(noise(amplitude)))
                .collect();
            let snr = speech_snr_db(&clean, &received).unwrap();
            assert!((snr - expected).abs() < 1.5, "{snr:.1} dB, not {expected}");
        }
        assert_eq!(
            speech_snr_db(&clean[..1000], &clean),
            None,
            "longer than the clean"
        );
    }

    #[test]
    fn levels() {
        assert_eq!(level_dbfs(&[]), -100.0);
        assert_eq!(level_dbfs(&[0; 480]), -100.0);
        let mut tone = vec![0i16; 4800];
        ToneSource::new(440.0, 48_000).next_samples(&mut tone);
        let l = level_dbfs(&tone);
        assert!((-15.5..=-14.5).contains(&l), "{l}");
        assert!((level_dbfs(&[i16::MIN; 10]) - 0.0).abs() < 0.01);
    }

    #[test]
    fn frequency_of_raw_tones_is_accurate() {
        for f in [300.0f32, 440.0, 523.25, 777.7, 1200.0] {
            for (rate, secs) in [(48_000u32, 0.25f32), (48_000, 1.0), (16_000, 0.3)] {
                let mut buf = vec![0i16; (rate as f32 * secs) as usize];
                ToneSource::new(f, rate).next_samples(&mut buf);
                let got = dominant_frequency(&buf, rate).unwrap();
                assert!((got - f).abs() < 0.5, "{f} Hz at {rate}/{secs}s: got {got}");
            }
        }
        assert_eq!(dominant_frequency(&[0; 12_000], 48_000), None);
        assert_eq!(dominant_frequency(&[3; 12_000], 48_000), None);
    }

    #[test]
    fn mean_colour_ignores_the_stamp() {
        let c = Rgb::new(250, 130, 30);
        let mut p = TestPattern::new(c, 640, 360);
        let got = mean_colour(p.render(0, 0));
        assert!(got.distance(c) <= 8, "{got:?}");
    }

    #[test]
    fn talking_hysteresis() {
        let mut d = TalkingDetector::new();
        // One loud 20 ms frame among silence never starts talking.
        for _ in 0..10 {
            assert_eq!(d.push(-20.0, 20), None);
            assert_eq!(d.push(-80.0, 20), None);
            assert_eq!(d.push(-80.0, 20), None);
        }
        assert!(!d.talking());
        // 60 ms of loud audio does.
        assert_eq!(d.push(-20.0, 20), None);
        assert_eq!(d.push(-20.0, 20), None);
        assert_eq!(d.push(-20.0, 20), Some(true));
        assert!(d.talking());
        // Short pauses between words (and mid-level audio) keep it on.
        for _ in 0..5 {
            for _ in 0..20 {
                assert_eq!(d.push(-80.0, 20), None); // 400 ms of silence
            }
            assert_eq!(d.push(-50.0, 20), None); // between thresholds: still talking
        }
        assert!(d.talking());
        // Only 500 ms of continuous quiet stops it.
        for _ in 0..24 {
            assert_eq!(d.push(-60.0, 20), None);
        }
        assert_eq!(d.push(-60.0, 20), Some(false));
        assert!(!d.talking());
        assert_eq!(d.push(-60.0, 20), None);
    }
}
