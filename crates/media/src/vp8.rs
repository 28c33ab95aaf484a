//! VP8 through the system libvpx (Debian 12: 1.12), tuned for real-time
//! conferencing: one pass, no look-ahead, CBR, error resilient, keyframes
//! mainly on request.
//!
//! All `unsafe` in the crate lives in this file. The invariants it relies on:
//! - each codec context is boxed (libvpx keeps pointers into it and into the
//!   config it was created from, so neither may move) and destroyed exactly
//!   once in `Drop`;
//! - pointers handed to libvpx point into live Rust buffers whose lengths
//!   were checked first, and libvpx does not retain them past the call
//!   (the encoder copies the input picture; decoder output is copied out
//!   before the next call);
//! - C enums that libvpx writes are read as raw integers where a value
//!   outside the Rust enum would be undefined behaviour.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_long, c_uint, c_ulong};
use std::ptr;

use vpx_sys as vpx;

use crate::{I420Frame, MediaError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// Natural motion: fast, fixed-speed encoding.
    Camera,
    /// Text and UI: screen-content mode, skip static areas, sharper coding.
    Screen,
}

#[derive(Clone, Debug)]
pub struct Vp8Config {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub content: ContentKind,
}

pub struct EncodedFrame {
    pub data: Vec<u8>,
    pub keyframe: bool,
}

/// Encoder speed. Negative values fix the speed (positive ones let libvpx
/// trade speed against a CPU budget, which makes cost unpredictable).
/// -8 is chosen from `examples/encode_cost.rs`: 720p30 camera stays far
/// below half a core on this class of machine.
const CAMERA_CPU_USED: c_int = -8;
/// Screen frames come at low rates and must keep text legible, so spend a
/// little more effort per frame.
const SCREEN_CPU_USED: c_int = -6;
/// Keyframes only when asked (new receiver, loss): ~100 s at 30 fps.
const KF_MAX_DIST: c_uint = 3000;
/// Microseconds: the unit of the `pts` argument.
const TIMEBASE_DEN: c_int = 1_000_000;

fn vpx_error(
    op: &'static str,
    ctx: *mut vpx::vpx_codec_ctx_t,
    err: vpx::vpx_codec_err_t,
) -> MediaError {
    // SAFETY: libvpx returns static or context-owned NUL-terminated strings,
    // or null for "no detail"; the context is alive for this call.
    let detail = unsafe {
        let base = CStr::from_ptr(vpx::vpx_codec_err_to_string(err))
            .to_string_lossy()
            .into_owned();
        let extra = if ctx.is_null() {
            ptr::null()
        } else {
            vpx::vpx_codec_error_detail(ctx)
        };
        if extra.is_null() {
            base
        } else {
            format!("{base}: {}", CStr::from_ptr(extra).to_string_lossy())
        }
    };
    MediaError::Vpx { op, detail }
}

fn check(
    op: &'static str,
    ctx: *mut vpx::vpx_codec_ctx_t,
    err: vpx::vpx_codec_err_t,
) -> Result<(), MediaError> {
    if err == vpx::vpx_codec_err_t::VPX_CODEC_OK {
        Ok(())
    } else {
        Err(vpx_error(op, ctx, err))
    }
}

/// A zero-initialised codec context: the state libvpx expects before init
/// (its only enum field, `err`, is valid as 0 = VPX_CODEC_OK).
fn new_ctx() -> Box<vpx::vpx_codec_ctx_t> {
    // SAFETY: all fields are pointers, integers, a union of pointers, or an
    // enum whose zero value is a valid variant.
    Box::new(unsafe { MaybeUninit::<vpx::vpx_codec_ctx_t>::zeroed().assume_init() })
}

pub struct Vp8Encoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// libvpx keeps a pointer to the config it was initialised with.
    raw_cfg: Box<vpx::vpx_codec_enc_cfg_t>,
    config: Vp8Config,
    last_input_pts: Option<i64>,
    codec_pts: i64,
}

