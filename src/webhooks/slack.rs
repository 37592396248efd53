//! Slack's Events API: one endpoint for every workspace, routed by team id.

use secrecy::ExposeSecret;
use serde_json::Value;

use super::{
    Ack, Delivery, WebhookError, dropped, is_provider_id, now_unix, rejected, store_event, verify,
    verify_text, without_secrets,
};
use crate::context::AppContext;
use crate::db::DbError;
use crate::db::event_sink::Stored;
use crate::db::webhooks::{self, WebhookRow};
use crate::domain::WebhookStatus;
use crate::providers::catalogue::SLACK;

/// POST /api/webhooks/slack: the Events API of every connected workspace.
pub async fn receive_slack(ctx: &AppContext, delivery: &Delivery<'_>) -> Result<Ack, WebhookError> {
    let secret = ctx
        .settings
        .slack_signing_secret
        .as_ref()
        .ok_or(WebhookError::NotFound)?;
    verify::slack(
        secret.expose_secret().as_bytes(),
        delivery.header("x-slack-request-timestamp"),
        delivery.header("x-slack-signature"),
        delivery.body,
        now_unix(),
    )
    .map_err(|reason| rejected(ctx, SLACK, reason))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    match json.get("type").and_then(Value::as_str) {
        Some("url_verification") => {
            let challenge = json
                .get("challenge")
                .and_then(Value::as_str)
                .ok_or(WebhookError::BadRequest("no challenge"))?;
            return Ok(Ack::Text(challenge.to_owned()));
        }
        Some("event_callback") => {}
        _ => return Err(WebhookError::BadRequest("not an Events API delivery")),
    }
    let team = json
        .get("team_id")
        .and_then(Value::as_str)
        .filter(|team| is_provider_id(team))
        .ok_or(WebhookError::BadRequest("no team_id"))?
        .to_owned();
    let event_id = json
        .get("event_id")
        .and_then(Value::as_str)
        .ok_or(WebhookError::BadRequest("no event_id"))?
        .to_owned();
    let event_type = verify_text(
        json.pointer("/event/type")
            .and_then(Value::as_str)
            .unwrap_or("event"),
    );
    let event = SlackEvent {
        id: event_id,
        message: format!("Slack {event_type}"),
        payload: without_secrets(json, SLACK_SECRETS),
    };
    let cached = ctx.slack_routes.get(&team);
    let from_cache = cached.is_some();
    let route = match cached {
        Some(row) => Some(row),
        None => slack_route(ctx, &team).await?,
    };
    match store_on_route(ctx, route, &event).await? {
        Routed::Done(ack) => Ok(ack),
        Routed::Stale(_) if from_cache => {
            // The route changed since it was cached (a disconnect or a new connection, maybe
            // on another instance): look it up again, once.
            ctx.slack_routes.forget(&team);
            let fresh = slack_route(ctx, &team).await?;
            match store_on_route(ctx, fresh, &event).await? {
                Routed::Done(ack) => Ok(ack),
                Routed::Stale(row) => Ok(dropped(ctx, &row)),
            }
        }
        Routed::Stale(row) => Ok(dropped(ctx, &row)),
    }
}

struct SlackEvent {
    id: String,
    message: String,
    payload: Vec<u8>,
}

enum Routed {
    Done(Ack),
    /// The storing transaction found the route no longer leads to this integration.
    Stale(Box<WebhookRow>),
}

async fn store_on_route(
    ctx: &AppContext,
    route: Option<WebhookRow>,
    event: &SlackEvent,
) -> Result<Routed, WebhookError> {
    let Some(row) = route else {
        // Not a workspace of ours: acknowledged so Slack stops, counted, not stored.
        ctx.metrics.webhook(SLACK, "unknown_team");
        return Ok(Routed::Done(Ack::Stored));
    };
    if row.status == WebhookStatus::Stopped {
        return Ok(Routed::Done(dropped(ctx, &row)));
    }
    let stored = store_event(
        ctx,
        &row,
        event.id.clone(),
        event.message.clone(),
        event.payload.clone(),
    )
    .await?;
    Ok(if stored == Stored::Gone {
        Routed::Stale(Box::new(row))
    } else {
        Routed::Done(Ack::Stored)
    })
}

/// Slack's legacy verification token rides at the top of every event.
const SLACK_SECRETS: &[&str] = &["token"];

/// The workspace's route as stored (bound when it was connected), remembered when live.
async fn slack_route(ctx: &AppContext, team: &str) -> Result<Option<WebhookRow>, DbError> {
    let team_id = team.to_owned();
    let row = ctx
        .db
        .run(move |conn| webhooks::find_by_external_id(conn, SLACK, &team_id))
        .await?;
    if let Some(live) = row.as_ref().filter(|row| row.status != WebhookStatus::Stopped) {
        ctx.slack_routes.remember(live);
    }
    Ok(row)
}
