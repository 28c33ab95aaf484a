//! The synthetic screen: a small "desktop" to share. It is built to look
//! nothing like the camera pattern (mostly dark, sharp text-like detail), so
//! a receiver can tell a screen share from a camera track by looking.

use crate::frame::yuv_to_rgb;
use crate::{I420Frame, Rgb, stamp};

const DESKTOP: Rgb = Rgb::new(24, 26, 33);
const TASKBAR: Rgb = Rgb::new(40, 42, 50);
const WINDOW_BODY: Rgb = Rgb::new(236, 236, 232);
const GLYPH: Rgb = Rgb::new(50, 52, 60);
const BUTTON: Rgb = Rgb::new(245, 245, 245);
const CURSOR: Rgb = Rgb::new(255, 255, 255);

/// Luma at or below which a pixel counts as "desktop dark". The desktop and
/// taskbar are ~38 and ~52; every member colour is >= 100.
const DARK_LUMA_MAX: u8 = 64;
/// The desktop covers ~60% of the area below the stamp band.
const MIN_DARK_SHARE: f32 = 0.45;
const TITLE_COLOUR_TOLERANCE: u32 = 40;
const BODY_MIN_LUMA: u32 = 140;

/// Where everything sits, derived from the frame size alone so the receiver
/// can recompute it.
struct Layout {
    top: u32,
    window: Rect,
    title: Rect,
    body: Rect,
    taskbar: Rect,
    glyph_h: u32,
}

#[derive(Clone, Copy)]
struct Rect {
    x: u32,
    y: u32,
    w: u32,
    h: u32,
}

impl Layout {
    fn new(width: u32, height: u32) -> Layout {
        let even = |v: u32| v & !1;
        let top = stamp::stamp_band_height(height).next_multiple_of(2);
        let below = height.saturating_sub(top);
        let taskbar_h = even((height / 20).max(4));
        let window = Rect {
            x: even(width * 18 / 100),
            y: even(top + below * 12 / 100),
            w: even(width * 64 / 100),
            h: even(below * 62 / 100),
        };
        let title_h = even((height / 24).max(8));
        let title = Rect {
            h: title_h,
            ..window
        };
        let body = Rect {
            y: window.y + title_h,
            h: window.h.saturating_sub(title_h),
            ..window
        };
        let taskbar = Rect {
            x: 0,
            y: height - taskbar_h,
            w: width,
            h: taskbar_h,
        };
        Layout {
            top,
            window,
            title,
            body,
            taskbar,
            glyph_h: even((height / 60).max(4)),
        }
    }
}

pub struct SyntheticScreen {
    /// Everything but the cursor and the stamp; copied into `frame` each
    /// render so a frame costs one memcpy plus a few small rectangles.
    background: I420Frame,
    frame: I420Frame,
    window: Rect,
}

impl SyntheticScreen {
    /// `width`/`height` are rounded down to even.
    pub fn new(colour: Rgb, width: u32, height: u32) -> Self {
        let mut bg = I420Frame::new_black(width, height);
        let layout = Layout::new(bg.width, bg.height);
        bg.fill(DESKTOP);
        let fill = |f: &mut I420Frame, r: Rect, c: Rgb| f.fill_rect(r.x, r.y, r.w, r.h, c);
        fill(&mut bg, layout.taskbar, TASKBAR);
        fill(&mut bg, layout.window, WINDOW_BODY);
        fill(&mut bg, layout.title, colour);
        // Three window buttons at the right end of the title bar.
        let t = layout.title;
        let b = (t.h / 2) & !1;
        for i in 1..=3 {
            let x = (t.x + t.w).saturating_sub(i * 2 * b);
            bg.fill_rect(x, t.y + t.h / 4, b, b, BUTTON);
        }
        draw_text(&mut bg, layout.body, layout.glyph_h);
        let frame = bg.clone();
        SyntheticScreen {
            background: bg,
            frame,
            window: layout.window,
        }
    }

    /// Draws frame `frame_number`: the static desktop with the mouse cursor
    /// drifting across the window, plus the stamp.
    pub fn render(&mut self, frame_number: u32, capture_time_us: u64) -> &I420Frame {
        self.frame.y.copy_from_slice(&self.background.y);
        self.frame.u.copy_from_slice(&self.background.u);
        self.frame.v.copy_from_slice(&self.background.v);

        // A slow loop around the middle of the window, a few pixels a frame,
        // like someone pointing at things.
        let w = self.window;
        let t = frame_number as f32 * 0.07;
        let cx = (w.x + w.w / 2) as f32 + w.w as f32 * 0.3 * t.cos();
        let cy = (w.y + w.h / 2) as f32 + w.h as f32 * 0.3 * (1.3 * t).sin();
        let size = (self.frame.height / 40).max(6);
        draw_cursor(
            &mut self.frame,
            cx.max(0.0) as u32,
            cy.max(0.0) as u32,
            size,
        );

        stamp::write_stamp(&mut self.frame, frame_number, capture_time_us);
        &self.frame
    }
}

