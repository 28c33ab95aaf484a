//! Summing several members' audio. Accumulate in i32 (no clipping however
//! many sources), then saturate once at the end.

/// Adds `samples` into `acc`, element by element, over the shorter length.
pub fn mix_into(acc: &mut [i32], samples: &[i16]) {
    for (a, &s) in acc.iter_mut().zip(samples) {
        *a = a.saturating_add(s as i32);
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
        mix_into(&mut acc, &[1000, 30000, -30000, 5]);
        mix_into(&mut acc, &[2000, 30000, -30000]);
        let mut out = [0i16; 4];
        finish_mix(&acc, &mut out);
        assert_eq!(out, [3000, i16::MAX, i16::MIN, 5]);
    }
}
