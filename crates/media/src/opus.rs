//! Opus voice codec (system libopus via the `opus` crate): mono, 48 kHz,
//! 20 ms frames, as WebRTC sends it.

use crate::MediaError;

pub const OPUS_SAMPLE_RATE: u32 = 48_000;
pub const OPUS_FRAME_MS: u32 = 20;
pub const OPUS_FRAME_SAMPLES: usize = 960;

const BITRATE_BPS: i32 = 32_000;
/// The loss the encoder plans for: with in-band FEC on, each packet also
/// carries a coarse copy of the frame before it, so one lost packet is
/// rebuilt from the next (see [`OpusDecoder::recover`]).
const EXPECTED_LOSS_PERCENT: i32 = 10;
/// The largest packet one Opus frame can produce is 1275 bytes; some slack
/// for the multi-frame sizes.
const MAX_PACKET_BYTES: usize = 4000;
/// 120 ms at 48 kHz, the longest an Opus packet can decode to.
const MAX_DECODED_SAMPLES: usize = 5760;
/// Frame sizes Opus accepts at 48 kHz: 2.5, 5, 10, 20, 40 and 60 ms.
const VALID_FRAME_SAMPLES: [usize; 6] = [120, 240, 480, 960, 1920, 2880];

fn opus_err(op: &'static str) -> impl FnOnce(::opus::Error) -> MediaError {
    move |e| MediaError::Opus {
        op,
        detail: e.to_string(),
    }
}

pub struct OpusEncoder {
    inner: ::opus::Encoder,
}

impl OpusEncoder {
    /// Mono, VOIP application (speech-tuned, with its high-pass filter), 32 kb/s,
    /// with in-band FEC.
    pub fn new() -> Result<Self, MediaError> {
        let mut inner = ::opus::Encoder::new(
            OPUS_SAMPLE_RATE,
            ::opus::Channels::Mono,
            ::opus::Application::Voip,
        )
        .map_err(opus_err("encoder create"))?;
        inner
            .set_bitrate(::opus::Bitrate::Bits(BITRATE_BPS))
            .map_err(opus_err("set bitrate"))?;
        inner
            .set_inband_fec(true)
            .map_err(opus_err("set inband fec"))?;
        inner
            .set_packet_loss_perc(EXPECTED_LOSS_PERCENT)
            .map_err(opus_err("set packet loss"))?;
        Ok(OpusEncoder { inner })
    }

    /// Encodes one frame of mono 48 kHz PCM, normally
    /// [`OPUS_FRAME_SAMPLES`] long (2.5/5/10/40/60 ms frames also work).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Vec<u8>, MediaError> {
        if !VALID_FRAME_SAMPLES.contains(&pcm.len()) {
            return Err(MediaError::InvalidAudio(format!(
                "{} samples is not an Opus frame size at 48 kHz (expected one of {:?})",
                pcm.len(),
                VALID_FRAME_SAMPLES
            )));
        }
        self.inner
            .encode_vec(pcm, MAX_PACKET_BYTES)
            .map_err(opus_err("encode"))
    }
}

pub struct OpusDecoder {
    inner: ::opus::Decoder,
    scratch: Vec<i16>,
}

impl OpusDecoder {
    /// Mono, 48 kHz (stereo packets are downmixed by libopus).
    pub fn new() -> Result<Self, MediaError> {
        let inner = ::opus::Decoder::new(OPUS_SAMPLE_RATE, ::opus::Channels::Mono)
            .map_err(opus_err("decoder create"))?;
        Ok(OpusDecoder {
            inner,
            scratch: vec![0; MAX_DECODED_SAMPLES],
        })
    }

    /// Decodes one packet and **appends** the samples to `out`, returning how
    /// many were appended (960 for a 20 ms packet). An empty packet is an
    /// error: call [`OpusDecoder::conceal`] for a lost packet instead.
    ///
    /// Opus has no checksum, so many random byte strings are syntactically
    /// valid packets and decode to noise; only malformed ones are rejected.
    pub fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<usize, MediaError> {
        if packet.is_empty() {
            return Err(MediaError::InvalidAudio("empty Opus packet".into()));
        }
        let n = self
            .inner
            .decode(packet, &mut self.scratch, false)
            .map_err(opus_err("decode"))?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }

    /// The frame lost just before `next` arrived, rebuilt from the in-band
    /// FEC `next` carries (or concealed, if it carries none): appends one
    /// frame's worth ([`OPUS_FRAME_SAMPLES`]) to `out`. Decode `next`
    /// itself afterwards, as usual.
    pub fn recover(&mut self, next: &[u8], out: &mut Vec<i16>) -> Result<usize, MediaError> {
        let n = self
            .inner
            .decode(next, &mut self.scratch[..OPUS_FRAME_SAMPLES], true)
            .map_err(opus_err("decode fec"))?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }

    /// Packet-loss concealment: appends one frame's worth
    /// ([`OPUS_FRAME_SAMPLES`]) of extrapolated audio to `out`.
    pub fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, MediaError> {
        let n = self
            .inner
            .decode(&[], &mut self.scratch[..OPUS_FRAME_SAMPLES], false)
            .map_err(opus_err("conceal"))?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }
}
