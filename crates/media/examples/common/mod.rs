//! What the media examples share.

// Each example uses a part of it.
#![allow(dead_code)]

/// CPU time consumed by the calling thread, in milliseconds. Wall time would
/// count time this process was descheduled on a busy 2-core machine.
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime failed");
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// A speech-like far end: `samples` of noise at about -25 dBFS (a
/// generator seeded with `seed`), on for two `unit`s and off for one.
pub fn noise_bursts(samples: usize, unit: usize, seed: u32) -> Vec<i16> {
    let mut state = seed;
    (0..samples)
        .map(|n| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let on = (n / unit) % 3 != 2;
            if on { ((state >> 16) as i16) / 6 } else { 0 }
        })
        .collect()
}
