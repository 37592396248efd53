//! What admins do with webhooks: add an endpoint for an integration (its URL and signing
//! secret, shown once), see the counters, replay a stored event.

use crate::accounts::Admin;
use crate::context::AppContext;
use crate::db::sync_logs::EventOwner;
use crate::db::webhooks::{self, WebhookRow};
use crate::db::{self, DbError, audit, integrations, sync_logs};
use crate::domain::{AuditKind, IntegrationId, OrgId, WebhookKind, WebhookStatus};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("no such integration")]
    NotFound,
    /// A sentence for the form.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A new endpoint: where the provider must send, and the secret to give it (when we made one).
pub struct CreatedEndpoint {
    pub url: String,
    pub secret: Option<String>,
    pub instructions: &'static str,
}

/// One endpoint as the integration's page lists it.
pub struct EndpointView {
    pub id: String,
    pub url: String,
    /// Asana, Notion: an admin can reset the first-use handshake.
    pub resettable: bool,
    pub status: WebhookStatus,
    pub received: i64,
    pub rejected: i64,
    /// Acknowledged but not stored: delivered after the endpoint was stopped.
    pub dropped: i64,
    pub last_event_at: Option<String>,
    pub expires_at: Option<String>,
}

pub fn endpoint_url(ctx: &AppContext, row: &WebhookRow) -> String {
    match ctx.catalogue.webhook_kind(&row.provider_slug) {
        WebhookKind::SlackEvents | WebhookKind::GoogleChannel => {
            format!("{}/api/webhooks/{}", ctx.public_url, row.provider_slug)
        }
        _ => format!("{}/api/webhooks/{}/{}", ctx.public_url, row.provider_slug, row.id),
    }
}

/// The provider's scheme decides where the secret comes from.
fn secret_source(kind: WebhookKind) -> Option<(bool, &'static str)> {
    // (we generate it, what the admin does)
    match kind {
        WebhookKind::GithubSignature | WebhookKind::JiraHubSignature => Some((
            true,
            "Add a webhook with this URL and secret in the provider's settings.",
        )),
        WebhookKind::GraphSubscription => Some((
            true,
            "Use this URL as notificationUrl and the secret as clientState.",
        )),
        WebhookKind::LinearSignature | WebhookKind::ZoomSignature => Some((
            false,
            "Create the webhook at the provider with this URL, then paste its signing secret here.",
        )),
        WebhookKind::DropboxSignature => Some((
            false,
            "Set this URL in the Dropbox App Console; paste the app secret.",
        )),
        WebhookKind::AsanaHook | WebhookKind::NotionSignature => Some((
            false,
            "Register this URL at the provider; its handshake sets the signing secret.",
        )),
        WebhookKind::SlackEvents | WebhookKind::GoogleChannel | WebhookKind::None => None,
    }
}

pub async fn create_endpoint(
    ctx: &AppContext,
    admin: &Admin,
    integration: IntegrationId,
    pasted_secret: Option<&str>,
) -> Result<CreatedEndpoint, EndpointError> {
    let org = admin.org_id;
    let row = ctx
        .db
        .run(move |conn| integrations::find_for_org(conn, org, integration))
        .await?
        .ok_or(EndpointError::NotFound)?;
    let provider = ctx
        .catalogue
        .get(&row.provider_slug)
        .ok_or(EndpointError::NotFound)?;
    let (generated, instructions) = secret_source(provider.def.webhook_kind).ok_or_else(|| {
        EndpointError::Invalid(format!(
            "{} webhooks are set up automatically; there is nothing to add.",
            provider.def.name
        ))
    })?;
    let pasted = pasted_secret.map(str::trim).filter(|s| !s.is_empty());
    if pasted.is_some_and(|s| s.len() > 256) {
        return Err(EndpointError::Invalid(
            "The signing secret is longer than 256 characters.".into(),
        ));
    }
    let handshake = has_handshake(ctx, &row.provider_slug);
    let secret = match (pasted, generated, handshake) {
        (Some(secret), _, _) => Some(secret.to_owned()),
        (None, true, _) => Some(crate::crypto::random_token(32)),
        (None, false, true) => None,
        (None, false, false) => {
            return Err(EndpointError::Invalid(format!(
                "Paste the signing secret {} gave you.",
                provider.def.name
            )));
        }
    };
    let now = db::now();
    let webhook_id = uuid::Uuid::new_v4().to_string();
    let endpoint = WebhookRow {
        secret: secret
            .as_ref()
            .map(|s| crate::webhooks::seal_secret(ctx, &webhook_id, s.as_bytes())),
        key_id: secret.as_ref().map(|_| ctx.keyring.current_key_id()),
        external_id: webhook_id.clone(),
        id: webhook_id,
        org_id: admin.org_id,
        integration_id: Some(row.id),
        provider_slug: row.provider_slug.clone(),
        resource_id: None,
        status: WebhookStatus::Active,
        expires_at: None,
        received_count: 0,
        rejected_count: 0,
        last_event_at: None,
        rate_limit_per_minute: ctx.settings.webhook_rate_limit_per_minute,
        created_at: now,
        updated_at: now,
        channel_kind: None,
        dropped_count: 0,
        // The handshake window opens now for a secret the provider will send.
        handshake_opened_at: (handshake && secret.is_none()).then_some(now),
    };
    let url = endpoint_url(ctx, &endpoint);
    let actor = admin.actor();
    let how = match (pasted, &secret) {
        (Some(_), _) => "with the signing secret pasted",
        (None, Some(_)) => "with a generated signing secret",
        (None, None) => "taking its secret from the provider's first request",
    };
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                webhooks::insert(conn, &endpoint)?;
                let detail = format!("Webhook endpoint {} added, {how}", endpoint.id);
                let integration = endpoint
                    .integration_id
                    .expect("an admin's endpoint has its integration");
                audit::append(
                    conn,
                    &audit::NewAuditEvent::new(endpoint.org_id, AuditKind::WebhookEndpoint, &actor, &detail)
                        .about(integration, &endpoint.provider_slug),
                )
                .map(drop)
            })
        })
        .await?;
    Ok(CreatedEndpoint {
        url,
        secret: secret.filter(|_| pasted.is_none()),
        instructions,
    })
}

