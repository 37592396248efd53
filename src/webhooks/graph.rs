//! Microsoft Graph: the validation echo, then the clientState we set on each notification.

use serde_json::Value;

use super::verify::{self, Rejection};
use super::{
    Ack, Delivery, WebhookError, body_hash, event_type, open_secret, rejected, store, without_secrets,
};
use crate::context::AppContext;
use crate::db::webhooks::WebhookRow;

/// Microsoft Graph echoes our clientState in every notification.
const GRAPH_SECRETS: &[&str] = &["clientState"];

/// Microsoft Graph: validationToken echo; notifications carry the clientState we set.
pub(super) async fn receive_graph(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    if let Some(token) = delivery.query.get("validationToken") {
        return Ok(Ack::Text(token.clone()));
    }
    let secret = open_secret(ctx, row)
        .ok_or_else(|| rejected(ctx, &row.provider_slug, Rejection::MissingSignature))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    let items = json
        .get("value")
        .and_then(Value::as_array)
        .ok_or(WebhookError::BadRequest("no value array"))?;
    let all_match = !items.is_empty()
        && items.iter().all(|item| {
            item.get("clientState")
                .and_then(Value::as_str)
                .is_some_and(|state| verify::secrets_match(&secret, state.as_bytes()))
        });
    if !all_match {
        return Err(rejected(ctx, &row.provider_slug, Rejection::BadSignature));
    }
    for item in items {
        let bytes = without_secrets(item.clone(), GRAPH_SECRETS);
        let message = format!(
            "Microsoft Graph {}",
            event_type(item, &["/changeType", "/lifecycleEvent"])
        );
        store(ctx, row, body_hash(&bytes), message, bytes).await?;
    }
    Ok(Ack::Stored)
}
