//! AES-256-GCM for credentials at rest.
//!
//! A sealed value is `version (1) | key id (4) | nonce (12) | ciphertext + tag`. The nonce is
//! random per value; the key id says which key sealed it, so previous keys still open old
//! values while `keys rotate` moves them; the associated data binds the value to its table,
//! column and row, so a blob copied into another row does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// One 256-bit key and its id (the first 4 bytes of a SHA-256 over it, so the id says nothing
/// about the key but is stable across restarts and instances).
#[derive(Clone)]
pub struct EncryptionKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl EncryptionKey {
    /// Parses 64 hex characters.
    pub fn from_hex(hex_key: &str) -> Result<Self, String> {
        let bytes = SecretBox::new(Box::new(
            hex::decode(hex_key.trim()).map_err(|_| "must be 64 hexadecimal characters".to_owned())?,
        ));
        if bytes.expose_secret().len() != 32 {
            return Err("must be 64 hexadecimal characters (32 bytes)".into());
        }
        let digest = Sha256::new()
            .chain_update(b"targetym key id\0")
            .chain_update(bytes.expose_secret())
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let cipher = Aes256Gcm::new_from_slice(bytes.expose_secret()).expect("32-byte key");
        Ok(EncryptionKey { id, cipher })
    }

    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({}, [REDACTED])", self.id_hex())
    }
}

/// Where a sealed value lives: the associated data that binds it there.
pub struct Aad<'a> {
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: &'a str,
}

impl Aad<'_> {
    fn bytes(&self) -> Vec<u8> {
        format!("targetym/v1/{}/{}/{}", self.table, self.column, self.row_id).into_bytes()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("the sealed value is malformed")]
    Malformed,
    #[error("the sealed value was made with an unknown key ({0})")]
    UnknownKey(String),
    #[error("the sealed value does not open here (wrong key, row or column, or tampered)")]
    Rejected,
}

/// The current key (seals) and previous keys (still open).
#[derive(Debug)]
pub struct Keyring {
    current: EncryptionKey,
    previous: Vec<EncryptionKey>,
}

impl Keyring {
    pub fn new(current: EncryptionKey, previous: Vec<EncryptionKey>) -> Self {
        Keyring { current, previous }
    }

    pub fn current_key_id(&self) -> String {
        self.current.id_hex()
    }

    pub fn seal(&self, plaintext: &[u8], aad: &Aad<'_>) -> Vec<u8> {
        let nonce_bytes = super::random_bytes(NONCE_LEN);
        let nonce = Nonce::from_slice(&nonce_bytes);
        let sealed = self
            .current
            .cipher
            .encrypt(
                nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad.bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &Aad<'_>) -> Result<SecretBox<Vec<u8>>, KeyringError> {
        let key_id = sealed_key_id(sealed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| KeyringError::UnknownKey(hex::encode(key_id)))?;
        let nonce = Nonce::from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        key.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: &aad.bytes(),
                },
            )
            .map(|plain| SecretBox::new(Box::new(plain)))
            .map_err(|_| KeyringError::Rejected)
    }

    /// True when `value` has the form of a sealed value (whichever key).
    pub fn is_sealed(value: &[u8]) -> bool {
        sealed_key_id(value).is_ok()
    }

    /// True when `sealed` was made with the current key (nothing to rotate).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed_key_id(sealed).is_ok_and(|id| id == self.current.id)
    }
}

fn sealed_key_id(sealed: &[u8]) -> Result<[u8; KEY_ID_LEN], KeyringError> {
    if sealed.len() < HEADER_LEN + 16 || sealed[0] != VERSION {
        return Err(KeyringError::Malformed);
    }
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&sealed[1..1 + KEY_ID_LEN]);
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    fn aad(row: &str) -> Aad<'_> {
        Aad {
            table: "integration_credentials",
            column: "access_token",
            row_id: row,
        }
    }

    #[test]
    fn seals_and_opens_with_random_nonces() {
        let ring = Keyring::new(EncryptionKey::from_hex(K1).unwrap(), vec![]);
        let a = ring.seal(b"xoxb-secret", &aad("row-1"));
        let b = ring.seal(b"xoxb-secret", &aad("row-1"));
        assert_ne!(a, b, "nonce must be random per value");
        assert!(!a.windows(11).any(|w| w == b"xoxb-secret"));
        assert_eq!(
            ring.open(&a, &aad("row-1")).unwrap().expose_secret(),
            b"xoxb-secret"
        );
    }

    #[test]
    fn a_blob_moved_to_another_row_or_column_does_not_open() {
        let ring = Keyring::new(EncryptionKey::from_hex(K1).unwrap(), vec![]);
        let sealed = ring.seal(b"token", &aad("row-1"));
        assert_eq!(
            ring.open(&sealed, &aad("row-2")).unwrap_err(),
            KeyringError::Rejected
        );
        let other_column = Aad {
            column: "refresh_token",
            ..aad("row-1")
        };
        assert_eq!(
            ring.open(&sealed, &other_column).unwrap_err(),
            KeyringError::Rejected
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            ring.open(&tampered, &aad("row-1")).unwrap_err(),
            KeyringError::Rejected
        );
    }

    #[test]
    fn previous_keys_open_and_unknown_keys_are_named() {
        let old = Keyring::new(EncryptionKey::from_hex(K1).unwrap(), vec![]);
        let sealed = old.seal(b"token", &aad("r"));
        let rotated = Keyring::new(
            EncryptionKey::from_hex(K2).unwrap(),
            vec![EncryptionKey::from_hex(K1).unwrap()],
        );
        assert!(!rotated.is_current(&sealed));
        assert_eq!(
            rotated.open(&sealed, &aad("r")).unwrap().expose_secret(),
            b"token"
        );
        let fresh = Keyring::new(EncryptionKey::from_hex(K2).unwrap(), vec![]);
        assert!(matches!(
            fresh.open(&sealed, &aad("r")),
            Err(KeyringError::UnknownKey(_))
        ));
    }

    #[test]
    fn keys_must_be_32_bytes_of_hex() {
        assert!(EncryptionKey::from_hex("abcd").is_err());
        assert!(EncryptionKey::from_hex(&"zz".repeat(32)).is_err());
        assert!(!format!("{:?}", EncryptionKey::from_hex(K1).unwrap()).contains(K1));
    }
}
