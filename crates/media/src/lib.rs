//! Sans-IO media building blocks for Conclave.
//!
//! Everything here is synchronous and owns no threads or sockets: the client,
//! the devices and the headless bot drive these pieces from their own loops.
//!
//! - synthetic devices: [`TestPattern`] (camera; opt-in sensor noise for cost
//!   and load measurements), [`SyntheticScreen`] (screen share) and
//!   [`ToneSource`] (microphone), each personalised per member via
//!   [`colour_for`] / [`pitch_for`];
//! - codecs: [`Vp8Encoder`] / [`Vp8Decoder`] (system libvpx) and
//!   [`OpusEncoder`] / [`OpusDecoder`] (system libopus);
//! - analysis used by tests and the bot to check what actually arrived:
//!   [`read_stamp`], [`mean_colour`], [`dominant_frequency`], [`level_dbfs`],
//!   [`TalkingDetector`], [`looks_like_synthetic_screen`];
//! - the seams between devices and the call: [`FrameFeed`] / [`AudioFeed`]
//!   (a device pushes, the encoder pulls) and [`pace::run_paced`], the one
//!   paced loop;
//! - the microphone's processing: [`VoiceProcessor`] (echo cancellation,
//!   noise suppression, gain control, high-pass) and its far end,
//!   [`EchoReference`].

mod analysis;
mod error;
mod feed;
mod frame;
mod identity;
mod mixer;
mod opus;
pub mod pace;
mod pattern;
mod screen;
mod stamp;
mod tone;
mod voice;
mod vp8;

pub use analysis::{
    TalkingDetector, dominant_frequency, level_dbfs, mean_colour, speech_snr_db, tone_power,
};
pub use error::MediaError;
pub use feed::{AudioFeed, FrameFeed};
pub use frame::{I420Frame, Rgb};
pub use identity::{colour_for, pitch_for};
pub use mixer::{Playback, finish_mix, mix_into};
pub use opus::{
    AudioContent, OPUS_FRAME_MS, OPUS_FRAME_SAMPLES, OPUS_SAMPLE_RATE, OpusDecoder, OpusEncoder,
    OpusFrame, opus_frame_samples,
};
pub use pattern::TestPattern;
pub use screen::{SyntheticScreen, looks_like_synthetic_screen};
pub use stamp::{read_stamp, stamp_band_height, write_stamp};
pub use tone::ToneSource;
pub use voice::{
    EchoGate, EchoReference, VOICE_FRAME_SAMPLES, VOICE_SAMPLE_RATE, VoiceProcessor, VoiceSettings,
};
pub use vp8::{ContentKind, EncodedFrame, Vp8Config, Vp8Decoder, Vp8Encoder};
