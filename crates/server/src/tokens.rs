//! Join tokens: with an auth secret, a server lets in only members with a
//! token it signed (HS256, as LiveKit and Jitsi do) naming the room, the
//! display name, the role and an expiry. `conclave-server token` mints one.
//! Sans-IO: the time is given, so expiry is tested on a simulated clock.

use conclave_protocol::{ErrorCode, ErrorInfo, Role};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// The room it opens (compared as room names are: by how they look).
    pub room: String,
    /// The display name its holder joins with.
    pub name: String,
    pub role: Role,
    /// Expiry and issue time, Unix seconds.
    pub exp: u64,
    pub iat: u64,
}

/// The server's secret, ready to sign and check tokens.
pub struct TokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl TokenKey {
    pub fn new(secret: &[u8]) -> TokenKey {
        TokenKey {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn mint(&self, claims: &JoinClaims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// The claims of a token this key signed that has not expired at `now_secs`.
    pub fn check(&self, token: Option<&str>, now_secs: u64) -> Result<JoinClaims, ErrorInfo> {
        let Some(token) = token else {
            return Err(ErrorInfo::new(
                ErrorCode::AuthRequired,
                "this server lets in only members with a join token",
            ));
        };
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below, against the time given.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<JoinClaims>(token, &self.decoding, &validation)
            .map_err(|e| {
                ErrorInfo::new(
                    ErrorCode::TokenInvalid,
                    format!("the join token was not signed by this server, or was changed ({e})"),
                )
            })?
            .claims;
        if claims.exp <= now_secs {
            return Err(ErrorInfo::new(
                ErrorCode::TokenExpired,
                "the join token has expired: ask for a new one",
            ));
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> JoinClaims {
        JoinClaims {
            room: "standup".into(),
            name: "Ada".into(),
            role: Role::Moderator,
            exp,
            iat: 0,
        }
    }

    fn code(result: Result<JoinClaims, ErrorInfo>) -> ErrorCode {
        result.unwrap_err().code
    }

    #[test]
    fn a_token_opens_only_with_its_servers_key_and_only_until_it_expires() {
        let key = TokenKey::new(b"server secret");
        let token = key.mint(&claims(1_000));
        assert_eq!(key.check(Some(&token), 999), Ok(claims(1_000)));
        assert_eq!(
            code(key.check(Some(&token), 1_000)),
            ErrorCode::TokenExpired
        );
        assert_eq!(code(key.check(None, 0)), ErrorCode::AuthRequired);
        let forged = TokenKey::new(b"another secret").mint(&claims(1_000));
        assert_eq!(code(key.check(Some(&forged), 0)), ErrorCode::TokenInvalid);
        // The payload changed (a participant made moderator, say): the signature no longer fits.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let tampered_claims = serde_json::to_vec(&JoinClaims {
            role: Role::Moderator,
            name: "Mallory".into(),
            ..claims(1_000)
        })
        .unwrap();
        parts[1] = base64_url(&tampered_claims);
        assert_eq!(
            code(key.check(Some(&parts.join(".")), 0)),
            ErrorCode::TokenInvalid
        );
        assert_eq!(
            code(key.check(Some("not a token"), 0)),
            ErrorCode::TokenInvalid
        );
    }

    /// Unpadded base64url, as JWTs encode their parts.
    fn base64_url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().fold(0u32, |n, &b| n << 8 | b as u32) << (8 * (3 - chunk.len()));
            for i in 0..=chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }
}
