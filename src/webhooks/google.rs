//! Google Calendar and Drive push notifications, by channel id and token.

use super::verify::{self, Rejection};
use super::{Ack, Delivery, WebhookError, dropped, open_secret, rejected, store, verify_text};
use crate::context::AppContext;
use crate::db::webhooks::{self};
use crate::domain::WebhookStatus;
use crate::providers::catalogue::GOOGLE;

/// POST /api/webhooks/google: Calendar/Drive push notifications.
pub async fn receive_google(ctx: &AppContext, delivery: &Delivery<'_>) -> Result<Ack, WebhookError> {
    let channel = delivery
        .header("x-goog-channel-id")
        .filter(|c| !c.is_empty() && c.len() <= 64)
        .ok_or(WebhookError::NotFound)?
        .to_owned();
    let row = ctx
        .db
        .run(move |conn| webhooks::find_by_external_id(conn, GOOGLE, &channel))
        .await?
        .ok_or(WebhookError::NotFound)?;
    if row.status == WebhookStatus::Stopped {
        return Ok(dropped(ctx, &row));
    }
    let expected = open_secret(ctx, &row).unwrap_or_default();
    let given = delivery.header("x-goog-channel-token").unwrap_or_default();
    if expected.is_empty() || !verify::secrets_match(&expected, given.as_bytes()) {
        ctx.delivery_counts.rejected(&row.id);
        return Err(rejected(ctx, GOOGLE, Rejection::BadSignature));
    }
    let state = delivery.header("x-goog-resource-state").unwrap_or_default();
    let number = delivery.header("x-goog-message-number").unwrap_or_default();
    if state == "sync" {
        // The handshake of a new channel: nothing changed yet.
        ctx.metrics.webhook(GOOGLE, "sync");
        return Ok(Ack::Stored);
    }
    let payload = serde_json::json!({
        "resource_state": state,
        "resource_id": delivery.header("x-goog-resource-id"),
        "resource_uri": delivery.header("x-goog-resource-uri"),
        "message_number": number,
        "channel_expiration": delivery.header("x-goog-channel-expiration"),
    });
    let message = format!("Google {} notification", verify_text(state));
    store(
        ctx,
        &row,
        format!("msg:{number}"),
        message,
        payload.to_string().into_bytes(),
    )
    .await
}
