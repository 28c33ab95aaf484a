//! When to try the room server again after the signaling connection
//! dropped: at once, then after 0.3, 1.2 and 2 s (LiveKit's first steps,
//! capped at 2 s so a member is back soon after its network is), until
//! [`GIVE_UP_AFTER`].

use std::time::Duration;

/// The waits before the first attempts; later ones wait the last of these.
const WAITS_MS: [u64; 4] = [0, 300, 1200, 2000];

/// Past this since the connection dropped, the client stops trying and the
/// member is out of the room.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

/// How long one attempt (TCP, TLS, WebSocket upgrade) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// The wait before attempt `attempt` (from 1).
pub fn wait_before(attempt: u32) -> Duration {
    let index = (attempt.saturating_sub(1) as usize).min(WAITS_MS.len() - 1);
    Duration::from_millis(WAITS_MS[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waits_grow_then_stay_at_two_seconds() {
        let waits: Vec<u64> = (1..=6).map(|n| wait_before(n).as_millis() as u64).collect();
        assert_eq!(waits, [0, 300, 1200, 2000, 2000, 2000]);
    }
}
