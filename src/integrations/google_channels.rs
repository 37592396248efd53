//! Google Calendar watch channels: registered with a random token (stored encrypted, echoed
//! in every notification), and renewed by the worker before they expire: a new channel first,
//! then the old one is stopped.

use chrono::{Duration, NaiveDateTime};
use serde_json::{Value, json};

use super::provider_api::{ApiError, ProviderApi};
use crate::context::AppContext;
use crate::db::webhooks::{self, WebhookRow};
use crate::db::{self, DbError, integrations};
use crate::domain::{IntegrationId, OrgId, WebhookStatus};
use crate::providers::catalogue::GOOGLE;
use crate::providers::catalogue::endpoints::*;

/// How long a new channel is asked to live (Google may shorten it).
pub const CHANNEL_TTL: Duration = Duration::days(7);
/// Channels expiring within this are renewed.
pub const RENEW_BEFORE: Duration = Duration::hours(24);

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{0}")]
    Api(#[from] ApiError),
    #[error("Google's answer was not understood")]
    BadResponse,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl WatchError {
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            WatchError::Api(
                ApiError::RateLimited { .. } | ApiError::ProviderDown(_) | ApiError::CircuitOpen { .. },
            ) | WatchError::Db(_)
        )
    }
}

/// A watch-channel call through the shared HTTP core (fresh token, retries, breaker).
async fn api_call(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    (endpoint, query): (&'static Endpoint, Vec<(String, String)>),
    body: Value,
) -> Result<Value, WatchError> {
    let api = ProviderApi::for_integration(ctx, org, integration).await?;
    let mut request = api.request(endpoint, &[("calendarId", "primary")]).json(&body);
    request.query = query;
    let response = api.send(&request).await?;
    if response.body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&response.body).map_err(|_| WatchError::BadResponse)
}

/// What a channel watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchKind {
    /// The primary calendar's events.
    Calendar,
    /// Changes to the user's Drive.
    Drive,
}

impl WatchKind {
    pub const ALL: [WatchKind; 2] = [WatchKind::Calendar, WatchKind::Drive];

    pub fn as_str(self) -> &'static str {
        match self {
            WatchKind::Calendar => "calendar",
            WatchKind::Drive => "drive",
        }
    }

    pub fn parse(text: &str) -> Option<WatchKind> {
        WatchKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Each API stops only its own channels.
    fn stop_endpoint(self) -> &'static Endpoint {
        match self {
            WatchKind::Calendar => &GOOGLE_CALENDAR_CHANNELS_STOP,
            WatchKind::Drive => &GOOGLE_DRIVE_CHANNELS_STOP,
        }
    }

    fn of(row: &WebhookRow) -> WatchKind {
        row.channel_kind
            .as_deref()
            .and_then(WatchKind::parse)
            .unwrap_or(WatchKind::Calendar)
    }
}

/// The watch call of a kind and its query (Drive's needs a start page token first).
async fn watch_call(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    kind: WatchKind,
) -> Result<(&'static Endpoint, Vec<(String, String)>), WatchError> {
    match kind {
        WatchKind::Calendar => Ok((&GOOGLE_EVENTS_WATCH, Vec::new())),
        WatchKind::Drive => {
            let api = ProviderApi::for_integration(ctx, org, integration).await?;
            let start = api
                .send(&api.request(&GOOGLE_START_PAGE_TOKEN, &[]))
                .await?
                .json()?;
            let token = start
                .get("startPageToken")
                .and_then(Value::as_str)
                .ok_or(WatchError::BadResponse)?;
            Ok((
                &GOOGLE_CHANGES_WATCH,
                vec![("pageToken".into(), token.to_owned())],
            ))
        }
    }
}

/// Registers a watch channel of this kind for the integration and stores it.
pub async fn watch(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    kind: WatchKind,
    now: NaiveDateTime,
) -> Result<WebhookRow, WatchError> {
    let channel_id = uuid::Uuid::new_v4().to_string();
    let token = crate::crypto::random_token(32);
    let expires = now + CHANNEL_TTL;
    let call = watch_call(ctx, org, integration, kind).await?;
    let answer = api_call(
        ctx,
        org,
        integration,
        call,
        json!({
            "id": channel_id,
            "type": "web_hook",
            "address": format!("{}/api/webhooks/google", ctx.public_url),
            "token": token,
            "expiration": expires.and_utc().timestamp_millis().to_string(),
        }),
    )
    .await?;
    let resource_id = answer
        .get("resourceId")
        .and_then(Value::as_str)
        .ok_or(WatchError::BadResponse)?;
    let expires_at = answer
        .get("expiration")
        .and_then(|v| {
            v.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or_else(|| v.as_i64())
        })
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|at| at.naive_utc())
        .unwrap_or(expires);
    let row_id = uuid::Uuid::new_v4().to_string();
    let row = WebhookRow {
        secret: Some(crate::webhooks::seal_secret(ctx, &row_id, token.as_bytes())),
        key_id: Some(ctx.keyring.current_key_id()),
        id: row_id,
        org_id: org,
        integration_id: Some(integration),
        provider_slug: GOOGLE.into(),
        external_id: channel_id,
        resource_id: Some(crate::domain::sanitize(resource_id, 200)),
        status: WebhookStatus::Active,
        expires_at: Some(expires_at),
        received_count: 0,
        rejected_count: 0,
        last_event_at: None,
        rate_limit_per_minute: ctx.settings.webhook_rate_limit_per_minute,
        created_at: now,
        updated_at: now,
        channel_kind: Some(kind.as_str().to_owned()),
        dropped_count: 0,
        handshake_opened_at: None,
    };
    let stored = row.clone();
    ctx.db.run(move |conn| webhooks::insert(conn, &stored)).await?;
    tracing::info!(integration_id = %integration, channel = %row.external_id, kind = kind.as_str(), "Google watch channel registered");
    Ok(row)
}

