//! The worker's rounds, as far as they touch the database: what is due, scheduled syncs put
//! on the queue, old entries purged, and claims given back at shutdown.

use chrono::NaiveDateTime;

use crate::context::AppContext;
use crate::db::{DbError, integrations, oauth_states, sync_logs};
use crate::domain::{IntegrationId, LogKind};

/// Integrations whose token maintenance is due: (id, provider), at most `batch`.
pub async fn due_for_maintenance(
    ctx: &AppContext,
    now: NaiveDateTime,
    batch: i64,
) -> Result<Vec<(IntegrationId, String)>, DbError> {
    ctx.db
        .run(move |conn| integrations::due_for_maintenance(conn, now, batch))
        .await
}

/// Queues a sync job for each integration whose schedule is due; returns how many.
pub async fn enqueue_due_syncs(ctx: &AppContext, now: NaiveDateTime, batch: i64) -> Result<usize, DbError> {
    ctx.db
        .run(move |conn| {
            let due = integrations::take_due_syncs(conn, now, batch)?;
            let mut queued = 0;
            for (id, org, provider) in due {
                let job = sync_logs::NewJob {
                    org_id: org,
                    integration_id: Some(id),
                    provider_slug: &provider,
                    kind: LogKind::Sync,
                    message: "Scheduled sync",
                    dedup_key: None,
                    payload: None,
                    max_attempts: sync_logs::JOB_MAX_ATTEMPTS,
                };
                if sync_logs::enqueue(conn, &job, now)?.is_some() {
                    queued += 1;
                }
            }
            Ok(queued)
        })
        .await
}

/// Deletes at most `batch` finished sync-log entries older than `cutoff`; returns how many.
pub async fn purge_logs_before(
    ctx: &AppContext,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    ctx.db
        .run(move |conn| sync_logs::purge_finished_before(conn, cutoff, batch))
        .await
}

/// Deletes at most `batch` directory accounts deactivated (or deleted) before `cutoff`;
/// returns how many.
pub async fn purge_directory_before(
    ctx: &AppContext,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    ctx.db
        .run(move |conn| crate::db::directory::purge_inactive_before(conn, cutoff, batch))
        .await
}

/// Deletes the OAuth states that expired; returns how many.
pub async fn purge_expired_states(ctx: &AppContext, now: NaiveDateTime) -> Result<usize, DbError> {
    ctx.db
        .run(move |conn| oauth_states::purge_expired(conn, now))
        .await
}

/// Gives back the integrations and jobs `owner` has claimed; returns how many.
pub async fn release_claims(ctx: &AppContext, owner: String) -> Result<usize, DbError> {
    ctx.db
        .run(move |conn| {
            let claims = integrations::release_all(conn, &owner)?;
            let jobs = sync_logs::release_jobs(conn, &owner)?;
            Ok(claims + jobs)
        })
        .await
}