/// Rows of "words": runs of glyph-sized dark blocks with ragged line ends,
/// which gives the encoder the sharp, high-contrast edges of real text.
fn draw_text(frame: &mut I420Frame, body: Rect, glyph_h: u32) {
    let glyph_w = (glyph_h * 2 / 3).max(2);
    let line_h = glyph_h * 2;
    let margin = glyph_h * 2;
    let mut rng: u32 = 0x1234_5678;
    let mut next = |n: u32| {
        // xorshift32: deterministic filler, not security.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng % n
    };
    let right = body.x + body.w.saturating_sub(margin);
    let mut y = body.y + margin;
    while y + glyph_h + margin <= body.y + body.h {
        let line_end = right.saturating_sub(next(body.w / 3 + 1));
        let mut x = body.x + margin;
        while x < line_end {
            let word = 2 + next(8);
            for _ in 0..word {
                if x + glyph_w > line_end {
                    break;
                }
                // Some glyphs have ascenders, like real text.
                let tall = next(4) == 0;
                let (gy, gh) = if tall {
                    (y - glyph_h / 3, glyph_h + glyph_h / 3)
                } else {
                    (y, glyph_h)
                };
                frame.fill_rect(x, gy, glyph_w, gh, GLYPH);
                x += glyph_w + 2;
            }
            x += glyph_w + 2;
        }
        y += line_h;
    }
}

/// A white arrow: a stack of rows that widen downwards, and a stem.
fn draw_cursor(frame: &mut I420Frame, x: u32, y: u32, size: u32) {
    for row in 0..size {
        frame.fill_rect(x, y + row, row / 2 + 1, 1, CURSOR);
    }
    frame.fill_rect(x + size / 4, y + size, (size / 5).max(2), size / 2, CURSOR);
}

/// True if `frame` looks like a [`SyntheticScreen`] of the member with
/// `colour`: the dark desktop covers most of the picture, the title bar is
/// the member colour and the window body is light. A camera pattern frame
/// fails the first test, another member's screen the second.
pub fn looks_like_synthetic_screen(frame: &I420Frame, colour: Rgb) -> bool {
    if frame.validate().is_err() {
        return false;
    }
    let layout = Layout::new(frame.width, frame.height);
    let w = frame.width as usize;
    let below_band = &frame.y[layout.top as usize * w..];
    if below_band.is_empty() {
        return false;
    }
    let dark = below_band.iter().filter(|&&p| p <= DARK_LUMA_MAX).count();
    if (dark as f32) < MIN_DARK_SHARE * below_band.len() as f32 {
        return false;
    }

    // The left part of the title bar, away from its edges and the buttons.
    let t = layout.title;
    let title_inner = Rect {
        x: t.x + t.w / 10,
        y: t.y + t.h / 4,
        w: t.w / 2,
        h: t.h / 2,
    };
    let Some(title) = mean_rgb(frame, title_inner) else {
        return false;
    };
    if title.distance(colour) > TITLE_COLOUR_TOLERANCE {
        return false;
    }
    let body_luma = mean_luma(frame, layout.body);
    body_luma >= BODY_MIN_LUMA
}

fn mean_luma(frame: &I420Frame, r: Rect) -> u32 {
    let w = frame.width as usize;
    let mut sum = 0u64;
    for row in r.y..r.y + r.h {
        let start = row as usize * w + r.x as usize;
        sum += frame.y[start..start + r.w as usize]
            .iter()
            .map(|&p| p as u64)
            .sum::<u64>();
    }
    (sum / (r.w as u64 * r.h as u64).max(1)) as u32
}

fn mean_rgb(frame: &I420Frame, r: Rect) -> Option<Rgb> {
    let (cx0, cy0, cx1, cy1) = (r.x / 2, r.y / 2, (r.x + r.w) / 2, (r.y + r.h) / 2);
    if cx1 <= cx0 || cy1 <= cy0 {
        return None;
    }
    let cw = frame.width as usize / 2;
    let (mut su, mut sv) = (0u64, 0u64);
    for row in cy0..cy1 {
        let start = row as usize * cw;
        let range = start + cx0 as usize..start + cx1 as usize;
        su += frame.u[range.clone()]
            .iter()
            .map(|&p| p as u64)
            .sum::<u64>();
        sv += frame.v[range].iter().map(|&p| p as u64).sum::<u64>();
    }
    let n = ((cx1 - cx0) * (cy1 - cy0)) as u64;
    Some(yuv_to_rgb(
        mean_luma(frame, r) as u8,
        (su / n) as u8,
        (sv / n) as u8,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TestPattern;

    #[test]
    fn raw_screen_is_recognised_and_camera_is_not() {
        let red = Rgb::new(230, 40, 60);
        let blue = Rgb::new(60, 100, 230);
        for (w, h) in [(1920, 1080), (1280, 720), (640, 360)] {
            let mut s = SyntheticScreen::new(red, w, h);
            let f = s.render(7, 1000).clone();
            assert!(looks_like_synthetic_screen(&f, red), "{w}x{h}");
            assert!(
                !looks_like_synthetic_screen(&f, blue),
                "{w}x{h} wrong colour accepted"
            );
            assert_eq!(stamp::read_stamp(&f), Some((7, 1000)));
            let mut p = TestPattern::new(red, w, h);
            assert!(!looks_like_synthetic_screen(p.render(7, 1000), red));
        }
    }

    #[test]
    fn cursor_moves() {
        let mut s = SyntheticScreen::new(Rgb::new(0, 150, 150), 1280, 720);
        let a = s.render(0, 0).y.clone();
        let b = s.render(1, 0).y.clone();
        let band = (stamp::stamp_band_height(720) * 1280) as usize;
        assert_ne!(a[band..], b[band..]);
    }
}
