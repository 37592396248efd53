//! Zoom: x-zm-signature, and the URL validation answered with the HMAC of its token.

use serde_json::Value;

use super::verify::{self, Rejection};
use super::{Ack, Delivery, WebhookError, body_hash, event_type, now_unix, open_secret, rejected, store};
use crate::context::AppContext;
use crate::db::webhooks::WebhookRow;

/// Zoom: x-zm-signature over "v0:{timestamp}:{body}"; the URL validation is answered with
/// the HMAC of its plain token.
pub(super) async fn receive_zoom(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    let secret = open_secret(ctx, row)
        .ok_or_else(|| rejected(ctx, &row.provider_slug, Rejection::MissingSignature))?;
    verify::zoom(
        &secret,
        delivery.header("x-zm-request-timestamp"),
        delivery.header("x-zm-signature"),
        delivery.body,
        now_unix(),
    )
    .map_err(|r| rejected(ctx, &row.provider_slug, r))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    if json.get("event").and_then(Value::as_str) == Some("endpoint.url_validation") {
        let plain = json
            .pointer("/payload/plainToken")
            .and_then(Value::as_str)
            .ok_or(WebhookError::BadRequest("no plainToken"))?;
        return Ok(Ack::Json(serde_json::json!({
            "plainToken": plain,
            "encryptedToken": verify::zoom_encrypted_token(&secret, plain),
        })));
    }
    let message = format!("Zoom {}", event_type(&json, &["/event"]));
    store(
        ctx,
        row,
        body_hash(delivery.body),
        message,
        delivery.body.to_vec(),
    )
    .await
}
