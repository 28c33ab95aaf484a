//! Summing several members' audio, each at the volume chosen for it here.
//! Accumulate in i32 (no clipping however many sources), then saturate once
//! at the end.

/// How loud one member plays on this machine; the others hear them as
/// before (it is not sent anywhere).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct Playback {
    /// 100 plays them as they were sent; 0 to [`Playback::MAX_VOLUME_PERCENT`].
    pub volume_percent: u16,
    /// "Mute for me": silent here, whatever the volume.
    pub muted: bool,
}

impl Default for Playback {
    fn default() -> Self {
        Playback {
            volume_percent: 100,
            muted: false,
        }
    }
}

impl Playback {
    /// Twice as loud: enough for a quiet microphone, short of distortion
    /// for a normal one (the mix saturates).
    pub const MAX_VOLUME_PERCENT: u16 = 200;

    pub fn gain(self) -> f32 {
        if self.muted {
            0.0
        } else {
            f32::from(self.volume_percent.min(Self::MAX_VOLUME_PERCENT)) / 100.0
        }
    }
}

/// Adds `samples` times `gain` into `acc`, element by element, over the
/// shorter length.
pub fn mix_into(acc: &mut [i32], samples: &[i16], gain: f32) {
    if gain == 1.0 {
        for (a, &s) in acc.iter_mut().zip(samples) {
            *a = a.saturating_add(i32::from(s));
        }
    } else {
        for (a, &s) in acc.iter_mut().zip(samples) {
            *a = a.saturating_add((f32::from(s) * gain) as i32);
        }
    }
}

/// Writes the saturated mix into `out`, over the shorter length.
pub fn finish_mix(acc: &[i32], out: &mut [i16]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        *o = a.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_saturates() {
        let mut acc = vec![0i32; 4];
        mix_into(&mut acc, &[1000, 30000, -30000, 5], 1.0);
        mix_into(&mut acc, &[2000, 30000, -30000], 1.0);
        let mut out = [0i16; 4];
        finish_mix(&acc, &mut out);
        assert_eq!(out, [3000, i16::MAX, i16::MIN, 5]);
    }

    #[test]
    fn each_member_plays_at_its_own_volume_and_muted_for_me_is_silent() {
        let half = Playback {
            volume_percent: 50,
            muted: false,
        };
        let muted = Playback {
            muted: true,
            ..Playback::default()
        };
        let mut acc = vec![0i32; 2];
        mix_into(&mut acc, &[1000, -1000], half.gain());
        mix_into(&mut acc, &[7000, 7000], muted.gain());
        mix_into(&mut acc, &[10, 10], Playback::default().gain());
        assert_eq!(acc, [510, -490]);
        let loud = Playback {
            volume_percent: 999,
            muted: false,
        };
        assert_eq!(loud.gain(), 2.0, "capped at 200%");
    }
}
