//! `keys rotate` and `keys check`. Every sealed value names the key that sealed it in its own
//! header, so both decide per value, never by a row's `key_id` alone: a row may name the
//! current key and still hold a value from before (a kept refresh token, stored so by older
//! versions), and that value must move before its key is retired.
//!
//! Rotation re-encrypts in small batches while the app runs; it can be interrupted and run
//! again, and a value changed meanwhile by the app (a refresh) is left to the app.

use super::credentials;
use crate::context::AppContext;
use crate::crypto::keyring::Keyring;
use crate::db::sealed::{self, SealedColumn};
use crate::db::{DbConnection, DbError, credentials as stored, oauth_states, sync_logs, webhooks};
use crate::domain::{Actor, AuditKind};

const BATCH: i64 = 100;

type Fetch = fn(&mut DbConnection, &str, i64) -> Result<Vec<(String, Vec<u8>)>, DbError>;
type Reseal = fn(&mut DbConnection, &str, &[u8], &[u8], &str) -> Result<bool, DbError>;

/// A table with one sealed column: how to read its values and how to replace one.
struct SingleColumn {
    sealed: SealedColumn,
    fetch: Fetch,
    reseal: Reseal,
}

/// The sealed columns of the registry apart from the credentials' two (walked by row).
const SINGLE_COLUMNS: [SingleColumn; 3] = [
    SingleColumn {
        sealed: sealed::PKCE_VERIFIER,
        fetch: oauth_states::sealed_after,
        reseal: oauth_states::reseal,
    },
    SingleColumn {
        sealed: sealed::WEBHOOK_SECRET,
        fetch: webhooks::sealed_after,
        reseal: webhooks::reseal,
    },
    SingleColumn {
        sealed: sealed::WEBHOOK_PAYLOAD,
        fetch: sync_logs::payloads_after,
        reseal: sync_logs::reseal_payload,
    },
];

/// A webhook body stored before bodies were sealed: JSON as received, to seal as it is.
fn legacy_clear(column: SealedColumn, value: &[u8]) -> bool {
    column == sealed::WEBHOOK_PAYLOAD && !Keyring::is_sealed(value)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Rows re-encrypted under the current key.
    pub moved: usize,
    /// Rows that could not be opened with any known key (left as they are).
    pub unreadable: usize,
}

/// A sealed value that no configured key opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub table: &'static str,
    pub column: &'static str,
    pub row_id: String,
    /// Why (unknown key, rejected, malformed): never the value.
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct CheckReport {
    /// Sealed values read.
    pub checked: usize,
    /// Of those, values sealed under a previous key (what `keys rotate` would move).
    pub under_previous_keys: usize,
    pub unreadable: Vec<Unreadable>,
}

