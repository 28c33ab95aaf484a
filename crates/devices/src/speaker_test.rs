//! The speaker test in Settings: a short tone played on the chosen speaker,
//! on a stream of its own, so whatever the call plays goes on beside it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use conclave_media::ToneSource;

use crate::audio::{self, AudioStream, SAMPLE_RATE};
use crate::{DeviceError, NO_SPEAKER};

/// The test tone's pitch: A5, above the voices and synthetic members' tones.
pub const TEST_SOUND_HZ: f32 = 880.0;
/// How long the test tone plays.
pub const TEST_SOUND_LENGTH: Duration = Duration::from_millis(1000);
/// How long the stream stays open after the tone was written (see `play`).
const STREAM_DELAY: Duration = Duration::from_secs(3);
/// Fade in and out, so the tone starts and stops without a click.
const FADE: Duration = Duration::from_millis(30);

/// The test tone: [`TEST_SOUND_LENGTH`] of [`TEST_SOUND_HZ`], 48 kHz mono, faded at both ends.
pub fn test_sound() -> Vec<i16> {
    let len = (SAMPLE_RATE as u128 * TEST_SOUND_LENGTH.as_millis() / 1000) as usize;
    let fade = (SAMPLE_RATE as u128 * FADE.as_millis() / 1000) as usize;
    let mut samples = vec![0i16; len];
    ToneSource::new(TEST_SOUND_HZ, SAMPLE_RATE).next_samples(&mut samples);
    for (i, s) in samples.iter_mut().enumerate() {
        let edge = i.min(len - 1 - i);
        if edge < fade {
            *s = (*s as f32 * edge as f32 / fade as f32) as i16;
        }
    }
    samples
}

/// Plays the test tone, one at a time: a new test stops the one playing.
#[derive(Default)]
pub struct SpeakerTest {
    playing: Arc<Mutex<Option<AudioStream>>>,
    /// Which test is playing, so the timer of an earlier one leaves a later one alone.
    generation: Arc<AtomicU64>,
}

impl SpeakerTest {
    /// Plays the test tone on speaker `id` (the silent speaker plays nothing).
    /// Returns once the stream is open; it closes by itself after the tone.
    pub fn play(&self, id: &str) -> Result<(), DeviceError> {
        let stop = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        self.playing.lock().unwrap().take();
        if id == NO_SPEAKER {
            return Ok(());
        }
        let sound = test_sound();
        let mut at = 0;
        let stream = audio::open_speaker(
            id,
            move |out| {
                let n = out.len().min(sound.len() - at);
                out[..n].copy_from_slice(&sound[at..at + n]);
                out[n..].fill(0);
                at += n;
            },
            |err| tracing::warn!(%err, "the speaker test failed"),
        )?;
        *self.playing.lock().unwrap() = Some(stream);
        let (playing, generation) = (self.playing.clone(), self.generation.clone());
        std::thread::spawn(move || {
            // PulseAudio starts a stream once its buffer is full, which we fill
            // in real time: the tone comes out up to ~2 s late, and closing the
            // stream earlier would drop what is still buffered.
            std::thread::sleep(TEST_SOUND_LENGTH + STREAM_DELAY);
            if generation.load(Ordering::SeqCst) == stop {
                playing.lock().unwrap().take();
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::{dominant_frequency, level_dbfs};

    #[test]
    fn the_test_sound_is_an_audible_880_hz_that_starts_and_ends_silent() {
        let sound = test_sound();
        assert_eq!(sound.len(), 48_000);
        let hz = dominant_frequency(&sound, SAMPLE_RATE).expect("a pitch");
        assert!((hz - TEST_SOUND_HZ).abs() < 5.0, "{hz} Hz");
        assert!(level_dbfs(&sound) > -20.0, "loud enough to hear");
        assert_eq!((sound[0], sound[sound.len() - 1]), (0, 0), "no click");
    }

    #[test]
    fn the_silent_speaker_plays_nothing_and_an_unknown_one_is_an_error() {
        let test = SpeakerTest::default();
        assert_eq!(test.play(NO_SPEAKER), Ok(()));
        assert!(test.play("pulse:no-such-sink-anywhere").is_err());
    }
}
