//! Schemes of one HMAC header over the raw body: GitHub, Jira, Linear, Dropbox.

use serde_json::Value;

use super::verify::{self, Rejection};
use super::{Ack, Delivery, WebhookError, body_hash, event_type, open_secret, rejected, store, verify_text};
use crate::context::AppContext;
use crate::db::webhooks::WebhookRow;

/// What makes two deliveries the same event.
#[derive(Debug, Clone, Copy)]
pub(super) enum Dedup {
    /// The signed body: a captured delivery re-sent under a new delivery-id header (which is
    /// not signed) is still the same event.
    SignedBody,
    /// Nothing: each delivery is a "something changed" signal (Dropbox sends identical
    /// bodies, without id or time, for each change).
    EachDelivery,
}

/// Schemes of one HMAC header over the raw body (GitHub, Jira, Linear, Dropbox).
pub(super) async fn receive_signed(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
    signature_header: &str,
    check: verify::BodySignatureCheck,
    dedup: Dedup,
) -> Result<Ack, WebhookError> {
    let secret = open_secret(ctx, row)
        .ok_or_else(|| rejected(ctx, &row.provider_slug, Rejection::MissingSignature))?;
    check(&secret, delivery.header(signature_header), delivery.body)
        .map_err(|r| rejected(ctx, &row.provider_slug, r))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    if row.provider_slug == "linear" {
        let ts = json.get("webhookTimestamp").and_then(Value::as_i64);
        verify::linear_timestamp(ts, chrono::Utc::now().timestamp_millis())
            .map_err(|r| rejected(ctx, "linear", r))?;
    }
    let dedup = match dedup {
        Dedup::SignedBody => format!("body:{}", body_hash(delivery.body)),
        Dedup::EachDelivery => format!("delivery:{}", uuid::Uuid::new_v4()),
    };
    let kind = delivery
        .header("x-github-event")
        .map(verify_text)
        .unwrap_or_else(|| event_type(&json, &["/webhookEvent", "/type", "/action"]));
    let message = format!("{} {kind}", row.provider_slug);
    store(ctx, row, dedup, message, delivery.body.to_vec()).await
}