// SAFETY: a libvpx context has no thread affinity; it only must not be used
// from two threads at once, which `&mut self` on every call guarantees.
unsafe impl Send for Vp8Encoder {}

impl Vp8Encoder {
    pub fn new(cfg: &Vp8Config) -> Result<Self, MediaError> {
        validate_config(cfg)?;
        // SAFETY: returns a pointer to a static interface table.
        let iface = unsafe { vpx::vpx_codec_vp8_cx() };
        let mut raw = Box::new(MaybeUninit::<vpx::vpx_codec_enc_cfg_t>::zeroed());
        // SAFETY: config_default fully initialises the struct on success.
        let err = unsafe { vpx::vpx_codec_enc_config_default(iface, raw.as_mut_ptr(), 0) };
        check("config_default", ptr::null_mut(), err)?;
        // SAFETY: initialised just above.
        let mut c: Box<vpx::vpx_codec_enc_cfg_t> =
            unsafe { Box::from_raw(Box::into_raw(raw).cast()) };

        c.g_w = cfg.width;
        c.g_h = cfg.height;
        c.g_timebase = vpx::vpx_rational {
            num: 1,
            den: TIMEBASE_DEN,
        };
        c.g_threads = 1;
        c.g_lag_in_frames = 0;
        c.g_pass = vpx::vpx_enc_pass::VPX_RC_ONE_PASS;
        // Every frame decodable after loss of the previous one's entropy state.
        c.g_error_resilient = 1; // VPX_ERROR_RESILIENT_DEFAULT
        c.rc_end_usage = vpx::vpx_rc_mode::VPX_CBR;
        c.rc_target_bitrate = cfg.bitrate_kbps;
        // Never drop frames: the receiver's stamp checks count every frame,
        // and congestion control is the caller's job (lower the bitrate).
        c.rc_dropframe_thresh = 0;
        c.rc_resize_allowed = 0;
        c.rc_min_quantizer = 2;
        c.rc_max_quantizer = if cfg.content == ContentKind::Screen {
            52
        } else {
            56
        };
        c.rc_undershoot_pct = 100;
        c.rc_overshoot_pct = 15;
        // Milliseconds of buffering the CBR model assumes: short, so the
        // rate tracks the target within about half a second.
        c.rc_buf_initial_sz = 500;
        c.rc_buf_optimal_sz = 600;
        c.rc_buf_sz = 1000;
        c.kf_mode = vpx::vpx_kf_mode::VPX_KF_AUTO;
        c.kf_min_dist = 0;
        c.kf_max_dist = KF_MAX_DIST;

        let mut ctx = new_ctx();
        // SAFETY: ctx and c are boxed and outlive the context (dropped after
        // vpx_codec_destroy in Drop).
        let err = unsafe {
            vpx::vpx_codec_enc_init_ver(
                &mut *ctx,
                iface,
                &*c,
                0,
                vpx::VPX_ENCODER_ABI_VERSION as c_int,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            // A failed init leaves nothing to destroy.
            return Err(vpx_error("encoder init", &mut *ctx, err));
        }
        let mut enc = Vp8Encoder {
            ctx,
            raw_cfg: c,
            config: cfg.clone(),
            last_input_pts: None,
            codec_pts: 0,
        };

        let screen = cfg.content == ContentKind::Screen;
        // A keyframe may be at most this % of an average frame, so the
        // burst fits the 600 ms buffer: 0.5 * 600 ms * fps / 10.
        let max_intra_pct = (30 * cfg.fps).max(300);
        enc.control(
            vpx::vp8e_enc_control_id::VP8E_SET_CPUUSED,
            if screen {
                SCREEN_CPU_USED
            } else {
                CAMERA_CPU_USED
            },
        )?;
        enc.control(vpx::vp8e_enc_control_id::VP8E_SET_NOISE_SENSITIVITY, 0)?;
        enc.control(vpx::vp8e_enc_control_id::VP8E_SET_TOKEN_PARTITIONS, 0)?;
        enc.control(
            vpx::vp8e_enc_control_id::VP8E_SET_MAX_INTRA_BITRATE_PCT,
            max_intra_pct as c_int,
        )?;
        // Macroblocks that changed less than this are coded as unchanged:
        // barely any for camera, generously for a mostly static screen.
        enc.control(
            vpx::vp8e_enc_control_id::VP8E_SET_STATIC_THRESHOLD,
            if screen { 100 } else { 1 },
        )?;
        enc.control(
            vpx::vp8e_enc_control_id::VP8E_SET_SCREEN_CONTENT_MODE,
            if screen { 1 } else { 0 },
        )?;
        Ok(enc)
    }

    /// The configuration in force (bitrate included).
    pub fn config(&self) -> &Vp8Config {
        &self.config
    }

    /// Changes the target bitrate on the fly (for congestion control); takes
    /// effect from the next frame, no keyframe needed.
    pub fn set_bitrate(&mut self, bitrate_kbps: u32) -> Result<(), MediaError> {
        if bitrate_kbps == 0 {
            return Err(MediaError::InvalidConfig("bitrate must be positive".into()));
        }
        self.raw_cfg.rc_target_bitrate = bitrate_kbps;
        // SAFETY: raw_cfg is the fully initialised boxed config; libvpx
        // copies what it needs.
        let err = unsafe { vpx::vpx_codec_enc_config_set(&mut *self.ctx, &*self.raw_cfg) };
        check("set bitrate", &mut *self.ctx, err)?;
        self.config.bitrate_kbps = bitrate_kbps;
        Ok(())
    }

    fn control(&mut self, id: vpx::vp8e_enc_control_id, value: c_int) -> Result<(), MediaError> {
        // SAFETY: every control used here takes a plain int/unsigned int
        // vararg, which `c_int` matches in size and passing convention.
        let err = unsafe { vpx::vpx_codec_control_(&mut *self.ctx, id as c_int, value) };
        check("control", &mut *self.ctx, err)
    }

    /// Encodes one picture. `pts` is the capture time in microseconds; it
    /// paces rate control. Steps that are implausible for the configured fps
    /// (non-increasing, faster than 4x fps, e.g. a caller passing frame
    /// indices) are replaced by the nominal frame interval, and gaps are
    /// capped at 1 s. Returns the packets produced (one per frame, as
    /// frames are never dropped).
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        pts: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, MediaError> {
        frame.validate()?;
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            return Err(MediaError::FrameSizeMismatch {
                expected_width: self.config.width,
                expected_height: self.config.height,
                got_width: frame.width,
                got_height: frame.height,
            });
        }
        let nominal = (TIMEBASE_DEN as u32 / self.config.fps) as i64;
        if let Some(last) = self.last_input_pts {
            let delta = pts.saturating_sub(last);
            let step = if delta < nominal / 4 {
                nominal
            } else {
                delta.min(TIMEBASE_DEN as i64)
            };
            self.codec_pts += step;
        }
        self.last_input_pts = Some(pts);

        let (w, h) = (frame.width, frame.height);
        // libvpx only reads the planes (the encoder copies them into its own
        // buffers during vpx_codec_encode), so the const-to-mut casts are sound.
        let img = vpx::vpx_image_t {
            fmt: vpx::vpx_img_fmt::VPX_IMG_FMT_I420,
            cs: vpx::vpx_color_space::VPX_CS_BT_601,
            range: vpx::vpx_color_range::VPX_CR_STUDIO_RANGE,
            w,
            h,
            bit_depth: 8,
            d_w: w,
            d_h: h,
            r_w: w,
            r_h: h,
            x_chroma_shift: 1,
            y_chroma_shift: 1,
            planes: [
                frame.y.as_ptr().cast_mut(),
                frame.u.as_ptr().cast_mut(),
                frame.v.as_ptr().cast_mut(),
                ptr::null_mut(),
            ],
            stride: [w as c_int, (w / 2) as c_int, (w / 2) as c_int, 0],
            bps: 12,
            user_priv: ptr::null_mut(),
            img_data: ptr::null_mut(),
            img_data_owner: 0,
            self_allocd: 0,
            fb_priv: ptr::null_mut(),
        };
        let flags: c_long = if force_keyframe {
            vpx::VPX_EFLAG_FORCE_KF as c_long
        } else {
            0
        };
        // SAFETY: img describes planes whose lengths `validate` checked
        // against w/h and the strides above; the context is live.
        let err = unsafe {
            vpx::vpx_codec_encode(
                &mut *self.ctx,
                &img,
                self.codec_pts,
                nominal as c_ulong,
                flags,
                vpx::VPX_DL_REALTIME as c_ulong,
            )
        };
        check("encode", &mut *self.ctx, err)?;

        let mut out = Vec::new();
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: iterating the context's output list; each packet stays
            // valid until the next encode call, and we copy it out now.
            let pkt = unsafe { vpx::vpx_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                break;
            }
            // SAFETY: pkt is non-null and points at a packet owned by the
            // context; a frame packet's buf/sz describe its payload.
            unsafe {
                // `kind` is read as a raw integer: see the module comment.
                let kind = *ptr::addr_of!((*pkt).kind).cast::<u32>();
                if kind != vpx::vpx_codec_cx_pkt_kind::VPX_CODEC_CX_FRAME_PKT as u32 {
                    continue;
                }
                let f = (*pkt).data.frame;
                if f.buf.is_null() || f.sz == 0 {
                    continue;
                }
                let data = std::slice::from_raw_parts(f.buf as *const u8, f.sz as usize).to_vec();
                out.push(EncodedFrame {
                    data,
                    keyframe: f.flags & vpx::VPX_FRAME_IS_KEY != 0,
                });
            }
        }
        Ok(out)
    }
}

