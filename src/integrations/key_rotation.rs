//! `keys rotate`: re-encrypts every sealed value under the current key while the app runs.
//! It works in small batches and only touches values not yet under the current key, so it
//! can be interrupted and run again; a value changed meanwhile by the app (a refresh) is
//! already under the current key and is left alone.

use super::credentials;
use crate::context::AppContext;
use crate::crypto::Keyring;
use crate::crypto::keyring::Aad;
use crate::db::{DbConnection, DbError, credentials as stored, oauth_states, webhooks};

const BATCH: i64 = 100;

type Fetch = fn(&mut DbConnection, &str, i64) -> Result<Vec<(String, Vec<u8>)>, DbError>;
type Reseal = fn(&mut DbConnection, &str, &[u8], &[u8], &str) -> Result<bool, DbError>;

/// Re-encrypts one sealed column (one value per row), batch by batch, until no row under an
/// old key is left (rows that no key opens are counted and skipped).
fn rotate_column(
    conn: &mut DbConnection,
    keyring: &Keyring,
    (table, column): (&str, &str),
    fetch: Fetch,
    reseal: Reseal,
    report: &mut RotationReport,
) -> Result<(), DbError> {
    let current = keyring.current_key_id();
    let mut skipped: Vec<String> = Vec::new();
    loop {
        let batch: Vec<_> = fetch(conn, &current, BATCH + skipped.len() as i64)?
            .into_iter()
            .filter(|(id, _)| !skipped.contains(id))
            .collect();
        if batch.is_empty() {
            return Ok(());
        }
        for (id, sealed) in batch {
            let aad = Aad {
                table,
                column,
                row_id: &id,
            };
            match keyring.open(&sealed, &aad) {
                Ok(plain) => {
                    let resealed = keyring.seal(secrecy::ExposeSecret::expose_secret(&plain), &aad);
                    if reseal(conn, &id, &sealed, &resealed, &current)? {
                        report.moved += 1;
                    }
                }
                Err(_) => {
                    report.unreadable += 1;
                    skipped.push(id);
                }
            }
        }
    }
}

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
            rotate_column(
                conn,
                &keyring,
                ("integration_oauth_states", "pkce_verifier"),
                oauth_states::sealed_with_other_keys,
                oauth_states::reseal,
                &mut report,
            )?;
            rotate_column(
                conn,
                &keyring,
                (crate::webhooks::TABLE, crate::webhooks::SECRET),
                webhooks::sealed_with_other_keys,
                webhooks::reseal,
                &mut report,
            )?;
            Ok(report)
        })
        .await
}
