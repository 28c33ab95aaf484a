//! Per-member identity for the synthetic devices: a colour for the camera and
//! screen, a pitch for the microphone. A receiver that knows who is talking
//! can therefore check it sees and hears *that* member, not someone else.

use crate::Rgb;

/// Saturated, mid-to-light colours. Pairwise `Rgb::distance` is >= 80 (so they
/// stay apart after VP8 coding, which keeps the mean within ~30), and every
/// luma is >= 100 so none can be mistaken for the dark screen-share
/// background.
const PALETTE: [Rgb; 12] = [
    Rgb::new(230, 40, 60),   // red
    Rgb::new(40, 180, 70),   // green
    Rgb::new(240, 210, 30),  // yellow
    Rgb::new(60, 100, 230),  // blue
    Rgb::new(250, 130, 30),  // orange
    Rgb::new(150, 60, 210),  // purple
    Rgb::new(40, 200, 230),  // cyan
    Rgb::new(230, 60, 200),  // magenta
    Rgb::new(160, 240, 60),  // lime
    Rgb::new(0, 150, 150),   // teal
    Rgb::new(150, 110, 20),  // brown
    Rgb::new(250, 150, 190), // pink
];

/// Pitches 300, 345, ..., 1200 Hz: 45 Hz apart, far more than the ~1 Hz
/// accuracy of `dominant_frequency`, and all comfortably inside Opus's
/// wideband voice range.
const PITCH_LOW_HZ: f32 = 300.0;
const PITCH_STEP_HZ: f32 = 45.0;
const PITCH_COUNT: u64 = 21;

/// The member's colour, deterministic from the name (same on every machine
/// and every run). With 12 colours two members can share one; callers that
/// need a guaranteed difference must assign by other means.
pub fn colour_for(name: &str) -> Rgb {
    PALETTE[(stable_hash(name) % PALETTE.len() as u64) as usize]
}

/// The member's microphone tone in Hz, deterministic from the name.
pub fn pitch_for(name: &str) -> f32 {
    // The high half of the hash, so colour and pitch vary independently.
    let index = (stable_hash(name) >> 32) % PITCH_COUNT;
    PITCH_LOW_HZ + PITCH_STEP_HZ * index as f32
}

/// FNV-1a, 64 bit. `std`'s hasher is not stable across Rust releases, and a
/// sender and receiver built from different toolchains must agree. (The
/// values are part of the protocol in practice: changing this function
/// re-colours everyone.)
fn stable_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_is_well_separated_and_bright_enough() {
        for (i, a) in PALETTE.iter().enumerate() {
            assert!(a.to_yuv().0 >= 100, "{a:?} too dark");
            for b in &PALETTE[i + 1..] {
                assert!(a.distance(*b) >= 80, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn deterministic_and_distinct_for_the_usual_cast() {
        let names = ["alice", "bob", "carol"];
        let colours: Vec<Rgb> = names.iter().map(|n| colour_for(n)).collect();
        let pitches: Vec<f32> = names.iter().map(|n| pitch_for(n)).collect();
        for (i, n) in names.iter().enumerate() {
            assert_eq!(colour_for(n), colours[i]);
            assert_eq!(pitch_for(n), pitches[i]);
            assert!((300.0..=1200.0).contains(&pitches[i]));
            for j in i + 1..names.len() {
                assert_ne!(
                    colours[i], colours[j],
                    "{n} and {} share a colour",
                    names[j]
                );
                assert!(
                    (pitches[i] - pitches[j]).abs() >= 40.0,
                    "{n} and {}",
                    names[j]
                );
            }
        }
    }

    #[test]
    fn pitches_span_the_range() {
        let all: std::collections::BTreeSet<u32> = (0..500)
            .map(|i| pitch_for(&format!("member{i}")) as u32)
            .collect();
        assert_eq!(all.len(), PITCH_COUNT as usize);
        assert_eq!(*all.first().unwrap(), 300);
        assert_eq!(*all.last().unwrap(), 1200);
    }
}
