//! Cameras through `nokhwa` (Video4Linux).
//!
//! Listing asks each `/dev/video*` node whether it captures video (a UVC
//! camera also has a metadata node, which does not). A capture owns one
//! thread: `nokhwa`'s camera is not `Send`, and reading a frame blocks until
//! the camera delivers one, so the camera itself paces the thread and the
//! async runtime never waits on it.
//!
//! The format is chosen by [`choose_format`] (sans-IO, tested) and each frame
//! is converted to I420 here: YUYV and NV12 by reshuffling planes, MJPEG by
//! decoding with `zune-jpeg` straight to YCbCr.

use std::sync::atomic::{AtomicBool, Ordering};

use conclave_media::I420Frame;
use conclave_protocol::{Device, DeviceKind};
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat, RequestedFormat, RequestedFormatType,
};

use crate::DeviceError;
use crate::capture_thread::CaptureThread;

const ID_PREFIX: &str = "v4l:";
/// The pixel formats we convert, cheapest first.
const CONVERTIBLE: [FrameFormat; 3] = [FrameFormat::YUYV, FrameFormat::NV12, FrameFormat::MJPEG];

/// The size and rate a capture asks for; the camera's nearest offer is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// The cameras that can capture video now.
pub fn cameras() -> Vec<Device> {
    v4l::context::enum_devices()
        .into_iter()
        .filter_map(|node| {
            let caps = v4l::Device::new(node.index()).ok()?.query_caps().ok()?;
            caps.capabilities
                .contains(v4l::capability::Flags::VIDEO_CAPTURE)
                .then(|| Device {
                    id: format!("{ID_PREFIX}{}", node.index()),
                    label: node.name().unwrap_or(caps.card),
                    kind: DeviceKind::Camera,
                    synthetic: false,
                })
        })
        .collect()
}

/// The format to capture in, given what the camera offers: the size nearest
/// the wanted one (by area, and never below it when a bigger one exists at
/// the wanted rate), then a rate that reaches the wanted one, then the
/// cheapest pixel format to convert. A webcam that offers 720p at 30 fps only
/// as MJPEG but at 10 fps as YUYV gets MJPEG: the rate matters more than the
/// decode.
pub fn choose_format(offered: &[CameraFormat], wanted: Wanted) -> Option<CameraFormat> {
    let wanted_area = (wanted.width * wanted.height) as i64;
    offered
        .iter()
        .filter(|f| CONVERTIBLE.contains(&f.format()))
        .min_by_key(|f| {
            let area = (f.width() * f.height()) as i64;
            let too_slow = f.frame_rate() < wanted.fps;
            let too_small = area < wanted_area;
            let size_miss = (area - wanted_area).abs();
            let rate_miss = f.frame_rate().abs_diff(wanted.fps);
            let cost = CONVERTIBLE.iter().position(|c| *c == f.format());
            (too_slow, too_small, size_miss, rate_miss, cost)
        })
        .copied()
}

/// A running capture of one camera; dropping it stops the thread.
pub struct CameraCapture {
    _thread: CaptureThread,
    pub format: CameraFormat,
}

impl CameraCapture {
    /// Captures camera `id` near `wanted`, giving each frame to `on_frame`.
    /// `on_error` hears of a capture that fails after it started.
    pub fn start(
        id: &str,
        wanted: Wanted,
        mut on_frame: impl FnMut(I420Frame) + Send + 'static,
        on_error: impl FnOnce(DeviceError) + Send + 'static,
    ) -> Result<CameraCapture, DeviceError> {
        let index: u32 = crate::index_in(id, ID_PREFIX)?;
        let label = id.to_owned();
        let open = {
            let label = label.clone();
            move || {
                let camera = open_camera(index, wanted, &label)?;
                let format = camera.camera_format();
                Ok((camera, format))
            }
        };
        // Reading a frame blocks until the camera has one: the camera paces the loop.
        let run = move |mut camera: nokhwa::Camera, stop: &AtomicBool| {
            let format = camera.camera_format();
            while !stop.load(Ordering::Relaxed) {
                let converted = camera
                    .frame_raw()
                    .map_err(|e| e.to_string())
                    .and_then(|raw| to_i420(&raw, format));
                match converted {
                    Ok(frame) => on_frame(frame),
                    Err(err) => {
                        on_error(DeviceError::Failed(label, err));
                        return;
                    }
                }
            }
        };
        let (thread, format) = CaptureThread::spawn(&format!("capture-{id}"), open, run)?;
        Ok(CameraCapture {
            _thread: thread,
            format,
        })
    }
}

