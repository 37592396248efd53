//! One maintenance step of a claimed integration, and how its result is stored.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use secrecy::{ExposeSecret, SecretString};

use super::store::{Refreshed, store_all_refreshed};
use super::{Claim, Outcome, next_maintenance_at};
use crate::context::AppContext;
use crate::crypto::sha256_hex;
use crate::db::integrations::{self, Fence, MaintenanceResult, MaintenanceRow};
use crate::db::sync_logs::{self, NewSyncLog};
use crate::db::{self, DbError};
use crate::domain::{LogKind, LogStatus};
use crate::integrations::credentials;
use crate::oauth::{self, OAuthError};
use crate::providers::backoff::backoff;
use crate::providers::breaker::{Admission, BreakerState};

/// Consecutive failed refreshes after which the integration shows "Error" (it keeps retrying).
const GIVE_UP_AFTER: i32 = 8;
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(30 * 60);

/// One maintenance step of a claimed integration: refresh its token (or validate one
/// without expiry), store the result, release the claim.
pub async fn maintain(ctx: &AppContext, claim: &Claim, now: NaiveDateTime) -> Result<Outcome, DbError> {
    let started = Instant::now();
    let (row, stored) = (&claim.row, claim.stored.clone());
    let owner = ctx.instance_id.to_string();
    let under_claim = Fence::Claim {
        owner: owner.clone(),
        generation: claim.generation,
    };
    let provider_timeout = chrono::Duration::from_std(ctx.settings.provider_timeout).unwrap_or_default();

    if let (Some(_), Some(sent_at)) = (&row.refresh_sent, row.refresh_sent_at) {
        // Someone sent a refresh whose answer is not stored.
        if sent_at > now - provider_timeout - chrono::Duration::seconds(5) {
            let next_at = sent_at + provider_timeout + chrono::Duration::seconds(5);
            return finish(
                ctx,
                row,
                under_claim,
                MaintenanceResult::Deferred { next_at },
                Outcome::Deferred,
                now,
                started,
            )
            .await;
        }
        let error = "A token refresh was interrupted before its answer was stored. To avoid sending the same \
                     refresh token twice (which makes providers revoke access), reconnect this integration.";
        return needs_reauth(ctx, row, under_claim, error.into(), now, started).await;
    }
    let Some(provider) = ctx.catalogue.get(&row.provider_slug) else {
        let error = "The provider is no longer in the catalogue.";
        return needs_reauth(ctx, row, under_claim, error.into(), now, started).await;
    };
    let (Some(client), Some(stored)) = (&provider.credentials, stored) else {
        let error = "The provider's client credentials or the stored tokens are missing; reconnect.";
        return needs_reauth(ctx, row, under_claim, error.into(), now, started).await;
    };
    let tokens = match credentials::open(&ctx.keyring, &stored) {
        Ok(tokens) => tokens,
        Err(e) => {
            let error = format!("The stored tokens cannot be decrypted ({e}); reconnect.");
            return needs_reauth(ctx, row, under_claim, error, now, started).await;
        }
    };
    let admission = match ctx.breakers.admit(&provider.def.slug, now) {
        Ok(admission) => admission,
        Err(retry_at) => {
            let result = MaintenanceResult::Deferred { next_at: retry_at };
            return finish(ctx, row, under_claim, result, Outcome::Deferred, now, started).await;
        }
    };

    let Some(refresh_token) = tokens.refresh_token else {
        if stored.expires_at.is_some_and(|at| at <= now) {
            let error = "The access token expired and the provider gave no refresh token; reconnect.";
            drop(admission);
            return needs_reauth(ctx, row, under_claim, error.into(), now, started).await;
        }
        // No refresh token: make sure the provider still accepts the access token.
        let checked = oauth::check_token(&ctx.http, &provider.def, &tokens.access_token).await;
        return match checked {
            Ok(_) => {
                admission.succeeded();
                let next_at = match stored.expires_at {
                    Some(expires_at) => expires_at.min(next_maintenance_at(ctx, None, now)),
                    None => next_maintenance_at(ctx, None, now),
                };
                let result = MaintenanceResult::Healthy {
                    next_at,
                    refreshed: false,
                };
                finish(ctx, row, under_claim, result, Outcome::Validated, now, started).await
            }
            Err(e) => failed(ctx, row, under_claim, admission, e, now, started).await,
        };
    };

    // Record the send before sending: from here on nobody else sends this token.
    let marker = send_marker(ctx, &refresh_token);
    let (id, marker_write, generation) = (row.id, marker.clone(), claim.generation);
    let owner_write = owner.clone();
    let marked = ctx
        .db
        .run(move |conn| {
            integrations::mark_refresh_sent(conn, id, &owner_write, generation, &marker_write, now)
        })
        .await?;
    if !marked {
        return Ok(Outcome::Lost);
    }
    let sent = Fence::Sent {
        marker: marker.clone(),
    };
    match oauth::refresh_token(&ctx.http, &provider.def, client, &refresh_token).await {
        Ok(fresh) => {
            admission.succeeded();
            let write = Refreshed::new(
                ctx,
                row,
                &marker,
                fresh,
                &refresh_token,
                &stored.scope,
                now,
                started,
            );
            let mut outcomes = store_all_refreshed(ctx, vec![write], now).await?;
            Ok(outcomes.remove(0))
        }
        Err(e) => failed(ctx, row, sent, admission, e, now, started).await,
    }
}

