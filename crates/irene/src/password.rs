//! Console account passwords: argon2id hashes as PHC strings, and their checks.
//! It keeps no password and logs none; who may sign in is the console's (`console::signin`).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::RngCore;
use std::sync::OnceLock;

/// The shortest password an account may have.
pub const MIN_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password must have at least {MIN_LEN} characters")]
    TooShort,
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// The argon2id PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    hash_any(password)
}

fn hash_any(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches the PHC string `stored` (false for a malformed one).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A check that takes as long as a real one and always fails: a sign-in with an unknown name
/// does not answer faster than one with a wrong password.
pub fn verify_nobody(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash_any("irene-no-such-account").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_checks_its_password_only() {
        let h = hash("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify("correct horse battery", &h));
        for wrong in ["correct horse batter", "", "CORRECT HORSE BATTERY"] {
            assert!(!verify(wrong, &h), "{wrong}");
        }
        assert!(!verify("correct horse battery", "not a phc string"));
        assert_ne!(h, hash("correct horse battery").expect("hash"), "salted");
        assert!(matches!(hash("short"), Err(PasswordError::TooShort)));
    }
}
