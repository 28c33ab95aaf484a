//! Who may connect, and how fast one address may talk: connection caps per IP
//! and in total, and one token bucket shared by all connections from an IP.
//!
//! [`GateState`] is the sans-IO rule (time comes in as an argument); [`Gate`]
//! shares it between the accept loop and the connections, and a [`Ticket`]
//! holds one connection's place until it is dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::ConnectionLimits;
use crate::bucket::TokenBucket;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Total(usize),
    PerIp(usize),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Total(max) => write!(f, "the server has {max} connections open already"),
            Refusal::PerIp(max) => write!(f, "your address has {max} connections open already"),
        }
    }
}

struct Address {
    connections: usize,
    rate: TokenBucket,
}

pub struct GateState {
    max_total: usize,
    max_per_ip: usize,
    rate: f64,
    total: usize,
    addresses: HashMap<IpAddr, Address>,
}

impl GateState {
    pub fn new(limits: &ConnectionLimits) -> Self {
        Self {
            max_total: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
            rate: limits.max_messages_per_second_per_ip as f64,
            total: 0,
            addresses: HashMap::new(),
        }
    }

    pub fn admit(&mut self, ip: IpAddr, now: Instant) -> Result<(), Refusal> {
        if self.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        let rate = self.rate;
        let address = self.addresses.entry(ip).or_insert(Address {
            connections: 0,
            rate: TokenBucket::full(rate, now),
        });
        if address.connections >= self.max_per_ip {
            return Err(Refusal::PerIp(self.max_per_ip));
        }
        address.connections += 1;
        self.total += 1;
        Ok(())
    }

    pub fn release(&mut self, ip: IpAddr) {
        if let Some(address) = self.addresses.get_mut(&ip) {
            address.connections -= 1;
            self.total -= 1;
            // The bucket goes with the last connection; a new one starts full.
            if address.connections == 0 {
                self.addresses.remove(&ip);
            }
        }
    }

    /// One frame from `ip` at `now`: false if that address is over its rate.
    pub fn take_token(&mut self, ip: IpAddr, now: Instant) -> bool {
        if self.rate <= 0.0 {
            return true;
        }
        let rate = self.rate;
        match self.addresses.get_mut(&ip) {
            Some(address) => address.rate.take(rate, now),
            None => true,
        }
    }

    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.total
    }
}

#[derive(Clone)]
pub struct Gate(Arc<Mutex<GateState>>);

impl Gate {
    pub fn new(limits: &ConnectionLimits) -> Self {
        Gate(Arc::new(Mutex::new(GateState::new(limits))))
    }

    pub fn admit(&self, ip: IpAddr) -> Result<Ticket, Refusal> {
        self.0.lock().unwrap().admit(ip, Instant::now())?;
        Ok(Ticket {
            gate: self.clone(),
            ip,
        })
    }
}

/// One admitted connection. Dropping it frees its place.
pub struct Ticket {
    gate: Gate,
    ip: IpAddr,
}

impl Ticket {
    /// Takes a token from this connection's address; false if it is over its rate.
    pub fn take_token(&self) -> bool {
        self.gate
            .0
            .lock()
            .unwrap()
            .take_token(self.ip, Instant::now())
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.0.lock().unwrap().release(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(total: usize, per_ip: usize, rate: u32) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: total,
            max_connections_per_ip: per_ip,
            max_messages_per_second_per_ip: rate,
            ..ConnectionLimits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn caps_per_ip_and_in_total() {
        let now = Instant::now();
        let mut gate = GateState::new(&limits(5, 2, 100));
        assert_eq!(gate.admit(ip(1), now), Ok(()));
        assert_eq!(gate.admit(ip(1), now), Ok(()));
        assert_eq!(gate.admit(ip(1), now), Err(Refusal::PerIp(2)));
        assert_eq!(gate.admit(ip(2), now), Ok(()));
        assert_eq!(gate.admit(ip(2), now), Ok(()));
        assert_eq!(gate.admit(ip(3), now), Ok(()));
        assert_eq!(gate.admit(ip(4), now), Err(Refusal::Total(5)));
        gate.release(ip(1));
        assert_eq!(gate.total(), 4);
        assert_eq!(gate.admit(ip(1), now), Ok(()));
        assert_eq!(gate.admit(ip(4), now), Err(Refusal::Total(5)));
    }

    #[test]
    fn one_bucket_is_shared_by_all_connections_of_an_address() {
        let now = Instant::now();
        let mut gate = GateState::new(&limits(100, 30, 10));
        for _ in 0..30 {
            gate.admit(ip(1), now).unwrap();
        }
        gate.admit(ip(2), now).unwrap();
        // 30 connections sending at once get the address's burst, 20, not 30 × 20.
        let served = (0..30 * 40).filter(|_| gate.take_token(ip(1), now)).count();
        assert_eq!(served, 20);
        // Another address has its own bucket.
        assert!(gate.take_token(ip(2), now));
        // Refilled at the rate.
        let later = now + Duration::from_millis(500);
        let served = (0..100).filter(|_| gate.take_token(ip(1), later)).count();
        assert_eq!(served, 5);
    }

    #[test]
    fn rate_zero_means_no_per_address_limit() {
        let now = Instant::now();
        let mut gate = GateState::new(&limits(10, 10, 0));
        gate.admit(ip(1), now).unwrap();
        assert!((0..10_000).all(|_| gate.take_token(ip(1), now)));
    }

    #[test]
    fn tickets_release_their_place() {
        let gate = Gate::new(&limits(2, 2, 10));
        let a = gate.admit(ip(1)).unwrap();
        let _b = gate.admit(ip(1)).unwrap();
        assert!(gate.admit(ip(1)).is_err());
        drop(a);
        assert!(gate.admit(ip(1)).is_ok());
    }
}
