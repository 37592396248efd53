//! Sealing and opening an integration's tokens: AES-256-GCM, bound to the integration's row
//! and to the column, so a blob copied elsewhere does not open.

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};

use crate::crypto::Keyring;
use crate::crypto::keyring::KeyringError;
use crate::db::credentials::CredentialRow;
use crate::db::sealed::{ACCESS_TOKEN, REFRESH_TOKEN, SealedColumn};
use crate::domain::IntegrationId;
use crate::oauth::TokenSet;

/// Seals one token of an integration, bound to its row and column.
pub fn seal_token(
    keyring: &Keyring,
    column: SealedColumn,
    integration_id: &IntegrationId,
    token: &SecretString,
) -> Vec<u8> {
    keyring.seal(
        token.expose_secret().as_bytes(),
        &column.aad(integration_id.as_str()),
    )
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
    let access = seal_token(keyring, ACCESS_TOKEN, &integration_id, &tokens.access_token);
    let refresh = tokens
        .refresh_token
        .as_ref()
        .or(previous_refresh)
        .map(|token| seal_token(keyring, REFRESH_TOKEN, &integration_id, token));
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
    let text = |sealed: &[u8], column: SealedColumn| -> Result<SecretString, KeyringError> {
        let plain = keyring.open(sealed, &column.aad(row.integration_id.as_str()))?;
        String::from_utf8(plain.expose_secret().clone())
            .map(SecretString::from)
            .map_err(|_| KeyringError::Malformed)
    };
    Ok(OpenTokens {
        access_token: text(&row.access_token, ACCESS_TOKEN)?,
        refresh_token: row
            .refresh_token
            .as_deref()
            .map(|r| text(r, REFRESH_TOKEN))
            .transpose()?,
    })
}
