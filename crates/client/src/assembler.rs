//! Turns VP8 RTP packets back into whole frames (sans-IO).
//!
//! Packets of one frame share a timestamp; the marker bit ends it. A frame is
//! complete when its packets run without a sequence gap from a partition
//! start to the marker. After a loss the assembler drops frames until the
//! next keyframe (a VP8 delta frame needs its references) and asks the
//! caller to request one.

use bytes::Bytes;
use rtc::rtp;
use rtc::rtp::codec::vp8::Vp8Packet;
use rtc::rtp::packetizer::Depacketizer;

#[derive(Debug, PartialEq)]
pub enum Assembled {
    /// A whole frame, ready for the decoder.
    Frame {
        data: Vec<u8>,
        keyframe: bool,
        rtp_timestamp: u32,
    },
    /// Something was lost; ask the sender for a keyframe.
    NeedKeyframe,
}

/// While waiting for a keyframe, ask again after this many undecodable frames
/// (the first request or its answer may have been lost).
const REQUEST_AGAIN_AFTER: u32 = 15;

pub struct FrameAssembler {
    current: Option<u32>,
    parts: Vec<Bytes>,
    started: bool,
    broken: bool,
    expected_seq: Option<u16>,
    /// True from the start and after any loss, until a keyframe arrives.
    waiting_for_keyframe: bool,
    frames_since_request: Option<u32>,
}

impl Default for FrameAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAssembler {
    pub fn new() -> Self {
        Self {
            current: None,
            parts: Vec::new(),
            started: false,
            broken: false,
            expected_seq: None,
            waiting_for_keyframe: true,
            frames_since_request: None,
        }
    }

    pub fn push(&mut self, packet: &rtp::Packet) -> Option<Assembled> {
        let seq = packet.header.sequence_number;
        let lost = match self.expected_seq {
            // A late duplicate or reordered old packet is useless now; a jump forward is loss.
            Some(expected) if seq.wrapping_sub(expected) > 0x8000 => return None,
            Some(expected) => seq != expected,
            None => false,
        };
        self.expected_seq = Some(seq.wrapping_add(1));
        if self.current != Some(packet.header.timestamp) {
            self.current = Some(packet.header.timestamp);
            self.parts.clear();
            self.started = false;
            self.broken = false;
        }
        if lost {
            // Some frame is incomplete: only a keyframe resynchronises the decoder. This
            // frame is broken only if the gap is inside it (after its start was seen).
            self.broken |= self.started;
            self.waiting_for_keyframe = true;
        }
        let mut vp8 = Vp8Packet::default();
        let Ok(payload) = vp8.depacketize(&packet.payload) else {
            self.broken = true;
            self.waiting_for_keyframe = true;
            return None;
        };
        if vp8.s == 1 && vp8.pid == 0 {
            self.started = true;
            self.parts.clear();
        }
        if self.started {
            self.parts.push(payload);
        }
        if !packet.header.marker {
            return None;
        }
        let complete = self.started && !self.broken;
        let data: Vec<u8> = self.parts.concat();
        self.parts.clear();
        self.started = false;
        self.broken = false;
        // VP8 frame tag: the lowest bit of the first byte is 0 for a keyframe.
        let keyframe = complete && data.first().is_some_and(|b| b & 1 == 0);
        if keyframe || (complete && !self.waiting_for_keyframe) {
            self.waiting_for_keyframe = false;
            self.frames_since_request = None;
            return Some(Assembled::Frame {
                data,
                keyframe,
                rtp_timestamp: packet.header.timestamp,
            });
        }
        self.waiting_for_keyframe = true;
        match self.frames_since_request {
            Some(n) if n + 1 < REQUEST_AGAIN_AFTER => {
                self.frames_since_request = Some(n + 1);
                None
            }
            _ => {
                self.frames_since_request = Some(0);
                Some(Assembled::NeedKeyframe)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, ts: u32, marker: bool, start: bool, body: &[u8]) -> rtp::Packet {
        let mut payload = vec![if start { 0x10 } else { 0x00 }];
        payload.extend_from_slice(body);
        rtp::Packet {
            header: rtp::Header {
                sequence_number: seq,
                timestamp: ts,
                marker,
                ..Default::default()
            },
            payload: Bytes::from(payload),
        }
    }

    #[test]
    fn joins_the_packets_of_a_keyframe() {
        let mut a = FrameAssembler::new();
        assert_eq!(a.push(&packet(1, 100, false, true, &[0x00, 1, 2])), None);
        let got = a.push(&packet(2, 100, true, false, &[3, 4, 5]));
        assert_eq!(
            got,
            Some(Assembled::Frame {
                data: vec![0x00, 1, 2, 3, 4, 5],
                keyframe: true,
                rtp_timestamp: 100
            })
        );
    }

    #[test]
    fn a_gap_drops_the_frame_and_asks_for_a_keyframe_then_waits_for_it() {
        let mut a = FrameAssembler::new();
        a.push(&packet(1, 100, false, true, &[0x00, 0, 0]));
        a.push(&packet(2, 100, true, false, &[1, 1, 1]));
        // Packet 3 is lost.
        a.push(&packet(4, 200, false, true, &[0x01, 0, 0]));
        assert_eq!(
            a.push(&packet(5, 200, true, false, &[1, 1, 1])),
            Some(Assembled::NeedKeyframe)
        );
        // A delta frame after the loss is not decodable.
        a.push(&packet(6, 300, false, true, &[0x01, 0, 0]));
        assert_eq!(a.push(&packet(7, 300, true, false, &[1, 1, 1])), None);
        let got = a.push(&packet(8, 400, true, true, &[0x00, 9, 9]));
        assert!(matches!(got, Some(Assembled::Frame { keyframe: true, .. })));
    }

    #[test]
    fn delta_frames_before_the_first_keyframe_are_skipped() {
        let mut a = FrameAssembler::new();
        assert_eq!(
            a.push(&packet(1, 100, true, true, &[0x01, 0, 0])),
            Some(Assembled::NeedKeyframe)
        );
        assert_eq!(a.push(&packet(2, 200, true, true, &[0x01, 0, 0])), None);
        assert!(matches!(
            a.push(&packet(3, 300, true, true, &[0x00, 0, 0])),
            Some(Assembled::Frame { keyframe: true, .. })
        ));
    }
}
