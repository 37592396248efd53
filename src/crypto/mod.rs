//! Encryption of credentials at rest and password hashing.

pub mod keyring;
pub mod passwords;

pub use keyring::{EncryptionKey, Keyring};

use rand::RngCore;
use sha2::{Digest, Sha256};

/// `len` bytes from the operating system's CSPRNG.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A random URL-safe token with `bytes` bytes of entropy (base64url, no padding).
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// HMAC-SHA256 of `message` under `key`: a value derived from a secret for one purpose.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lower-hex SHA-256, for values stored only as a hash (OAuth state, API tokens).
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}
