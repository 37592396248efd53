//! GDPR: the consent ledger (Art. 7), the data export (Art. 15/20) and erasure (Art. 17).

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::accounts::Admin;
use crate::context::AppContext;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::sync_logs;
use crate::db::{self, DbError, consents, integrations, webhooks};
use crate::domain::{AuditKind, IntegrationId, OrgId, WebhookKind, format_time};

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
    let rows = ctx
        .db
        .run(move |conn| consents::ledger_for_org(conn, org))
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
        let page = ctx
            .db
            .run(move |conn| sync_logs::export_page_for_org(conn, org, before, EXPORT_PAGE as i64))
            .await?;
        let last_page = page.len() < EXPORT_PAGE;
        before = page.last().map(|(l, _)| (l.created_at, l.id.clone()));
        for (entry, stored) in page {
            // The body as received (sealed at rest, for this row).
            let payload = stored.map(|stored| {
                db::sealed::open_payload(&ctx.keyring, &entry.id, &stored)
                    .unwrap_or_else(|_| br#""[sealed with a key that is no longer configured]""#.to_vec())
            });
            if !budget.admit(payload.as_ref().map_or(0, Vec::len)) {
                log.reverse();
                return Ok((log, true));
            }
            log.push((entry, payload));
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
    let (integrations, ledger, hooks, directory, trail) = ctx
        .db
        .run(move |conn| {
            Ok((
                integrations::all_for_org(conn, org)?,
                consents::ledger_for_org(conn, org)?,
                webhooks::list_for_org(conn, org)?,
                db::directory::all_for_org(conn, org)?,
                audit::list_for_org(conn, org, &Default::default(), 0, EXPORT_MAX_LOG_ENTRIES as i64)?,
            ))
        })
        .await?;
    let (log, truncated) = export_log(ctx, org).await?;
    let time = |t: Option<NaiveDateTime>| t.map(|t| t.and_utc().to_rfc3339());
    Ok(json!({
        "organization_id": org,
        "exported_at": db::now().and_utc().to_rfc3339(),
        "truncated": truncated,
        "limits": {
            "log_entries": EXPORT_MAX_LOG_ENTRIES,
            "log_payload_bytes": EXPORT_MAX_PAYLOAD_BYTES,
            "note": "the newest log entries and audit events within these limits; the activity log's and the audit trail's CSV have the older ones",
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
        "directory": directory.iter().map(|e| json!({
            "integration_id": e.integration_id, "external_id": e.external_id, "email": e.email,
            "name": e.name, "state": e.state, "first_seen": time(Some(e.first_seen_at)),
            "last_seen": time(Some(e.last_seen_at)), "changed": time(Some(e.changed_at)),
        })).collect::<Vec<_>>(),
        "audit": trail.iter().map(|e| json!({
            "seq": e.seq, "at": time(Some(e.created_at)), "kind": e.kind, "outcome": e.outcome,
            "actor": e.actor, "source": e.source, "provider": e.provider_slug,
            "integration_id": e.integration_id, "detail": e.detail,
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
    let org = admin.org_id;
    let (row, stored) = ctx
        .db
        .run(move |conn| {
            let row = integrations::find_for_org(conn, org, id)?;
            let stored = db::credentials::find(conn, id)?;
            Ok((row, stored))
        })
        .await?;
    let Some(row) = row.filter(|r| !r.external_account_id.starts_with("erased:")) else {
        return Ok(None);
    };
    crate::integrations::google_channels::stop_channels_of(ctx, admin.org_id, id).await?;
    let revocation = crate::integrations::disconnect::revoke_stored(ctx, &row.provider_slug, stored).await;
    let revocation_error = revocation.err();
    let (actor, error) = (admin.actor(), revocation_error.clone());
    let provider = row.provider_slug.clone();
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let now = db::now();
                db::credentials::delete(conn, id)?;
                webhooks::scrub_for_integration(conn, id, now)?;
                sync_logs::erase_for_integration(conn, id)?;
                consents::scrub_for_integration(conn, id, now)?;
                db::directory::erase_for_integration(conn, id)?;
                integrations::erase(conn, id, now)?;
                let detail = match &error {
                    None => "The integration's data was erased by an admin".to_owned(),
                    Some(e) => format!("The integration's data was erased by an admin: {e}"),
                };
                audit::append(
                    conn,
                    &NewAuditEvent::new(org, AuditKind::Erasure, &actor, &detail).about(id, &provider),
                )?;
                Ok(())
            })
        })
        .await?;
    if ctx.catalogue.webhook_kind(&row.provider_slug) == WebhookKind::SlackEvents {
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
