//! Keeping tokens fresh: one maintenance step per claimed integration (refresh, or validate a
//! token without expiry), and fresh tokens on demand for API calls.
//!
//! A refresh token is never sent twice. Within a process callers of one integration share a
//! single refresh; across processes the claim (a lease in the database) decides who refreshes;
//! and right before sending, the sender records "<owner> <hash of the token>" on the row. A
//! result is stored only by the holder of that record. If the sender dies before storing, the
//! record stays: nobody sends that token again, and the integration asks for a reconnect
//! instead of risking a reuse that strict providers answer by revoking the whole grant.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};

use super::credentials;
use crate::context::AppContext;
use crate::crypto::sha256_hex;
use crate::db::integrations::{self, Fence, MaintenanceResult, MaintenanceRow};
use crate::db::sync_logs::{self, NewSyncLog, kind, status};
use crate::db::{self, DbError};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId};
use crate::oauth::{self, OAuthError};
use crate::providers::backoff::backoff;
use crate::providers::breaker::{Admission, BreakerState};

/// Consecutive failed refreshes after which the integration shows "Error" (it keeps retrying).
const GIVE_UP_AFTER: i32 = 8;
const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(30 * 60);
/// An access token closer than this to its expiry is refreshed before use.
const MIN_REMAINING: chrono::Duration = chrono::Duration::seconds(60);

/// When to look at this token again: before it expires, spread over half the refresh window
/// so that tokens issued together are not refreshed together; without an expiry, at the next
/// validation.
pub fn next_maintenance_at(
    ctx: &AppContext,
    expires_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> NaiveDateTime {
    let worker = &ctx.settings.worker;
    let Some(expires_at) = expires_at else {
        return now
            + chrono::Duration::from_std(worker.validation_interval).unwrap_or(chrono::Duration::hours(6));
    };
    let window = chrono::Duration::from_std(worker.refresh_window).unwrap_or(chrono::Duration::minutes(10));
    let remaining = expires_at - now;
    if remaining < window * 2 {
        // Short-lived tokens: at about half of what is left.
        return now + remaining / 2;
    }
    let spread_ms = rand::thread_rng().gen_range(0..=(window / 2).num_milliseconds().max(0));
    expires_at - window - chrono::Duration::milliseconds(spread_ms)
}

/// What one maintenance step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Refreshed,
    Validated,
    /// Not now (breaker open, someone else's refresh in flight, provider not configured).
    Deferred,
    /// A temporary failure; retried later.
    Retry(String),
    NeedsReauth(String),
    /// The claim was lost meanwhile (another instance took over); nothing was written.
    Lost,
}

impl Outcome {
    pub fn metric(&self) -> &'static str {
        match self {
            Outcome::Refreshed => "refreshed",
            Outcome::Validated => "validated",
            Outcome::Deferred => "deferred",
            Outcome::Retry(_) => "retry",
            Outcome::NeedsReauth(_) => "needs_reauth",
            Outcome::Lost => "lost",
        }
    }
}

/// A claim on one integration, as `integrations::claim` gave it.
pub struct Claim {
    pub integration_id: String,
    pub generation: i64,
}

/// Records in the integration's sync log that its maintenance failed on an internal error
/// (a panic): the claim is left to expire, which is the backoff before the next attempt.
pub async fn record_internal_failure(ctx: &AppContext, integration_id: &str) -> Result<(), DbError> {
    let id = integration_id.to_owned();
    ctx.db
        .run(move |conn| {
            let Some(row) = integrations::find_for_maintenance(conn, &id)? else {
                return Ok(());
            };
            sync_logs::append(
                conn,
                &NewSyncLog {
                    org_id: &row.org_id,
                    integration_id: Some(&row.id),
                    provider_slug: &row.provider_slug,
                    kind: kind::REFRESH,
                    status: status::FAILED,
                    message: "Token maintenance failed on an internal error; it is retried shortly",
                    error: Some("internal error"),
                    actor_user_id: None,
                    duration_ms: None,
                },
            )?;
            Ok(())
        })
        .await
}