/// Opens camera `index` in the format [`choose_format`] picks and starts streaming.
fn open_camera(index: u32, wanted: Wanted, label: &str) -> Result<nokhwa::Camera, DeviceError> {
    // Open the node ourselves first: the OS error says plainly whether the
    // camera is missing, forbidden or busy, which nokhwa's strings blur.
    let path = format!("/dev/video{index}");
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io_error(label, e))?;
    let any = RequestedFormat::with_formats(RequestedFormatType::None, &CONVERTIBLE);
    let mut camera =
        nokhwa::Camera::with_backend(CameraIndex::Index(index), any, ApiBackend::Video4Linux)
            .map_err(|e| nokhwa_error(label, e))?;
    let offered = camera
        .compatible_camera_formats()
        .map_err(|e| nokhwa_error(label, e))?;
    let chosen = choose_format(&offered, wanted).ok_or_else(|| {
        DeviceError::Failed(label.to_owned(), "offers no format we can convert".into())
    })?;
    camera
        .set_camera_requset(RequestedFormat::with_formats(
            RequestedFormatType::Exact(chosen),
            &CONVERTIBLE,
        ))
        .map_err(|e| nokhwa_error(label, e))?;
    camera.open_stream().map_err(|e| nokhwa_error(label, e))?;
    Ok(camera)
}

fn io_error(label: &str, err: std::io::Error) -> DeviceError {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::NotFound => DeviceError::NotFound(label.to_owned()),
        ErrorKind::PermissionDenied => DeviceError::PermissionDenied(label.to_owned()),
        ErrorKind::ResourceBusy => DeviceError::Busy(label.to_owned()),
        _ => DeviceError::Failed(label.to_owned(), err.to_string()),
    }
}

/// nokhwa reports V4L2 failures as strings that end in the OS error.
fn nokhwa_error(label: &str, err: nokhwa::NokhwaError) -> DeviceError {
    let text = err.to_string();
    if text.contains("os error 16") || text.contains("busy") {
        DeviceError::Busy(label.to_owned())
    } else if text.contains("os error 13") {
        DeviceError::PermissionDenied(label.to_owned())
    } else {
        DeviceError::Failed(label.to_owned(), text)
    }
}

/// One camera frame in `format` to I420.
pub fn to_i420(raw: &[u8], format: CameraFormat) -> Result<I420Frame, String> {
    let (width, height) = (format.width() as usize, format.height() as usize);
    match format.format() {
        FrameFormat::YUYV => yuyv_to_i420(raw, width, height),
        FrameFormat::NV12 => nv12_to_i420(raw, width, height),
        FrameFormat::MJPEG => mjpeg_to_i420(raw),
        other => Err(format!("cannot convert {other}")),
    }
}

fn short_frame(got: usize, want: usize) -> String {
    format!("short frame: {got} bytes, expected {want}")
}

/// YUYV 4:2:2 (Y0 U Y1 V per two pixels) to I420: chroma of the even rows.
pub fn yuyv_to_i420(raw: &[u8], width: usize, height: usize) -> Result<I420Frame, String> {
    let need = width * height * 2;
    if raw.len() < need {
        return Err(short_frame(raw.len(), need));
    }
    let (w, h) = (width & !1, height & !1);
    let mut frame = I420Frame::new_black(w as u32, h as u32);
    for row in 0..h {
        let line = &raw[row * width * 2..row * width * 2 + w * 2];
        for (x, pair) in line.chunks_exact(4).enumerate() {
            frame.y[row * w + 2 * x] = pair[0];
            frame.y[row * w + 2 * x + 1] = pair[2];
            if row % 2 == 0 {
                frame.u[(row / 2) * (w / 2) + x] = pair[1];
                frame.v[(row / 2) * (w / 2) + x] = pair[3];
            }
        }
    }
    Ok(frame)
}

/// NV12 (a Y plane, then interleaved U V at half size) to I420.
pub fn nv12_to_i420(raw: &[u8], width: usize, height: usize) -> Result<I420Frame, String> {
    let need = width * height * 3 / 2;
    if raw.len() < need || width % 2 == 1 || height % 2 == 1 {
        return Err(short_frame(raw.len(), need));
    }
    let mut frame = I420Frame::new_black(width as u32, height as u32);
    frame.y.copy_from_slice(&raw[..width * height]);
    for (i, uv) in raw[width * height..need].chunks_exact(2).enumerate() {
        frame.u[i] = uv[0];
        frame.v[i] = uv[1];
    }
    Ok(frame)
}

