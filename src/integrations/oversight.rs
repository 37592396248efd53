//! What admins watch and govern: the health dashboard, the audit log (and its CSV), the sync
//! schedule, and GDPR (consent ledger, data export, erasure). Each page is a fixed, small
//! number of queries whatever the number of integrations or log entries, and reads a bounded
//! amount (the export pages through the log within a budget).

use chrono::{Duration, NaiveDateTime};
use serde_json::{Value, json};

use crate::accounts::Admin;
use crate::context::AppContext;
pub use crate::db::sync_logs::LogFilter;
use crate::db::sync_logs::{self, AuditRow, NewSyncLog, kind, status};
use crate::db::{self, DbError, consents, integrations, webhooks};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId, Schedule, format_time};

/// Hourly buckets of the last 24 hours, oldest first.
pub const HOURS: usize = 24;

pub struct Summary {
    pub total: usize,
    pub connected: usize,
    pub failing: usize,
    pub needs_reconnect: usize,
}

pub struct HealthRow {
    pub id: String,
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
pub async fn dashboard(ctx: &AppContext, org: OrgId) -> Result<Dashboard, DbError> {
    let now = db::now();
    let since = now - Duration::hours(HOURS as i64);
    let org_text = org.to_text();
    let (rows, activity) = ctx
        .db
        .run(move |conn| {
            let rows = integrations::all_for_org(conn, &org_text)?;
            let activity = sync_logs::hourly_activity(conn, &org_text, since, now)?;
            Ok((rows, activity))
        })
        .await?;
    let mut health: Vec<HealthRow> = rows
        .into_iter()
        .map(|(row, _)| row)
        .filter(|row| row.status != IntegrationStatus::Disconnected.as_str())
        .map(|row| HealthRow {
            provider_name: ctx
                .catalogue
                .get(&row.provider_slug)
                .map(|p| p.def.name.clone())
                .unwrap_or(row.provider_slug.clone()),
            breaker: ctx.breakers.state(&row.provider_slug).label(),
            status: IntegrationStatus::parse(&row.status).unwrap_or(IntegrationStatus::Error),
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
        let Some(index) = health
            .iter()
            .position(|h| Some(&h.id) == group.integration_id.as_ref())
        else {
            continue;
        };
        let hour = group.hour.clamp(0, HOURS as i64 - 1) as usize;
        let (log_kind, log_status) = (group.kind, group.status);
        let count = u32::try_from(group.entries).unwrap_or(u32::MAX);
        let row = &mut health[index];
        match log_kind.as_str() {
            kind::REFRESH => {
                row.refreshes = row.refreshes.saturating_add(count as usize);
                if log_status == status::SUCCEEDED {
                    refresh_ok[index] = refresh_ok[index].saturating_add(count as usize);
                }
            }
            kind::WEBHOOK_EVENT => {
                row.events[hour] = row.events[hour].saturating_add(count);
                row.events_total = row.events_total.saturating_add(count);
                if log_status == status::FAILED {
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
    Ok(Dashboard {
        summary,
        rows: health,
    })
}

/// One row of the audit log, for the page and the CSV.
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub provider: String,
    pub integration_id: Option<String>,
    pub kind: String,
    pub status: String,
    pub message: String,
    pub error: Option<String>,
    pub attempts: i32,
    pub duration_ms: Option<i64>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            at: format_time(row.created_at),
            provider: row.provider_slug,
            integration_id: row.integration_id,
            kind: row.kind,
            status: row.status,
            message: row.message,
            error: row.error,
            attempts: row.attempts,
            duration_ms: row.duration_ms,
        }
    }
}

pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

pub const PAGE_SIZE: i64 = 25;

/// A page (from 1) of the organization's log: two queries.
pub async fn audit_page(
    ctx: &AppContext,
    org: OrgId,
    filter: LogFilter,
    page: i64,
    per_page: i64,
) -> Result<AuditPage, DbError> {
    // The page number comes from a request: saturate rather than overflow.
    let (page, per_page) = (page.max(1), per_page.max(1));
    let offset = (page - 1).saturating_mul(per_page);
    let org = org.to_text();
    let (rows, total) = ctx
        .db
        .run(move |conn| {
            // An integration's log is another organization's to see only if it is theirs.
            if let Some(id) = &filter.integration_id
                && integrations::find_for_org(conn, &org, id)?.is_none()
            {
                return Err(diesel::result::Error::NotFound.into());
            }
            sync_logs::page_for_org(conn, &org, &filter, offset, per_page)
        })
        .await?;
    Ok(AuditPage {
        entries: rows.into_iter().map(AuditEntry::from).collect(),
        total,
        page,
        pages: (total.max(0) as u64).div_ceil(per_page as u64).max(1) as i64,
    })
}

/// Up to `limit` entries as CSV (RFC 4180), cells that a spreadsheet would run as formulas
/// made inert.
pub async fn audit_csv(
    ctx: &AppContext,
    org: OrgId,
    filter: LogFilter,
    limit: i64,
) -> Result<String, DbError> {
    let page = audit_page(ctx, org, filter, 1, limit).await?;
    let mut out =
        String::from("id,time,provider,integration_id,kind,status,message,error,attempts,duration_ms\r\n");
    for e in page.entries {
        let cells = [
            e.id,
            e.at,
            e.provider,
            e.integration_id.unwrap_or_default(),
            e.kind,
            e.status,
            e.message,
            e.error.unwrap_or_default(),
            e.attempts.to_string(),
            e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}

fn csv_cell(value: &str) -> String {
    let inert = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if inert.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", inert.replace('"', "\"\""))
    } else {
        inert
    }
}

/// Sets the sync schedule; `false` for an integration of another organization.
pub async fn set_schedule(
    ctx: &AppContext,
    admin: &Admin,
    id: IntegrationId,
    schedule: Schedule,
) -> Result<bool, DbError> {
    let (org, id) = (admin.org_id.to_text(), id.to_text());
    ctx.db
        .run(move |conn| integrations::set_sync_interval(conn, &org, &id, schedule.minutes(), db::now()))
        .await
}

pub struct ConsentEntry {
    pub provider: String,
    pub admin_email: Option<String>,
    pub scopes: String,
    pub text_version: String,
    pub granted_at: String,
    pub withdrawn_at: Option<String>,
    pub ip_address: Option<String>,
}

pub async fn consent_ledger(ctx: &AppContext, org: OrgId) -> Result<Vec<ConsentEntry>, DbError> {
    let org = org.to_text();
    let rows = ctx
        .db
        .run(move |conn| consents::ledger_for_org(conn, &org))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(c, email)| ConsentEntry {
            provider: ctx
                .catalogue
                .get(&c.provider_slug)
                .map(|p| p.def.name.clone())
                .unwrap_or(c.provider_slug),
            admin_email: email,
            scopes: c.scopes,
            text_version: c.consent_text_version,
            granted_at: format_time(c.granted_at),
            withdrawn_at: c.withdrawn_at.map(format_time),
            ip_address: c.ip_address,
        })
        .collect())
}

/// Log entries in one GDPR export at most, and the bytes of their payloads at most: the
/// export is built in memory, so what it reads is bounded. Beyond them the export says
/// `"truncated": true`; the audit log's CSV (filtered by dates) has the older entries.
pub const EXPORT_MAX_LOG_ENTRIES: usize = 10_000;
pub const EXPORT_MAX_PAYLOAD_BYTES: usize = 32 * 1024 * 1024;
/// Entries read per query while exporting (payloads are up to a webhook body each).
const EXPORT_PAGE: usize = 64;

/// What an export may still take.
struct ExportBudget {
    entries: usize,
    payload_bytes: usize,
}

impl ExportBudget {
    fn new() -> ExportBudget {
        ExportBudget {
            entries: EXPORT_MAX_LOG_ENTRIES,
            payload_bytes: EXPORT_MAX_PAYLOAD_BYTES,
        }
    }

    /// Takes one entry with a payload of this size, or `false` when it does not fit.
    fn admit(&mut self, payload_len: usize) -> bool {
        if self.entries == 0 || payload_len > self.payload_bytes {
            return false;
        }
        self.entries -= 1;
        self.payload_bytes -= payload_len;
        true
    }
}

/// The organization's newest log entries that fit the budget, oldest first, and whether
/// older ones were left out.
async fn export_log(ctx: &AppContext, org: OrgId) -> Result<(Vec<sync_logs::ExportRow>, bool), DbError> {
    let mut budget = ExportBudget::new();
    let mut log = Vec::new();
    let mut before = None;
    loop {
        let org = org.to_text();
        let page = ctx
            .db
            .run(move |conn| sync_logs::export_page_for_org(conn, &org, before, EXPORT_PAGE as i64))
            .await?;
        let last_page = page.len() < EXPORT_PAGE;
        before = page.last().map(|(l, _)| (l.created_at, l.id.clone()));
        for row in page {
            if !budget.admit(row.1.as_ref().map_or(0, Vec::len)) {
                log.reverse();
                return Ok((log, true));
            }
            log.push(row);
        }
        if last_page {
            log.reverse();
            return Ok((log, false));
        }
    }
}

/// All of the organization's integration data as JSON (Art. 15/20): integrations, consents,
/// webhooks and the log with its payloads (within `EXPORT_MAX_LOG_ENTRIES` and
/// `EXPORT_MAX_PAYLOAD_BYTES`, the newest first to be kept). Never a token or a secret.
pub async fn export(ctx: &AppContext, org: OrgId) -> Result<Value, DbError> {
    let org_text = org.to_text();
    let (integrations, ledger, hooks) = ctx
        .db
        .run(move |conn| {
            Ok((
                integrations::all_for_org(conn, &org_text)?,
                consents::ledger_for_org(conn, &org_text)?,
                webhooks::list_for_org(conn, &org_text)?,
            ))
        })
        .await?;
    let (log, truncated) = export_log(ctx, org).await?;
    let time = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc().to_rfc3339());
    Ok(json!({
        "organization_id": org.to_text(),
        "exported_at": db::now().and_utc().to_rfc3339(),
        "truncated": truncated,
        "limits": {
            "log_entries": EXPORT_MAX_LOG_ENTRIES,
            "log_payload_bytes": EXPORT_MAX_PAYLOAD_BYTES,
            "note": "the newest log entries within these limits; the audit log CSV has the older ones",
        },
        "integrations": integrations.iter().map(|(i, schedule)| json!({
            "id": i.id, "provider": i.provider_slug, "status": i.status,
            "account_id": i.external_account_id, "account_name": i.external_account_name,
            "granted_scopes": i.granted_scopes, "connected_by": i.connected_by,
            "connected_at": time(i.connected_at), "disconnected_at": time(i.disconnected_at),
            "last_refresh_at": time(i.last_refresh_at), "last_error": i.last_error,
            "sync_interval_minutes": schedule,
        })).collect::<Vec<_>>(),
        "consents": ledger.iter().map(|(c, email)| json!({
            "id": c.id, "provider": c.provider_slug, "integration_id": c.integration_id,
            "admin": email, "scopes": c.scopes, "consent_text_version": c.consent_text_version,
            "ip_address": c.ip_address, "user_agent": c.user_agent,
            "granted_at": time(Some(c.granted_at)), "withdrawn_at": time(c.withdrawn_at),
        })).collect::<Vec<_>>(),
        "webhooks": hooks.iter().map(|w| json!({
            "id": w.id, "provider": w.provider_slug, "integration_id": w.integration_id,
            "status": w.status, "received": w.received_count, "rejected": w.rejected_count,
            "last_event_at": time(w.last_event_at), "expires_at": time(w.expires_at),
        })).collect::<Vec<_>>(),
        "log": log.iter().map(|(l, payload)| json!({
            "id": l.id, "integration_id": l.integration_id, "provider": l.provider_slug,
            "kind": l.kind, "status": l.status, "message": l.message, "error": l.error,
            "attempts": l.attempts, "actor_user_id": l.actor_user_id, "duration_ms": l.duration_ms,
            "at": time(Some(l.created_at)),
            "payload": payload.as_deref().map(|p| serde_json::from_slice::<Value>(p)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(p).into_owned()))),
        })).collect::<Vec<_>>(),
    }))
}

