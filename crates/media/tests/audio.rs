//! Opus round trips of the synthetic microphone and the voice analysis used
//! on the receiving side.

use conclave_media::*;

fn encoder() -> OpusEncoder {
    OpusEncoder::new(OpusFrame::Ms20).unwrap()
}

/// One frame that is not silence: a packet.
fn encode(enc: &mut OpusEncoder, pcm: &[i16]) -> Vec<u8> {
    enc.encode(pcm)
        .unwrap()
        .expect("a tone is sent, not left out by DTX")
}

/// Sends `seconds` of a member's tone through Opus in `frame` packets and
/// returns the decoded audio and the packets' sizes.
fn through_opus_in(frame: OpusFrame, freq: f32, seconds: f32) -> (Vec<i16>, Vec<usize>) {
    let mut tone = ToneSource::new(freq, OPUS_SAMPLE_RATE);
    let mut enc = OpusEncoder::new(frame).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let (mut out, mut sizes) = (Vec::new(), Vec::new());
    let mut pcm = vec![0i16; frame.samples()];
    for _ in 0..(seconds * 1000.0 / frame.ms() as f32) as usize {
        tone.next_samples(&mut pcm);
        let packet = encode(&mut enc, &pcm);
        assert!(packet.len() < 400, "{} byte packet", packet.len());
        sizes.push(packet.len());
        let n = dec.decode(&packet, &mut out).unwrap();
        assert_eq!(n, frame.samples());
    }
    (out, sizes)
}

fn through_opus(freq: f32, seconds: f32) -> Vec<i16> {
    through_opus_in(OpusFrame::Ms20, freq, seconds).0
}

#[test]
fn tones_keep_their_pitch_through_opus() {
    for freq in [440.0f32, 523.0] {
        let decoded = through_opus(freq, 1.0);
        assert_eq!(decoded.len(), 48_000);
        // Skip the encoder's start-up; analyse 0.5 s.
        let steady = &decoded[12_000..36_000];
        let got = dominant_frequency(steady, OPUS_SAMPLE_RATE).unwrap();
        assert!((got - freq).abs() <= 3.0, "{freq} Hz came out as {got} Hz");
        // 0.25 s windows are enough too (the bot's analysis window).
        let short = dominant_frequency(&decoded[24_000..36_000], OPUS_SAMPLE_RATE).unwrap();
        assert!(
            (short - freq).abs() <= 3.0,
            "{freq} Hz (0.25 s) came out as {short} Hz"
        );
        let level = level_dbfs(steady);
        assert!((-18.0..=-12.0).contains(&level), "level {level} dBFS");
    }
}

#[test]
fn members_are_told_apart_by_pitch() {
    let names = ["alice", "bob", "carol"];
    let measured: Vec<f32> = names
        .iter()
        .map(|n| {
            let decoded = through_opus(pitch_for(n), 0.6);
            dominant_frequency(&decoded[9_600..], OPUS_SAMPLE_RATE).unwrap()
        })
        .collect();
    for (i, name) in names.iter().enumerate() {
        // Each measurement is nearest to its own member's pitch.
        let nearest = names
            .iter()
            .min_by(|a, b| {
                (pitch_for(a) - measured[i])
                    .abs()
                    .total_cmp(&(pitch_for(b) - measured[i]).abs())
            })
            .unwrap();
        assert_eq!(nearest, name, "{name}: measured {} Hz", measured[i]);
        assert!((measured[i] - pitch_for(name)).abs() <= 3.0);
    }
}

#[test]
fn mixed_members_each_stay_audible() {
    let mut a = ToneSource::new(440.0, OPUS_SAMPLE_RATE);
    let mut b = ToneSource::new(880.0, OPUS_SAMPLE_RATE);
    let (mut pa, mut pb) = (vec![0i16; 12_000], vec![0i16; 12_000]);
    a.next_samples(&mut pa);
    b.next_samples(&mut pb);
    let mut acc = vec![0i32; 12_000];
    mix_into(&mut acc, &pa, 1.0);
    mix_into(&mut acc, &pb, 1.0);
    let mut mixed = vec![0i16; 12_000];
    finish_mix(&acc, &mut mixed);
    assert!(level_dbfs(&mixed) > level_dbfs(&pa) + 2.0);
    let f = dominant_frequency(&mixed, OPUS_SAMPLE_RATE).unwrap();
    assert!((f - 440.0).abs() < 1.0 || (f - 880.0).abs() < 1.0, "{f}");
}

