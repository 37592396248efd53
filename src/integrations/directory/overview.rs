//! The directories of an organization at a glance (the People page): per integration with a
//! member list, its counts, the pass in progress and how far it got, the last complete pass
//! and the last error; and the admin's "Sync now".

use chrono::NaiveDateTime;

use super::has_directory;
use crate::context::AppContext;
use crate::db::sync_logs::{self, NewJob};
use crate::db::{self, DbError, integrations, people};
use crate::domain::{DirectorySource, DirectoryState, IntegrationId, LogKind, OrgId};

/// One integration's directory.
#[derive(Debug, Clone)]
pub struct DirectoryCard {
    pub integration_id: IntegrationId,
    pub provider_name: String,
    pub account_name: String,
    pub active: i64,
    pub inactive: i64,
    /// A sync is queued or running.
    pub syncing: bool,
    /// Accounts the pass in progress has read so far (`None`: no pass in progress).
    pub pass_seen: Option<i64>,
    pub last_completed: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    /// The list the last pass read (Google: the Admin SDK, or People where the admin consent
    /// is missing).
    pub source: Option<DirectorySource>,
}

impl DirectoryCard {
    /// How far the pass in progress got, in percent, measured against the accounts known
    /// before it (`None` when there is nothing to measure against yet).
    pub fn percent(&self) -> Option<i64> {
        let known = self.active + self.inactive;
        let seen = self.pass_seen?;
        (known > 0).then(|| (seen * 100 / known).min(99))
    }
}

/// The directories of the organization's live integrations, by provider.
pub async fn directories(ctx: &AppContext, org: OrgId) -> Result<Vec<DirectoryCard>, DbError> {
    let (rows, counts, syncs, open) = ctx
        .db
        .run(move |conn| {
            Ok((
                integrations::all_for_org(conn, org)?,
                people::directory_counts(conn, org)?,
                people::directory_syncs(conn, org)?,
                sync_logs::integrations_with_open_jobs(conn, org, LogKind::Sync)?,
            ))
        })
        .await?;
    let cards = rows
        .into_iter()
        .map(|(row, _)| row)
        .filter(|row| row.status.is_live() && has_directory(&row.provider_slug))
        .map(|row| {
            let count = |wanted: &dyn Fn(DirectoryState) -> bool| -> i64 {
                counts
                    .iter()
                    .filter(|(id, state, _)| *id == row.id && wanted(*state))
                    .map(|(_, _, n)| n)
                    .sum()
            };
            let sync = syncs.iter().find(|s| s.integration_id == row.id);
            DirectoryCard {
                integration_id: row.id,
                provider_name: ctx
                    .catalogue
                    .get(&row.provider_slug)
                    .map(|p| p.def.name.clone())
                    .unwrap_or_else(|| row.provider_slug.clone()),
                account_name: row.external_account_name,
                active: count(&|s| s == DirectoryState::Active),
                inactive: count(&|s| s != DirectoryState::Active),
                syncing: open.contains(&row.id),
                pass_seen: sync
                    .filter(|s| s.pass_id.is_some() && s.pages_read > 0)
                    .map(|s| s.entries_seen as i64),
                last_completed: sync.and_then(|s| s.completed_at),
                last_error: sync.and_then(|s| s.last_error.clone()),
                source: sync.and_then(|s| s.source),
            }
        })
        .collect();
    Ok(cards)
}

/// What "Sync now" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncNow {
    Queued,
    /// A sync of this integration is queued or running already.
    AlreadyQueued,
    /// Not a live integration of the organization with a member list.
    NotFound,
}

/// Queues a sync of the integration's directory, unless one is queued or running.
pub async fn sync_now(ctx: &AppContext, org: OrgId, integration: IntegrationId) -> Result<SyncNow, DbError> {
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let Some(row) = integrations::find_for_org(conn, org, integration)? else {
                    return Ok(SyncNow::NotFound);
                };
                if !row.status.is_live() || !has_directory(&row.provider_slug) {
                    return Ok(SyncNow::NotFound);
                }
                if sync_logs::integrations_with_open_jobs(conn, org, LogKind::Sync)?.contains(&integration) {
                    return Ok(SyncNow::AlreadyQueued);
                }
                let job = NewJob {
                    org_id: org,
                    integration_id: Some(integration),
                    provider_slug: &row.provider_slug,
                    kind: LogKind::Sync,
                    message: "Sync asked for by an admin",
                    dedup_key: None,
                    payload: None,
                    max_attempts: sync_logs::JOB_MAX_ATTEMPTS,
                };
                sync_logs::enqueue(conn, &job, db::now())?;
                Ok(SyncNow::Queued)
            })
        })
        .await
}
