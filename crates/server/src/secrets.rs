//! Moderator secrets: keeping a room's secret when it empties, and how fast
//! anyone may guess one (`docs/protocol.md`, "Moderator secrets").
//!
//! A room's first member sets its secret; whoever later joins with the same
//! secret is a moderator. Two things make that safe. A room that empties
//! keeps its secret for [`RETAIN`], so a squatter who re-creates it does not
//! become its moderator. And wrong guesses are limited per room and per IP
//! address, so a short secret cannot be found by trying them all.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long an empty room's secret is kept.
pub(crate) const RETAIN: Duration = Duration::from_secs(60 * 60);
/// Wrong guesses allowed in a burst, per room and per IP address...
pub(crate) const GUESS_BURST: f64 = 5.0;
/// ...and one more per this long.
pub(crate) const GUESS_REFILL: Duration = Duration::from_secs(10);
/// Entries kept in each table at most; beyond, the stalest go.
pub(crate) const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub(crate) struct Secrets {
    /// Room key → the secret of a room that emptied, and when to forget it.
    retired: HashMap<String, (String, Instant)>,
    per_room: Guesses<String>,
    per_ip: Guesses<IpAddr>,
}

impl Secrets {
    /// The secret kept for a room that emptied, if it is still kept.
    pub(crate) fn kept(&self, room: &str, now: Instant) -> Option<String> {
        let (secret, until) = self.retired.get(room)?;
        (now < *until).then(|| secret.clone())
    }

    /// The secret a re-created room starts with: the one it had when it emptied.
    pub(crate) fn reclaim(&mut self, room: &str, now: Instant) -> Option<String> {
        let secret = self.kept(room, now);
        self.retired.remove(room);
        secret
    }

    /// A room with this secret emptied.
    pub(crate) fn retire(&mut self, room: &str, secret: String, now: Instant) {
        if self.retired.len() >= MAX_ENTRIES {
            self.retired.retain(|_, (_, until)| now < *until);
        }
        make_room(&mut self.retired, |(_, until)| *until);
        self.retired.insert(room.to_owned(), (secret, now + RETAIN));
    }

    /// Whether `ip` may try a secret for `room` now; if not, how long to wait.
    pub(crate) fn may_guess(
        &mut self,
        room: &str,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(), Duration> {
        let room_wait = self.per_room.wait(&room.to_owned(), now);
        let ip_wait = self.per_ip.wait(&ip, now);
        match room_wait.max(ip_wait) {
            Duration::ZERO => Ok(()),
            wait => Err(wait),
        }
    }

    pub(crate) fn wrong_guess(&mut self, room: &str, ip: IpAddr, now: Instant) {
        self.per_room.spend(room.to_owned(), now);
        self.per_ip.spend(ip, now);
    }
}

/// At [`MAX_ENTRIES`], drops the entry that `age` says is the stalest.
fn make_room<K: Hash + Eq + Clone, V>(map: &mut HashMap<K, V>, age: impl Fn(&V) -> Instant) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    if let Some(stalest) = map
        .iter()
        .min_by_key(|(_, v)| age(v))
        .map(|(k, _)| k.clone())
    {
        map.remove(&stalest);
    }
}

/// A token bucket of wrong guesses per key; a key with a full bucket is not stored.
struct Guesses<K> {
    buckets: HashMap<K, (f64, Instant)>,
}

impl<K> Default for Guesses<K> {
    fn default() -> Self {
        Guesses {
            buckets: HashMap::new(),
        }
    }
}

fn refilled(tokens: f64, since: Instant, now: Instant) -> f64 {
    let earned = now.saturating_duration_since(since).as_secs_f64() / GUESS_REFILL.as_secs_f64();
    (tokens + earned).min(GUESS_BURST)
}

impl<K: Hash + Eq + Clone> Guesses<K> {
    fn tokens(&self, key: &K, now: Instant) -> f64 {
        self.buckets
            .get(key)
            .map_or(GUESS_BURST, |&(tokens, since)| refilled(tokens, since, now))
    }

    /// Zero if a guess may be made now, else the time until one may.
    fn wait(&self, key: &K, now: Instant) -> Duration {
        let missing = 1.0 - self.tokens(key, now);
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            GUESS_REFILL.mul_f64(missing)
        }
    }

    fn spend(&mut self, key: K, now: Instant) {
        let tokens = self.tokens(&key, now) - 1.0;
        if self.buckets.len() >= MAX_ENTRIES && !self.buckets.contains_key(&key) {
            // Full buckets carry no information: forget them first, then the stalest.
            self.buckets
                .retain(|_, &mut (t, since)| refilled(t, since, now) < GUESS_BURST);
            make_room(&mut self.buckets, |(_, since)| *since);
        }
        self.buckets.insert(key, (tokens, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn a_burst_of_wrong_guesses_then_one_per_refill_per_room_and_per_ip() {
        let mut s = Secrets::default();
        let t0 = Instant::now();
        for _ in 0..GUESS_BURST as usize {
            assert_eq!(s.may_guess("r", A, t0), Ok(()));
            s.wrong_guess("r", A, t0);
        }
        assert_eq!(s.may_guess("r", A, t0), Err(GUESS_REFILL));
        assert!(
            s.may_guess("r", B, t0).is_err(),
            "another address, same room"
        );
        assert_eq!(s.may_guess("other", B, t0), Ok(()));
        assert!(
            s.may_guess("other", A, t0).is_err(),
            "same address, another room"
        );
        assert_eq!(s.may_guess("r", A, t0 + GUESS_REFILL), Ok(()));
    }

    #[test]
    fn an_emptied_rooms_secret_is_kept_for_a_while() {
        let mut s = Secrets::default();
        let t0 = Instant::now();
        s.retire("r", "s3cret".into(), t0);
        assert_eq!(s.reclaim("r", t0 + RETAIN / 2), Some("s3cret".into()));
        assert_eq!(s.reclaim("r", t0), None, "reclaimed once");
        s.retire("r", "s3cret".into(), t0);
        assert_eq!(s.reclaim("r", t0 + RETAIN), None, "forgotten after RETAIN");
    }

    #[test]
    fn the_tables_stay_bounded() {
        let mut s = Secrets::default();
        let t0 = Instant::now();
        for n in 0..MAX_ENTRIES + 50 {
            let at = t0 + Duration::from_millis(n as u64);
            s.wrong_guess(&format!("room {n}"), A, at);
            s.retire(&format!("room {n}"), "x".into(), at);
        }
        assert!(s.per_room.buckets.len() <= MAX_ENTRIES);
        assert!(s.retired.len() <= MAX_ENTRIES);
    }
}
