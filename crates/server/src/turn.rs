//! TURN credentials in coturn's `use-auth-secret` scheme (the "TURN REST
//! API"): the server and coturn share a secret, and the server hands each
//! connection a username `EXPIRY:LABEL` with the Base64 HMAC-SHA1 of it as
//! the password. coturn checks the HMAC and refuses the username once its
//! expiry (Unix seconds) has passed, so nothing needs to be stored anywhere.

use std::time::Duration;

use base64::Engine;
use conclave_protocol::IceServer;
use hmac::{Hmac, Mac};
use sha1::Sha1;

#[derive(Clone, Debug)]
pub struct TurnConfig {
    /// `turn:HOST:PORT` (UDP to the TURN server: what webrtc 0.21 speaks).
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long a handed-out credential works for new allocations.
    pub ttl: Duration,
    /// The server gathers relay candidates for its own side of each media
    /// connection too: for a host behind NAT that members cannot reach
    /// directly (an app hosting from home).
    pub relay_server_media: bool,
}

impl TurnConfig {
    /// Credentials for `label` (which shows in coturn's logs), valid for
    /// `ttl` from `unix_s`.
    pub fn credentials(&self, label: &str, unix_s: u64) -> IceServer {
        let username = format!("{}:{label}", unix_s + self.ttl.as_secs());
        let mut mac =
            Hmac::<Sha1>::new_from_slice(self.secret.as_bytes()).expect("HMAC takes any key");
        mac.update(username.as_bytes());
        let credential =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        IceServer {
            urls: self.urls.clone(),
            username,
            credential,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_coturns_rest_scheme() {
        let turn = TurnConfig {
            urls: vec!["turn:203.0.113.5:3478".into()],
            secret: "north".into(),
            ttl: Duration::from_secs(3600),
            relay_server_media: false,
        };
        let server = turn.credentials("c7", 1_700_000_000);
        assert_eq!(server.urls, ["turn:203.0.113.5:3478"]);
        assert_eq!(server.username, "1700003600:c7");
        // echo -n 1700003600:c7 | openssl dgst -sha1 -hmac north -binary | base64
        assert_eq!(server.credential, "rymsmJaSjzxFLNaUXuovp0bG6Iw=");
    }
}