pub struct ErasureOutcome {
    pub provider_name: String,
    pub revocation_error: Option<String>,
}

/// Erases one integration's data: stops its Google channels and revokes at the provider,
/// deletes its credentials and Slack route, stops its other webhooks (kept without secrets,
/// so late deliveries are counted), removes personal data from its log and consents, and
/// leaves a minimal record (the integration row, anonymised, and a log entry saying who
/// erased it when).
pub async fn erase(
    ctx: &AppContext,
    admin: &Admin,
    id: IntegrationId,
) -> Result<Option<ErasureOutcome>, DbError> {
    let (org, integration) = (admin.org_id.to_text(), id.to_text());
    let (row, stored) = ctx
        .db
        .run(move |conn| {
            let row = integrations::find_for_org(conn, &org, &integration)?;
            let stored = db::credentials::find(conn, &integration)?;
            Ok((row, stored))
        })
        .await?;
    let Some(row) = row.filter(|r| !r.external_account_id.starts_with("erased:")) else {
        return Ok(None);
    };
    crate::integrations::google_channels::stop_channels_of(ctx, admin.org_id, id).await?;
    let revocation = super::disconnect::revoke_stored(ctx, &row.provider_slug, stored).await;
    let revocation_error = revocation.err();
    let (org, user, error) = (
        admin.org_id.to_text(),
        admin.user_id.to_text(),
        revocation_error.clone(),
    );
    let (id, provider) = (row.id.clone(), row.provider_slug.clone());
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let now = db::now();
                db::credentials::delete(conn, &id)?;
                webhooks::scrub_for_integration(conn, &id, now)?;
                sync_logs::erase_for_integration(conn, &id)?;
                consents::scrub_for_integration(conn, &id, now)?;
                integrations::erase(conn, &id, now)?;
                sync_logs::append(
                    conn,
                    &NewSyncLog {
                        org_id: &org,
                        integration_id: Some(&id),
                        provider_slug: &provider,
                        kind: kind::ERASURE,
                        status: status::SUCCEEDED,
                        message: "The integration's data was erased by an admin",
                        error: error.as_deref(),
                        actor_user_id: Some(&user),
                        duration_ms: None,
                    },
                )?;
                Ok(())
            })
        })
        .await?;
    if row.provider_slug == "slack" {
        ctx.slack_routes.forget(&row.external_account_id);
    }
    tracing::info!(integration_id = %row.id, "integration data erased");
    Ok(Some(ErasureOutcome {
        provider_name: ctx
            .catalogue
            .get(&row.provider_slug)
            .map(|p| p.def.name.clone())
            .unwrap_or(row.provider_slug),
        revocation_error,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_budget_caps_entries_and_payload_bytes() {
        let mut budget = ExportBudget::new();
        assert!(budget.admit(EXPORT_MAX_PAYLOAD_BYTES - 10));
        assert!(!budget.admit(11), "over the payload bytes");
        assert!(budget.admit(10));
        let mut budget = ExportBudget::new();
        let admitted = (0..EXPORT_MAX_LOG_ENTRIES + 5)
            .filter(|_| budget.admit(0))
            .count();
        assert_eq!(admitted, EXPORT_MAX_LOG_ENTRIES);
    }
}
