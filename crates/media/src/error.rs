use thiserror::Error;

/// The one error type of this crate.
#[derive(Debug, Error)]
pub enum MediaError {
    #[error("invalid colour {0:?}: expected \"#rrggbb\"")]
    InvalidColour(String),

    #[error("invalid codec configuration: {0}")]
    InvalidConfig(String),

    /// The encoder is fixed to one size; resizing means making a new encoder
    /// (and the receiver then gets a keyframe with the new size).
    #[error(
        "frame is {got_width}x{got_height} but the encoder was configured for {expected_width}x{expected_height}"
    )]
    FrameSizeMismatch {
        expected_width: u32,
        expected_height: u32,
        got_width: u32,
        got_height: u32,
    },

    /// An `I420Frame` whose plane lengths do not match its dimensions.
    #[error("malformed frame: {0}")]
    MalformedFrame(String),

    #[error("VP8 {op} failed: {detail}")]
    Vpx { op: &'static str, detail: String },

    #[error("Opus {op} failed: {detail}")]
    Opus { op: &'static str, detail: String },

    #[error("invalid audio input: {0}")]
    InvalidAudio(String),
}
