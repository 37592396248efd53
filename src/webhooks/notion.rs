//! Notion: the verification token handshake, then X-Notion-Signature on every event.

use serde_json::Value;

use super::verify::{self, Rejection};
use super::{
    Ack, Delivery, WebhookError, body_hash, event_type, learn_secret, open_secret, rejected, store,
    without_secrets,
};
use crate::context::AppContext;
use crate::db::webhooks::WebhookRow;

/// Notion's verification token is the signing key of every later delivery.
const NOTION_SECRETS: &[&str] = &["verification_token"];

/// Notion: the first delivery carries the verification token (the signing key from then on).
pub(super) async fn receive_notion(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    let Some(secret) = open_secret(ctx, row) else {
        let json: Value = serde_json::from_slice(delivery.body)
            .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
        let token = json
            .get("verification_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or_else(|| rejected(ctx, &row.provider_slug, Rejection::MissingSignature))?;
        learn_secret(ctx, row, token.as_bytes()).await?;
        return Ok(Ack::Stored);
    };
    verify::sha256_prefixed(&secret, delivery.header("x-notion-signature"), delivery.body)
        .map_err(|r| rejected(ctx, &row.provider_slug, r))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    let dedup = json
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| body_hash(delivery.body));
    let message = format!("Notion {}", event_type(&json, &["/type"]));
    store(ctx, row, dedup, message, without_secrets(json, NOTION_SECRETS)).await
}
