//! The worker's rounds, as far as they touch the database: what is due, scheduled syncs put
//! on the queue, old entries purged, and claims given back at shutdown.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDateTime};

use crate::context::AppContext;
use crate::db::{DbError, audit, integrations, oauth_states, sync_logs};
use crate::domain::{Actor, AuditKind, IntegrationId, LogKind, OrgId};

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

/// What the retention rules removed in one pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    /// Finished activity-log entries (SYNC_LOG_RETENTION_DAYS).
    pub logs: usize,
    /// Bodies of processed webhook events (WEBHOOK_PAYLOAD_RETENTION_DAYS).
    pub payloads: usize,
    /// Audit events (AUDIT_RETENTION_DAYS).
    pub audit_events: usize,
}

/// One organization's part of a pass.
#[derive(Default)]
struct OrgRemoved {
    logs: BTreeMap<&'static str, usize>,
    payloads: usize,
    audit_events: usize,
    anchor: i64,
}

/// Applies each kind's retention as of `now`, `batch` rows at a time until done (or
/// `stopping`): the activity log's finished entries, the bodies of processed webhook events
/// (their metadata stays) and audit events (the chain's anchor moves to the last one purged).
/// Then records in each organization's audit trail what was removed there.
pub async fn apply_retention(
    ctx: &AppContext,
    now: NaiveDateTime,
    batch: i64,
    stopping: impl Fn() -> bool,
) -> Result<Removed, DbError> {
    let rules = &ctx.settings.worker;
    let mut by_org: BTreeMap<OrgId, OrgRemoved> = BTreeMap::new();
    let full = |n: usize| n as i64 >= batch && !stopping();
    let cutoff = now - Duration::days(rules.retention_days);
    loop {
        let purged = ctx
            .db
            .run(move |conn| sync_logs::purge_finished_before(conn, cutoff, batch))
            .await?;
        for (org, kind) in &purged {
            *by_org
                .entry(*org)
                .or_default()
                .logs
                .entry(kind.as_str())
                .or_default() += 1;
        }
        if !full(purged.len()) {
            break;
        }
    }
    let cutoff = now - Duration::days(rules.payload_retention_days);
    loop {
        let dropped = ctx
            .db
            .run(move |conn| sync_logs::drop_payloads_before(conn, cutoff, batch))
            .await?;
        for org in &dropped {
            by_org.entry(*org).or_default().payloads += 1;
        }
        if !full(dropped.len()) {
            break;
        }
    }
    if let Some(days) = rules.audit_retention_days {
        let cutoff = now - Duration::days(days);
        for org in ctx
            .db
            .run(move |conn| audit::orgs_with_events_before(conn, cutoff))
            .await?
        {
            loop {
                let (purged, anchor) = ctx
                    .db
                    .run(move |conn| audit::purge_before(conn, org, cutoff, batch))
                    .await?;
                if purged > 0 {
                    let removed = by_org.entry(org).or_default();
                    removed.audit_events += purged;
                    removed.anchor = anchor;
                }
                if !full(purged) {
                    break;
                }
            }
        }
    }
    let mut total = Removed::default();
    for (org, removed) in by_org {
        total.logs += removed.logs.values().sum::<usize>();
        total.payloads += removed.payloads;
        total.audit_events += removed.audit_events;
        let detail = retention_detail(&removed, rules);
        ctx.db
            .run(move |conn| {
                let system = Actor::system();
                audit::append(
                    conn,
                    &audit::NewAuditEvent::new(org, AuditKind::Retention, &system, &detail),
                )
            })
            .await?;
    }
    Ok(total)
}

/// "Retention removed …": how many of which kinds, under which rule.
fn retention_detail(removed: &OrgRemoved, rules: &crate::config::WorkerSettings) -> String {
    let mut parts = Vec::new();
    let logs: usize = removed.logs.values().sum();
    if logs > 0 {
        let kinds: Vec<String> = removed
            .logs
            .iter()
            .map(|(kind, n)| format!("{kind} {n}"))
            .collect();
        parts.push(format!(
            "{logs} activity entries older than {} days ({})",
            rules.retention_days,
            kinds.join(", ")
        ));
    }
    if removed.payloads > 0 {
        parts.push(format!(
            "the bodies of {} webhook events older than {} days",
            removed.payloads, rules.payload_retention_days
        ));
    }
    if removed.audit_events > 0 {
        parts.push(format!(
            "{} audit events older than {} days (the chain now starts after event {})",
            removed.audit_events,
            rules.audit_retention_days.unwrap_or_default(),
            removed.anchor
        ));
    }
    format!("Retention removed {}", parts.join("; "))
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
