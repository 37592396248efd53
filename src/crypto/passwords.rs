//! Password hashing with argon2id (the argon2 crate's defaults: 19 MiB, 2 passes, 1 lane,
//! OWASP's minimum recommendation).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use std::sync::OnceLock;

pub const MIN_PASSWORD_LEN: usize = 12;
pub const MAX_PASSWORD_LEN: usize = 1024;

pub fn hash_password(password: &SecretString) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .expect("argon2id hashing with default parameters cannot fail")
        .to_string()
}

/// Checks `password` against a stored PHC string. With no stored hash (unknown account) it
/// still runs one argon2 verification, so timing does not tell whether the account exists.
pub fn verify_password(password: &SecretString, stored: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let known = stored.is_some();
    let stored = stored.unwrap_or_else(|| {
        DUMMY.get_or_init(|| hash_password(&SecretString::from("not a real password, only timing")))
    });
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let matches = Argon2::default()
        .verify_password(password.expose_secret().as_bytes(), &parsed)
        .is_ok();
    known && matches
}

/// The rules a new password must meet, as a sentence for the form.
pub fn check_new_password(password: &SecretString) -> Result<(), String> {
    let len = password.expose_secret().chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!(
            "Use at least {MIN_PASSWORD_LEN} characters for the password."
        ));
    }
    if len > MAX_PASSWORD_LEN {
        return Err(format!(
            "Use at most {MAX_PASSWORD_LEN} characters for the password."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let password = SecretString::from("correct horse battery staple");
        let hash = hash_password(&password);
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&password, Some(&hash)));
        assert!(!verify_password(&SecretString::from("wrong"), Some(&hash)));
        assert!(!verify_password(&password, None));
    }

    #[test]
    fn new_password_rules() {
        assert!(check_new_password(&SecretString::from("short")).is_err());
        assert!(check_new_password(&SecretString::from("long enough pass")).is_ok());
    }
}