/// What a sender records right before sending a refresh token: who sends which token.
pub(super) fn send_marker(ctx: &AppContext, refresh_token: &SecretString) -> String {
    let hash = sha256_hex(refresh_token.expose_secret().as_bytes());
    format!("{} {hash}", ctx.instance_id)
}

/// A failed provider call: a revoked grant needs a reconnect; anything else is retried with
/// backoff (and counts against the provider's circuit breaker).
pub(super) async fn failed(
    ctx: &AppContext,
    row: &MaintenanceRow,
    fence: Fence,
    admission: Admission<'_>,
    error: OAuthError,
    now: NaiveDateTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let message = error.to_string();
    if error.is_grant_revoked() {
        admission.succeeded();
        let text = format!("The provider refused the token ({message}); reconnect.");
        return needs_reauth(ctx, row, fence, text, now, started).await;
    }
    let state = admission.failed(now);
    let failures = row.refresh_failures + 1;
    let wait = backoff(failures as u32 - 1, RETRY_BASE, RETRY_CAP, error.retry_after());
    let mut next_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1));
    if let BreakerState::Open { until } = state {
        next_at = next_at.max(until);
    }
    let result = MaintenanceResult::Retry {
        next_at,
        failures,
        error: message.clone(),
        give_up: failures >= GIVE_UP_AFTER,
    };
    finish(
        ctx,
        row,
        fence,
        result,
        Outcome::Retry(message.clone()),
        now,
        started,
    )
    .await
}

/// The grant is unusable: stores that an admin must reconnect, and why.
async fn needs_reauth(
    ctx: &AppContext,
    row: &MaintenanceRow,
    fence: Fence,
    error: String,
    now: NaiveDateTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let result = MaintenanceResult::NeedsReauth { error: error.clone() };
    finish(ctx, row, fence, result, Outcome::NeedsReauth(error), now, started).await
}

/// Stores a maintenance result (with a sync-log entry for failures) and releases the claim.
async fn finish(
    ctx: &AppContext,
    row: &MaintenanceRow,
    fence: Fence,
    result: MaintenanceResult,
    outcome: Outcome,
    now: NaiveDateTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let (row_c, outcome_c) = (row.clone(), outcome.clone());
    let duration = started.elapsed().as_millis() as i64;
    let written = ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                if !integrations::finish_maintenance(conn, row_c.id, &fence, &result, now)? {
                    return Ok(false);
                }
                let (log_kind, log_status, message, error) = match &outcome_c {
                    Outcome::Validated => (
                        LogKind::Validate,
                        LogStatus::Succeeded,
                        "The provider still accepts the token",
                        None,
                    ),
                    Outcome::Retry(e) => (
                        LogKind::Refresh,
                        LogStatus::Failed,
                        "Token refresh failed; retrying later",
                        Some(e.as_str()),
                    ),
                    Outcome::NeedsReauth(e) => (
                        LogKind::Refresh,
                        LogStatus::Failed,
                        "Reconnect needed",
                        Some(e.as_str()),
                    ),
                    _ => return Ok(true),
                };
                sync_logs::append(
                    conn,
                    &NewSyncLog {
                        org_id: row_c.org_id,
                        integration_id: Some(row_c.id),
                        provider_slug: &row_c.provider_slug,
                        kind: log_kind,
                        status: log_status,
                        message,
                        error,
                        actor_user_id: None,
                        duration_ms: Some(duration),
                    },
                )?;
                Ok(true)
            })
        })
        .await?;
    let outcome = if written { outcome } else { Outcome::Lost };
    ctx.metrics.refresh_outcome(&row.provider_slug, outcome.metric());
    if let Outcome::NeedsReauth(reason) = &outcome {
        tracing::warn!(integration_id = %row.id, provider = %row.provider_slug, reason = %reason, "integration needs a reconnect");
    }
    Ok(outcome)
}
