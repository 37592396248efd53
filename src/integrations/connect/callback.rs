//! The callback: the state checked and consumed, the code exchanged, the id_token and the
//! account validated, and the connection stored in one transaction.

use std::time::Instant;

use chrono::Duration;
use secrecy::{ExposeSecret, SecretString};

use super::trail;
use crate::context::AppContext;
use crate::crypto::sha256_hex;
use crate::db::oauth_states::{self, StateRow};
use crate::db::sealed::PKCE_VERIFIER;
use crate::db::sync_logs;
use crate::db::{self, DbConnection, DbError, consents, integrations, webhooks};
use crate::domain::sanitize;
use crate::domain::{AuditOutcome, AuthKind, IntegrationId, LogKind, WebhookKind};
use crate::integrations::credentials;
use crate::oauth::{self, OAuthError};

/// The query of GET /integrations/callback.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
}

/// Why a state is refused. Nothing is written for any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    Missing,
    Unknown,
    Expired,
    AlreadyUsed,
    OtherSession,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("invalid state: {0:?}")]
    InvalidState(StateProblem),
    /// The provider refused, failed or answered wrongly; recorded in the sync log.
    #[error("connecting {provider_name} failed: {reason}")]
    Failed {
        slug: String,
        provider_name: String,
        reason: String,
    },
    /// We refused the connection (e.g. the account is another organization's); recorded
    /// in the sync log, nothing stored.
    #[error("connecting {provider_name} was refused: {reason}")]
    Refused {
        slug: String,
        provider_name: String,
        reason: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why a Slack connection is refused when another organization holds the workspace.
pub const SLACK_WORKSPACE_HELD: &str = "This Slack workspace is already connected to another \
                                        organization in Targetym; it must be disconnected there first.";

pub struct CallbackOutcome {
    pub integration_id: IntegrationId,
    pub provider_name: String,
    pub account_name: String,
}

/// Completes the flow: validates the state, exchanges the code, validates the id_token,
/// learns the account, and stores integration + credentials + log in one transaction.
pub async fn complete_callback(
    ctx: &AppContext,
    params: CallbackParams,
    session_id: Option<&str>,
    source: Option<String>,
) -> Result<CallbackOutcome, CallbackError> {
    let started = Instant::now();
    let state = take_state(ctx, &params, session_id).await?;
    let provider_name = ctx
        .catalogue
        .get(&state.provider_slug)
        .map(|p| p.def.name.clone())
        .unwrap_or_else(|| state.provider_slug.clone());
    match connect_account(ctx, &params, &state).await {
        Ok((tokens, account)) => {
            match store_connection(ctx, &state, tokens, account, started, source.clone()).await? {
                Some(outcome) => {
                    tracing::info!(provider = %state.provider_slug, integration_id = %outcome.integration_id, "connected");
                    Ok(CallbackOutcome {
                        provider_name,
                        ..outcome
                    })
                }
                None => {
                    // The token just obtained is not revoked: a Slack workspace installation
                    // shares one bot token, so revoking it would cut the other organization's
                    // live connection.
                    let reason = SLACK_WORKSPACE_HELD.to_owned();
                    record_failure(ctx, &state, &reason, started, source).await?;
                    Err(CallbackError::Refused {
                        slug: state.provider_slug,
                        provider_name,
                        reason,
                    })
                }
            }
        }
        Err(reason) => {
            tracing::warn!(provider = %state.provider_slug, reason = %reason, "connection failed");
            record_failure(ctx, &state, &reason, started, source).await?;
            Err(CallbackError::Failed {
                slug: state.provider_slug,
                provider_name,
                reason,
            })
        }
    }
}

/// A failed or refused connection in the audit trail.
async fn record_failure(
    ctx: &AppContext,
    state: &StateRow,
    reason: &str,
    started: Instant,
    source: Option<String>,
) -> Result<(), DbError> {
    let state = state.clone();
    let detail = format!(
        "Connection failed ({} ms): {reason}",
        started.elapsed().as_millis()
    );
    ctx.db
        .run(move |conn| {
            trail::record(
                conn,
                &state,
                state.integration_id,
                AuditOutcome::Failed,
                &detail,
                source,
            )
        })
        .await
}

/// Finds and consumes the state; every refusal leaves the database as it was.
async fn take_state(
    ctx: &AppContext,
    params: &CallbackParams,
    session_id: Option<&str>,
) -> Result<StateRow, CallbackError> {
    let raw = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or(CallbackError::InvalidState(StateProblem::Missing))?;
    let hash = sha256_hex(raw.as_bytes());
    let state = ctx
        .db
        .run(move |conn| oauth_states::find_by_hash(conn, &hash))
        .await?
        .ok_or(CallbackError::InvalidState(StateProblem::Unknown))?;
    let now = db::now();
    if state.consumed_at.is_some() {
        return Err(CallbackError::InvalidState(StateProblem::AlreadyUsed));
    }
    if state.expires_at <= now {
        return Err(CallbackError::InvalidState(StateProblem::Expired));
    }
    let binding = session_id.map(|sid| sha256_hex(sid.as_bytes()));
    let same_session = binding.is_some_and(|b| {
        subtle::ConstantTimeEq::ct_eq(b.as_bytes(), state.session_binding.as_bytes()).into()
    });
    if !same_session {
        return Err(CallbackError::InvalidState(StateProblem::OtherSession));
    }
    let id = state.id.clone();
    let consumed = ctx
        .db
        .run(move |conn| oauth_states::consume(conn, &id, now))
        .await?;
    if !consumed {
        return Err(CallbackError::InvalidState(StateProblem::AlreadyUsed));
    }
    Ok(state)
}

/// Everything that talks to the provider. Errors are reasons safe to show and store.
async fn connect_account(
    ctx: &AppContext,
    params: &CallbackParams,
    state: &StateRow,
) -> Result<(oauth::TokenSet, oauth::Account), String> {
    let provider = ctx
        .catalogue
        .get(&state.provider_slug)
        .ok_or_else(|| "the provider is no longer in the catalogue".to_owned())?;
    let credentials = provider
        .credentials
        .as_ref()
        .ok_or_else(|| "the provider is no longer configured".to_owned())?;
    if let Some(error) = &params.error {
        let description = params
            .error_description
            .as_deref()
            .map(|d| format!(": {}", sanitize(d, 300)));
        return Err(format!(
            "the provider answered {}{}",
            sanitize(error, 64),
            description.unwrap_or_default()
        ));
    }
    check_issuer(&provider.def, params.iss.as_deref())?;
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| "the provider sent no authorization code".to_owned())?;
    let verifier = match &state.pkce_verifier {
        Some(sealed) => {
            let plain = ctx
                .keyring
                .open(sealed, &PKCE_VERIFIER.aad(&state.id))
                .map_err(|e| format!("the PKCE verifier: {e}"))?;
            Some(SecretString::from(
                String::from_utf8_lossy(plain.expose_secret()).into_owned(),
            ))
        }
        None => None,
    };
    let reason = |e: OAuthError| e.to_string();
    let tokens = oauth::exchange_code(
        &ctx.http,
        &provider.def,
        credentials,
        code,
        &ctx.redirect_uri(),
        verifier.as_ref(),
    )
    .await
    .map_err(reason)?;
    let claims = match provider.def.auth_kind {
        AuthKind::Oidc => {
            let id_token = tokens
                .id_token
                .as_ref()
                .ok_or_else(|| "the provider sent no id_token".to_owned())?;
            let jwks_url = provider
                .def
                .jwks_url
                .as_deref()
                .ok_or_else(|| "no JWKS URL is configured".to_owned())?;
            let jwks = oauth::fetch_jwks(&ctx.http, &provider.def.slug, jwks_url)
                .await
                .map_err(reason)?;
            let nonce = state
                .nonce
                .as_deref()
                .ok_or_else(|| "the state has no nonce".to_owned())?;
            Some(
                oauth::validate_id_token(id_token, &provider.def, credentials, jwks, nonce)
                    .map_err(reason)?,
            )
        }
        AuthKind::OAuth2 => None,
    };
    let account = oauth::identify(&ctx.http, &provider.def, &tokens, claims.as_ref())
        .await
        .map_err(reason)?;
    Ok((tokens, account))
}

