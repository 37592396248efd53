//! Asana: the X-Hook-Secret handshake, then X-Hook-Signature on every event.

use serde_json::Value;

use super::verify::{self, Rejection};
use super::{Ack, Delivery, WebhookError, body_hash, learn_secret, open_secret, rejected, store};
use crate::context::AppContext;
use crate::db::webhooks::WebhookRow;

/// Asana: the X-Hook-Secret handshake, then X-Hook-Signature on every event.
pub(super) async fn receive_asana(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    if let Some(handshake) = delivery
        .header("x-hook-secret")
        .filter(|s| !s.is_empty() && s.len() <= 256)
    {
        learn_secret(ctx, row, handshake.as_bytes()).await?;
        return Ok(Ack::Header("X-Hook-Secret", handshake.to_owned()));
    }
    let secret = open_secret(ctx, row)
        .ok_or_else(|| rejected(ctx, &row.provider_slug, Rejection::MissingSignature))?;
    verify::sha256_bare(&secret, delivery.header("x-hook-signature"), delivery.body)
        .map_err(|r| rejected(ctx, &row.provider_slug, r))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    let count = json.get("events").and_then(Value::as_array).map_or(0, Vec::len);
    store(
        ctx,
        row,
        body_hash(delivery.body),
        format!("Asana: {count} events"),
        delivery.body.to_vec(),
    )
    .await
}