/// Claims an integration for this process (`None`: someone else holds it).
pub async fn claim(
    ctx: &AppContext,
    integration_id: &str,
    now: NaiveDateTime,
    only_if_due: bool,
) -> Result<Option<Claim>, DbError> {
    let lease =
        chrono::Duration::from_std(ctx.settings.worker.lease).unwrap_or(chrono::Duration::seconds(60));
    let (id, owner) = (integration_id.to_owned(), ctx.instance_id.to_string());
    let generation = ctx
        .db
        .run(move |conn| integrations::claim(conn, &id, &owner, now, now + lease, only_if_due))
        .await?;
    Ok(generation.map(|generation| Claim {
        integration_id: integration_id.to_owned(),
        generation,
    }))
}

/// One maintenance step of a claimed integration: refresh its token (or validate one
/// without expiry), store the result, release the claim.
pub async fn maintain(ctx: &AppContext, claim: &Claim, now: NaiveDateTime) -> Result<Outcome, DbError> {
    let started = Instant::now();
    let id = claim.integration_id.clone();
    let (row, stored) = ctx
        .db
        .run(move |conn| {
            let row = integrations::find_for_maintenance(conn, &id)?;
            let stored = db::credentials::find(conn, &id)?;
            Ok((row, stored))
        })
        .await?;
    let Some(row) = row else { return Ok(Outcome::Lost) };
    let owner = ctx.instance_id.to_string();
    let under_claim = Fence::Claim {
        owner: &owner,
        generation: claim.generation,
    };
    let provider_timeout = chrono::Duration::from_std(ctx.settings.provider_timeout).unwrap_or_default();

    if let (Some(_), Some(sent_at)) = (&row.refresh_sent, row.refresh_sent_at) {
        // Someone sent a refresh whose answer is not stored.
        if sent_at > now - provider_timeout - chrono::Duration::seconds(5) {
            let next_at = sent_at + provider_timeout + chrono::Duration::seconds(5);
            return finish(
                ctx,
                &row,
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
        return finish(
            ctx,
            &row,
            under_claim,
            MaintenanceResult::NeedsReauth { error },
            Outcome::NeedsReauth(error.into()),
            now,
            started,
        )
        .await;
    }
    let Some(provider) = ctx.catalogue.get(&row.provider_slug) else {
        let error = "The provider is no longer in the catalogue.";
        return finish(
            ctx,
            &row,
            under_claim,
            MaintenanceResult::NeedsReauth { error },
            Outcome::NeedsReauth(error.into()),
            now,
            started,
        )
        .await;
    };
    let (Some(client), Some(stored)) = (&provider.credentials, stored) else {
        let error = "The provider's client credentials or the stored tokens are missing; reconnect.";
        return finish(
            ctx,
            &row,
            under_claim,
            MaintenanceResult::NeedsReauth { error },
            Outcome::NeedsReauth(error.into()),
            now,
            started,
        )
        .await;
    };
    let tokens = match credentials::open(&ctx.keyring, &stored) {
        Ok(tokens) => tokens,
        Err(e) => {
            let error = format!("The stored tokens cannot be decrypted ({e}); reconnect.");
            let result = MaintenanceResult::NeedsReauth { error: &error };
            return finish(
                ctx,
                &row,
                under_claim,
                result,
                Outcome::NeedsReauth(error.clone()),
                now,
                started,
            )
            .await;
        }
    };
    let admission = match ctx.breakers.admit(&provider.def.slug, now) {
        Ok(admission) => admission,
        Err(retry_at) => {
            let result = MaintenanceResult::Deferred { next_at: retry_at };
            return finish(ctx, &row, under_claim, result, Outcome::Deferred, now, started).await;
        }
    };

    let Some(refresh_token) = tokens.refresh_token else {
        if stored.expires_at.is_some_and(|at| at <= now) {
            let error = "The access token expired and the provider gave no refresh token; reconnect.";
            drop(admission);
            return finish(
                ctx,
                &row,
                under_claim,
                MaintenanceResult::NeedsReauth { error },
                Outcome::NeedsReauth(error.into()),
                now,
                started,
            )
            .await;
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
                finish(ctx, &row, under_claim, result, Outcome::Validated, now, started).await
            }
            Err(e) => failed(ctx, &row, under_claim, admission, e, now, started).await,
        };
    };

    // Record the send before sending: from here on nobody else sends this token.
    let marker = format!("{owner} {}", sha256_hex(refresh_token.expose_secret().as_bytes()));
    let (id, marker_write, generation) = (row.id.clone(), marker.clone(), claim.generation);
    let owner_write = owner.clone();
    let marked = ctx
        .db
        .run(move |conn| {
            integrations::mark_refresh_sent(conn, &id, &owner_write, generation, &marker_write, now)
        })
        .await?;
    if !marked {
        return Ok(Outcome::Lost);
    }
    let sent = Fence::Sent { marker: &marker };
    match oauth::refresh_token(&ctx.http, &provider.def, client, &refresh_token).await {
        Ok(fresh) => {
            admission.succeeded();
            store_refreshed(
                ctx,
                &row,
                &marker,
                fresh,
                &refresh_token,
                &stored.scope,
                now,
                started,
            )
            .await
        }
        Err(e) => failed(ctx, &row, sent, admission, e, now, started).await,
    }
}

/// A failed provider call: a revoked grant needs a reconnect; anything else is retried with
/// backoff (and counts against the provider's circuit breaker).
async fn failed(
    ctx: &AppContext,
    row: &MaintenanceRow,
    fence: Fence<'_>,
    admission: Admission<'_>,
    error: OAuthError,
    now: NaiveDateTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let message = error.to_string();
    if error.is_grant_revoked() {
        admission.succeeded();
        let text = format!("The provider refused the token ({message}); reconnect.");
        let result = MaintenanceResult::NeedsReauth { error: &text };
        return finish(
            ctx,
            row,
            fence,
            result,
            Outcome::NeedsReauth(text.clone()),
            now,
            started,
        )
        .await;
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
        error: &message,
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

#[allow(clippy::too_many_arguments)]
async fn store_refreshed(
    ctx: &AppContext,
    row: &MaintenanceRow,
    marker: &str,
    fresh: oauth::TokenSet,
    previous_refresh: &SecretString,
    previous_scope: &str,
    now: NaiveDateTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let granted = fresh.scope.clone().unwrap_or_else(|| previous_scope.to_owned());
    // The new refresh token (or, when the provider sent none, the old one, sealed again under
    // the current key like everything in the row) is stored in the same transaction as the
    // new access token.
    let sealed = credentials::seal(
        &ctx.keyring,
        &row.id,
        &fresh,
        Some(previous_refresh),
        &granted,
        now,
    );
    let next_at = next_maintenance_at(ctx, sealed.expires_at, now);
    let (row_c, marker) = (row.clone(), marker.to_owned());
    let duration = started.elapsed().as_millis() as i64;
    let stored = ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let result = MaintenanceResult::Healthy {
                    next_at,
                    refreshed: true,
                };
                if !integrations::finish_maintenance(
                    conn,
                    &row_c.id,
                    Fence::Sent { marker: &marker },
                    result,
                    now,
                )? {
                    return Ok(false);
                }
                db::credentials::upsert(conn, &sealed)?;
                sync_logs::append(
                    conn,
                    &NewSyncLog {
                        org_id: &row_c.org_id,
                        integration_id: Some(&row_c.id),
                        provider_slug: &row_c.provider_slug,
                        kind: kind::REFRESH,
                        status: status::SUCCEEDED,
                        message: "Access token refreshed",
                        error: None,
                        actor_user_id: None,
                        duration_ms: Some(duration),
                    },
                )?;
                Ok(true)
            })
        })
        .await?;
    let outcome = if stored { Outcome::Refreshed } else { Outcome::Lost };
    ctx.metrics.refresh_outcome(&row.provider_slug, outcome.metric());
    Ok(outcome)
}

