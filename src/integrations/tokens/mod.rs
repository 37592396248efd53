//! Keeping tokens fresh: one maintenance step per claimed integration (refresh, or validate a
//! token without expiry), and fresh tokens on demand for API calls.
//!
//! A refresh token is never sent twice. Within a process callers of one integration share a
//! single refresh; across processes the claim (a lease in the database) decides who refreshes;
//! and right before sending, the sender records "<owner> <hash of the token>" on the row. A
//! result is stored only by the holder of that record. If the sender dies before storing, the
//! record stays: nobody sends that token again, and the integration asks for a reconnect
//! instead of risking a reuse that strict providers answer by revoking the whole grant.

mod chunk;
mod maintain;
mod on_demand;
mod store;

use chrono::NaiveDateTime;
use rand::Rng;

use crate::context::AppContext;
use crate::db::DbError;
use crate::db::credentials::{self, CredentialRow};
use crate::db::integrations::{self, MaintenanceRow};
use crate::db::sync_logs::{self, NewSyncLog};
use crate::domain::{IntegrationId, LogKind, LogStatus};
pub use chunk::{ChunkOutcome, panic_text, refresh_chunk};
pub use maintain::maintain;
pub use on_demand::{TokenError, force_refresh, fresh_access_token};

/// When to look at this token again: before it expires, spread over half the refresh window
/// so that tokens issued together are not refreshed together; without an expiry, at the next
/// validation.
pub fn next_maintenance_at(
    ctx: &AppContext,
    expires_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> NaiveDateTime {
    let worker = &ctx.settings.worker;
    let Some(expires_at) = expires_at else {
        return now
            + chrono::Duration::from_std(worker.validation_interval).unwrap_or(chrono::Duration::hours(6));
    };
    let window = chrono::Duration::from_std(worker.refresh_window).unwrap_or(chrono::Duration::minutes(10));
    let remaining = expires_at - now;
    if remaining < window * 2 {
        // Short-lived tokens: at about half of what is left.
        return now + remaining / 2;
    }
    let spread_ms = rand::thread_rng().gen_range(0..=(window / 2).num_milliseconds().max(0));
    expires_at - window - chrono::Duration::milliseconds(spread_ms)
}

/// What one maintenance step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    Validated,
    /// Not now (breaker open, someone else's refresh in flight, provider not configured).
    Deferred,
    /// A temporary failure; retried later.
    Retry(String),
    NeedsReauth(String),
    /// The claim was lost meanwhile (another instance took over); nothing was written.
    Lost,
}

impl Outcome {
    pub fn metric(&self) -> &'static str {
        match self {
            Outcome::Refreshed => "refreshed",
            Outcome::Validated => "validated",
            Outcome::Deferred => "deferred",
            Outcome::Retry(_) => "retry",
            Outcome::NeedsReauth(_) => "needs_reauth",
            Outcome::Lost => "lost",
        }
    }
}

/// A claim on one integration, as `integrations::claim` gave it, with what maintenance
/// needs of the integration as read right after the claim (in the same trip).
pub struct Claim {
    pub generation: i64,
    pub row: MaintenanceRow,
    pub stored: Option<CredentialRow>,
}

/// Records in the integration's sync log that its maintenance failed on an internal error
/// (a panic): the claim is left to expire, which is the backoff before the next attempt.
pub async fn record_internal_failure(ctx: &AppContext, integration_id: IntegrationId) -> Result<(), DbError> {
    let id = integration_id.to_owned();
    ctx.db
        .run(move |conn| {
            let Some(row) = integrations::find_for_maintenance(conn, id)? else {
                return Ok(());
            };
            sync_logs::append(
                conn,
                &NewSyncLog {
                    org_id: row.org_id,
                    integration_id: Some(row.id),
                    provider_slug: &row.provider_slug,
                    kind: LogKind::Refresh,
                    status: LogStatus::Failed,
                    message: "Token maintenance failed on an internal error; it is retried shortly",
                    error: Some("internal error"),
                    actor_user_id: None,
                    duration_ms: None,
                },
            )?;
            Ok(())
        })
        .await
}

/// Claims an integration for this process and reads it (`None`: someone else holds it).
pub async fn claim(
    ctx: &AppContext,
    integration_id: IntegrationId,
    now: NaiveDateTime,
    only_if_due: bool,
) -> Result<Option<Claim>, DbError> {
    let lease =
        chrono::Duration::from_std(ctx.settings.worker.lease).unwrap_or(chrono::Duration::seconds(60));
    let owner = ctx.instance_id.to_string();
    ctx.db
        .run(move |conn| {
            let until = now + lease;
            let Some(generation) =
                integrations::claim(conn, integration_id, &owner, now, until, only_if_due)?
            else {
                return Ok(None);
            };
            let Some(row) = integrations::find_for_maintenance(conn, integration_id)? else {
                return Ok(None);
            };
            Ok(Some(Claim {
                generation,
                row,
                stored: credentials::find(conn, integration_id)?,
            }))
        })
        .await
}

/// Claims those of `ids` that are due and unclaimed, and reads them: one trip, a few
/// statements whatever the number.
async fn claim_due(
    ctx: &AppContext,
    ids: &[IntegrationId],
    now: NaiveDateTime,
) -> Result<Vec<Claim>, DbError> {
    let lease =
        chrono::Duration::from_std(ctx.settings.worker.lease).unwrap_or(chrono::Duration::seconds(60));
    let (ids, owner) = (ids.to_vec(), ctx.instance_id.to_string());
    ctx.db
        .run(move |conn| {
            let claimed = integrations::claim_due(conn, &ids, &owner, now, now + lease)?;
            let ids: Vec<IntegrationId> = claimed.iter().map(|(id, _)| *id).collect();
            let mut rows = integrations::find_many_for_maintenance(conn, &ids)?;
            let mut stored = credentials::find_many(conn, &ids)?;
            Ok(claimed
                .into_iter()
                .filter_map(|(integration_id, generation)| {
                    let row = rows.swap_remove(rows.iter().position(|r| r.id == integration_id)?);
                    let stored = stored
                        .iter()
                        .position(|s| s.integration_id == integration_id)
                        .map(|at| stored.swap_remove(at));
                    Some(Claim {
                        generation,
                        row,
                        stored,
                    })
                })
                .collect())
        })
        .await
}

async fn release(ctx: &AppContext, id: IntegrationId) -> Result<(), DbError> {
    let (id, owner) = (id.to_owned(), ctx.instance_id.to_string());
    ctx.db
        .run(move |conn| integrations::release(conn, id, &owner))
        .await
}
