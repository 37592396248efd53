//! The keys: the token encryption keys (current and previous, parsed once) and the session
//! key, from the environment or, locally, generated once into private files.

use std::path::Path;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use super::ConfigError;
use super::vars::Vars;
use crate::crypto::EncryptionKey;

pub(super) const LOCAL_ENCRYPTION_KEY_FILE: &str = "integration-encryption.key";
const LOCAL_SESSION_KEY_FILE: &str = "session.key";

/// Parsed keys, and a warning when a local one was generated.
pub(super) struct Keys {
    pub encryption_key: EncryptionKey,
    pub previous_encryption_keys: Vec<EncryptionKey>,
    pub session_key: SecretBox<Vec<u8>>,
    pub generated: Option<String>,
}

pub(super) fn keys(vars: &Vars<'_>, data_dir: &Path, production: bool) -> Result<Keys, ConfigError> {
    let missing =
        |name: &str, what: &str| ConfigError(format!("APP_ENV=production requires {name} ({what})"));
    let mut generated = None;
    let encryption_hex = match vars.text("INTEGRATION_ENCRYPTION_KEY") {
        Some(key) => SecretString::from(key),
        None if production => {
            return Err(missing("INTEGRATION_ENCRYPTION_KEY", "64 hexadecimal characters"));
        }
        None => {
            let (key, created) = local_secret(data_dir, LOCAL_ENCRYPTION_KEY_FILE, 32)?;
            if created {
                generated = Some(format!(
                    "INTEGRATION_ENCRYPTION_KEY is not set: generated a local key in {}; set the variable in production",
                    data_dir.join(LOCAL_ENCRYPTION_KEY_FILE).display()
                ));
            }
            key
        }
    };
    let encryption_key = EncryptionKey::from_hex(encryption_hex.expose_secret())
        .map_err(|e| ConfigError(format!("INTEGRATION_ENCRYPTION_KEY {e}")))?;
    let previous_encryption_keys = vars
        .text("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| {
            EncryptionKey::from_hex(k)
                .map_err(|e| ConfigError(format!("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS: each key {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let session_hex = match vars.text("SESSION_KEY") {
        Some(key) => SecretString::from(key),
        None if production => return Err(missing("SESSION_KEY", "128 hexadecimal characters")),
        None => local_secret(data_dir, LOCAL_SESSION_KEY_FILE, 64)?.0,
    };
    let session_key = hex::decode(session_hex.expose_secret())
        .ok()
        .filter(|k| k.len() == 64)
        .map(|k| SecretBox::new(Box::new(k)))
        .ok_or_else(|| ConfigError("SESSION_KEY must be 128 hexadecimal characters (64 bytes)".into()))?;
    Ok(Keys {
        encryption_key,
        previous_encryption_keys,
        session_key,
        generated,
    })
}

/// Reads a hex secret kept in the data folder, generating it (0600) on first use.
/// Returns the secret and whether it was just created.
fn local_secret(dir: &Path, file: &str, bytes: usize) -> Result<(SecretString, bool), ConfigError> {
    let path = dir.join(file);
    let io_error = |e: std::io::Error| ConfigError(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(existing) => return Ok((SecretString::from(existing.trim()), false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(e)),
        Err(_) => {}
    }
    private_dir(dir).map_err(io_error)?;
    let secret = hex::encode(crate::crypto::random_bytes(bytes));
    write_private_file(&path, secret.as_bytes()).map_err(io_error)?;
    Ok((SecretString::from(secret), true))
}

/// The data folder is its owner's alone (0700), like the files in it.
#[cfg(unix)]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}
