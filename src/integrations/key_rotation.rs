//! `keys rotate`: re-encrypts every sealed value under the current key while the app runs.
//! It works in small batches and only touches values not yet under the current key, so it
//! can be interrupted and run again; a value changed meanwhile by the app (a refresh) is
//! already under the current key and is left alone.

use super::credentials;
use crate::context::AppContext;
use crate::crypto::keyring::Aad;
use crate::db::{DbError, credentials as stored, oauth_states, webhooks};

const BATCH: i64 = 100;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Rows re-encrypted under the current key.
    pub moved: usize,
    /// Rows that could not be opened with any known key (left as they are).
    pub unreadable: usize,
}

pub async fn rotate_keys(ctx: &AppContext) -> Result<RotationReport, DbError> {
    let keyring = ctx.keyring.clone();
    ctx.db
        .run(move |conn| {
            let current = keyring.current_key_id();
            let mut report = RotationReport::default();
            let mut skipped: Vec<String> = Vec::new();
            loop {
                let batch: Vec<_> = stored::sealed_with_other_keys(conn, &current, BATCH + skipped.len() as i64)?
                    .into_iter()
                    .filter(|row| !skipped.contains(&row.integration_id))
                    .collect();
                if batch.is_empty() {
                    break;
                }
                for row in batch {
                    match credentials::open(&keyring, &row) {
                        Ok(tokens) => {
                            let access = keyring.seal(
                                secrecy::ExposeSecret::expose_secret(&tokens.access_token).as_bytes(),
                                &credentials::aad(credentials::ACCESS, &row.integration_id),
                            );
                            let refresh = tokens.refresh_token.as_ref().map(|t| {
                                keyring.seal(
                                    secrecy::ExposeSecret::expose_secret(t).as_bytes(),
                                    &credentials::aad(credentials::REFRESH, &row.integration_id),
                                )
                            });
                            if stored::reseal(conn, &row, &access, refresh.as_deref(), &current)? {
                                report.moved += 1;
                            }
                        }
                        Err(e) => {
                            tracing::error!(integration_id = %row.integration_id, error = %e, "cannot re-encrypt credentials");
                            report.unreadable += 1;
                            skipped.push(row.integration_id);
                        }
                    }
                }
            }
            let mut skipped_states: Vec<String> = Vec::new();
            loop {
                let batch: Vec<_> = oauth_states::sealed_with_other_keys(conn, &current, BATCH + skipped_states.len() as i64)?
                    .into_iter()
                    .filter(|(id, _)| !skipped_states.contains(id))
                    .collect();
                if batch.is_empty() {
                    break;
                }
                for (id, sealed) in batch {
                    let aad = Aad { table: "integration_oauth_states", column: "pkce_verifier", row_id: &id };
                    match keyring.open(&sealed, &aad) {
                        Ok(plain) => {
                            let resealed = keyring.seal(secrecy::ExposeSecret::expose_secret(&plain), &aad);
                            if oauth_states::reseal(conn, &id, &sealed, &resealed, &current)? {
                                report.moved += 1;
                            }
                        }
                        Err(_) => {
                            report.unreadable += 1;
                            skipped_states.push(id);
                        }
                    }
                }
            }
            let mut skipped_webhooks: Vec<String> = Vec::new();
            loop {
                let batch: Vec<_> = webhooks::sealed_with_other_keys(conn, &current, BATCH + skipped_webhooks.len() as i64)?
                    .into_iter()
                    .filter(|(id, _)| !skipped_webhooks.contains(id))
                    .collect();
                if batch.is_empty() {
                    break;
                }
                for (id, sealed) in batch {
                    let aad = Aad { table: crate::webhooks::TABLE, column: crate::webhooks::SECRET, row_id: &id };
                    match keyring.open(&sealed, &aad) {
                        Ok(plain) => {
                            let resealed = keyring.seal(secrecy::ExposeSecret::expose_secret(&plain), &aad);
                            if webhooks::reseal(conn, &id, &sealed, &resealed, &current)? {
                                report.moved += 1;
                            }
                        }
                        Err(_) => {
                            report.unreadable += 1;
                            skipped_webhooks.push(id);
                        }
                    }
                }
            }
            Ok(report)
        })
        .await
}
