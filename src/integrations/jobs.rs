//! The sync log as a work queue: queued entries are claimed, run by kind, and end succeeded
//! or failed (with the error and the duration), retried with backoff in between.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use futures_util::FutureExt;

use super::directory;
use super::tokens::{self, TokenError};
use crate::context::AppContext;
use crate::db::sync_logs::{self, JobResult, JobRow};
use crate::db::{DbError, integrations};
use crate::domain::{IntegrationId, LogKind, OrgId};
use crate::oauth;
use crate::providers::backoff::backoff;

const RETRY_BASE: Duration = Duration::from_secs(30);
const RETRY_CAP: Duration = Duration::from_secs(60 * 60);

/// Why an attempt failed, and whether another attempt can help.
struct JobFailure {
    error: String,
    retryable: bool,
}

impl JobFailure {
    fn permanent(error: impl Into<String>) -> Self {
        JobFailure {
            error: error.into(),
            retryable: false,
        }
    }

    fn retryable(error: impl Into<String>) -> Self {
        JobFailure {
            error: error.into(),
            retryable: true,
        }
    }
}

/// How an attempt that did not fail ended.
enum Ran {
    Done(String),
    /// A slice of a long job ran; the rest is queued for `after`.
    Continues {
        message: String,
        after: Duration,
    },
}

/// The longest a round keeps claiming jobs, and the budget of one slice of a long job: a
/// round thus hands back to token maintenance within about two slices, whatever is queued.
fn slice_budget(ctx: &AppContext) -> Duration {
    (ctx.settings.worker.lease / 3).min(Duration::from_secs(5))
}

/// How the jobs of a round ended.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobCounts {
    pub succeeded: usize,
    pub retried: usize,
    pub failed: usize,
    /// Slices of long jobs that ran and continue later.
    pub continued: usize,
}

/// Claims the due jobs one by one (until `stopping`) and runs each; counts how they ended.
pub async fn process_due_jobs(
    ctx: &AppContext,
    stopping: &AtomicBool,
    now: NaiveDateTime,
    counts: &mut JobCounts,
) -> Result<(), DbError> {
    let batch = ctx.settings.worker.batch_size;
    let due = ctx
        .db
        .run(move |conn| sync_logs::due_jobs(conn, now, batch))
        .await?;
    let lease =
        chrono::Duration::from_std(ctx.settings.worker.lease).unwrap_or(chrono::Duration::seconds(60));
    let round = Instant::now();
    for id in due {
        if stopping.load(Ordering::SeqCst) || round.elapsed() >= slice_budget(ctx) {
            break;
        }
        let owner = ctx.instance_id.to_string();
        let claimed = ctx
            .db
            .run(move |conn| sync_logs::claim_job(conn, &id, &owner, now, now + lease))
            .await?;
        let Some(job) = claimed else { continue };
        let started = Instant::now();
        // A panic fails this attempt only, retried with backoff like any other failure.
        let outcome = AssertUnwindSafe(run_job(ctx, &job))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!(job_id = %job.id, kind = %job.kind, "job panicked");
                Err(JobFailure::retryable("internal error (the job panicked)"))
            });
        let duration = started.elapsed().as_millis() as i64;
        let (result, metric) = match &outcome {
            Ok(Ran::Done(message)) => (
                JobResult::Succeeded {
                    message: message.clone(),
                },
                "succeeded",
            ),
            Ok(Ran::Continues { message, after }) => (
                JobResult::Continue {
                    message: message.clone(),
                    next_at: crate::db::now() + chrono::Duration::from_std(*after).unwrap_or_default(),
                },
                "continues",
            ),
            Err(failure) if failure.retryable && job.attempts < job.max_attempts => {
                let wait = backoff(job.attempts as u32 - 1, RETRY_BASE, RETRY_CAP, None);
                let next_at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::minutes(1));
                (
                    JobResult::Retry {
                        error: failure.error.clone(),
                        next_at,
                    },
                    "retry",
                )
            }
            Err(failure) => (
                JobResult::Failed {
                    error: failure.error.clone(),
                },
                "failed",
            ),
        };
        ctx.metrics.job_outcome(job.kind.as_str(), metric);
        match metric {
            "succeeded" => counts.succeeded += 1,
            "continues" => counts.continued += 1,
            "retry" => counts.retried += 1,
            _ => counts.failed += 1,
        }
        let (id, owner) = (job.id.clone(), ctx.instance_id.to_string());
        ctx.db
            .run(move |conn| sync_logs::finish_job(conn, &id, &owner, &result, duration, now))
            .await?;
    }
    Ok(())
}

async fn run_job(ctx: &AppContext, job: &JobRow) -> Result<Ran, JobFailure> {
    match job.kind {
        LogKind::Sync => sync_integration(ctx, job).await,
        LogKind::WebhookEvent => crate::integrations::events::process_event(ctx, job)
            .await
            .map(Ran::Done)
            .map_err(|f| JobFailure {
                error: f.error,
                retryable: f.retryable,
            }),
        LogKind::Watch => watch_channel(ctx, job).await.map(Ran::Done),
        other => Err(JobFailure::permanent(format!(
            "no handler for jobs of kind {other:?}"
        ))),
    }
}

