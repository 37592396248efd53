//! Storing refreshed tokens: one integration's, or a whole chunk's in one transaction.

use std::time::Instant;

use chrono::NaiveDateTime;
use secrecy::SecretString;

use super::{Outcome, next_maintenance_at};
use crate::context::AppContext;
use crate::db::integrations::{self, MaintenanceRow};
use crate::db::sync_logs::{self, NewSyncLog};
use crate::db::{self, DbError};
use crate::domain::{LogKind, LogStatus};
use crate::integrations::credentials;
use crate::oauth;

/// New tokens to store, under the send marker of the refresh that got them.
pub(super) struct Refreshed {
    row: MaintenanceRow,
    marker: String,
    sealed: db::credentials::CredentialRow,
    next_at: NaiveDateTime,
    duration_ms: i64,
}

impl Refreshed {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        ctx: &AppContext,
        row: &MaintenanceRow,
        marker: &str,
        fresh: oauth::TokenSet,
        previous_refresh: &SecretString,
        previous_scope: &str,
        now: NaiveDateTime,
        started: Instant,
    ) -> Refreshed {
        let granted = fresh.scope.clone().unwrap_or_else(|| previous_scope.to_owned());
        // The new refresh token (or, when the provider sent none, the old one, sealed again
        // under the current key like everything in the row) is stored in the same transaction
        // as the new access token.
        let sealed = credentials::seal(
            &ctx.keyring,
            row.id,
            &fresh,
            Some(previous_refresh),
            &granted,
            now,
        );
        Refreshed {
            next_at: next_maintenance_at(ctx, sealed.expires_at, now),
            row: row.clone(),
            marker: marker.to_owned(),
            sealed,
            duration_ms: started.elapsed().as_millis() as i64,
        }
    }

    /// Stores each under its send marker, its log entries in one statement; `false` where
    /// the marker is no longer on record (a newer result): nothing of that one is written.
    fn store_all(
        conn: &mut db::DbConnection,
        all: &[Refreshed],
        now: NaiveDateTime,
    ) -> Result<Vec<bool>, DbError> {
        let done: Vec<_> = all
            .iter()
            .map(|w| (w.row.id, w.marker.as_str(), w.next_at))
            .collect();
        let stored = integrations::finish_refreshes(conn, &done, now)?;
        let sealed: Vec<&db::credentials::CredentialRow> = all
            .iter()
            .zip(&stored)
            .filter(|(_, stored)| **stored)
            .map(|(w, _)| &w.sealed)
            .collect();
        db::credentials::upsert_all(conn, &sealed)?;
        let entries: Vec<(String, NewSyncLog<'_>)> = all
            .iter()
            .zip(&stored)
            .filter(|(_, stored)| **stored)
            .map(|(write, _)| {
                let entry = NewSyncLog {
                    org_id: write.row.org_id,
                    integration_id: Some(write.row.id),
                    provider_slug: &write.row.provider_slug,
                    kind: LogKind::Refresh,
                    status: LogStatus::Succeeded,
                    message: "Access token refreshed",
                    error: None,
                    actor_user_id: None,
                    duration_ms: Some(write.duration_ms),
                };
                (sync_logs::new_row_id(), entry)
            })
            .collect();
        if !entries.is_empty() {
            let entries: Vec<(&str, &NewSyncLog<'_>)> =
                entries.iter().map(|(id, e)| (id.as_str(), e)).collect();
            sync_logs::append_all(conn, &entries)?;
        }
        Ok(stored)
    }
}

/// Stores refreshed tokens in one transaction (one commit for a whole chunk). If that fails,
/// each is tried on its own, so that one bad row cannot cost the others their new tokens.
pub(super) async fn store_all_refreshed(
    ctx: &AppContext,
    writes: Vec<Refreshed>,
    now: NaiveDateTime,
) -> Result<Vec<Outcome>, DbError> {
    let writes = std::sync::Arc::new(writes);
    let all = writes.clone();
    let together = ctx
        .db
        .run(move |conn| db::transaction(conn, |conn| Refreshed::store_all(conn, &all, now)))
        .await;
    let stored: Vec<Result<bool, DbError>> = match together {
        Ok(stored) => stored.into_iter().map(Ok).collect(),
        Err(e) if writes.len() > 1 => {
            tracing::warn!(error = %e, "storing refreshed tokens together failed; storing them one by one");
            let mut stored = Vec::with_capacity(writes.len());
            for n in 0..writes.len() {
                let writes = writes.clone();
                let one = ctx
                    .db
                    .run(move |conn| {
                        db::transaction(conn, |conn| Refreshed::store_all(conn, &writes[n..=n], now))
                    })
                    .await;
                stored.push(one.map(|stored| stored[0]));
            }
            stored
        }
        Err(e) => return Err(e),
    };
    Ok(writes
        .iter()
        .zip(stored)
        .map(|(write, stored)| {
            let outcome = match stored {
                Ok(true) => Outcome::Refreshed,
                Ok(false) => Outcome::Lost,
                Err(e) => {
                    // Its send marker stays: the token is never sent again, and once the
                    // provider's timeout has passed the integration asks for a reconnect.
                    tracing::error!(integration_id = %write.row.id, error = %e, "the refreshed tokens could not be stored");
                    Outcome::Retry(format!("the new tokens could not be stored: {e}"))
                }
            };
            ctx.metrics
                .refresh_outcome(&write.row.provider_slug, outcome.metric());
            outcome
        })
        .collect())
}
