//! The synthetic microphone: a steady sine at the member's pitch.

/// Peak amplitude of -12 dBFS: loud enough to be "talking" with a wide
/// margin, quiet enough that mixing three members cannot clip.
const AMPLITUDE: f64 = 0.251_188_6 * 32767.0;

pub struct ToneSource {
    /// Phase in cycles (0..1). Kept in f64 and wrapped every sample so it
    /// neither drifts nor loses precision over hours.
    phase: f64,
    step: f64,
}

impl ToneSource {
    pub fn new(freq_hz: f32, sample_rate: u32) -> Self {
        ToneSource {
            phase: 0.0,
            step: freq_hz as f64 / sample_rate.max(1) as f64,
        }
    }

    /// Fills `out` with the next mono samples; consecutive calls continue the
    /// waveform seamlessly whatever the buffer sizes.
    pub fn next_samples(&mut self, out: &mut [i16]) {
        for s in out {
            *s = (AMPLITUDE * (self.phase * std::f64::consts::TAU).sin()).round() as i16;
            self.phase = (self.phase + self.step).fract();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_continuous_across_buffer_sizes() {
        let mut a = ToneSource::new(440.0, 48_000);
        let mut b = ToneSource::new(440.0, 48_000);
        let mut whole = vec![0i16; 4800];
        a.next_samples(&mut whole);
        let mut pieces = Vec::new();
        for n in [1usize, 959, 960, 480, 2400] {
            let mut buf = vec![0i16; n];
            b.next_samples(&mut buf);
            pieces.extend(buf);
        }
        assert_eq!(whole, pieces);
        let peak = whole.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((8000..=8300).contains(&peak), "peak {peak}");
    }
}