/// Stores a maintenance result (with a sync-log entry for failures) and releases the claim.
async fn finish(
    ctx: &AppContext,
    row: &MaintenanceRow,
    fence: Fence<'_>,
    result: MaintenanceResult<'_>,
    outcome: Outcome,
    now: NaiveDateTime,
    started: Instant,
) -> Result<Outcome, DbError> {
    let fence = match fence {
        Fence::Claim { owner, generation } => OwnedFence::Claim(owner.to_owned(), generation),
        Fence::Sent { marker } => OwnedFence::Sent(marker.to_owned()),
    };
    let result = OwnedResult::from(result);
    let (row_c, outcome_c) = (row.clone(), outcome.clone());
    let duration = started.elapsed().as_millis() as i64;
    let written = ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                if !integrations::finish_maintenance(conn, &row_c.id, fence.borrow(), result.borrow(), now)? {
                    return Ok(false);
                }
                let (log_kind, log_status, message, error) = match &outcome_c {
                    Outcome::Validated => (
                        kind::VALIDATE,
                        status::SUCCEEDED,
                        "The provider still accepts the token",
                        None,
                    ),
                    Outcome::Retry(e) => (
                        kind::REFRESH,
                        status::FAILED,
                        "Token refresh failed; retrying later",
                        Some(e.as_str()),
                    ),
                    Outcome::NeedsReauth(e) => (
                        kind::REFRESH,
                        status::FAILED,
                        "Reconnect needed",
                        Some(e.as_str()),
                    ),
                    _ => return Ok(true),
                };
                sync_logs::append(
                    conn,
                    &NewSyncLog {
                        org_id: &row_c.org_id,
                        integration_id: Some(&row_c.id),
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

/// Owned forms of the write arguments, to move them onto the blocking pool.
enum OwnedFence {
    Claim(String, i64),
    Sent(String),
}

impl OwnedFence {
    fn borrow(&self) -> Fence<'_> {
        match self {
            OwnedFence::Claim(owner, generation) => Fence::Claim {
                owner,
                generation: *generation,
            },
            OwnedFence::Sent(marker) => Fence::Sent { marker },
        }
    }
}

enum OwnedResult {
    Healthy {
        next_at: NaiveDateTime,
        refreshed: bool,
    },
    Retry {
        next_at: NaiveDateTime,
        failures: i32,
        error: String,
        give_up: bool,
    },
    NeedsReauth {
        error: String,
    },
    Deferred {
        next_at: NaiveDateTime,
    },
}

impl From<MaintenanceResult<'_>> for OwnedResult {
    fn from(result: MaintenanceResult<'_>) -> Self {
        match result {
            MaintenanceResult::Healthy { next_at, refreshed } => OwnedResult::Healthy { next_at, refreshed },
            MaintenanceResult::Retry {
                next_at,
                failures,
                error,
                give_up,
            } => OwnedResult::Retry {
                next_at,
                failures,
                error: error.to_owned(),
                give_up,
            },
            MaintenanceResult::NeedsReauth { error } => OwnedResult::NeedsReauth {
                error: error.to_owned(),
            },
            MaintenanceResult::Deferred { next_at } => OwnedResult::Deferred { next_at },
        }
    }
}

impl OwnedResult {
    fn borrow(&self) -> MaintenanceResult<'_> {
        match self {
            OwnedResult::Healthy { next_at, refreshed } => MaintenanceResult::Healthy {
                next_at: *next_at,
                refreshed: *refreshed,
            },
            OwnedResult::Retry {
                next_at,
                failures,
                error,
                give_up,
            } => MaintenanceResult::Retry {
                next_at: *next_at,
                failures: *failures,
                error,
                give_up: *give_up,
            },
            OwnedResult::NeedsReauth { error } => MaintenanceResult::NeedsReauth { error },
            OwnedResult::Deferred { next_at } => MaintenanceResult::Deferred { next_at: *next_at },
        }
    }
}

