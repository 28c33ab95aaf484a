//! Opus voice codec (system libopus via the `opus` crate): mono, 48 kHz,
//! 20 ms frames by default (10 ms as an option), as WebRTC sends it: in-band
//! FEC, and DTX (nothing is sent while the microphone is silent).

use crate::MediaError;

pub const OPUS_SAMPLE_RATE: u32 = 48_000;
/// The default frame.
pub const OPUS_FRAME_MS: u32 = 20;
pub const OPUS_FRAME_SAMPLES: usize = 960;

/// How much audio each packet carries. 10 ms frames take 10 ms off the
/// delay (the encoder waits for a whole frame) at the cost of twice the
/// packets, and their headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OpusFrame {
    Ms10,
    #[default]
    Ms20,
}

impl OpusFrame {
    pub fn from_ms(ms: u32) -> Option<OpusFrame> {
        match ms {
            10 => Some(OpusFrame::Ms10),
            20 => Some(OpusFrame::Ms20),
            _ => None,
        }
    }

    pub fn ms(self) -> u32 {
        match self {
            OpusFrame::Ms10 => 10,
            OpusFrame::Ms20 => 20,
        }
    }

    pub fn samples(self) -> usize {
        (OPUS_SAMPLE_RATE / 1000 * self.ms()) as usize
    }
}

/// What the microphone carries, which sets how Opus spends its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioContent {
    /// Voice: 32 kb/s (wideband speech is transparent well below that),
    /// silence not sent.
    Speech,
    /// Music (noise suppression turned off for it): 64 kb/s, the full band
    /// kept, and quiet passages sent too (DTX would cut their tails).
    Music,
}

impl AudioContent {
    pub fn bitrate_bps(self) -> i32 {
        match self {
            AudioContent::Speech => 32_000,
            AudioContent::Music => 64_000,
        }
    }
}

/// A DTX frame: the encoder has nothing worth sending (RFC 6716 allows
/// omitting packets of 2 bytes or less).
const DTX_PACKET_BYTES: usize = 2;
/// The loss the encoder plans for: with in-band FEC on, each packet also
/// carries a coarse copy of the frame before it, so one lost packet is
/// rebuilt from the next (see [`OpusDecoder::recover`]).
const EXPECTED_LOSS_PERCENT: i32 = 10;
/// The largest packet one Opus frame can produce is 1275 bytes; some slack
/// for the multi-frame sizes.
const MAX_PACKET_BYTES: usize = 4000;
/// 120 ms at 48 kHz, the longest an Opus packet can decode to.
const MAX_DECODED_SAMPLES: usize = 5760;

fn opus_err(op: &'static str) -> impl FnOnce(::opus::Error) -> MediaError {
    move |e| MediaError::Opus {
        op,
        detail: e.to_string(),
    }
}

pub struct OpusEncoder {
    inner: ::opus::Encoder,
    frame: OpusFrame,
}

impl OpusEncoder {
    /// Mono, VOIP application, speech ([`AudioContent::Speech`]), with in-band FEC,
    /// in `frame`s.
    pub fn new(frame: OpusFrame) -> Result<Self, MediaError> {
        let mut inner = ::opus::Encoder::new(
            OPUS_SAMPLE_RATE,
            ::opus::Channels::Mono,
            ::opus::Application::Voip,
        )
        .map_err(opus_err("encoder create"))?;
        inner
            .set_inband_fec(true)
            .map_err(opus_err("set inband fec"))?;
        inner
            .set_packet_loss_perc(EXPECTED_LOSS_PERCENT)
            .map_err(opus_err("set packet loss"))?;
        let mut encoder = OpusEncoder { inner, frame };
        encoder.set_content(AudioContent::Speech)?;
        Ok(encoder)
    }

    pub fn frame(&self) -> OpusFrame {
        self.frame
    }

    /// Speech or music, from the next frame on.
    pub fn set_content(&mut self, content: AudioContent) -> Result<(), MediaError> {
        let (signal, dtx) = match content {
            AudioContent::Speech => (::opus::Signal::Voice, true),
            AudioContent::Music => (::opus::Signal::Music, false),
        };
        (self.inner)
            .set_bitrate(::opus::Bitrate::Bits(content.bitrate_bps()))
            .map_err(opus_err("set bitrate"))?;
        (self.inner)
            .set_signal(signal)
            .map_err(opus_err("set signal"))?;
        self.inner.set_dtx(dtx).map_err(opus_err("set dtx"))
    }

    /// Encodes one frame of mono 48 kHz PCM, [`OpusFrame::samples`] long.
    /// `None` while the input is silence that DTX leaves unsent (the
    /// receiver plays silence; the RTP timestamp still moves on).
    pub fn encode(&mut self, pcm: &[i16]) -> Result<Option<Vec<u8>>, MediaError> {
        if pcm.len() != self.frame.samples() {
            return Err(MediaError::InvalidAudio(format!(
                "{} samples is not this encoder's frame ({} at 48 kHz)",
                pcm.len(),
                self.frame.samples()
            )));
        }
        let packet = (self.inner)
            .encode_vec(pcm, MAX_PACKET_BYTES)
            .map_err(opus_err("encode"))?;
        Ok((packet.len() > DTX_PACKET_BYTES).then_some(packet))
    }
}

/// How many samples (at 48 kHz) one frame of `packet` holds.
pub fn opus_frame_samples(packet: &[u8]) -> Option<usize> {
    ::opus::packet::get_samples_per_frame(packet, OPUS_SAMPLE_RATE).ok()
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
    /// frame of `next`'s length to `out`. Decode `next` itself afterwards,
    /// as usual.
    pub fn recover(&mut self, next: &[u8], out: &mut Vec<i16>) -> Result<usize, MediaError> {
        let frame = opus_frame_samples(next)
            .ok_or_else(|| MediaError::InvalidAudio("not an Opus packet".into()))?;
        let n = self
            .inner
            .decode(next, &mut self.scratch[..frame], true)
            .map_err(opus_err("decode fec"))?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }

    /// Packet-loss concealment: appends one frame of extrapolated audio to
    /// `out`, as long as the last packet's (20 ms before any).
    pub fn conceal(&mut self, out: &mut Vec<i16>) -> Result<usize, MediaError> {
        let last = self.inner.get_last_packet_duration().unwrap_or(0) as usize;
        let frame = if last == 0 {
            OPUS_FRAME_SAMPLES
        } else {
            last.min(MAX_DECODED_SAMPLES)
        };
        let n = self
            .inner
            .decode(&[], &mut self.scratch[..frame], false)
            .map_err(opus_err("conceal"))?;
        out.extend_from_slice(&self.scratch[..n]);
        Ok(n)
    }
}