/// Asks Google to stop sending on a channel (a channel already gone is fine).
pub async fn stop_channel(ctx: &AppContext, row: &WebhookRow) -> Result<(), WatchError> {
    let (Some(integration), org) = (row.integration_id, row.org_id) else {
        return Ok(());
    };
    let body = json!({ "id": row.external_id, "resourceId": row.resource_id });
    let stop = (WatchKind::of(row).stop_endpoint(), Vec::new());
    match api_call(ctx, org, integration, stop, body).await {
        Ok(_) | Err(WatchError::Api(ApiError::NotFound)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Stops the integration's channels at Google before its token goes (disconnect, erasure).
/// A failure is logged, not fatal: the rows are stopped too, so whatever Google still sends
/// until the channel expires is acknowledged and dropped.
pub async fn stop_channels_of(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<(), DbError> {
    let rows = ctx
        .db
        .run(move |conn| webhooks::list_for_integration(conn, org, integration))
        .await?;
    for row in rows
        .iter()
        .filter(|row| row.provider_slug == GOOGLE && row.status != WebhookStatus::Stopped)
    {
        if let Err(e) = stop_channel(ctx, row).await {
            tracing::warn!(channel = %row.external_id, error = %e, "stopping a Google channel failed; it expires on its own");
        }
    }
    Ok(())
}

/// The kinds the integration has no active channel of yet.
pub async fn missing_channels(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<Vec<WatchKind>, DbError> {
    let rows = ctx
        .db
        .run(move |conn| webhooks::list_for_integration(conn, org, integration))
        .await?;
    Ok(WatchKind::ALL
        .into_iter()
        .filter(|kind| {
            !rows.iter().any(|row| {
                row.provider_slug == GOOGLE
                    && row.status == WebhookStatus::Active
                    && row.channel_kind.as_deref() == Some(kind.as_str())
            })
        })
        .collect())
}

/// Renews the channels that expire soon: claim (active -> renewing), register the new one,
/// stop the old one. Returns how many were renewed.
pub async fn renew_expiring(ctx: &AppContext, now: NaiveDateTime) -> Result<usize, DbError> {
    let before = now + RENEW_BEFORE;
    let due = ctx
        .db
        .run(move |conn| webhooks::expiring(conn, GOOGLE, before, 50))
        .await?;
    let mut renewed = 0;
    for old in due {
        let id = old.id.clone();
        let claimed = ctx
            .db
            .run(move |conn| {
                webhooks::transition(conn, &id, WebhookStatus::Active, WebhookStatus::Renewing, now)
            })
            .await?;
        if !claimed {
            continue;
        }
        let ids = old.integration_id.map(|integration| (integration, old.org_id));
        let live = match old.integration_id {
            Some(integration) => ctx
                .db
                .run(move |conn| integrations::find_live(conn, integration))
                .await?
                .is_some(),
            None => false,
        };
        let outcome = match ids {
            Some((integration, org)) if live => watch(ctx, org, integration, WatchKind::of(&old), now)
                .await
                .map(|_| ()),
            _ => Ok(()),
        };
        let id = old.id.clone();
        match outcome {
            Ok(()) => {
                if let Err(e) = stop_channel(ctx, &old).await {
                    tracing::warn!(channel = %old.external_id, error = %e, "stopping the old channel failed; it expires on its own");
                }
                ctx.db
                    .run(move |conn| {
                        webhooks::transition(
                            conn,
                            &id,
                            WebhookStatus::Renewing,
                            WebhookStatus::Stopped,
                            db::now(),
                        )
                    })
                    .await?;
                renewed += 1;
            }
            Err(e) => {
                tracing::warn!(channel = %old.external_id, error = %e, "renewing a Google channel failed; retrying next round");
                ctx.db
                    .run(move |conn| {
                        webhooks::transition(
                            conn,
                            &id,
                            WebhookStatus::Renewing,
                            WebhookStatus::Active,
                            db::now(),
                        )
                    })
                    .await?;
            }
        }
    }
    Ok(renewed)
}