/// The integration (and its organization) a job is for.
fn job_target(job: &JobRow) -> Result<(IntegrationId, OrgId), JobFailure> {
    let integration_id = job
        .integration_id
        .ok_or_else(|| JobFailure::permanent("the job names no integration"))?;
    Ok((integration_id, job.org_id))
}

/// Registers the Google watch channels (Calendar and Drive) of a newly connected
/// integration, those it has not got yet.
async fn watch_channel(ctx: &AppContext, job: &JobRow) -> Result<String, JobFailure> {
    use super::google_channels as google;
    let (integration_id, org_id) = job_target(job)?;
    let missing = google::missing_channels(ctx, org_id, integration_id)
        .await
        .map_err(|e| JobFailure::retryable(e.to_string()))?;
    let mut registered = Vec::new();
    for kind in missing {
        match google::watch(ctx, org_id, integration_id, kind, crate::db::now()).await {
            Ok(_) => registered.push(kind.as_str()),
            Err(e) if e.is_transient() => return Err(JobFailure::retryable(e.to_string())),
            Err(e) => return Err(JobFailure::permanent(e.to_string())),
        }
    }
    Ok(match registered.as_slice() {
        [] => "The watch channels are already active".into(),
        kinds => format!("Watch channels registered: {}", kinds.join(", ")),
    })
}

/// A sync: with a fresh token, ask the provider who the connection is, and record it (the
/// account's display name may have changed).
async fn sync_integration(ctx: &AppContext, job: &JobRow) -> Result<Ran, JobFailure> {
    let (integration_id, org_id) = job_target(job)?;
    let provider = ctx
        .catalogue
        .get(&job.provider_slug)
        .ok_or_else(|| JobFailure::permanent("the provider is no longer in the catalogue"))?;
    let token = tokens::fresh_access_token(ctx, org_id, integration_id)
        .await
        .map_err(|e| match e {
            TokenError::Unavailable(reason) => JobFailure::retryable(reason),
            TokenError::Db(e) => JobFailure::retryable(e.to_string()),
            other => JobFailure::permanent(other.to_string()),
        })?;
    let answer = match oauth::check_token(&ctx.http, &provider.def, &token).await {
        Ok(answer) => answer,
        Err(e) if e.is_grant_revoked() => {
            let error = format!("The provider refused the token during a sync ({e}); reconnect.");
            let stored = error.clone();
            ctx.db
                .run(move |conn| {
                    integrations::mark_needs_reauth(conn, integration_id, &stored, crate::db::now())
                })
                .await
                .map_err(|e| JobFailure::retryable(e.to_string()))?;
            return Err(JobFailure::permanent(error));
        }
        Err(e) if e.is_transient() => return Err(JobFailure::retryable(e.to_string())),
        Err(e) => return Err(JobFailure::permanent(e.to_string())),
    };
    let name = oauth::account_name(&provider.def, &answer);
    let skipped = directory::skip_reason(ctx, integration_id, &job.provider_slug)
        .await
        .map_err(|e| JobFailure::retryable(e.to_string()))?;
    let directory = match directory::has_directory(&job.provider_slug) && skipped.is_none() {
        true => sync_directory(ctx, org_id, integration_id).await?,
        false => None,
    };
    let shown = name.clone();
    ctx.db
        .run(move |conn| integrations::record_sync(conn, integration_id, shown.as_deref(), crate::db::now()))
        .await
        .map_err(|e| JobFailure::retryable(e.to_string()))?;
    let mut message = match name {
        Some(name) => format!("Synced: the provider answered for {name}"),
        None => "Synced".to_owned(),
    };
    if let Some(reason) = skipped {
        message.push_str(&format!("; directory skipped: {reason}"));
    }
    let Some(d) = directory else {
        return Ok(Ran::Done(message));
    };
    message.push_str(&format!(
        "; directory ({}{}): {} page(s), {} account(s) written{}",
        d.source,
        if d.incremental { ", changes only" } else { "" },
        d.pages,
        d.written,
        if d.completed {
            format!(", pass complete, {} no longer listed", d.deactivated)
        } else {
            String::new()
        }
    ));
    Ok(match d.more {
        true => Ran::Continues {
            message: format!("{message}; continues"),
            after: ctx.settings.worker.directory_page_interval,
        },
        false => Ran::Done(message),
    })
}

/// The integration's directory: a failed page leaves the checkpoint for the retry (transient
/// failures) or fails the job (the provider refuses); `None` when the connection was not
/// granted the directory (nothing is asked of the provider).
async fn sync_directory(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<Option<directory::SyncOutcome>, JobFailure> {
    use super::provider_api::ApiError;
    match directory::sync_directory_slice(ctx, org, integration, slice_budget(ctx)).await {
        Ok(outcome) => Ok(Some(outcome)),
        Err(directory::DirectoryError::Api(ApiError::MissingScope { .. })) => Ok(None),
        Err(directory::DirectoryError::Db(e)) => Err(JobFailure::retryable(e.to_string())),
        Err(directory::DirectoryError::Api(
            e @ (ApiError::RateLimited { .. } | ApiError::ProviderDown(_) | ApiError::CircuitOpen { .. }),
        )) => Err(JobFailure::retryable(format!("directory: {e}"))),
        Err(directory::DirectoryError::Api(e)) => Err(JobFailure::permanent(format!("directory: {e}"))),
    }
}