/// A JPEG (as webcams send MJPEG frames) to I420. JPEG's YCbCr is full
/// range; ours is BT.601 limited range, so values are squeezed on the way.
pub fn mjpeg_to_i420(jpeg: &[u8]) -> Result<I420Frame, String> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;

    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::YCbCr);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    let ycbcr = decoder.decode().map_err(|e| format!("bad JPEG: {e}"))?;
    let (width, height) = decoder.dimensions().ok_or("bad JPEG: no size")?;
    if ycbcr.len() < width * height * 3 {
        return Err(short_frame(ycbcr.len(), width * height * 3));
    }
    let luma = |v: u8| (16 + (v as u32 * 219 + 127) / 255) as u8;
    let chroma = |v: u8| (16 + (v as u32 * 224 + 127) / 255) as u8;
    let (w, h) = (width & !1, height & !1);
    let mut frame = I420Frame::new_black(w as u32, h as u32);
    for row in 0..h {
        let line = &ycbcr[row * width * 3..row * width * 3 + w * 3];
        for (x, px) in line.chunks_exact(3).enumerate() {
            frame.y[row * w + x] = luma(px[0]);
            if row % 2 == 0 && x % 2 == 0 {
                let at = (row / 2) * (w / 2) + x / 2;
                frame.u[at] = chroma(px[1]);
                frame.v[at] = chroma(px[2]);
            }
        }
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_media::{Rgb, mean_colour};
    use nokhwa::utils::Resolution;

    fn offer(width: u32, height: u32, format: FrameFormat, fps: u32) -> CameraFormat {
        CameraFormat::new(Resolution::new(width, height), format, fps)
    }

    const WANT_360P30: Wanted = Wanted {
        width: 640,
        height: 360,
        fps: 30,
    };

    #[test]
    fn the_wanted_size_and_rate_win_and_raw_beats_mjpeg() {
        let offered = [
            offer(1280, 720, FrameFormat::MJPEG, 30),
            offer(640, 360, FrameFormat::MJPEG, 30),
            offer(640, 360, FrameFormat::YUYV, 30),
            offer(320, 180, FrameFormat::YUYV, 30),
        ];
        assert_eq!(
            choose_format(&offered, WANT_360P30),
            Some(offer(640, 360, FrameFormat::YUYV, 30))
        );
    }

    #[test]
    fn the_rate_matters_more_than_the_decode() {
        let offered = [
            offer(1280, 720, FrameFormat::YUYV, 10),
            offer(1280, 720, FrameFormat::MJPEG, 30),
        ];
        let want = Wanted {
            width: 1280,
            height: 720,
            fps: 30,
        };
        assert_eq!(
            choose_format(&offered, want),
            Some(offer(1280, 720, FrameFormat::MJPEG, 30))
        );
    }

    #[test]
    fn a_bigger_size_beats_a_smaller_one_and_unconvertible_formats_are_skipped() {
        let offered = [
            offer(320, 240, FrameFormat::YUYV, 30),
            offer(640, 480, FrameFormat::YUYV, 30),
            offer(640, 360, FrameFormat::RAWRGB, 30),
        ];
        assert_eq!(
            choose_format(&offered, WANT_360P30),
            Some(offer(640, 480, FrameFormat::YUYV, 30))
        );
        assert_eq!(
            choose_format(&[offer(640, 360, FrameFormat::GRAY, 30)], WANT_360P30),
            None
        );
    }

    #[test]
    fn yuyv_and_nv12_keep_the_colour() {
        let colour = Rgb::new(200, 120, 40);
        let (y, u, v) = colour.to_yuv();
        let (w, h) = (8, 4);
        let yuyv: Vec<u8> = [y, u, y, v].repeat(w * h / 2);
        let frame = yuyv_to_i420(&yuyv, w, h).unwrap();
        assert_eq!((frame.width, frame.height), (8, 4));
        assert!(mean_colour(&frame).distance(colour) <= 3);

        let mut nv12 = vec![y; w * h];
        nv12.extend([u, v].repeat(w * h / 4));
        let frame = nv12_to_i420(&nv12, w, h).unwrap();
        assert!(mean_colour(&frame).distance(colour) <= 3);
    }

    #[test]
    fn a_camera_that_is_not_there_is_not_found() {
        for id in ["v4l:99", "v4l:x", "pulse:v4l:0"] {
            let started = CameraCapture::start(id, WANT_360P30, |_| {}, |_| {});
            assert_eq!(
                started.err(),
                Some(DeviceError::NotFound(id.to_owned())),
                "{id}"
            );
        }
    }

    #[test]
    fn a_short_frame_is_an_error_not_a_panic() {
        assert!(yuyv_to_i420(&[0; 10], 8, 4).is_err());
        assert!(nv12_to_i420(&[0; 10], 8, 4).is_err());
        assert!(mjpeg_to_i420(&[0xff, 0xd8, 0, 1]).is_err());
    }

    #[test]
    fn mjpeg_decodes_to_the_colour_of_the_picture() {
        // 32×16 of #c86428, written by ImageMagick (`convert -size 32x16
        // xc:'#c86428' -quality 95 orange.jpg`).
        let jpeg = include_bytes!("../tests/fixtures/orange-32x16.jpg");
        let frame = mjpeg_to_i420(jpeg).unwrap();
        assert_eq!((frame.width, frame.height), (32, 16));
        let got = mean_colour(&frame);
        assert!(
            got.distance(Rgb::new(0xc8, 0x64, 0x28)) <= 6,
            "decoded colour {got:?}"
        );
    }
}
