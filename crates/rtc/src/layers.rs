//! Simulcast: a camera is published as up to three layers, each its own
//! VP8 stream, so the SFU can send each subscriber the one that fits its
//! link and its tile, without transcoding.
//!
//! A layer is named by its **level**: 0 is the full picture, 1 half its
//! width and height, 2 a quarter. Each layer is a track of its own (its
//! own m-section and SSRC), with the level in its track id: `camera` for
//! level 0, `camera.1`, `camera.2`. A publisher that sends one stream (a
//! browser, a screen share) just sends level 0.

use conclave_protocol::TrackKind;

/// Levels a camera is published in (0 = full size).
pub const CAMERA_LEVELS: u8 = 3;
/// The most levels a track can have.
pub const MAX_LEVELS: usize = 3;

/// The track id a client publishes `kind`'s layer `level` under.
pub fn published_track_id(kind: TrackKind, level: u8) -> String {
    match level {
        0 => kind.as_str().to_owned(),
        level => format!("{}.{level}", kind.as_str()),
    }
}

/// What a published track id says: whose kind, and which layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedTrack {
    pub kind: TrackKind,
    pub level: u8,
}

impl PublishedTrack {
    pub fn parse(track_id: &str) -> Option<Self> {
        let (kind, level) = match track_id.split_once('.') {
            None => (track_id, 0),
            Some((kind, level)) => (kind, level.parse().ok()?),
        };
        let kind = TrackKind::parse(kind)?;
        let layered = kind == TrackKind::Camera;
        (usize::from(level) < MAX_LEVELS && (level == 0 || layered))
            .then_some(PublishedTrack { kind, level })
    }
}

/// The bitrate of a layer when the full picture gets `full_kbps`: a
/// quarter of the pixels get 30%, a sixteenth 10% (low resolutions need
/// more bits per pixel), as browsers share it out.
pub fn level_bitrate_kbps(full_kbps: u32, level: u8) -> u32 {
    match level {
        0 => full_kbps,
        1 => (full_kbps * 3 / 10).max(40),
        _ => (full_kbps / 10).max(30),
    }
}

/// When this VP8 RTP payload begins a keyframe, the picture's width and
/// height (from the keyframe header, RFC 6386 §9.1); else `None`.
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    // The payload descriptor (RFC 7741 §4.2): S set and partition 0 start a frame.
    let first = *payload.first()?;
    if first & 0x10 == 0 || first & 0x07 != 0 {
        return None;
    }
    let mut at = 1;
    if first & 0x80 != 0 {
        let extensions = *payload.get(at)?;
        at += 1;
        if extensions & 0x80 != 0 {
            // Picture id: 15 bits when its M bit is set, else 7.
            at += if *payload.get(at)? & 0x80 != 0 { 2 } else { 1 };
        }
        if extensions & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if extensions & 0x30 != 0 {
            at += 1; // TID / KEYIDX
        }
    }
    let frame = payload.get(at..at + 10)?;
    // Frame tag bit 0 clear: a keyframe, whose start code and size follow.
    if frame[0] & 0x01 != 0 || frame[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let width = u16::from_le_bytes([frame[6], frame[7]]) & 0x3fff;
    let height = u16::from_le_bytes([frame[8], frame[9]]) & 0x3fff;
    Some((width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_id_names_its_kind_and_level() {
        for level in 0..CAMERA_LEVELS {
            let id = published_track_id(TrackKind::Camera, level);
            let parsed = PublishedTrack::parse(&id).unwrap();
            assert_eq!(
                parsed,
                PublishedTrack {
                    kind: TrackKind::Camera,
                    level
                }
            );
        }
        assert_eq!(published_track_id(TrackKind::Camera, 0), "camera");
        assert_eq!(
            PublishedTrack::parse("screen").map(|t| t.kind),
            Some(TrackKind::Screen)
        );
        assert_eq!(
            PublishedTrack::parse("screen.1"),
            None,
            "only cameras have layers"
        );
        assert_eq!(PublishedTrack::parse("camera.3"), None);
        assert_eq!(PublishedTrack::parse("camera.x"), None);
        assert_eq!(PublishedTrack::parse("tuba"), None);
    }

    #[test]
    fn a_keyframe_start_gives_its_size_and_nothing_else_does() {
        // Descriptor with a 15-bit picture id, then a keyframe tag, start code, 640x360.
        let keyframe = [
            0x90, 0x80, 0x81, 0x23, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01,
        ];
        assert_eq!(vp8_keyframe_size(&keyframe), Some((640, 360)));
        let mut delta = keyframe;
        delta[4] |= 0x01;
        assert_eq!(vp8_keyframe_size(&delta), None, "an interframe");
        let mut middle = keyframe;
        middle[0] &= !0x10;
        assert_eq!(
            vp8_keyframe_size(&middle),
            None,
            "not a frame's first packet"
        );
        assert_eq!(vp8_keyframe_size(&keyframe[..8]), None, "cut short");
        assert_eq!(vp8_keyframe_size(&[]), None);
    }

    #[test]
    fn lower_layers_get_a_share_of_the_bitrate() {
        assert_eq!(level_bitrate_kbps(1500, 0), 1500);
        assert_eq!(level_bitrate_kbps(1500, 1), 450);
        assert_eq!(level_bitrate_kbps(1500, 2), 150);
        assert_eq!(level_bitrate_kbps(100, 2), 30);
    }
}
