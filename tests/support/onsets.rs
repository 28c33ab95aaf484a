//! Timing sounds in recordings, for the mouth-to-ear benchmark: where beeps
//! start, and on what clock.
//!
//! Two recordings made in one process are put on one clock by their
//! callbacks: a callback that delivers samples up to index `end` at time `t`
//! says those samples were captured no later than `t - end / rate`, so the
//! smallest such offset over many callbacks is the recording's start, up to
//! a constant delay that is the same for two streams opened alike.

/// Samples with the earliest start their callbacks allow.
#[derive(Default)]
pub struct TimedRecording {
    pub samples: Vec<i16>,
    start_secs: Option<f64>,
}

impl TimedRecording {
    /// Adds a callback's `samples`, delivered `now_secs` after a shared epoch.
    pub fn push(&mut self, samples: &[i16], now_secs: f64, rate: u32) {
        self.samples.extend_from_slice(samples);
        let start = now_secs - self.samples.len() as f64 / rate as f64;
        self.start_secs = Some(self.start_secs.map_or(start, |s| s.min(start)));
    }

    /// When each beep started, in seconds after the shared epoch.
    pub fn onset_times(&self, threshold: i16, quiet_before: usize, rate: u32) -> Vec<f64> {
        let start = self.start_secs.unwrap_or(0.0);
        onsets(&self.samples, threshold, quiet_before)
            .into_iter()
            .map(|i| start + i as f64 / rate as f64)
            .collect()
    }
}

/// Indexes where the signal first exceeds `threshold` after at least
/// `quiet_before` samples below it.
pub fn onsets(samples: &[i16], threshold: i16, quiet_before: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut quiet = 0;
    for (i, s) in samples.iter().enumerate() {
        if s.unsigned_abs() > threshold.unsigned_abs() {
            if quiet >= quiet_before {
                found.push(i);
            }
            quiet = 0;
        } else {
            quiet += 1;
        }
    }
    found
}

/// For each sent onset, the delay to the first received onset after it and
/// within `window` seconds; sent beeps that never arrived are skipped.
pub fn delays(sent: &[f64], received: &[f64], window: f64) -> Vec<f64> {
    sent.iter()
        .filter_map(|&t| {
            received
                .iter()
                .find(|&&r| r > t && r - t < window)
                .map(|r| r - t)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beeps(at: &[usize], len: usize) -> Vec<i16> {
        let mut samples = vec![0i16; len];
        for &start in at {
            for (k, s) in samples[start..start + 480].iter_mut().enumerate() {
                *s = if k % 48 < 24 { 12_000 } else { -12_000 };
            }
        }
        samples
    }

    #[test]
    fn finds_each_beep_once() {
        let samples = beeps(&[4_800, 28_800], 48_000);
        assert_eq!(onsets(&samples, 3_000, 2_400), vec![4_800, 28_800]);
    }

    #[test]
    fn two_recordings_share_a_clock_and_give_the_delay() {
        // The same beeps, the second recording 60 ms later; callbacks of 480
        // samples arrive up to 5 ms late, at random.
        let (mouth_samples, ear_samples) = (
            beeps(&[4_800, 28_800], 48_000),
            beeps(&[4_800 + 2_880, 28_800 + 2_880], 48_000),
        );
        let (mut mouth, mut ear) = (TimedRecording::default(), TimedRecording::default());
        for (n, (m, e)) in mouth_samples
            .chunks(480)
            .zip(ear_samples.chunks(480))
            .enumerate()
        {
            let due = (n + 1) as f64 * 0.01;
            let late = |salt: usize| ((n * 7919 + salt) % 50) as f64 / 10_000.0;
            mouth.push(m, 1.0 + due + late(1), 48_000);
            ear.push(e, 1.0 + due + late(2), 48_000);
        }
        let sent = mouth.onset_times(3_000, 2_400, 48_000);
        let got = delays(&sent, &ear.onset_times(3_000, 2_400, 48_000), 0.4);
        assert_eq!(got.len(), 2);
        for delay in got {
            assert!((delay - 0.060).abs() < 0.002, "delay {delay}");
        }
    }
}
