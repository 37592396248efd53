//! The worker's way through due tokens, a chunk at a time: the chunk's claims are one
//! statement, its send markers one transaction and its new tokens another, and its provider
//! calls run together. Per refresh that is a few statements instead of a dozen round trips,
//! and a commit shared by the chunk. The rules of `maintain` hold unchanged: a token is sent
//! only after its marker is committed, and a result is stored only under that marker.
//! Anything but an ordinary refresh (a send left unanswered, missing credentials, no refresh
//! token, an open breaker) goes through `maintain`, one by one.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use chrono::NaiveDateTime;
use futures_util::FutureExt;
use futures_util::future::join_all;
use secrecy::SecretString;

use super::maintain::{failed, send_marker};
use super::store::{Refreshed, store_all_refreshed};
use super::{Claim, Outcome, claim_due, maintain, record_internal_failure};
use crate::config::ClientCredentials;
use crate::context::AppContext;
use crate::db::integrations::{self, Fence};
use crate::db::{self, DbError};
use crate::domain::IntegrationId;
use crate::integrations::credentials;
use crate::oauth;
use crate::providers::Provider;
use crate::providers::breaker::Admission;

/// What one chunk did: how many of its ids someone else held, and each claimed one's outcome.
pub struct ChunkOutcome {
    pub busy: usize,
    pub outcomes: Vec<Outcome>,
}

/// An ordinary refresh, ready to be marked and sent.
struct Ready<'a> {
    claim: Claim,
    send: Sending<'a>,
}

struct Sending<'a> {
    provider: &'a Provider,
    client: &'a ClientCredentials,
    refresh_token: SecretString,
    marker: String,
    admission: Admission<'a>,
}

/// Claims those of `ids` that are due (ids of one provider, at most its concurrency) and
/// maintains them.
pub async fn refresh_chunk(
    ctx: &AppContext,
    ids: &[IntegrationId],
    now: NaiveDateTime,
) -> Result<ChunkOutcome, DbError> {
    let claims = claim_due(ctx, ids, now).await?;
    let busy = ids.len() - claims.len();
    let (mut ready, mut others) = (Vec::new(), Vec::new());
    for claim in claims {
        match prepare(ctx, &claim, now) {
            Some(send) => ready.push(Ready { claim, send }),
            None => others.push(claim),
        }
    }
    let mut outcomes = Vec::with_capacity(ids.len());

    // Every marker committed before any token is sent.
    let marks: Vec<(IntegrationId, i64, String)> = ready
        .iter()
        .map(|r| (r.claim.row.id, r.claim.generation, r.send.marker.clone()))
        .collect();
    let owner = ctx.instance_id.to_string();
    let marked: Vec<bool> = if marks.is_empty() {
        Vec::new()
    } else {
        ctx.db
            .run(move |conn| {
                db::transaction(conn, |conn| {
                    integrations::mark_refreshes_sent(conn, &owner, &marks, now)
                })
            })
            .await?
    };
    let mut sending = Vec::with_capacity(ready.len());
    for (r, marked) in ready.into_iter().zip(marked) {
        if marked {
            sending.push(r);
        } else {
            outcomes.push(Outcome::Lost);
        }
    }

    let started = Instant::now();
    let answers = join_all(sending.into_iter().map(|r| async move {
        let call = oauth::refresh_token(
            &ctx.http,
            &r.send.provider.def,
            r.send.client,
            &r.send.refresh_token,
        );
        let answer = AssertUnwindSafe(call).catch_unwind().await;
        (r, answer)
    }))
    .await;
    let mut writes = Vec::new();
    for (r, answer) in answers {
        let row = &r.claim.row;
        match answer {
            Ok(Ok(fresh)) => {
                r.send.admission.succeeded();
                let scope = r
                    .claim
                    .stored
                    .as_ref()
                    .map(|s| s.scope.as_str())
                    .unwrap_or_default();
                writes.push(Refreshed::new(
                    ctx,
                    row,
                    &r.send.marker,
                    fresh,
                    &r.send.refresh_token,
                    scope,
                    now,
                    started,
                ));
            }
            Ok(Err(e)) => {
                let fence = Fence::Sent {
                    marker: r.send.marker.clone(),
                };
                outcomes.push(failed(ctx, row, fence, r.send.admission, e, now, started).await?);
            }
            Err(panic) => outcomes.push(panicked(ctx, row.id, panic).await?),
        }
    }
    if !writes.is_empty() {
        outcomes.extend(store_all_refreshed(ctx, writes, now).await?);
    }

    for claim in others {
        outcomes.push(maintain_guarded(ctx, &claim, now).await?);
    }
    Ok(ChunkOutcome { busy, outcomes })
}

/// The claim as an ordinary refresh (nothing sent and unanswered, the provider configured,
/// a refresh token that opens, the provider's breaker admitting a call); `None` leaves it
/// to `maintain`.
fn prepare<'a>(ctx: &'a AppContext, claim: &Claim, now: NaiveDateTime) -> Option<Sending<'a>> {
    if claim.row.refresh_sent.is_some() {
        return None;
    }
    let provider = ctx.catalogue.get(&claim.row.provider_slug)?;
    let (Some(client), Some(stored)) = (&provider.credentials, &claim.stored) else {
        return None;
    };
    let refresh_token = credentials::open(&ctx.keyring, stored).ok()?.refresh_token?;
    let admission = ctx.breakers.admit(&provider.def.slug, now).ok()?;
    Some(Sending {
        marker: send_marker(ctx, &refresh_token),
        provider,
        client,
        refresh_token,
        admission,
    })
}

/// `maintain`, where a panic (a provider's answer we did not foresee) fails this
/// integration's step only: it is logged, and the claim's lease expiring is its backoff
/// before a retry.
async fn maintain_guarded(ctx: &AppContext, claim: &Claim, now: NaiveDateTime) -> Result<Outcome, DbError> {
    match AssertUnwindSafe(maintain(ctx, claim, now)).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => panicked(ctx, claim.row.id, panic).await,
    }
}

async fn panicked(
    ctx: &AppContext,
    id: IntegrationId,
    panic: Box<dyn std::any::Any + Send>,
) -> Result<Outcome, DbError> {
    tracing::error!(integration_id = %id, panic = %panic_text(&panic), "token maintenance panicked; retried after its lease");
    record_internal_failure(ctx, id).await?;
    Ok(Outcome::Retry("internal error".into()))
}

/// A panic's message, bounded for a log line.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    crate::domain::sanitize(&text, 200)
}
