//! A certificate's SHA-256 fingerprint: how a room link names the
//! self-signed certificate of the host it points to, so that a client can
//! pin it (`conclave://HOST:PORT/ROOM#fp=<64 hex digits>`) and no CA is needed.

use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a certificate fingerprint is 64 hexadecimal digits (SHA-256)")]
pub struct BadFingerprint;

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(certificate_der: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(certificate_der).into())
    }

    /// From 64 hex digits; colons between byte pairs are allowed (as browsers show them).
    pub fn parse(text: &str) -> Result<Fingerprint, BadFingerprint> {
        let digits: String = text.chars().filter(|c| *c != ':').collect();
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(BadFingerprint);
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).map_err(|_| BadFingerprint)?;
        }
        Ok(Fingerprint(bytes))
    }
}

impl std::fmt::Display for Fingerprint {
    /// 64 lowercase hex digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_reads_back_as_written_with_or_without_colons() {
        let fp = Fingerprint::of(b"a certificate");
        let text = fp.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(Fingerprint::parse(&text), Ok(fp));
        let colons: Vec<String> = fp.0.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(Fingerprint::parse(&colons.join(":")), Ok(fp));
        assert_eq!(Fingerprint::parse("abc"), Err(BadFingerprint));
        assert_eq!(Fingerprint::parse(&"zz".repeat(32)), Err(BadFingerprint));
    }
}
