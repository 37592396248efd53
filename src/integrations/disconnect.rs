//! Disconnect: stop the integration's Google watch channels and revoke at the provider where
//! it offers it (both while the token still works), then forget the tokens and stop every
//! webhook endpoint, channel and Slack route of it. A failing revocation does not block the
//! local disconnect; it is recorded.

use std::time::Instant;

use super::credentials;
use crate::accounts::Admin;
use crate::context::AppContext;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::{self, DbError, consents, integrations, webhooks};
use crate::domain::{AuditKind, IntegrationId, IntegrationStatus, WebhookKind};

pub struct DisconnectOutcome {
    pub provider_name: String,
    pub account_name: String,
    /// None: revoked (or nothing to revoke); Some: why the revocation failed.
    pub revocation_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DisconnectError {
    #[error("no such integration")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

pub async fn disconnect(
    ctx: &AppContext,
    admin: &Admin,
    id: IntegrationId,
) -> Result<DisconnectOutcome, DisconnectError> {
    let started = Instant::now();
    let org = admin.org_id;
    let (row, stored) = ctx
        .db
        .run(move |conn| {
            let row = integrations::find_for_org(conn, org, id)?;
            let stored = crate::db::credentials::find(conn, id)?;
            Ok((row, stored))
        })
        .await?;
    let row = row
        .filter(|r| r.status != IntegrationStatus::Disconnected)
        .ok_or(DisconnectError::NotFound)?;
    let provider = ctx.catalogue.get(&row.provider_slug);
    let provider_name = provider
        .map(|p| p.def.name.clone())
        .unwrap_or_else(|| row.provider_slug.clone());

    crate::integrations::google_channels::stop_channels_of(ctx, admin.org_id, id).await?;
    let revocation = revoke_stored(ctx, &row.provider_slug, stored).await;
    let revocation_error = revocation.as_ref().err().cloned();
    if let Some(reason) = &revocation_error {
        tracing::warn!(integration_id = %row.id, reason = %reason, "revocation failed; disconnecting locally");
    }
    let message = match &revocation {
        Ok(how) => format!("Disconnected by an admin; {how}"),
        Err(_) => "Disconnected by an admin; revoking the token at the provider failed".to_owned(),
    };
    let actor = admin.actor();
    let logged_row = row.clone();
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let now = db::now();
                crate::db::credentials::delete(conn, logged_row.id)?;
                integrations::mark_disconnected(conn, logged_row.id, now)?;
                webhooks::stop_for_integration(conn, logged_row.id, now)?;
                if consents::withdraw_for_integration(conn, logged_row.id, now)? > 0 {
                    audit::append(
                        conn,
                        &NewAuditEvent::new(
                            org,
                            AuditKind::Consent,
                            &actor,
                            "Consent withdrawn (disconnected)",
                        )
                        .about(logged_row.id, &logged_row.provider_slug),
                    )?;
                }
                let detail = format!(
                    "{message} ({} ms){}",
                    started.elapsed().as_millis(),
                    revocation_error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                );
                audit::append(
                    conn,
                    &NewAuditEvent::new(org, AuditKind::Disconnect, &actor, &detail)
                        .about(logged_row.id, &logged_row.provider_slug),
                )?;
                Ok::<_, DbError>(())
            })
        })
        .await?;
    if ctx.catalogue.webhook_kind(&row.provider_slug) == WebhookKind::SlackEvents {
        ctx.slack_routes.forget(&row.external_account_id);
    }
    tracing::info!(integration_id = %row.id, provider = %row.provider_slug, "disconnected");
    Ok(DisconnectOutcome {
        provider_name,
        account_name: row.external_account_name,
        revocation_error: revocation.err(),
    })
}

/// Revokes stored tokens at the provider, its way. `Ok(what happened)`, or why it failed.
pub(super) async fn revoke_stored(
    ctx: &AppContext,
    provider_slug: &str,
    stored: Option<crate::db::credentials::CredentialRow>,
) -> Result<&'static str, String> {
    let (Some(provider), Some(stored)) = (ctx.catalogue.get(provider_slug), stored) else {
        return Ok("no token was stored");
    };
    let client = provider
        .credentials
        .as_ref()
        .ok_or("the provider is no longer configured")?;
    let tokens = credentials::open(&ctx.keyring, &stored)
        .map_err(|e| format!("the stored token could not be read: {e}"))?;
    let revoked = crate::oauth::revoke(
        &ctx.http,
        &provider.def,
        client,
        &tokens.access_token,
        tokens.refresh_token.as_ref(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(if revoked {
        "the token was revoked at the provider"
    } else {
        "the provider offers no revocation"
    })
}