impl Drop for Vp8Encoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new` (or we would not exist), destroyed once.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}

fn validate_config(cfg: &Vp8Config) -> Result<(), MediaError> {
    let bad = |why: String| Err(MediaError::InvalidConfig(why));
    if cfg.width == 0
        || cfg.height == 0
        || !cfg.width.is_multiple_of(2)
        || !cfg.height.is_multiple_of(2)
    {
        return bad(format!(
            "size {}x{} must be even and non-zero",
            cfg.width, cfg.height
        ));
    }
    if cfg.width > 16383 || cfg.height > 16383 {
        return bad(format!(
            "size {}x{} exceeds VP8's 16383 limit",
            cfg.width, cfg.height
        ));
    }
    if !(1..=240).contains(&cfg.fps) {
        return bad(format!("fps {} outside 1..=240", cfg.fps));
    }
    if cfg.bitrate_kbps == 0 {
        return bad("bitrate must be positive".into());
    }
    Ok(())
}

pub struct Vp8Decoder {
    ctx: Box<vpx::vpx_codec_ctx_t>,
    /// libvpx keeps a pointer to the config it was initialised with.
    _cfg: Box<vpx::vpx_codec_dec_cfg_t>,
}

// SAFETY: as for the encoder.
unsafe impl Send for Vp8Decoder {}

impl Vp8Decoder {
    pub fn new() -> Result<Self, MediaError> {
        let cfg = Box::new(vpx::vpx_codec_dec_cfg_t {
            threads: 1,
            w: 0,
            h: 0,
        });
        let mut ctx = new_ctx();
        // SAFETY: ctx and cfg are boxed and outlive the context.
        let err = unsafe {
            vpx::vpx_codec_dec_init_ver(
                &mut *ctx,
                vpx::vpx_codec_vp8_dx(),
                &*cfg,
                0,
                vpx::VPX_DECODER_ABI_VERSION as c_int,
            )
        };
        if err != vpx::vpx_codec_err_t::VPX_CODEC_OK {
            return Err(vpx_error("decoder init", &mut *ctx, err));
        }
        Ok(Vp8Decoder { ctx, _cfg: cfg })
    }

    /// Decodes one VP8 frame. `Ok(None)` if it produced no picture (e.g. a
    /// hidden frame). Corrupt input, or a frame whose references were lost
    /// (decode a keyframe next), is an `Err`.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<I420Frame>, MediaError> {
        if data.is_empty() {
            return Err(MediaError::Vpx {
                op: "decode",
                detail: "empty frame".into(),
            });
        }
        let len = c_uint::try_from(data.len()).map_err(|_| MediaError::Vpx {
            op: "decode",
            detail: "frame larger than 4 GiB".into(),
        })?;
        // SAFETY: data is a live slice of `len` bytes; libvpx does not keep it.
        let err = unsafe {
            vpx::vpx_codec_decode(&mut *self.ctx, data.as_ptr(), len, ptr::null_mut(), 0)
        };
        check("decode", &mut *self.ctx, err)?;

        let mut corrupted: c_int = 0;
        // SAFETY: VP8D_GET_FRAME_CORRUPTED takes an `int *`. It fails only
        // when no frame was decoded yet, in which case `corrupted` stays 0.
        unsafe {
            vpx::vpx_codec_control_(
                &mut *self.ctx,
                vpx::vp8_dec_control_id::VP8D_GET_FRAME_CORRUPTED as c_int,
                &mut corrupted as *mut c_int,
            )
        };
        if corrupted != 0 {
            return Err(MediaError::Vpx {
                op: "decode",
                detail: "frame is corrupt or references a lost frame".into(),
            });
        }

        let mut picture = None;
        let mut iter: vpx::vpx_codec_iter_t = ptr::null();
        loop {
            // SAFETY: the image belongs to the decoder and stays valid until
            // the next decode call; `copy_image` copies it out immediately.
            let img = unsafe { vpx::vpx_codec_get_frame(&mut *self.ctx, &mut iter) };
            if img.is_null() {
                break;
            }
            // SAFETY: img is non-null and owned by this live decoder.
            picture = Some(unsafe { copy_image(img) }?);
        }
        Ok(picture)
    }
}

/// Copies a decoded 8-bit I420 `vpx_image` into a packed `I420Frame`,
/// honouring the strides. Odd sizes are cropped by one row/column to keep the
/// `I420Frame` invariants.
///
/// # Safety
/// `img` must point to a valid image owned by a live decoder.
unsafe fn copy_image(img: *const vpx::vpx_image_t) -> Result<I420Frame, MediaError> {
    let bad = |detail: String| MediaError::Vpx {
        op: "decode",
        detail,
    };
    // SAFETY: fields of a valid image (caller's contract); plane reads are
    // bounded by d_w/d_h and the strides libvpx reports for those planes.
    unsafe {
        let fmt = *ptr::addr_of!((*img).fmt).cast::<u32>();
        if fmt != vpx::vpx_img_fmt::VPX_IMG_FMT_I420 as u32 {
            return Err(bad(format!("unexpected image format {fmt:#x}")));
        }
        let im = &*img;
        let (w, h) = (im.d_w & !1, im.d_h & !1);
        if w == 0 || h == 0 {
            return Err(bad(format!("degenerate picture {}x{}", im.d_w, im.d_h)));
        }
        let mut out = I420Frame::new_black(w, h);
        let planes: [(&mut Vec<u8>, u32, u32); 3] = [
            (&mut out.y, w, h),
            (&mut out.u, w / 2, h / 2),
            (&mut out.v, w / 2, h / 2),
        ];
        for (i, (dst, pw, ph)) in planes.into_iter().enumerate() {
            let (src, stride) = (im.planes[i], im.stride[i]);
            if src.is_null() || stride < pw as c_int {
                return Err(bad(format!("plane {i} has stride {stride} for width {pw}")));
            }
            for row in 0..ph as usize {
                let line = std::slice::from_raw_parts(src.add(row * stride as usize), pw as usize);
                dst[row * pw as usize..(row + 1) * pw as usize].copy_from_slice(line);
            }
        }
        Ok(out)
    }
}

impl Drop for Vp8Decoder {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, destroyed once.
        unsafe { vpx::vpx_codec_destroy(&mut *self.ctx) };
    }
}
