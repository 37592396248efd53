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

/// One scheme: the header that carries the signature, how it is checked, what makes two
/// deliveries the same event, and a signed send time the body must carry, if any.
pub(super) struct SignedScheme {
    header: &'static str,
    check: verify::BodySignatureCheck,
    dedup: Dedup,
    /// A JSON pointer to the send time (ms since the epoch) inside the signed body, checked
    /// for freshness so that a captured delivery cannot be replayed later.
    sent_at_ms: Option<&'static str>,
}

pub(super) const LINEAR: SignedScheme = SignedScheme {
    header: "linear-signature",
    check: verify::sha256_bare,
    dedup: Dedup::SignedBody,
    sent_at_ms: Some("/webhookTimestamp"),
};
pub(super) const JIRA: SignedScheme = SignedScheme {
    header: "x-hub-signature",
    check: verify::sha256_prefixed,
    dedup: Dedup::SignedBody,
    sent_at_ms: None,
};
pub(super) const GITHUB: SignedScheme = SignedScheme {
    header: "x-hub-signature-256",
    check: verify::sha256_prefixed,
    dedup: Dedup::SignedBody,
    sent_at_ms: None,
};
pub(super) const DROPBOX: SignedScheme = SignedScheme {
    header: "x-dropbox-signature",
    check: verify::sha256_bare,
    dedup: Dedup::EachDelivery,
    sent_at_ms: None,
};

/// Schemes of one HMAC header over the raw body (GitHub, Jira, Linear, Dropbox).
pub(super) async fn receive_signed(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
    scheme: &SignedScheme,
) -> Result<Ack, WebhookError> {
    let secret = open_secret(ctx, row)
        .ok_or_else(|| rejected(ctx, &row.provider_slug, Rejection::MissingSignature))?;
    (scheme.check)(&secret, delivery.header(scheme.header), delivery.body)
        .map_err(|r| rejected(ctx, &row.provider_slug, r))?;
    let json: Value = serde_json::from_slice(delivery.body)
        .map_err(|_| WebhookError::BadRequest("the body is not JSON"))?;
    if let Some(pointer) = scheme.sent_at_ms {
        let sent_at = json.pointer(pointer).and_then(Value::as_i64);
        verify::linear_timestamp(sent_at, chrono::Utc::now().timestamp_millis())
            .map_err(|r| rejected(ctx, &row.provider_slug, r))?;
    }
    let dedup = match scheme.dedup {
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
