//! Webhooks: every delivery is verified (signature or channel token, constant-time, within
//! its time window) before anything is parsed or stored, stored durably (deduplicated) before
//! it is acknowledged, and then processed by the worker as a queued sync-log job.

mod asana;
pub mod counts;
mod google;
mod graph;
mod notion;
mod signed;
mod slack;
pub mod verify;
mod zoom;

use std::collections::HashMap;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::context::AppContext;
use crate::db::event_sink::Stored;
use crate::db::sealed::WEBHOOK_SECRET;
use crate::db::sync_logs::NewEvent;
use crate::db::webhooks::{self, WebhookRow};
use crate::db::{self, DbError};
use crate::domain::{WebhookKind, WebhookStatus};
use asana::receive_asana;
pub use google::receive_google;
use graph::receive_graph;
use notion::receive_notion;
use signed::receive_signed;
pub use slack::receive_slack;
use verify::Rejection;
use zoom::receive_zoom;

/// A delivery as it came: headers (lower-case names), query and raw body.
pub struct Delivery<'a> {
    pub headers: &'a HashMap<String, String>,
    pub query: &'a HashMap<String, String>,
    pub body: &'a [u8],
}

impl Delivery<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What to answer once the delivery is handled.
#[derive(Debug, PartialEq)]
pub enum Ack {
    /// 200, empty.
    Stored,
    /// 200 with this text/plain body (challenge echoes).
    Text(String),
    /// 200 with this JSON body (Zoom's URL validation).
    Json(Value),
    /// 200 echoing a header (Asana's X-Hook-Secret).
    Header(&'static str, String),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("no such webhook")]
    NotFound,
    #[error("rejected: {0}")]
    Unauthorized(Rejection),
    #[error("malformed delivery: {0}")]
    BadRequest(&'static str),
    #[error("too many deliveries")]
    RateLimited { retry_after_secs: u64 },
    #[error("the event could not be stored: {0}")]
    Unavailable(#[from] DbError),
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A rejected delivery: counted (on its webhook when known), logged at most once a second
/// per provider and reason, and answered 401.
fn rejected(ctx: &AppContext, provider: &str, reason: Rejection) -> WebhookError {
    ctx.metrics.webhook(provider, "rejected");
    if ctx.log_throttle.allow(&format!("{provider}:{reason}")) {
        tracing::warn!(provider, reason = %reason, "webhook delivery rejected");
    }
    WebhookError::Unauthorized(reason)
}

fn open_secret(ctx: &AppContext, row: &WebhookRow) -> Option<Vec<u8>> {
    let sealed = row.secret.as_deref()?;
    ctx.keyring
        .open(sealed, &WEBHOOK_SECRET.aad(&row.id))
        .ok()
        .map(|plain| plain.expose_secret().clone())
}

pub fn seal_secret(ctx: &AppContext, webhook_id: &str, secret: &[u8]) -> Vec<u8> {
    ctx.keyring.seal(secret, &WEBHOOK_SECRET.aad(webhook_id))
}

/// A delivery for a stopped endpoint, channel or route (its integration disconnected or
/// erased, or a Google channel replaced): acknowledged so the provider stops retrying,
/// counted, and never stored for the organization that held it.
fn dropped(ctx: &AppContext, row: &WebhookRow) -> Ack {
    ctx.metrics.webhook(&row.provider_slug, "disconnected");
    ctx.delivery_counts.dropped(&row.id);
    Ack::Stored
}

async fn store(
    ctx: &AppContext,
    row: &WebhookRow,
    dedup_key: String,
    message: String,
    payload: Vec<u8>,
) -> Result<Ack, WebhookError> {
    Ok(match store_event(ctx, row, dedup_key, message, payload).await? {
        Stored::Gone => dropped(ctx, row),
        Stored::New | Stored::Duplicate => Ack::Stored,
    })
}

/// A provider's id of a workspace or an event: printable, bounded (what we look up and
/// store; a NUL would not even reach PostgreSQL).
fn is_provider_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control)
}

async fn store_event(
    ctx: &AppContext,
    row: &WebhookRow,
    dedup_key: String,
    message: String,
    payload: Vec<u8>,
) -> Result<Stored, WebhookError> {
    ctx.webhook_limits
        .take(&row.id, row.rate_limit_per_minute)
        .map_err(|retry_after_secs| {
            ctx.metrics.webhook(&row.provider_slug, "rate_limited");
            WebhookError::RateLimited { retry_after_secs }
        })?;
    if !is_provider_id(&dedup_key) {
        return Err(WebhookError::BadRequest("malformed event id"));
    }
    let id = db::sync_logs::new_row_id();
    let event = NewEvent {
        payload: crate::db::sealed::seal_payload(&ctx.keyring, &id, &payload),
        id,
        org_id: row.org_id,
        integration_id: row.integration_id,
        provider_slug: row.provider_slug.clone(),
        dedup_key: format!("{}:{dedup_key}", row.external_id),
        message,
    };
    let stored = ctx.event_sink.store(event, row.id.clone()).await?;
    match stored {
        Stored::New => ctx.metrics.webhook(&row.provider_slug, "stored"),
        Stored::Duplicate => ctx.metrics.webhook(&row.provider_slug, "duplicate"),
        Stored::Gone => {}
    }
    Ok(stored)
}

/// The payload to store, without the fields a provider documents as a verification secret:
/// a stored payload reaches pages, the GDPR export and replays.
fn without_secrets(mut json: Value, fields: &[&str]) -> Vec<u8> {
    if let Some(object) = json.as_object_mut() {
        for field in fields {
            object.remove(*field);
        }
    }
    json.to_string().into_bytes()
}

/// A provider's words, bounded for a log line.
fn verify_text(text: &str) -> String {
    crate::domain::sanitize(text, 80)
}

/// GET and POST /api/webhooks/{provider}/{webhook_id}: the other providers' schemes.
pub async fn receive(
    ctx: &AppContext,
    provider: &str,
    webhook_id: &str,
    is_get: bool,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    let webhook_id = uuid::Uuid::parse_str(webhook_id)
        .map_err(|_| WebhookError::NotFound)?
        .to_string();
    let kind = ctx
        .catalogue
        .get(provider)
        .map(|p| p.def.webhook_kind)
        .ok_or(WebhookError::NotFound)?;
    let row = ctx
        .db
        .run(move |conn| webhooks::find_by_id(conn, &webhook_id))
        .await?
        .filter(|row| row.provider_slug == provider)
        .ok_or(WebhookError::NotFound)?;
    if row.status == WebhookStatus::Stopped {
        // No handshake or challenge for a stopped endpoint; a notification is dropped.
        return if is_get {
            Err(WebhookError::NotFound)
        } else {
            Ok(dropped(ctx, &row))
        };
    }
    let result = match (kind, is_get) {
        (WebhookKind::DropboxSignature, true) => {
            let challenge = delivery
                .query
                .get("challenge")
                .ok_or(WebhookError::BadRequest("no challenge"))?;
            return Ok(Ack::Text(challenge.clone()));
        }
        (_, true) => return Err(WebhookError::NotFound),
        (WebhookKind::GraphSubscription, false) => receive_graph(ctx, &row, delivery).await,
        (WebhookKind::AsanaHook, false) => receive_asana(ctx, &row, delivery).await,
        (WebhookKind::NotionSignature, false) => receive_notion(ctx, &row, delivery).await,
        (WebhookKind::ZoomSignature, false) => receive_zoom(ctx, &row, delivery).await,
        (WebhookKind::LinearSignature, false) => receive_signed(ctx, &row, delivery, &signed::LINEAR).await,
        (WebhookKind::JiraHubSignature, false) => receive_signed(ctx, &row, delivery, &signed::JIRA).await,
        (WebhookKind::GithubSignature, false) => receive_signed(ctx, &row, delivery, &signed::GITHUB).await,
        (WebhookKind::DropboxSignature, false) => receive_signed(ctx, &row, delivery, &signed::DROPBOX).await,
        (WebhookKind::SlackEvents | WebhookKind::GoogleChannel | WebhookKind::None, false) => {
            Err(WebhookError::NotFound)
        }
    };
    if matches!(result, Err(WebhookError::Unauthorized(_))) {
        ctx.delivery_counts.rejected(&row.id);
    }
    result
}

fn body_hash(body: &[u8]) -> String {
    crate::crypto::sha256_hex(body)
}

fn event_type(json: &Value, pointers: &[&str]) -> String {
    pointers
        .iter()
        .find_map(|p| json.pointer(p).and_then(Value::as_str))
        .map(verify_text)
        .unwrap_or_else(|| "event".into())
}

/// How long after an endpoint is created (or its handshake reset) a first-use secret is
/// accepted: whoever finds the URL later cannot plant their own.
pub const HANDSHAKE_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// Stores a secret learned in a handshake, once and only within the handshake window: a
/// second handshake cannot replace it.
async fn learn_secret(ctx: &AppContext, row: &WebhookRow, secret: &[u8]) -> Result<(), WebhookError> {
    if row.secret.is_some() {
        return Err(rejected(ctx, &row.provider_slug, Rejection::BadSignature));
    }
    let now = db::now();
    let opened_after = now - HANDSHAKE_WINDOW;
    if row
        .handshake_opened_at
        .is_none_or(|opened| opened <= opened_after)
    {
        return Err(rejected(ctx, &row.provider_slug, Rejection::HandshakeClosed));
    }
    let sealed = seal_secret(ctx, &row.id, secret);
    let (id, key) = (row.id.clone(), ctx.keyring.current_key_id());
    let set = ctx
        .db
        .run(move |conn| webhooks::set_secret_once(conn, &id, &key, &sealed, opened_after, now))
        .await?;
    if !set {
        return Err(rejected(ctx, &row.provider_slug, Rejection::BadSignature));
    }
    tracing::info!(webhook_id = %row.id, provider = %row.provider_slug, "webhook handshake completed");
    Ok(())
}