#[test]
fn silence_is_not_sent_and_a_voice_after_it_is() {
    let mut enc = encoder();
    let mut dec = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    let mut talk = TalkingDetector::new();
    let mut sent = 0;
    // Two seconds of silence: DTX sends a packet now and then (the comfort
    // noise's updates), not one every 20 ms.
    for _ in 0..100 {
        let Some(p) = enc.encode(&[0; OPUS_FRAME_SAMPLES]).unwrap() else {
            continue;
        };
        sent += 1;
        let before = out.len();
        dec.decode(&p, &mut out).unwrap();
        assert_eq!(talk.push(level_dbfs(&out[before..]), OPUS_FRAME_MS), None);
    }
    assert!(sent <= 20, "{sent} of 100 silent frames sent");
    assert!(level_dbfs(&out) < -60.0);
    assert_eq!(dominant_frequency(&out, OPUS_SAMPLE_RATE), None);
    // The voice that follows is sent from its first frame.
    let mut tone = ToneSource::new(440.0, OPUS_SAMPLE_RATE);
    let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
    tone.next_samples(&mut pcm);
    assert!(enc.encode(&pcm).unwrap().is_some());
}

#[test]
fn ten_ms_frames_keep_the_pitch_and_are_concealed_and_rebuilt_at_their_length() {
    let (decoded, sizes) = through_opus_in(OpusFrame::Ms10, 600.0, 1.0);
    assert_eq!((decoded.len(), sizes.len()), (48_000, 100));
    let hz = dominant_frequency(&decoded[12_000..], OPUS_SAMPLE_RATE).unwrap();
    assert!((hz - 600.0).abs() <= 3.0, "{hz} Hz");
    let mut enc = OpusEncoder::new(OpusFrame::Ms10).unwrap();
    let mut dec = OpusDecoder::new().unwrap();
    let mut tone = ToneSource::new(600.0, OPUS_SAMPLE_RATE);
    let mut pcm = vec![0i16; 480];
    let mut out = Vec::new();
    for _ in 0..10 {
        tone.next_samples(&mut pcm);
        dec.decode(&encode(&mut enc, &pcm), &mut out).unwrap();
    }
    assert_eq!(
        dec.conceal(&mut out).unwrap(),
        480,
        "a lost 10 ms frame is 10 ms"
    );
    tone.next_samples(&mut pcm);
    let next = encode(&mut enc, &pcm);
    assert_eq!(dec.recover(&next, &mut out).unwrap(), 480);
}

#[test]
fn music_gets_more_bits_than_speech() {
    let mut enc = encoder();
    let mut tone = ToneSource::new(440.0, OPUS_SAMPLE_RATE);
    let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
    let mut bytes_for = |enc: &mut OpusEncoder| -> usize {
        // The last second of two, once the rate has settled.
        (0..100)
            .map(|_| {
                tone.next_samples(&mut pcm);
                encode(enc, &pcm).len()
            })
            .skip(50)
            .sum()
    };
    let speech = bytes_for(&mut enc);
    enc.set_content(AudioContent::Music).unwrap();
    let music = bytes_for(&mut enc);
    assert!(
        music as f64 >= 1.5 * speech as f64,
        "music {} kb/s against speech {} kb/s",
        music * 8 / 1000,
        speech * 8 / 1000
    );
    assert!(speech * 8 <= AudioContent::Speech.bitrate_bps() as usize * 11 / 10);
}

