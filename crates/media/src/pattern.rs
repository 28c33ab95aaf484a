//! The synthetic camera: a member-coloured picture with a small moving square
//! (so the encoder sees real motion, not a still image) and a stamp band.

use crate::{I420Frame, Rgb, stamp};

pub struct TestPattern {
    colour: Rgb,
    square_colour: Rgb,
    frame: I420Frame,
}

impl TestPattern {
    /// `width`/`height` are rounded down to even.
    pub fn new(colour: Rgb, width: u32, height: u32) -> Self {
        TestPattern {
            colour,
            // Lighter but still clearly the member's colour.
            square_colour: colour.lighter(0.5),
            frame: I420Frame::new_black(width, height),
        }
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
}
