//! Fresh tokens on demand, for API calls: refreshed first when about to expire, shared by
//! concurrent callers.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::{Outcome, claim, maintain, release};
use crate::context::AppContext;
use crate::db::{self, DbError, integrations};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId};
use crate::integrations::credentials;

/// An access token closer than this to its expiry is refreshed before use.
const MIN_REMAINING: chrono::Duration = chrono::Duration::seconds(60);

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
    let lock = ctx.refresh_locks.get(id);
    let _single_flight = lock.lock().await;
    let deadline = Instant::now() + ctx.settings.provider_timeout * 2 + Duration::from_secs(5);
    loop {
        let (row, stored) = ctx
            .db
            .run(move |conn| {
                let row = integrations::find_for_org(conn, org_id, id)?;
                let stored = db::credentials::find(conn, id)?;
                Ok((row, stored))
            })
            .await?;
        let row = row.ok_or(TokenError::NotFound)?;
        let status = row.status;
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
        if let Some(claim) = claim(ctx, row.id, now, false).await? {
            if claim
                .stored
                .as_ref()
                .is_some_and(|now_stored| now_stored.updated_at != stored.updated_at)
            {
                // Another instance refreshed it between our read and our claim.
                release(ctx, row.id).await?;
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
    let lock = ctx.refresh_locks.get(id);
    {
        let _single_flight = lock.lock().await;
        let stored = ctx.db.run(move |conn| db::credentials::find(conn, id)).await?;
        let still_current = stored.as_ref().is_some_and(|row| {
            credentials::open(&ctx.keyring, row)
                .is_ok_and(|open| open.access_token.expose_secret() == rejected.expose_secret())
        });
        if still_current {
            ctx.db
                .run(move |conn| db::credentials::expire_now(conn, id, db::now()))
                .await?;
        }
    }
    fresh_access_token(ctx, org_id, id).await
}
