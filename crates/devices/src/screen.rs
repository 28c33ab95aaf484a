//! Screens to share, captured with `scrap` (X11 shared memory).
//!
//! `scrap`'s display and capturer are not `Send`, so each capture owns one
//! thread that opens the display, grabs at the chosen rate, converts BGRA to
//! I420 and hands the frame on; a screen that stays still stops being sent
//! after a while. Our own window is not left out of the capture: X11 has no
//! way to exclude one window (see the README).

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use conclave_media::I420Frame;
use conclave_media::pace::run_paced;
use conclave_protocol::{Device, DeviceKind};

use crate::DeviceError;
use crate::capture_thread::CaptureThread;

const ID_PREFIX: &str = "screen:";
/// After a change, a still screen is sent this long so the encoder can refine
/// it until text is sharp; then nothing is sent until it changes again (an
/// encoder given the same picture forever keeps spending bits on it).
const REFINE_STILL_SCREEN: Duration = Duration::from_secs(3);

/// The displays of the X server in `DISPLAY` (none without one).
pub fn displays() -> Vec<Device> {
    if std::env::var_os("DISPLAY").is_none() {
        return Vec::new();
    }
    let Ok(all) = scrap::Display::all() else {
        return Vec::new();
    };
    all.iter()
        .enumerate()
        .map(|(index, display)| Device {
            id: format!("{ID_PREFIX}{index}"),
            label: format!(
                "Screen {} ({}×{})",
                index + 1,
                display.width(),
                display.height()
            ),
            kind: DeviceKind::Screen,
            synthetic: false,
        })
        .collect()
}

/// A running capture of one display; dropping it stops the thread.
pub struct ScreenCapture {
    _thread: CaptureThread,
    pub width: u32,
    pub height: u32,
}

impl ScreenCapture {
    /// Captures display `id` at `fps`, giving each frame to `on_frame`.
    /// `on_error` hears of a capture that fails after it started.
    pub fn start(
        id: &str,
        fps: u32,
        mut on_frame: impl FnMut(I420Frame) + Send + 'static,
        on_error: impl FnOnce(DeviceError) + Send + 'static,
    ) -> Result<ScreenCapture, DeviceError> {
        let index: usize = crate::index_in(id, ID_PREFIX)?;
        let label = id.to_owned();
        let open = {
            let label = label.clone();
            move || {
                let failed = |e: std::io::Error| DeviceError::Failed(label.clone(), e.to_string());
                let mut all = scrap::Display::all().map_err(failed)?;
                if index >= all.len() {
                    return Err(DeviceError::NotFound(label.clone()));
                }
                let capturer = scrap::Capturer::new(all.swap_remove(index)).map_err(failed)?;
                let size = (capturer.width() as u32, capturer.height() as u32);
                Ok((capturer, size))
            }
        };
        let run = move |mut capturer: scrap::Capturer, stop: &AtomicBool| {
            let (width, height) = (capturer.width(), capturer.height());
            let period = Duration::from_secs_f64(1.0 / fps.clamp(1, 60) as f64);
            let mut previous: Vec<u8> = Vec::new();
            let mut still_frames: u32 = 0;
            let refine_frames = REFINE_STILL_SCREEN.as_secs() as u32 * fps;
            let mut on_error = Some(on_error);
            run_paced(period, stop, || {
                match capturer.frame() {
                    Ok(bgra) => {
                        // One comparison per capture: it reads the whole screen.
                        if *bgra == previous[..] {
                            still_frames = still_frames.saturating_add(1);
                        } else {
                            still_frames = 0;
                            previous.clear();
                            previous.extend_from_slice(&bgra);
                        }
                        if still_frames <= refine_frames {
                            let stride = bgra.len() / height.max(1);
                            on_frame(bgra_to_i420(&bgra, width, height, stride));
                        }
                    }
                    Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(err) => {
                        if let Some(on_error) = on_error.take() {
                            on_error(DeviceError::Failed(label.clone(), err.to_string()));
                        }
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::Continue(())
            });
        };
        let (thread, (width, height)) = CaptureThread::spawn(&format!("capture-{id}"), open, run)?;
        Ok(ScreenCapture {
            _thread: thread,
            width,
            height,
        })
    }
}

/// BGRA/BGRX rows (`stride` bytes apart) to I420, BT.601 limited range like
/// [`conclave_media::Rgb::to_yuv`]. Odd sizes lose their last row/column.
/// Chroma is taken from the top-left pixel of each 2×2 block: cheap, and
/// sharp enough for screen content at the sizes we send.
pub fn bgra_to_i420(bgra: &[u8], width: usize, height: usize, stride: usize) -> I420Frame {
    let (w, h) = (width & !1, height & !1);
    let mut frame = I420Frame::new_black(w as u32, h as u32);
    for row in 0..h {
        let line = &bgra[row * stride..row * stride + w * 4];
        let y_out = &mut frame.y[row * w..(row + 1) * w];
        for (x, px) in line.chunks_exact(4).enumerate() {
            let (b, g, r) = (px[0] as i32, px[1] as i32, px[2] as i32);
            y_out[x] = (((66 * r + 129 * g + 25 * b + 128) >> 8) + 16) as u8;
        }
        if row % 2 == 0 {
            let cw = w / 2;
            let (u_out, v_out) = (
                &mut frame.u[(row / 2) * cw..(row / 2 + 1) * cw],
                &mut frame.v[(row / 2) * cw..(row / 2 + 1) * cw],
            );
            for x in 0..cw {
                let px = &line[x * 8..x * 8 + 4];
                let (b, g, r) = (px[0] as i32, px[1] as i32, px[2] as i32);
                u_out[x] = (((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
                v_out[x] = (((112 * r - 94 * g - 18 * b + 128) >> 8) + 128).clamp(0, 255) as u8;
            }
        }
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::{Rgb, mean_colour};

    #[test]
    fn bgra_converts_to_the_same_yuv_as_the_media_crate() {
        let colour = Rgb::new(200, 120, 40);
        let (w, h, stride) = (64, 48, 64 * 4 + 16);
        let mut bgra = vec![0u8; stride * h];
        for row in bgra.chunks_exact_mut(stride) {
            for px in row[..w * 4].chunks_exact_mut(4) {
                px.copy_from_slice(&[colour.b, colour.g, colour.r, 255]);
            }
        }
        let frame = bgra_to_i420(&bgra, w, h, stride);
        let (y, u, v) = colour.to_yuv();
        assert_eq!((frame.y[0], frame.u[0], frame.v[0]), (y, u, v));
        assert!(mean_colour(&frame).distance(colour) <= 3);
        assert_eq!(
            (frame.width, frame.height, frame.y.len(), frame.u.len()),
            (64, 48, 64 * 48, 32 * 24)
        );
    }
}
