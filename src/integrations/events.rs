//! What a stored webhook event means, run by the worker as a queued job: e.g. a Slack
//! workspace that uninstalled the app needs a reconnect, a changed Google calendar gets a
//! sync.

use serde_json::Value;

use crate::context::AppContext;
use crate::db::sync_logs::{self, JobRow, NewJob};
use crate::db::{self, DbError, integrations, sealed};
use crate::domain::{LogKind, WebhookKind};

pub struct ProcessFailure {
    pub error: String,
    pub retryable: bool,
}

impl From<DbError> for ProcessFailure {
    fn from(e: DbError) -> Self {
        ProcessFailure {
            error: e.to_string(),
            retryable: true,
        }
    }
}

pub async fn process_event(ctx: &AppContext, job: &JobRow) -> Result<String, ProcessFailure> {
    let body = match job.payload.as_deref() {
        Some(stored) => {
            Some(
                sealed::open_payload(&ctx.keyring, &job.id, stored).map_err(|e| ProcessFailure {
                    // A key missing from the configuration: retried once it is back.
                    error: format!("the stored event does not open: {e}"),
                    retryable: true,
                })?,
            )
        }
        None => None,
    };
    let payload: Value = body
        .as_deref()
        .and_then(|bytes| serde_json::from_slice(bytes).ok())
        .unwrap_or(Value::Null);
    match ctx.catalogue.webhook_kind(&job.provider_slug) {
        WebhookKind::SlackEvents => slack_event(ctx, job, &payload).await,
        WebhookKind::GoogleChannel => match payload.get("resource_state").and_then(Value::as_str) {
            Some("exists" | "not_exists" | "update") => {
                queue_sync(ctx, job).await?;
                Ok("The calendar changed; a sync is queued".into())
            }
            other => Ok(format!(
                "Google notification ({}) recorded",
                other.unwrap_or("unknown")
            )),
        },
        _ => Ok(format!("{} event recorded", job.provider_slug)),
    }
}

async fn slack_event(ctx: &AppContext, job: &JobRow, payload: &Value) -> Result<String, ProcessFailure> {
    let event = payload.get("event").unwrap_or(&Value::Null);
    let text = |pointer: &str| {
        event
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(|s| crate::domain::sanitize(s, 64))
            .unwrap_or_else(|| "?".into())
    };
    match event.get("type").and_then(Value::as_str).unwrap_or_default() {
        kind @ ("app_uninstalled" | "tokens_revoked") => {
            if let Some(id) = job.integration_id {
                let error = format!("Slack reported {kind}: the app no longer has access; reconnect.");
                let stored = error.clone();
                ctx.db
                    .run(move |conn| integrations::mark_needs_reauth(conn, id, &stored, db::now()))
                    .await?;
                return Ok(error);
            }
            Ok(format!("Slack reported {kind}"))
        }
        "member_joined_channel" => Ok(format!("{} joined channel {}", text("/user"), text("/channel"))),
        "team_rename" | "team_domain_change" | "user_change" => {
            queue_sync(ctx, job).await?;
            Ok("The workspace changed; a sync is queued".into())
        }
        other => Ok(format!("Slack {} recorded", crate::domain::sanitize(other, 64))),
    }
}

/// The follow-up of a change: a sync of the integration (once per event).
async fn queue_sync(ctx: &AppContext, job: &JobRow) -> Result<(), DbError> {
    let Some(integration) = job.integration_id else {
        return Ok(());
    };
    let (org, provider, dedup) = (job.org_id, job.provider_slug.clone(), format!("after:{}", job.id));
    ctx.db
        .run(move |conn| {
            sync_logs::enqueue(
                conn,
                &NewJob {
                    org_id: org,
                    integration_id: Some(integration),
                    provider_slug: &provider,
                    kind: LogKind::Sync,
                    message: "Sync after a webhook event",
                    dedup_key: Some(&dedup),
                    payload: None,
                    max_attempts: crate::db::sync_logs::JOB_MAX_ATTEMPTS,
                },
                db::now(),
            )
        })
        .await?;
    Ok(())
}