pub async fn list_endpoints(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<Vec<EndpointView>, DbError> {
    let rows = ctx
        .db
        .run(move |conn| webhooks::list_for_integration(conn, org, integration))
        .await?;
    Ok(endpoint_views(ctx, &rows))
}

/// What the integration page shows of its endpoints.
pub(crate) fn endpoint_views(ctx: &AppContext, rows: &[webhooks::WebhookRow]) -> Vec<EndpointView> {
    let format = crate::domain::format_time;
    rows.iter()
        .map(|row| EndpointView {
            id: row.id.clone(),
            url: endpoint_url(ctx, row),
            resettable: row.status == WebhookStatus::Active && has_handshake(ctx, &row.provider_slug),
            status: row.status,
            received: row.received_count,
            rejected: row.rejected_count,
            dropped: row.dropped_count,
            last_event_at: row.last_event_at.map(format),
            expires_at: row.expires_at.map(format),
        })
        .collect()
}

/// Whether the provider sets the signing secret in a first-use handshake (Asana, Notion).
fn has_handshake(ctx: &AppContext, provider: &str) -> bool {
    ctx.catalogue.get(provider).is_some_and(|p| {
        matches!(
            p.def.webhook_kind,
            WebhookKind::AsanaHook | WebhookKind::NotionSignature
        )
    })
}

/// Forgets an endpoint's handshake secret and opens a new window of
/// [`crate::webhooks::HANDSHAKE_WINDOW`] for the provider's next handshake; logged.
pub async fn reset_handshake(
    ctx: &AppContext,
    admin: &Admin,
    integration: IntegrationId,
    webhook_id: &str,
) -> Result<(), EndpointError> {
    let webhook_id = uuid::Uuid::parse_str(webhook_id)
        .map_err(|_| EndpointError::NotFound)?
        .to_string();
    let (org, id, actor) = (admin.org_id, integration, admin.actor());
    let endpoint = ctx
        .db
        .run({
            let webhook_id = webhook_id.clone();
            move |conn| {
                webhooks::find_by_id(conn, &webhook_id)
                    .map(|row| row.filter(|row| row.org_id == org && row.integration_id == Some(id)))
            }
        })
        .await?
        .filter(|row| has_handshake(ctx, &row.provider_slug))
        .ok_or(EndpointError::NotFound)?;
    let reset = ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let now = db::now();
                if !webhooks::reset_handshake(conn, org, id, &webhook_id, now)? {
                    return Ok(false);
                }
                audit::append(
                    conn,
                    &audit::NewAuditEvent::new(
                        org,
                        AuditKind::WebhookReset,
                        &actor,
                        "Webhook handshake reset by an admin; a new secret is accepted for 10 minutes",
                    )
                    .about(id, &endpoint.provider_slug),
                )?;
                Ok(true)
            })
        })
        .await?;
    if !reset {
        return Err(EndpointError::NotFound);
    }
    tracing::info!(webhook_id = %endpoint.id, "webhook handshake reset");
    Ok(())
}

/// Queues a stored event again (the same entry: no duplicate). `false` when there is no such
/// finished event (of this organization's integration, when one is given).
pub async fn replay(
    ctx: &AppContext,
    owner: Option<(OrgId, IntegrationId)>,
    event_id: &str,
) -> Result<bool, DbError> {
    let owner = owner.map(|(org_id, integration_id)| EventOwner {
        org_id,
        integration_id,
    });
    let id = event_id.to_owned();
    ctx.db
        .run(move |conn| sync_logs::requeue_event(conn, &id, owner, db::now()))
        .await
}
