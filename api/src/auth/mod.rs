//! Authentication: Argon2id passwords, short-lived JWT access tokens naming their session,
//! rotating opaque refresh tokens, and the [`AuthUser`] extractor.

mod extractor;
mod password;
mod tokens;

pub use extractor::AuthUser;
pub use password::{hash_password, verify_password, PasswordCheck};
pub use tokens::{new_refresh_token, refresh_token_hash, Claims, JwtKeys, RefreshKey};
