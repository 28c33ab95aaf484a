//! Raw pictures and colours.

use serde::{Deserialize, Serialize};

use crate::MediaError;

/// Limited-range ("studio swing") black and neutral chroma, as VP8 expects.
pub(crate) const Y_BLACK: u8 = 16;
pub(crate) const Y_WHITE: u8 = 235;
pub(crate) const UV_NEUTRAL: u8 = 128;

/// A planar YUV 4:2:0 picture with tightly packed planes.
///
/// Invariants (every constructor in this crate keeps them; code that builds
/// one by hand must too): `width` and `height` are even and non-zero,
/// `y.len() == width * height`, `u.len() == v.len() == width/2 * height/2`.
/// The stride of the luma plane is `width`, of each chroma plane `width / 2`.
#[derive(Clone, Debug)]
pub struct I420Frame {
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl I420Frame {
    /// A black frame. Odd sizes are rounded down to even (minimum 2x2) because
    /// 4:2:0 chroma needs pairs of rows and columns.
    pub fn new_black(width: u32, height: u32) -> Self {
        let (w, h) = (even_at_least_2(width), even_at_least_2(height));
        let luma = (w * h) as usize;
        let chroma = luma / 4;
        I420Frame {
            width: w,
            height: h,
            y: vec![Y_BLACK; luma],
            u: vec![UV_NEUTRAL; chroma],
            v: vec![UV_NEUTRAL; chroma],
        }
    }

    /// Checks the plane-length invariants; codecs call this before handing
    /// the planes to C code.
    pub(crate) fn validate(&self) -> Result<(), MediaError> {
        if self.width == 0
            || self.height == 0
            || !self.width.is_multiple_of(2)
            || !self.height.is_multiple_of(2)
        {
            return Err(MediaError::MalformedFrame(format!(
                "dimensions {}x{} must be even and non-zero",
                self.width, self.height
            )));
        }
        let luma = self.width as usize * self.height as usize;
        if self.y.len() != luma || self.u.len() != luma / 4 || self.v.len() != luma / 4 {
            return Err(MediaError::MalformedFrame(format!(
                "{}x{} needs planes of {}/{}/{} bytes, got {}/{}/{}",
                self.width,
                self.height,
                luma,
                luma / 4,
                luma / 4,
                self.y.len(),
                self.u.len(),
                self.v.len()
            )));
        }
        Ok(())
    }

    /// The rectangle at (`x`, `y`) of `width`×`height`, clipped to the frame
    /// and rounded to even coordinates (chroma is subsampled 2×2).
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> I420Frame {
        let (x, y) = (x.min(self.width) & !1, y.min(self.height) & !1);
        let w = width.min(self.width - x) & !1;
        let h = height.min(self.height - y) & !1;
        let mut out = I420Frame::new_black(w, h);
        for row in 0..h as usize {
            let from = (y as usize + row) * self.width as usize + x as usize;
            out.y[row * w as usize..(row + 1) * w as usize]
                .copy_from_slice(&self.y[from..from + w as usize]);
        }
        let (cw, scw) = (w as usize / 2, self.width as usize / 2);
        for row in 0..h as usize / 2 {
            let from = (y as usize / 2 + row) * scw + x as usize / 2;
            out.u[row * cw..(row + 1) * cw].copy_from_slice(&self.u[from..from + cw]);
            out.v[row * cw..(row + 1) * cw].copy_from_slice(&self.v[from..from + cw]);
        }
        out
    }

    /// A bilinear rescale. Odd target sizes are rounded down to even
    /// (minimum 2x2).
    pub fn scaled(&self, width: u32, height: u32) -> I420Frame {
        let (w, h) = (even_at_least_2(width), even_at_least_2(height));
        if (w, h) == (self.width, self.height) {
            return self.clone();
        }
        let mut out = I420Frame::new_black(w, h);
        scale_plane(&self.y, self.width, self.height, &mut out.y, w, h);
        let (scw, sch, dcw, dch) = (self.width / 2, self.height / 2, w / 2, h / 2);
        scale_plane(&self.u, scw, sch, &mut out.u, dcw, dch);
        scale_plane(&self.v, scw, sch, &mut out.v, dcw, dch);
        out
    }

    /// Converts to interleaved 8-bit RGBA (alpha 255), row-major, for display
    /// or for writing PNGs in debugging.
    pub fn to_rgba(&self) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let cw = w / 2;
        let mut out = Vec::with_capacity(w * h * 4);
        for row in 0..h {
            let y_row = &self.y[row * w..(row + 1) * w];
            let c_off = (row / 2) * cw;
            for (col, &luma) in y_row.iter().enumerate() {
                let rgb = yuv_to_rgb(luma, self.u[c_off + col / 2], self.v[c_off + col / 2]);
                out.extend_from_slice(&[rgb.r, rgb.g, rgb.b, 255]);
            }
        }
        out
    }

