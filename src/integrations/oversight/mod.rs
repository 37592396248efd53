//! What admins watch and govern: the health dashboard, the audit log (and its CSV), the sync
//! schedule, and GDPR (consent ledger, data export, erasure). Each page is a fixed, small
//! number of queries whatever the number of integrations or log entries, and reads a bounded
//! amount (the export pages through the log within a budget).

mod activity;
mod audit;
mod gdpr;

use chrono::Duration;

use crate::accounts::Admin;
use crate::context::AppContext;
use crate::db::audit::{self as audit_events, NewAuditEvent};
use crate::db::{self, DbConnection, DbError, integrations, sync_logs};
use crate::domain::{AuditKind, IntegrationId, IntegrationStatus, LogKind, LogStatus, OrgId, Schedule};
pub use activity::{LogEntry, LogFilter, LogPage, PAGE_SIZE, load_log_page, log_csv, log_page};
pub use audit::{
    AUDIT_PAGE_SIZE, AuditFilter, AuditPage, ChainCheck, ChainChecks, EXPORT_LIMIT, export as export_audit,
    load_audit_page, verify_all as verify_audit_chains, verify_chain,
};
pub use gdpr::{
    ConsentEntry, EXPORT_MAX_LOG_ENTRIES, EXPORT_MAX_PAYLOAD_BYTES, ErasureOutcome, consent_ledger, erase,
    export,
};

/// Hourly buckets of the last 24 hours, oldest first.
pub const HOURS: usize = 24;

pub struct Summary {
    pub total: usize,
    pub connected: usize,
    pub failing: usize,
    pub needs_reconnect: usize,
}

pub struct HealthRow {
    pub id: IntegrationId,
    pub provider_name: String,
    pub account_name: String,
    pub status: IntegrationStatus,
    /// Share of successful refreshes in 24 h, when there were any.
    pub refresh_rate: Option<u32>,
    pub refreshes: usize,
    pub last_error: Option<String>,
    pub breaker: &'static str,
    pub events: [u32; HOURS],
    pub failures: [u32; HOURS],
    pub events_total: u32,
    pub failures_total: u32,
}

impl HealthRow {
    /// Bars of the 24-hour chart: (x, height of events, height of failures), 24 px high.
    pub fn bars(&self) -> Vec<(usize, u32, u32)> {
        let max = self
            .events
            .iter()
            .chain(&self.failures)
            .copied()
            .max()
            .unwrap_or(0)
            .max(1);
        // u64: n * 24 cannot overflow whatever the counts.
        let scale = |n: u32| {
            if n == 0 {
                0
            } else {
                (u64::from(n) * 24).div_ceil(u64::from(max)).max(1) as u32
            }
        };
        (0..HOURS)
            .map(|h| (h * 5, scale(self.events[h]), scale(self.failures[h])))
            .collect()
    }
}

pub struct Dashboard {
    pub summary: Summary,
    pub rows: Vec<HealthRow>,
}

/// The organization's integrations with their last 24 hours: two queries. The second one
/// counts entries by integration, kind, status and hour, so what is read grows with the
/// number of integrations, never with the number of log entries (a webhook flood adds to
/// counts, not to rows read).
pub fn load_dashboard(conn: &mut DbConnection, org: OrgId) -> Result<DashboardRead, DbError> {
    let now = db::now();
    let since = now - Duration::hours(HOURS as i64);
    Ok(DashboardRead {
        rows: integrations::list_active_for_org(conn, org)?,
        activity: sync_logs::hourly_activity(conn, org, since, now)?,
    })
}

/// What the dashboard reads (`load_dashboard`, on the page's connection).
pub struct DashboardRead {
    rows: Vec<integrations::IntegrationSummary>,
    activity: Vec<sync_logs::HourlyActivity>,
}

/// The dashboard, from what was read.
pub fn dashboard(ctx: &AppContext, read: DashboardRead) -> Dashboard {
    let DashboardRead { rows, activity } = read;
    let mut health: Vec<HealthRow> = rows
        .into_iter()
        .map(|row| HealthRow {
            provider_name: ctx
                .catalogue
                .get(&row.provider_slug)
                .map(|p| p.def.name.clone())
                .unwrap_or(row.provider_slug.clone()),
            breaker: ctx.breakers.state(&row.provider_slug).label(),
            status: row.status,
            id: row.id,
            account_name: row.external_account_name,
            refresh_rate: None,
            refreshes: 0,
            last_error: row.last_error,
            events: [0; HOURS],
            failures: [0; HOURS],
            events_total: 0,
            failures_total: 0,
        })
        .collect();
    let mut refresh_ok = vec![0usize; health.len()];
    for group in activity {
        let Some(index) = health.iter().position(|h| Some(h.id) == group.integration_id) else {
            continue;
        };
        let hour = group.hour.clamp(0, HOURS as i64 - 1) as usize;
        let (log_kind, log_status) = (group.kind, group.status);
        let count = u32::try_from(group.entries).unwrap_or(u32::MAX);
        let row = &mut health[index];
        match log_kind {
            LogKind::Refresh => {
                row.refreshes = row.refreshes.saturating_add(count as usize);
                if log_status == LogStatus::Succeeded {
                    refresh_ok[index] = refresh_ok[index].saturating_add(count as usize);
                }
            }
            LogKind::WebhookEvent => {
                row.events[hour] = row.events[hour].saturating_add(count);
                row.events_total = row.events_total.saturating_add(count);
                if log_status == LogStatus::Failed {
                    row.failures[hour] = row.failures[hour].saturating_add(count);
                    row.failures_total = row.failures_total.saturating_add(count);
                }
            }
            _ => {}
        }
    }
    for (row, ok) in health.iter_mut().zip(refresh_ok) {
        row.refresh_rate = (row.refreshes > 0).then(|| (ok as u64 * 100 / row.refreshes as u64) as u32);
    }
    let count = |f: &dyn Fn(IntegrationStatus) -> bool| health.iter().filter(|h| f(h.status)).count();
    let summary = Summary {
        total: health.len(),
        connected: count(&|s| matches!(s, IntegrationStatus::Connected | IntegrationStatus::Refreshing)),
        failing: count(&|s| matches!(s, IntegrationStatus::Degraded | IntegrationStatus::Error)),
        needs_reconnect: count(&|s| s == IntegrationStatus::NeedsReauth),
    };
    Dashboard {
        summary,
        rows: health,
    }
}

/// Sets the sync schedule; `false` for an integration of another organization.
pub async fn set_schedule(
    ctx: &AppContext,
    admin: &Admin,
    id: IntegrationId,
    schedule: Schedule,
) -> Result<bool, DbError> {
    let (org, actor) = (admin.org_id, admin.actor());
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let Some(row) = integrations::find_for_org(conn, org, id)? else {
                    return Ok(false);
                };
                if !integrations::set_sync_interval(conn, org, id, schedule.minutes(), db::now())? {
                    return Ok(false);
                }
                let detail = format!("Sync schedule set to {}", schedule.label());
                audit_events::append(
                    conn,
                    &NewAuditEvent::new(org, AuditKind::Schedule, &actor, &detail)
                        .about(id, &row.provider_slug),
                )?;
                Ok(true)
            })
        })
        .await
}
