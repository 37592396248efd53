//! What an integration's page shows (never a token).

use crate::context::AppContext;
use crate::db::{DbConnection, DbError, audit, consents, credentials, integrations, webhooks};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId, Schedule, format_time};
use crate::integrations::oversight::{LogFilter, LogPage, load_log_page};
use crate::providers::catalogue::endpoints;

pub struct IntegrationDetail {
    pub id: IntegrationId,
    pub provider_slug: String,
    pub provider_name: String,
    pub account_id: String,
    pub account_name: String,
    pub status: IntegrationStatus,
    pub status_label: &'static str,
    pub last_error: Option<String>,
    pub granted_scopes: Vec<String>,
    /// The provider's features (Slack, Google) and whether each is granted.
    pub access: Vec<FeatureAccess>,
    pub connected_at: Option<String>,
    pub token_expires_at: Option<String>,
    pub last_refresh_at: Option<String>,
    /// When the worker next refreshes or checks the token.
    pub next_check_at: Option<String>,
    pub can_disconnect: bool,
    pub can_reconnect: bool,
    pub consents: Vec<ConsentView>,
    pub webhooks: Vec<crate::integrations::webhook_endpoints::EndpointView>,
    pub schedule: Schedule,
    pub last_sync_at: Option<String>,
    /// The data was erased (GDPR): only the minimal record is left.
    pub erased: bool,
    /// The provider's webhooks are added by an admin (not set up automatically).
    pub can_add_webhook: bool,
    /// Its latest audit events (who connected, tested, reset… it), newest first.
    pub history: Vec<HistoryEntry>,
}

/// One audit event of the integration.
pub struct HistoryEntry {
    pub at: String,
    pub kind: crate::domain::AuditKind,
    pub outcome: crate::domain::AuditOutcome,
    pub actor: String,
    pub detail: String,
}

/// Audit events the integration page shows.
const HISTORY: i64 = 10;

/// One feature of the connection: granted, or "needs more access" with Add access.
pub struct FeatureAccess {
    pub key: &'static str,
    pub label: &'static str,
    pub granted: bool,
}

pub struct ConsentView {
    pub granted_at: String,
    pub scopes: String,
    pub text_version: String,
    pub withdrawn_at: Option<String>,
}

impl IntegrationStatus {
    pub fn label(self) -> &'static str {
        match self {
            IntegrationStatus::Pending => "Pending",
            IntegrationStatus::Connected => "Connected",
            IntegrationStatus::Refreshing => "Refreshing",
            IntegrationStatus::Degraded => "Degraded",
            IntegrationStatus::NeedsReauth => "Needs reconnect",
            IntegrationStatus::Error => "Error",
            IntegrationStatus::Disconnected => "Disconnected",
        }
    }
}

/// One integration of the organization, or `None` (also for another organization's id).
pub async fn detail(
    ctx: &AppContext,
    org_id: OrgId,
    id: IntegrationId,
) -> Result<Option<IntegrationDetail>, DbError> {
    let read = ctx.db.run(move |conn| read_detail(conn, org_id, id)).await?;
    Ok(read.map(|read| detail_view(ctx, read)))
}

/// A page of an integration's activity log.
pub struct ActivityQuery {
    pub filter: LogFilter,
    pub page: i64,
    pub per_page: i64,
}

/// What the integration's page reads, on the page's connection: the integration (`None`: not
/// the organization's) and a page of its activity.
pub fn load_detail_page(
    conn: &mut DbConnection,
    org_id: OrgId,
    id: IntegrationId,
    activity: ActivityQuery,
) -> Result<Option<(DetailRead, LogPage)>, DbError> {
    let Some(read) = read_detail(conn, org_id, id)? else {
        return Ok(None);
    };
    let log = load_log_page(conn, org_id, activity.filter, activity.page, activity.per_page)?;
    Ok(Some((read, log)))
}

/// An integration as read, for `detail_view`.
pub struct DetailRead {
    row: integrations::IntegrationRow,
    expires_at: Option<chrono::NaiveDateTime>,
    consents: Vec<consents::ConsentRow>,
    endpoints: Vec<webhooks::WebhookRow>,
    history: Vec<audit::AuditEventRow>,
}

fn read_detail(
    conn: &mut DbConnection,
    org_id: OrgId,
    id: IntegrationId,
) -> Result<Option<DetailRead>, DbError> {
    let Some(row) = integrations::find_for_org(conn, org_id, id)? else {
        return Ok(None);
    };
    Ok(Some(DetailRead {
        row,
        expires_at: credentials::expires_at(conn, id)?,
        consents: consents::list_for_integration(conn, org_id, id)?,
        endpoints: webhooks::list_for_integration(conn, org_id, id)?,
        history: audit::list_for_org(
            conn,
            org_id,
            &audit::AuditFilter {
                integration_id: Some(id),
                ..Default::default()
            },
            0,
            HISTORY,
        )?,
    }))
}

/// What the page shows of an integration as read.
pub fn detail_view(ctx: &AppContext, read: DetailRead) -> IntegrationDetail {
    let DetailRead {
        row,
        expires_at,
        consents,
        endpoints,
        history,
    } = read;
    let status = row.status;
    let webhooks = crate::integrations::webhook_endpoints::endpoint_views(ctx, &endpoints);
    let can_add_webhook = ctx.catalogue.get(&row.provider_slug).is_some_and(|p| {
        !matches!(
            p.def.webhook_kind,
            crate::domain::WebhookKind::SlackEvents
                | crate::domain::WebhookKind::GoogleChannel
                | crate::domain::WebhookKind::None
        )
    });
    let access = endpoints::features_of(&row.provider_slug)
        .map(|f| FeatureAccess {
            key: f.key,
            label: f.label,
            granted: f.granted_in(&row.granted_scopes),
        })
        .collect();
    IntegrationDetail {
        schedule: Schedule::from_minutes(row.sync_interval_minutes),
        last_sync_at: row.last_sync_at.map(format_time),
        erased: row.external_account_id.starts_with("erased:"),
        webhooks,
        can_add_webhook,
        provider_name: ctx
            .catalogue
            .get(&row.provider_slug)
            .map(|p| p.def.name.clone())
            .unwrap_or_else(|| row.provider_slug.clone()),
        id: row.id,
        provider_slug: row.provider_slug,
        account_id: row.external_account_id,
        account_name: row.external_account_name,
        status,
        status_label: status.label(),
        last_error: row.last_error,
        access,
        granted_scopes: crate::providers::scopes::parse(&row.granted_scopes)
            .map(str::to_owned)
            .collect(),
        connected_at: row.connected_at.map(format_time),
        token_expires_at: expires_at.map(format_time),
        last_refresh_at: row.last_refresh_at.map(format_time),
        next_check_at: row.next_refresh_at.map(format_time),
        can_disconnect: status != IntegrationStatus::Disconnected,
        can_reconnect: matches!(
            status,
            IntegrationStatus::NeedsReauth | IntegrationStatus::Error | IntegrationStatus::Disconnected
        ),
        consents: consents
            .into_iter()
            .map(|c| ConsentView {
                granted_at: format_time(c.granted_at),
                scopes: c.scopes,
                text_version: c.consent_text_version,
                withdrawn_at: c.withdrawn_at.map(format_time),
            })
            .collect(),
        history: history
            .into_iter()
            .map(|e| HistoryEntry {
                at: format_time(e.created_at),
                kind: e.kind,
                outcome: e.outcome,
                actor: e.actor,
                detail: e.detail,
            })
            .collect(),
    }
}