/// RFC 9207: an `iss` sent on the authorization response must be the provider's issuer; a
/// provider that advertises the parameter must send it.
fn check_issuer(
    provider: &crate::providers::catalogue::ProviderDef,
    iss: Option<&str>,
) -> Result<(), String> {
    let expected = provider.issuer.as_deref().filter(|i| !i.contains("{tenantid}"));
    match (iss, expected) {
        (Some(iss), Some(expected)) if iss.trim_end_matches('/') != expected.trim_end_matches('/') => {
            Err("the authorization response came from another issuer (iss mismatch)".into())
        }
        (Some(_), None) if provider.auth_kind == AuthKind::OAuth2 => Ok(()),
        (None, Some(_)) if provider.iss_parameter_supported => {
            Err("the authorization response is missing the iss parameter".into())
        }
        _ => Ok(()),
    }
}

/// Stores the connection in one transaction; `None` (nothing stored) when the account is a
/// Slack workspace another organization holds.
async fn store_connection(
    ctx: &AppContext,
    state: &StateRow,
    tokens: oauth::TokenSet,
    account: oauth::Account,
    started: Instant,
    source: Option<String>,
) -> Result<Option<CallbackOutcome>, CallbackError> {
    let keyring = ctx.keyring.clone();
    let state = state.clone();
    let now = db::now();
    let expires_at = tokens.expires_in.map(|secs| now + Duration::seconds(secs));
    let next_maintenance = crate::integrations::tokens::next_maintenance_at(ctx, expires_at, now);
    let webhook_kind = ctx
        .catalogue
        .get(&state.provider_slug)
        .map(|p| p.def.webhook_kind);
    let watch_channels = webhook_kind == Some(WebhookKind::GoogleChannel);
    let slack_route = webhook_kind == Some(WebhookKind::SlackEvents);
    let route_rate = ctx.settings.webhook_rate_limit_per_minute;
    let team = account.id.clone();
    let outcome = ctx
        .db
        .run(move |conn: &mut DbConnection| {
            db::transaction(conn, |conn| {
                let granted = tokens.scope.clone().unwrap_or_else(|| state.scopes.clone());
                let integration_id = integrations::upsert_connected(
                    conn,
                    &integrations::Connected {
                        org_id: state.org_id,
                        provider_slug: &state.provider_slug,
                        external_account_id: &account.id,
                        external_account_name: &account.name,
                        granted_scopes: &granted,
                        connected_by: state.user_id,
                        next_refresh_at: Some(next_maintenance),
                    },
                )?;
                let bound = !slack_route
                    || webhooks::bind_slack_route(
                        conn,
                        &webhooks::SlackRoute {
                            org_id: state.org_id,
                            integration_id,
                            team_id: &account.id,
                            rate_limit_per_minute: route_rate,
                            at: now,
                        },
                    )?;
                if !bound {
                    return Err(workspace_held_elsewhere());
                }
                let row = credentials::seal(&keyring, integration_id, &tokens, None, &granted, now);
                crate::db::credentials::upsert(conn, &row)?;
                if watch_channels {
                    // The calendar's watch channel is registered by the worker.
                    sync_logs::enqueue(
                        conn,
                        &sync_logs::NewJob {
                            org_id: state.org_id,
                            integration_id: Some(integration_id),
                            provider_slug: &state.provider_slug,
                            kind: LogKind::Watch,
                            message: "Register the calendar watch channel",
                            dedup_key: None,
                            payload: None,
                            max_attempts: crate::db::sync_logs::JOB_MAX_ATTEMPTS,
                        },
                        now,
                    )?;
                }
                if let Some(consent_id) = &state.consent_id {
                    consents::attach_to_integration(conn, consent_id, integration_id)?;
                }
                // Not the account's name: the trail outlives an erasure, so it names no person
                // (the integration row does, until it is erased).
                let detail = format!("Connected ({} ms)", started.elapsed().as_millis());
                trail::record(
                    conn,
                    &state,
                    Some(integration_id),
                    AuditOutcome::Succeeded,
                    &detail,
                    source,
                )?;
                Ok::<_, DbError>(CallbackOutcome {
                    integration_id,
                    provider_name: String::new(),
                    account_name: account.name.clone(),
                })
            })
        })
        .await;
    if slack_route {
        ctx.slack_routes.forget(&team);
    }
    match outcome {
        Ok(outcome) => Ok(Some(outcome)),
        Err(e) if is_workspace_held_elsewhere(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Rolls the connect transaction back without an error of the database: the Slack
/// workspace is another organization's.
fn workspace_held_elsewhere() -> DbError {
    DbError::Query(diesel::result::Error::RollbackTransaction)
}

fn is_workspace_held_elsewhere(e: &DbError) -> bool {
    matches!(e, DbError::Query(diesel::result::Error::RollbackTransaction))
}