#[test]
fn talking_detector_follows_a_decoded_tone() {
    let decoded = through_opus(440.0, 0.4);
    let mut talk = TalkingDetector::new();
    let mut changes = Vec::new();
    let frames = decoded
        .chunks(OPUS_FRAME_SAMPLES)
        .chain(std::iter::repeat_n(&[0i16; 960][..], 30));
    for (i, f) in frames.enumerate() {
        if let Some(state) = talk.push(level_dbfs(f), OPUS_FRAME_MS) {
            changes.push((i, state));
        }
    }
    // Starts within ~100 ms of the tone, stops 500 ms after it ends (frame 20).
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes[0].1 && changes[0].0 <= 5, "{changes:?}");
    assert_eq!(changes[1], (20 + 25 - 1, false), "{changes:?}");
}

#[test]
fn concealment_fills_a_lost_frame() {
    let mut enc = encoder();
    let mut dec = OpusDecoder::new().unwrap();
    let mut tone = ToneSource::new(440.0, OPUS_SAMPLE_RATE);
    let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
    let mut out = Vec::new();
    for _ in 0..10 {
        tone.next_samples(&mut pcm);
        dec.decode(&encode(&mut enc, &pcm), &mut out).unwrap();
    }
    let before = out.len();
    assert_eq!(dec.conceal(&mut out).unwrap(), OPUS_FRAME_SAMPLES);
    assert_eq!(out.len(), before + OPUS_FRAME_SAMPLES);
    // Concealment continues the tone rather than inserting silence.
    assert!(level_dbfs(&out[before..]) > -40.0);
}

#[test]
fn a_lost_packet_is_rebuilt_from_the_next_ones_fec_at_its_pitch() {
    let mut enc = encoder();
    let mut dec = OpusDecoder::new().unwrap();
    let mut tone = ToneSource::new(600.0, OPUS_SAMPLE_RATE);
    let mut pcm = vec![0i16; OPUS_FRAME_SAMPLES];
    let mut out = Vec::new();
    let mut packets = Vec::new();
    for _ in 0..40 {
        tone.next_samples(&mut pcm);
        packets.push(encode(&mut enc, &pcm));
    }
    // Every fifth packet is lost; each is rebuilt from the one after it.
    for (n, packet) in packets.iter().enumerate() {
        if n % 5 == 4 {
            continue;
        }
        if n % 5 == 0 && n > 0 {
            assert_eq!(dec.recover(packet, &mut out).unwrap(), OPUS_FRAME_SAMPLES);
        }
        dec.decode(packet, &mut out).unwrap();
    }
    assert_eq!(
        out.len(),
        (40 - 1) * OPUS_FRAME_SAMPLES,
        "no gap but the last frame"
    );
    let hz = dominant_frequency(&out[out.len() / 2..], OPUS_SAMPLE_RATE).unwrap();
    assert!((hz - 600.0).abs() <= 3.0, "{hz} Hz");
}

#[test]
fn opus_rejects_bad_input() {
    let mut enc = encoder();
    assert!(matches!(
        enc.encode(&[0; 1000]),
        Err(MediaError::InvalidAudio(_))
    ));
    assert!(matches!(enc.encode(&[]), Err(MediaError::InvalidAudio(_))));

    let mut dec = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    // Structurally invalid packets (RFC 6716 section 3): empty; code 3 with
    // zero frames; code 3 with 49 x 20 ms (over 120 ms); code 1 with an odd
    // payload; code 2 whose first frame length overruns the packet.
    for bad in [
        &[][..],
        &[0x0b, 0x00],
        &[0x0b, 49],
        &[0x09, 0x00],
        &[0x0a, 0xfb, 0x01],
    ] {
        assert!(dec.decode(bad, &mut out).is_err(), "{bad:02x?} accepted");
    }
    assert!(out.is_empty(), "failed decodes must not append");
    // Arbitrary garbage: Opus has no checksum so some of it is "valid"; it
    // must never panic and never produce more than 120 ms.
    let mut s: u32 = 0x9e37_79b9;
    for len in 1..300usize {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as u8
            })
            .collect();
        out.clear();
        if let Ok(n) = dec.decode(&junk, &mut out) {
            assert!(n <= 5760 && out.len() == n);
        }
    }
}
