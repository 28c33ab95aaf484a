//! The synthetic camera: a member-coloured picture with a small moving square
//! (so the encoder sees real motion, not a still image) and a stamp band.
//!
//! Opt-in sensor noise ([`TestPattern::with_sensor_noise`]) makes it as hard
//! to code as a real webcam, for cost and load measurements.

use crate::{I420Frame, Rgb, stamp};

pub struct TestPattern {
    colour: Rgb,
    square_colour: Rgb,
    frame: I420Frame,
    /// Fixed fine texture added to the luma, when sensor noise is on.
    texture: Option<Vec<i8>>,
}

/// Texture amplitude: luma +-12, a detailed scene.
const TEXTURE_AMPLITUDE: u32 = 12;
/// Grain amplitude: luma +-3 on every 4th pixel, fresh each frame.
const GRAIN_AMPLITUDE: u32 = 3;

/// A cheap deterministic noise generator (xorshift32; the seed must be non-zero).
struct Noise(u32);

impl Noise {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

impl TestPattern {
    /// `width`/`height` are rounded down to even.
    pub fn new(colour: Rgb, width: u32, height: u32) -> Self {
        TestPattern {
            colour,
            // Lighter but still clearly the member's colour.
            square_colour: colour.lighter(0.5),
            frame: I420Frame::new_black(width, height),
            texture: None,
        }
    }

    /// Adds what a small camera sensor sees, so the encoder works (and
    /// spends bits) as it would on a real webcam: a fixed fine texture
    /// (luma +-12) and fresh per-frame grain (+-3 on every 4th pixel). The
    /// plain pattern is flat colour and nearly free to code. The stamp band
    /// stays clean, so stamps still read back after coding.
    pub fn with_sensor_noise(mut self, on: bool) -> Self {
        self.texture = on.then(|| {
            let mut noise = Noise(0x2545_f491);
            let span = 2 * TEXTURE_AMPLITUDE + 1;
            (0..self.frame.y.len())
                .map(|_| ((noise.next() % span) as i32 - TEXTURE_AMPLITUDE as i32) as i8)
                .collect()
        });
        self
    }

    /// Draws frame `frame_number`. The picture is a pure function of the
    /// arguments, so a receiver or a test can predict it.
    pub fn render(&mut self, frame_number: u32, capture_time_us: u64) -> &I420Frame {
        let (w, h) = (self.frame.width, self.frame.height);
        self.frame.fill(self.colour);

        // Side h/8 keeps the square at ~0.9% of a 16:9 frame (< 3%), so it
        // barely moves the mean colour the receiver checks.
        let side = (h / 8) & !1;
        let top = stamp::stamp_band_height(h).next_multiple_of(2);
        // Horizontal motion wraps around rather than bouncing, so x differs on
        // every frame (a bounce can revisit the same x at the turn).
        let x = wrap(frame_number, (w / 96 + 2) & !1, w.saturating_sub(side));
        let y = top + bounce(frame_number, h / 72 + 2, h.saturating_sub(top + side));
        self.frame
            .fill_rect(x & !1, y & !1, side, side, self.square_colour);

        if let Some(texture) = &self.texture {
            // Seeded by the frame number, so the picture stays a pure function of the arguments.
            let mut noise = Noise(frame_number.wrapping_mul(2_654_435_761) | 1);
            let span = 2 * GRAIN_AMPLITUDE + 1;
            for (i, (p, &t)) in self.frame.y.iter_mut().zip(texture).enumerate() {
                let grain = if i % 4 == 0 {
                    (noise.next() % span) as i32 - GRAIN_AMPLITUDE as i32
                } else {
                    0
                };
                *p = (*p as i32 + t as i32 + grain).clamp(16, 235) as u8;
            }
        }

        stamp::write_stamp(&mut self.frame, frame_number, capture_time_us);
        &self.frame
    }
}

/// Position after `n` steps of `speed` pixels moving right and wrapping
/// within 0..=range.
fn wrap(n: u32, speed: u32, range: u32) -> u32 {
    ((n as u64 * speed as u64) % (range as u64 + 1)) as u32
}

/// Position after `n` steps of `speed` pixels bouncing between 0 and `range`.
fn bounce(n: u32, speed: u32, range: u32) -> u32 {
    if range == 0 {
        return 0;
    }
    let pos = (n as u64 * speed as u64) % (2 * range as u64);
    (if pos > range as u64 {
        2 * range as u64 - pos
    } else {
        pos
    }) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_moves_every_frame_and_is_small() {
        let colour = Rgb::new(60, 100, 230);
        let mut p = TestPattern::new(colour, 640, 360);
        let bg = colour.to_yuv().0;
        let mut last_first_lit: Option<usize> = None;
        for n in 0..200 {
            let f = p.render(n, n as u64 * 33_333);
            let band = (stamp::stamp_band_height(360) * 640) as usize;
            let lit: Vec<usize> = (band..f.y.len()).filter(|&i| f.y[i] != bg).collect();
            assert!(!lit.is_empty());
            assert!(
                lit.len() as f32 <= 0.03 * 640.0 * 360.0,
                "square too big: {}",
                lit.len()
            );
            assert_ne!(
                Some(lit[0]),
                last_first_lit,
                "square did not move at frame {n}"
            );
            last_first_lit = Some(lit[0]);
            assert_eq!(stamp::read_stamp(f), Some((n, n as u64 * 33_333)));
        }
    }

    #[test]
    fn sensor_noise_is_opt_in_deterministic_and_keeps_the_stamp() {
        let colour = Rgb::new(60, 100, 230);
        let plain = TestPattern::new(colour, 640, 360).render(7, 1234).clone();
        let mut noisy = TestPattern::new(colour, 640, 360).with_sensor_noise(true);
        let a = noisy.render(7, 1234).clone();
        let b = noisy.render(8, 1234).clone();
        let again = noisy.render(7, 1234).clone();
        assert_eq!(a.y, again.y, "same arguments, same picture");
        assert_ne!(a.y, b.y, "grain changes every frame");
        let differing = a.y.iter().zip(&plain.y).filter(|(x, y)| x != y).count();
        assert!(differing > a.y.len() / 2, "only {differing} pixels noisy");
        assert_eq!(stamp::read_stamp(&a), Some((7, 1234)));
        let off = TestPattern::new(colour, 640, 360)
            .with_sensor_noise(false)
            .render(7, 1234)
            .clone();
        assert_eq!(off.y, plain.y);
    }
}
