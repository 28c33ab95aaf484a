//! A machine-readable stamp burned into the picture: frame counter and capture
//! time, so the receiving side can measure end-to-end latency and spot
//! dropped or repeated frames *after* lossy VP8 coding, with no side channel.
//!
//! Layout: a black band across the top of the frame holding 3 rows x 32
//! columns of cells, each cell black (0) or white (1). Columns are an equal
//! share of the width and rows scale with the height, so the cells stay
//! several VP8 transform blocks large at every resolution from 320x180 to
//! 1920x1080; reading thresholds each cell's mean luma, which survives
//! quantisation far better than individual pixels.
//!
//! The 96 bits: 32-bit frame number, the low 56 bits of the capture time in
//! microseconds (2^56 us is ~2283 years, so a Unix-epoch clock fits), and a
//! CRC-8 over those 88 bits. The whole word is XORed with a fixed mask so a
//! plain black or white band never reads as a valid stamp.

use crate::I420Frame;
use crate::frame::{UV_NEUTRAL, Y_BLACK, Y_WHITE};

const ROWS: u32 = 3;
const COLS: u32 = 32;
const BYTES: usize = 12;
const TIME_MASK: u64 = (1 << 56) - 1;
const WHITEN: [u8; BYTES] = [
    0xa5, 0x3c, 0x96, 0x0f, 0x5a, 0xc3, 0x69, 0xf0, 0x1e, 0xb4, 0x4b, 0xd2,
];

/// Narrower frames cannot hold 32 readable columns.
const MIN_WIDTH: u32 = 64;

/// A cell's mean luma must be clearly dark or clearly light; anything in
/// between means the band is not a stamp (or was mangled) and we refuse to
/// guess.
const DARK_MAX: u32 = 95;
const LIGHT_MIN: u32 = 155;

/// Height of one row of cells: 1/32 of the frame height, a multiple of 4 so
/// rows line up with VP8's 4x4 transforms, and at least 8 pixels.
fn cell_height(height: u32) -> u32 {
    ((height / 32) & !3).max(8)
}

/// Height of the band at the top of the frame that the stamp owns (the cell
/// rows plus a black margin so the picture below does not bleed into the
/// cells). Content analysis should skip these rows.
pub fn stamp_band_height(height: u32) -> u32 {
    let cell = cell_height(height);
    (ROWS * cell + cell / 2).min(height)
}

fn fits(frame: &I420Frame) -> bool {
    frame.width >= MIN_WIDTH && frame.height >= 2 * stamp_band_height(frame.height)
}

/// The pixel rectangle (x0, y0, x1, y1) of cell `index` (row-major).
fn cell_rect(width: u32, height: u32, index: u32) -> (u32, u32, u32, u32) {
    let (row, col) = (index / COLS, index % COLS);
    let ch = cell_height(height);
    let x0 = col * width / COLS;
    let x1 = (col + 1) * width / COLS;
    (x0, row * ch, x1, (row + 1) * ch)
}

/// Burns the stamp into the top band of `frame` (overwriting it). Frames
/// narrower than 64 pixels or too short to spare the band are left alone.
pub fn write_stamp(frame: &mut I420Frame, frame_number: u32, capture_time_us: u64) {
    if !fits(frame) {
        return;
    }
    let band = stamp_band_height(frame.height);
    let w = frame.width as usize;
    frame.y[..band as usize * w].fill(Y_BLACK);
    let chroma_rows = band.div_ceil(2) as usize;
    frame.u[..chroma_rows * w / 2].fill(UV_NEUTRAL);
    frame.v[..chroma_rows * w / 2].fill(UV_NEUTRAL);

    let bytes = encode_word(frame_number, capture_time_us);
    for index in 0..ROWS * COLS {
        if bit(&bytes, index) {
            let (x0, y0, x1, y1) = cell_rect(frame.width, frame.height, index);
            for row in y0..y1 {
                let start = row as usize * w;
                frame.y[start + x0 as usize..start + x1 as usize].fill(Y_WHITE);
            }
        }
    }
}

/// Reads the stamp back: `None` if the frame has no stamp, a cell is
/// ambiguous, or the checksum does not match.
pub fn read_stamp(frame: &I420Frame) -> Option<(u32, u64)> {
    if !fits(frame) || frame.y.len() != frame.width as usize * frame.height as usize {
        return None;
    }
    let mut bytes = [0u8; BYTES];
    for index in 0..ROWS * COLS {
        let mean = inner_mean(frame, cell_rect(frame.width, frame.height, index))?;
        let one = if mean >= LIGHT_MIN {
            true
        } else if mean <= DARK_MAX {
            false
        } else {
            return None;
        };
        if one {
            bytes[(index / 8) as usize] |= 0x80 >> (index % 8);
        }
    }
    decode_word(bytes)
}