    /// Paints a solid rectangle, clipped to the frame. Chroma is 2x2
    /// subsampled, so a rectangle with odd edges also tints the chroma of the
    /// neighbouring half-covered pixels; callers that care use even edges.
    pub fn fill_rect(&mut self, x: u32, y: u32, w: u32, h: u32, color: Rgb) {
        let (fw, fh) = (self.width, self.height);
        let x1 = x.saturating_add(w).min(fw);
        let y1 = y.saturating_add(h).min(fh);
        if x >= x1 || y >= y1 {
            return;
        }
        let (yy, uu, vv) = color.to_yuv();
        for row in y..y1 {
            let start = (row * fw) as usize;
            self.y[start + x as usize..start + x1 as usize].fill(yy);
        }
        let cw = fw / 2;
        let (cx0, cx1) = (x / 2, x1.div_ceil(2));
        for crow in y / 2..y1.div_ceil(2) {
            let start = (crow * cw) as usize;
            self.u[start + cx0 as usize..start + cx1 as usize].fill(uu);
            self.v[start + cx0 as usize..start + cx1 as usize].fill(vv);
        }
    }

    /// Paints the whole frame one colour (faster than `fill_rect`).
    pub(crate) fn fill(&mut self, color: Rgb) {
        let (y, u, v) = color.to_yuv();
        self.y.fill(y);
        self.u.fill(u);
        self.v.fill(v);
    }
}

fn even_at_least_2(n: u32) -> u32 {
    (n & !1).max(2)
}

/// Bilinear resampling of one plane, 8.8 fixed point, sampling at pixel
/// centres so the picture does not shift by half a pixel.
fn scale_plane(src: &[u8], sw: u32, sh: u32, dst: &mut [u8], dw: u32, dh: u32) {
    // For each destination coordinate: the two source taps and the weight
    // (0..=256) of the second one.
    fn taps(src_len: u32, dst_len: u32) -> Vec<(usize, usize, u32)> {
        let ratio = src_len as f32 / dst_len as f32;
        (0..dst_len)
            .map(|d| {
                let pos = ((d as f32 + 0.5) * ratio - 0.5).clamp(0.0, (src_len - 1) as f32);
                let i0 = pos.floor() as u32;
                let i1 = (i0 + 1).min(src_len - 1);
                let frac = ((pos - i0 as f32) * 256.0).round() as u32;
                (i0 as usize, i1 as usize, frac)
            })
            .collect()
    }
    let xs = taps(sw, dw);
    let sw = sw as usize;
    for (dy, &(y0, y1, fy)) in taps(sh, dh).iter().enumerate() {
        let (r0, r1) = (&src[y0 * sw..(y0 + 1) * sw], &src[y1 * sw..(y1 + 1) * sw]);
        let out = &mut dst[dy * dw as usize..(dy + 1) * dw as usize];
        for (o, &(x0, x1, fx)) in out.iter_mut().zip(&xs) {
            let top = r0[x0] as u32 * (256 - fx) + r0[x1] as u32 * fx;
            let bottom = r1[x0] as u32 * (256 - fx) + r1[x1] as u32 * fx;
            *o = ((top * (256 - fy) + bottom * fy + (1 << 15)) >> 16) as u8;
        }
    }
}

/// An sRGB colour, 8 bits per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rgb {
    pub r: u8,
    pub g: u8,
    pub b: u8,
}

