use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const ISSUER: &str = "carnet";
pub const AUDIENCE: &str = "carnet-api";

/// What an access token says: who (`sub`), which session (`sid`), until when.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub sid: Uuid,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// HS256 keys and the one validation every access token goes through.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.leeway = 5;
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            sid: session_id,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
        };
        Ok(encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims)
    }
}

/// A new opaque refresh token (256 random bits, base64url) and the digest stored for it.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_token_hash(&token);
    (token, hash)
}

/// Refresh tokens are stored as SHA-256 digests: a database leak does not leak sessions.
pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The key that derives a refresh token's successor from it.
///
/// A rotation's successor is not drawn at random but computed as
/// `base64url(HMAC-SHA256(key, presented token))`. A phone whose refresh answer was lost
/// retries with the token it still holds; within the reuse grace the server answers that
/// same successor again, and it can do so without having kept the successor in clear: it
/// recomputes it from the token the phone presents. The database still holds only
/// SHA-256 digests, and without this key (which never leaves the server) no one can go
/// from one token to the next. The first token of a session stays random, so successors
/// are as unpredictable as it is.
///
/// Within the grace a replay by someone who copied the token cannot be told from the
/// phone's retry (both get the same successor), which is why the grace is short: past it,
/// or once the successor was used, the next presentation of the old token revokes the
/// session as before.
///
/// The key is derived from the JWT secret under its own label, so no new secret has to be
/// configured and the two uses of the secret cannot be confused. Rotating the JWT secret
/// changes every successor, so a retry straddling that change is refused as a reuse.
#[derive(Clone)]
pub struct RefreshKey {
    key: [u8; 32],
}

impl RefreshKey {
    pub fn from_secret(secret: &[u8]) -> Self {
        RefreshKey {
            key: Self::mac(secret, b"carnet refresh-token successor v1"),
        }
    }

    /// The token that replaces `token` when it is rotated.
    pub fn successor(&self, token: &str) -> String {
        URL_SAFE_NO_PAD.encode(Self::mac(&self.key, token.as_bytes()))
    }

    fn mac(key: &[u8], message: &[u8]) -> [u8; 32] {
        // HMAC takes keys of any length, so this cannot fail; the fallback only keeps
        // the function total without an unwrap.
        match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mut mac) => {
                mac.update(message);
                mac.finalize().into_bytes().into()
            }
            Err(_) => Sha256::new_with_prefix(key)
                .chain_update(message)
                .finalize()
                .into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60));
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let token = keys.issue(user, session).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (user, session));

        let other = JwtKeys::new(b"another secret of thirty-two bytes!!", Duration::from_secs(60));
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn expired_and_foreign_tokens_are_refused() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let keys = JwtKeys::new(secret, Duration::from_secs(60));
        let now = Utc::now().timestamp();
        let make = |iss: &str, aud: &str, exp: i64, alg: Algorithm| {
            let claims = Claims {
                sub: Uuid::nil(),
                sid: Uuid::nil(),
                iss: iss.into(),
                aud: aud.into(),
                iat: now,
                exp,
            };
            encode(&Header::new(alg), &claims, &EncodingKey::from_secret(secret)).unwrap()
        };
        assert!(keys
            .verify(&make(ISSUER, AUDIENCE, now + 60, Algorithm::HS256))
            .is_ok());
        assert!(keys
            .verify(&make(ISSUER, AUDIENCE, now - 3600, Algorithm::HS256))
            .is_err());
        assert!(keys
            .verify(&make("someone-else", AUDIENCE, now + 60, Algorithm::HS256))
            .is_err());
        assert!(keys
            .verify(&make(ISSUER, "other-api", now + 60, Algorithm::HS256))
            .is_err());
        assert!(keys
            .verify(&make(ISSUER, AUDIENCE, now + 60, Algorithm::HS512))
            .is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, ha) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(ha, refresh_token_hash(&a));
        assert_eq!(ha.len(), 32);
    }

    #[test]
    fn successors_are_stable_per_key_and_differ_between_keys() {
        let key = RefreshKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let (token, _) = new_refresh_token();
        let next = key.successor(&token);
        assert_eq!(next, key.successor(&token));
        assert_ne!(next, token);
        assert_ne!(key.successor(&next), next);
        assert_eq!(next.len(), token.len());
        let other = RefreshKey::from_secret(b"another secret of thirty-two bytes!!");
        assert_ne!(other.successor(&token), next);
    }
}