/// Mean luma of the middle half (in each direction) of a cell: the edges are
/// where VP8 ringing and chroma-edge artefacts live.
fn inner_mean(frame: &I420Frame, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> Option<u32> {
    let (mx, my) = ((x1 - x0) / 4, (y1 - y0) / 4);
    let (x0, x1, y0, y1) = (x0 + mx, x1 - mx, y0 + my, y1 - my);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let w = frame.width as usize;
    let sum: u32 = (y0..y1)
        .map(|row| {
            let start = row as usize * w;
            frame.y[start + x0 as usize..start + x1 as usize]
                .iter()
                .map(|&p| p as u32)
                .sum::<u32>()
        })
        .sum();
    Some(sum / ((x1 - x0) * (y1 - y0)))
}

fn bit(bytes: &[u8; BYTES], index: u32) -> bool {
    bytes[(index / 8) as usize] & (0x80 >> (index % 8)) != 0
}

fn encode_word(frame_number: u32, capture_time_us: u64) -> [u8; BYTES] {
    let mut bytes = [0u8; BYTES];
    bytes[..4].copy_from_slice(&frame_number.to_be_bytes());
    bytes[4..11].copy_from_slice(&(capture_time_us & TIME_MASK).to_be_bytes()[1..]);
    bytes[11] = crc8(&bytes[..11]);
    for (b, m) in bytes.iter_mut().zip(WHITEN) {
        *b ^= m;
    }
    bytes
}

fn decode_word(mut bytes: [u8; BYTES]) -> Option<(u32, u64)> {
    for (b, m) in bytes.iter_mut().zip(WHITEN) {
        *b ^= m;
    }
    if crc8(&bytes[..11]) != bytes[11] {
        return None;
    }
    let frame_number = u32::from_be_bytes(bytes[..4].try_into().ok()?);
    let mut time = [0u8; 8];
    time[1..].copy_from_slice(&bytes[4..11]);
    Some((frame_number, u64::from_be_bytes(time)))
}

/// CRC-8, polynomial 0x07, initial value 0xff: detects every single-bit and
/// every burst error up to 8 bits, and 255/256 of the rest.
fn crc8(data: &[u8]) -> u8 {
    let mut crc: u8 = 0xff;
    for &byte in data {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rgb;

    #[test]
    fn round_trip_on_raw_frames_of_many_sizes() {
        for (w, h) in [
            (320, 180),
            (640, 360),
            (1280, 720),
            (1920, 1080),
            (352, 288),
            (64, 64),
        ] {
            let mut f = I420Frame::new_black(w, h);
            f.fill(Rgb::new(240, 210, 30));
            for (n, t) in [
                (0u32, 0u64),
                (1, 1_700_000_000_123_456),
                (u32::MAX, TIME_MASK),
            ] {
                write_stamp(&mut f, n, t);
                assert_eq!(read_stamp(&f), Some((n, t)), "{w}x{h}");
            }
            if h >= 180 {
                assert!(stamp_band_height(h) * 6 <= h, "band too tall at {w}x{h}");
            }
        }
    }

    #[test]
    fn plain_frames_and_flipped_bits_read_as_none() {
        for colour in [
            Rgb::new(0, 0, 0),
            Rgb::new(255, 255, 255),
            Rgb::new(128, 128, 128),
        ] {
            let mut f = I420Frame::new_black(640, 360);
            f.fill(colour);
            assert_eq!(read_stamp(&f), None, "{colour:?}");
        }
        // Every single flipped cell is caught by the CRC.
        let mut f = I420Frame::new_black(640, 360);
        write_stamp(&mut f, 1234, 5678);
        for index in 0..ROWS * COLS {
            let mut g = f.clone();
            let (x0, y0, x1, y1) = cell_rect(g.width, g.height, index);
            let was_white = g.y[(y0 * g.width + x0 + (x1 - x0) / 2) as usize] == Y_WHITE;
            let paint = if was_white {
                Rgb::new(0, 0, 0)
            } else {
                Rgb::new(255, 255, 255)
            };
            g.fill_rect(x0, y0, x1 - x0, y1 - y0, paint);
            assert_eq!(read_stamp(&g), None, "cell {index}");
        }
    }

    #[test]
    fn too_small_frames_are_left_alone() {
        let mut f = I420Frame::new_black(32, 32);
        f.fill(Rgb::new(255, 0, 0));
        let before = f.y.clone();
        write_stamp(&mut f, 1, 2);
        assert_eq!(f.y, before);
        assert_eq!(read_stamp(&f), None);
    }
}