/// Walks every sealed column of every table in id order, a batch at a time, handing each
/// value (table, column, row id, sealed bytes) to `visit`; credential rows are visited with
/// both of their values.
fn walk(
    conn: &mut DbConnection,
    mut credential_row: impl FnMut(&mut DbConnection, &stored::CredentialRow) -> Result<(), DbError>,
    mut single: impl FnMut(&mut DbConnection, &SingleColumn, &str, &[u8]) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let mut after = String::new();
    loop {
        let batch = stored::page_after(conn, &after, BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.integration_id.to_text();
        for row in &batch {
            credential_row(conn, row)?;
        }
    }
    for column in &SINGLE_COLUMNS {
        let mut after = String::new();
        loop {
            let batch = (column.fetch)(conn, &after, BATCH)?;
            let Some((last, _)) = batch.last() else { break };
            after = last.clone();
            for (id, sealed) in &batch {
                single(conn, column, id, sealed)?;
            }
        }
    }
    Ok(())
}

/// Moves every value not sealed under the current key to it.
pub async fn rotate_keys(ctx: &AppContext) -> Result<RotationReport, DbError> {
    let keyring = ctx.keyring.clone();
    ctx.db
        .run(move |conn| {
            let current = keyring.current_key_id();
            let unreadable = std::cell::Cell::new(0);
            let moved = std::cell::Cell::new(0);
            walk(
                conn,
                |conn, row| {
                    let all_current = row.key_id == current
                        && keyring.is_current(&row.access_token)
                        && row.refresh_token.as_deref().is_none_or(|r| keyring.is_current(r));
                    if all_current {
                        return Ok(());
                    }
                    let tokens = match credentials::open(&keyring, row) {
                        Ok(tokens) => tokens,
                        Err(e) => {
                            tracing::error!(integration_id = %row.integration_id, error = %e, "cannot re-encrypt credentials");
                            unreadable.set(unreadable.get() + 1);
                            return Ok(());
                        }
                    };
                    let seal = |token, column| credentials::seal_token(&keyring, column, &row.integration_id, token);
                    let access = seal(&tokens.access_token, sealed::ACCESS_TOKEN);
                    let refresh = tokens
                        .refresh_token
                        .as_ref()
                        .map(|t| seal(t, sealed::REFRESH_TOKEN));
                    if stored::reseal(conn, row, &access, refresh.as_deref(), &current)? {
                        moved.set(moved.get() + 1);
                    }
                    Ok(())
                },
                |conn, column, id, sealed| {
                    if keyring.is_current(sealed) {
                        return Ok(());
                    }
                    let aad = column.sealed.aad(id);
                    if legacy_clear(column.sealed, sealed) {
                        if (column.reseal)(conn, id, sealed, &keyring.seal(sealed, &aad), &current)? {
                            moved.set(moved.get() + 1);
                        }
                        return Ok(());
                    }
                    match keyring.open(sealed, &aad) {
                        Ok(plain) => {
                            let resealed = keyring.seal(secrecy::ExposeSecret::expose_secret(&plain), &aad);
                            if (column.reseal)(conn, id, sealed, &resealed, &current)? {
                                moved.set(moved.get() + 1);
                            }
                        }
                        Err(_) => unreadable.set(unreadable.get() + 1),
                    }
                    Ok(())
                },
            )?;
            // Every organization's secrets are the keyring's: each trail records the rotation.
            let detail = format!(
                "Encryption keys rotated: stored secrets are sealed under key {current} ({} re-encrypted, {} unreadable, across the instance)",
                moved.get(),
                unreadable.get()
            );
            for org in crate::db::orgs::all_ids(conn)? {
                crate::db::audit::append(
                    conn,
                    &crate::db::audit::NewAuditEvent::new(org, AuditKind::KeyRotation, &Actor::system(), &detail),
                )?;
            }
            Ok(RotationReport {
                moved: moved.get(),
                unreadable: unreadable.get(),
            })
        })
        .await
}

/// Opens every sealed value with the configured keys and reports those that do not open.
pub async fn check_keys(ctx: &AppContext) -> Result<CheckReport, DbError> {
    let keyring = ctx.keyring.clone();
    ctx.db
        .run(move |conn| {
            let report = std::cell::RefCell::new(CheckReport::default());
            let check = |column: SealedColumn, id: &str, value: &[u8]| {
                let mut report = report.borrow_mut();
                report.checked += 1;
                if legacy_clear(column, value) {
                    // Not sealed yet: `keys rotate` seals it.
                    report.under_previous_keys += 1;
                    return;
                }
                match keyring.open(value, &column.aad(id)) {
                    Ok(_) if !keyring.is_current(value) => report.under_previous_keys += 1,
                    Ok(_) => {}
                    Err(e) => report.unreadable.push(Unreadable {
                        table: column.table,
                        column: column.column,
                        row_id: id.to_owned(),
                        reason: e.to_string(),
                    }),
                }
            };
            walk(
                conn,
                |_, row| {
                    check(
                        sealed::ACCESS_TOKEN,
                        row.integration_id.as_str(),
                        &row.access_token,
                    );
                    if let Some(refresh) = &row.refresh_token {
                        check(sealed::REFRESH_TOKEN, row.integration_id.as_str(), refresh);
                    }
                    Ok(())
                },
                |_, column, id, value| {
                    check(column.sealed, id, value);
                    Ok(())
                },
            )?;
            Ok(report.into_inner())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column rotation and checks walk: the credentials' two (by row) and the others.
    fn walked_columns() -> Vec<SealedColumn> {
        [sealed::ACCESS_TOKEN, sealed::REFRESH_TOKEN]
            .into_iter()
            .chain(SINGLE_COLUMNS.iter().map(|c| c.sealed))
            .collect()
    }

    #[test]
    fn rotation_and_checks_walk_every_sealed_column() {
        let mut walked = walked_columns();
        let mut registered = sealed::ALL.to_vec();
        let key = |c: &SealedColumn| (c.table, c.column);
        walked.sort_by_key(key);
        registered.sort_by_key(key);
        assert_eq!(walked, registered);
    }
}
