//! Sealing and opening an integration's tokens: AES-256-GCM, bound to the integration's row
//! and to the column, so a blob copied elsewhere does not open.

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};

use crate::crypto::Keyring;
use crate::crypto::keyring::{Aad, KeyringError};
use crate::db::credentials::CredentialRow;
use crate::domain::IntegrationId;
use crate::oauth::TokenSet;

pub const TABLE: &str = "integration_credentials";
pub const ACCESS: &str = "access_token";
pub const REFRESH: &str = "refresh_token";

pub fn aad<'a>(column: &'a str, integration_id: &'a IntegrationId) -> Aad<'a> {
    Aad {
        table: TABLE,
        column,
        row_id: integration_id.as_str(),
    }
}

/// The row to store for freshly issued tokens, every value sealed under the current key (the
/// row's `key_id`). Without a new refresh token the previous one is kept (providers that do
/// not rotate answer without one), sealed again: a blob kept as it was could still be under
/// an old key that the row no longer names, and be lost when that key is retired.
pub fn seal(
    keyring: &Keyring,
    integration_id: IntegrationId,
    tokens: &TokenSet,
    previous_refresh: Option<&SecretString>,
    granted_scope: &str,
    now: NaiveDateTime,
) -> CredentialRow {
    let access = keyring.seal(
        tokens.access_token.expose_secret().as_bytes(),
        &aad(ACCESS, &integration_id),
    );
    let refresh = tokens
        .refresh_token
        .as_ref()
        .or(previous_refresh)
        .map(|token| keyring.seal(token.expose_secret().as_bytes(), &aad(REFRESH, &integration_id)));
    CredentialRow {
        integration_id,
        key_id: keyring.current_key_id(),
        access_token: access,
        refresh_token: refresh,
        token_type: tokens.token_type.clone(),
        scope: granted_scope.to_owned(),
        expires_at: tokens
            .expires_in
            .map(|secs| now + chrono::Duration::seconds(secs)),
        updated_at: now,
    }
}

/// The tokens of a stored row, in clear (kept in `SecretString`s).
pub struct OpenTokens {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
}

pub fn open(keyring: &Keyring, row: &CredentialRow) -> Result<OpenTokens, KeyringError> {
    let text = |sealed: &[u8], column: &str| -> Result<SecretString, KeyringError> {
        let plain = keyring.open(sealed, &aad(column, &row.integration_id))?;
        String::from_utf8(plain.expose_secret().clone())
            .map(SecretString::from)
            .map_err(|_| KeyringError::Malformed)
    };
    Ok(OpenTokens {
        access_token: text(&row.access_token, ACCESS)?,
        refresh_token: row
            .refresh_token
            .as_deref()
            .map(|r| text(r, REFRESH))
            .transpose()?,
    })
}