impl Rgb {
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb { r, g, b }
    }

    /// BT.601, limited range (Y 16..=235, Cb/Cr 16..=240): what VP8 and
    /// WebRTC assume for camera content.
    pub fn to_yuv(self) -> (u8, u8, u8) {
        let (r, g, b) = (self.r as i32, self.g as i32, self.b as i32);
        let y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
        let u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
        let v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
        (clamp_u8(y), clamp_u8(u), clamp_u8(v))
    }

    /// The largest per-channel difference: a simple, explainable tolerance for
    /// "is this still the same colour after lossy coding".
    pub fn distance(self, other: Rgb) -> u32 {
        let d = |a: u8, b: u8| (a as i32 - b as i32).unsigned_abs();
        d(self.r, other.r)
            .max(d(self.g, other.g))
            .max(d(self.b, other.b))
    }

    /// Parses `#rrggbb` (the `#` is optional, hex digits in either case).
    pub fn parse_hex(s: &str) -> Result<Rgb, MediaError> {
        let digits = s.strip_prefix('#').unwrap_or(s);
        let bad = || MediaError::InvalidColour(s.to_string());
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let channel = |i: usize| u8::from_str_radix(&digits[i..i + 2], 16).map_err(|_| bad());
        Ok(Rgb {
            r: channel(0)?,
            g: channel(2)?,
            b: channel(4)?,
        })
    }

    /// `#rrggbb`, lower case.
    pub fn to_hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
    }

    /// Blends towards white by `amount` in 0..=1 (0 = unchanged).
    pub(crate) fn lighter(self, amount: f32) -> Rgb {
        let mix = |c: u8| (c as f32 + (255.0 - c as f32) * amount).round() as u8;
        Rgb {
            r: mix(self.r),
            g: mix(self.g),
            b: mix(self.b),
        }
    }
}

/// Inverse of [`Rgb::to_yuv`] (BT.601 limited range).
pub(crate) fn yuv_to_rgb(y: u8, u: u8, v: u8) -> Rgb {
    let c = 298 * (y as i32 - 16);
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    Rgb {
        r: clamp_u8((c + 409 * e + 128) >> 8),
        g: clamp_u8((c - 100 * d - 208 * e + 128) >> 8),
        b: clamp_u8((c + 516 * d + 128) >> 8),
    }
}

fn clamp_u8(v: i32) -> u8 {
    v.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_rejects_garbage() {
        let c = Rgb::parse_hex("#1A2b3c").unwrap();
        assert_eq!(c, Rgb::new(0x1a, 0x2b, 0x3c));
        assert_eq!(c.to_hex(), "#1a2b3c");
        for bad in ["", "#", "#12345", "#1234567", "#gg0000", "#12 345"] {
            assert!(Rgb::parse_hex(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn yuv_round_trip_is_close() {
        for c in [
            Rgb::new(0, 0, 0),
            Rgb::new(255, 255, 255),
            Rgb::new(230, 40, 60),
            Rgb::new(60, 100, 230),
            Rgb::new(240, 210, 30),
        ] {
            let (y, u, v) = c.to_yuv();
            let back = yuv_to_rgb(y, u, v);
            assert!(c.distance(back) <= 4, "{c:?} -> {back:?}");
        }
        assert_eq!(Rgb::new(0, 0, 0).to_yuv(), (16, 128, 128));
        assert_eq!(Rgb::new(255, 255, 255).to_yuv(), (235, 128, 128));
    }

    #[test]
    fn crop_takes_the_rectangle_and_clips_at_the_edges() {
        let mut f = I420Frame::new_black(64, 32);
        let pink = Rgb::new(200, 40, 120);
        f.fill_rect(48, 16, 16, 16, pink);
        let corner = f.crop(48, 16, 100, 100);
        assert_eq!((corner.width, corner.height), (16, 16));
        assert_eq!(corner.y[0], pink.to_yuv().0);
        assert_eq!(
            (corner.u[0], corner.v[0]),
            (pink.to_yuv().1, pink.to_yuv().2)
        );
        assert!(f.crop(0, 0, 16, 16).y.iter().all(|&y| y == Y_BLACK));
    }

    #[test]
    fn fill_rect_clips_and_scaled_keeps_content() {
        let mut f = I420Frame::new_black(64, 32);
        f.fill_rect(60, 30, 100, 100, Rgb::new(255, 255, 255));
        assert_eq!(f.y[31 * 64 + 63], 235);
        assert_eq!(f.y[29 * 64 + 63], 16);
        f.fill_rect(0, 0, 32, 32, Rgb::new(255, 0, 0));
        let s = f.scaled(32, 16);
        assert_eq!(
            (s.width, s.height, s.y.len(), s.u.len()),
            (32, 16, 512, 128)
        );
        let rgba = s.to_rgba();
        assert_eq!(rgba.len(), 32 * 16 * 4);
        // Centre of the red half is still red.
        let px = &rgba[(8 * 32 + 4) * 4..(8 * 32 + 4) * 4 + 3];
        assert!(
            Rgb::new(px[0], px[1], px[2]).distance(Rgb::new(255, 0, 0)) <= 6,
            "{px:?}"
        );
        s.validate().unwrap();
    }
}