async fn refreshed_meanwhile(ctx: &AppContext, id: &str, seen: NaiveDateTime) -> Result<bool, DbError> {
    let id = id.to_owned();
    let current = ctx.db.run(move |conn| db::credentials::find(conn, &id)).await?;
    Ok(current.is_some_and(|c| c.updated_at != seen))
}

async fn release(ctx: &AppContext, id: &str) -> Result<(), DbError> {
    let (id, owner) = (id.to_owned(), ctx.instance_id.to_string());
    ctx.db
        .run(move |conn| integrations::release(conn, &id, &owner))
        .await
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no such integration")]
    NotFound,
    /// The integration must be connected again; the reason is for the admin.
    #[error("{0}")]
    NeedsReconnect(String),
    /// The provider is failing or another instance's refresh did not finish in time.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A usable access token for an integration of the organization, refreshed first when it is
/// about to expire. Concurrent callers share one refresh, in this process and across
/// processes.
pub async fn fresh_access_token(
    ctx: &AppContext,
    org_id: OrgId,
    id: IntegrationId,
) -> Result<SecretString, TokenError> {
    let lock = ctx.refresh_locks.get(&id.to_text());
    let _single_flight = lock.lock().await;
    let deadline = Instant::now() + ctx.settings.provider_timeout * 2 + Duration::from_secs(5);
    loop {
        let (org, integration) = (org_id.to_text(), id.to_text());
        let (row, stored) = ctx
            .db
            .run(move |conn| {
                let row = integrations::find_for_org(conn, &org, &integration)?;
                let stored = db::credentials::find(conn, &integration)?;
                Ok((row, stored))
            })
            .await?;
        let row = row.ok_or(TokenError::NotFound)?;
        let status = IntegrationStatus::parse(&row.status).unwrap_or(IntegrationStatus::Error);
        if !status.is_live() && status != IntegrationStatus::Error {
            return Err(TokenError::NeedsReconnect(
                row.last_error
                    .unwrap_or_else(|| format!("The integration is {}.", status.label())),
            ));
        }
        let stored =
            stored.ok_or_else(|| TokenError::NeedsReconnect("No token is stored; reconnect.".into()))?;
        let now = db::now();
        let fresh_enough = stored.expires_at.is_none_or(|at| at - now > MIN_REMAINING);
        if fresh_enough {
            let tokens = credentials::open(&ctx.keyring, &stored).map_err(|e| {
                TokenError::NeedsReconnect(format!("The stored token cannot be decrypted ({e})."))
            })?;
            return Ok(tokens.access_token);
        }
        if let Some(claim) = claim(ctx, &row.id, now, false).await? {
            if refreshed_meanwhile(ctx, &row.id, stored.updated_at).await? {
                // Another instance refreshed it between our read and our claim.
                release(ctx, &row.id).await?;
                continue;
            }
            match maintain(ctx, &claim, now).await? {
                Outcome::Refreshed | Outcome::Validated | Outcome::Lost => continue,
                Outcome::NeedsReauth(reason) => return Err(TokenError::NeedsReconnect(reason)),
                Outcome::Retry(reason) => return Err(TokenError::Unavailable(reason)),
                Outcome::Deferred => {}
            }
        }
        // Another instance (or the worker) is refreshing it: wait for its result.
        if Instant::now() >= deadline {
            return Err(TokenError::Unavailable(
                "The token is being refreshed elsewhere and did not become ready in time.".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// After the provider refused `rejected` (HTTP 401), refreshes the token once even if it did
/// not look expired; concurrent callers that saw the same token share that one refresh.
pub async fn force_refresh(
    ctx: &AppContext,
    org_id: OrgId,
    id: IntegrationId,
    rejected: &SecretString,
) -> Result<SecretString, TokenError> {
    let lock = ctx.refresh_locks.get(&id.to_text());
    {
        let _single_flight = lock.lock().await;
        let integration = id.to_text();
        let stored = ctx
            .db
            .run(move |conn| db::credentials::find(conn, &integration))
            .await?;
        let still_current = stored.as_ref().is_some_and(|row| {
            credentials::open(&ctx.keyring, row)
                .is_ok_and(|open| open.access_token.expose_secret() == rejected.expose_secret())
        });
        if still_current {
            let integration = id.to_text();
            ctx.db
                .run(move |conn| db::credentials::expire_now(conn, &integration, db::now()))
                .await?;
        }
    }
    fresh_access_token(ctx, org_id, id).await
}
