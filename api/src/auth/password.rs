use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::ApiError;

/// Argon2id with the crate's defaults (OWASP's m=19 MiB, t=2, p=1).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("password hashing failed: {e}")))
}

pub enum PasswordCheck {
    Match,
    Mismatch,
}

/// Checks `password` against a stored hash. With no hash (unknown email), a dummy hash is
/// checked instead so that the answer takes as long as for a known account.
pub fn verify_password(password: &str, stored: Option<&str>) -> PasswordCheck {
    const DUMMY: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4L3CkWb7K0yZ7yJcN2yQ7nH0PgY0GhN2o2Qn3m7S8aQ";
    let Ok(parsed) = PasswordHash::new(stored.unwrap_or(DUMMY)) else {
        return PasswordCheck::Mismatch;
    };
    let matches = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    if matches && stored.is_some() {
        PasswordCheck::Match
    } else {
        PasswordCheck::Mismatch
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let a = hash_password("correct horse battery").unwrap();
        let b = hash_password("correct horse battery").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(matches!(
            verify_password("correct horse battery", Some(&a)),
            PasswordCheck::Match
        ));
        assert!(matches!(
            verify_password("wrong", Some(&a)),
            PasswordCheck::Mismatch
        ));
        assert!(matches!(
            verify_password("anything", None),
            PasswordCheck::Mismatch
        ));
    }
}
