//! Webhooks: every delivery is verified (signature or channel token, constant-time, within
//! its time window) before anything is parsed or stored, stored durably (deduplicated) before
//! it is acknowledged, and then processed by the worker as a queued sync-log job.

pub mod counts;
pub mod verify;

use std::collections::HashMap;

use secrecy::ExposeSecret;
use serde_json::Value;

use crate::context::AppContext;
use crate::crypto::keyring::Aad;
use crate::db::event_sink::Stored;
use crate::db::sync_logs::NewEvent;
use crate::db::webhooks::{self, WebhookRow, status};
use crate::db::{self, DbError};
use crate::domain::WebhookKind;
use verify::Rejection;

pub const TABLE: &str = "integration_webhooks";
pub const SECRET: &str = "secret";

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
    let aad = Aad {
        table: TABLE,
        column: SECRET,
        row_id: &row.id,
    };
    ctx.keyring
        .open(sealed, &aad)
        .ok()
        .map(|plain| plain.expose_secret().clone())
}

pub fn seal_secret(ctx: &AppContext, webhook_id: &str, secret: &[u8]) -> Vec<u8> {
    ctx.keyring.seal(
        secret,
        &Aad {
            table: TABLE,
            column: SECRET,
            row_id: webhook_id,
        },
    )
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
    let event = NewEvent {
        org_id: row.org_id.clone(),
        integration_id: row.integration_id.clone(),
        provider_slug: row.provider_slug.clone(),
        dedup_key: format!("{}:{dedup_key}", row.external_id),
        message,
        payload,
    };
    let stored = ctx.event_sink.store(event, row.id.clone()).await?;
    match stored {
        Stored::New => ctx.metrics.webhook(&row.provider_slug, "stored"),
        Stored::Duplicate => ctx.metrics.webhook(&row.provider_slug, "duplicate"),
        Stored::Gone => {}
    }
    Ok(stored)
}

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
    .map_err(|reason| rejected(ctx, "slack", reason))?;
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
        ctx.metrics.webhook("slack", "unknown_team");
        return Ok(Routed::Done(Ack::Stored));
    };
    if row.status == status::STOPPED {
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
/// Microsoft Graph echoes our clientState in every notification.
const GRAPH_SECRETS: &[&str] = &["clientState"];
/// Notion's verification token is the signing key of every later delivery.
const NOTION_SECRETS: &[&str] = &["verification_token"];

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
    crate::oauth::sanitize(text, 80)
}

/// The workspace's route as stored (bound when it was connected), remembered when live.
async fn slack_route(ctx: &AppContext, team: &str) -> Result<Option<WebhookRow>, DbError> {
    let team_id = team.to_owned();
    let row = ctx
        .db
        .run(move |conn| webhooks::find_by_external_id(conn, "slack", &team_id))
        .await?;
    if let Some(live) = row.as_ref().filter(|row| row.status != status::STOPPED) {
        ctx.slack_routes.remember(live);
    }
    Ok(row)
}

/// POST /api/webhooks/google: Calendar/Drive push notifications.
pub async fn receive_google(ctx: &AppContext, delivery: &Delivery<'_>) -> Result<Ack, WebhookError> {
    let channel = delivery
        .header("x-goog-channel-id")
        .filter(|c| !c.is_empty() && c.len() <= 64)
        .ok_or(WebhookError::NotFound)?
        .to_owned();
    let row = ctx
        .db
        .run(move |conn| webhooks::find_by_external_id(conn, "google", &channel))
        .await?
        .ok_or(WebhookError::NotFound)?;
    if row.status == status::STOPPED {
        return Ok(dropped(ctx, &row));
    }
    let expected = open_secret(ctx, &row).unwrap_or_default();
    let given = delivery.header("x-goog-channel-token").unwrap_or_default();
    if expected.is_empty() || !verify::secrets_match(&expected, given.as_bytes()) {
        ctx.delivery_counts.rejected(&row.id);
        return Err(rejected(ctx, "google", Rejection::BadSignature));
    }
    let state = delivery.header("x-goog-resource-state").unwrap_or_default();
    let number = delivery.header("x-goog-message-number").unwrap_or_default();
    if state == "sync" {
        // The handshake of a new channel: nothing changed yet.
        ctx.metrics.webhook("google", "sync");
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
    if row.status == status::STOPPED {
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
        (WebhookKind::LinearSignature, false) => {
            receive_signed(
                ctx,
                &row,
                delivery,
                "linear-signature",
                verify::sha256_bare,
                Dedup::SignedBody,
            )
            .await
        }
        (WebhookKind::JiraHubSignature, false) => {
            receive_signed(
                ctx,
                &row,
                delivery,
                "x-hub-signature",
                verify::sha256_prefixed,
                Dedup::SignedBody,
            )
            .await
        }
        (WebhookKind::GithubSignature, false) => {
            receive_signed(
                ctx,
                &row,
                delivery,
                "x-hub-signature-256",
                verify::sha256_prefixed,
                Dedup::SignedBody,
            )
            .await
        }
        (WebhookKind::DropboxSignature, false) => {
            receive_signed(
                ctx,
                &row,
                delivery,
                "x-dropbox-signature",
                verify::sha256_bare,
                Dedup::EachDelivery,
            )
            .await
        }
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

/// What makes two deliveries the same event.
#[derive(Debug, Clone, Copy)]
enum Dedup {
    /// The signed body: a captured delivery re-sent under a new delivery-id header (which is
    /// not signed) is still the same event.
    SignedBody,
    /// Nothing: each delivery is a "something changed" signal (Dropbox sends identical
    /// bodies, without id or time, for each change).
    EachDelivery,
}

/// Schemes of one HMAC header over the raw body (GitHub, Jira, Linear, Dropbox).
async fn receive_signed(
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

/// Microsoft Graph: validationToken echo; notifications carry the clientState we set.
async fn receive_graph(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    if let Some(token) = delivery.query.get("validationToken") {
        return Ok(Ack::Text(token.clone()));
    }
    let secret =
        open_secret(ctx, row).ok_or_else(|| rejected(ctx, "microsoft", Rejection::MissingSignature))?;
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
        return Err(rejected(ctx, "microsoft", Rejection::BadSignature));
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

/// Asana: the X-Hook-Secret handshake, then X-Hook-Signature on every event.
async fn receive_asana(
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
    let secret = open_secret(ctx, row).ok_or_else(|| rejected(ctx, "asana", Rejection::MissingSignature))?;
    verify::sha256_bare(&secret, delivery.header("x-hook-signature"), delivery.body)
        .map_err(|r| rejected(ctx, "asana", r))?;
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

/// Notion: the first delivery carries the verification token (the signing key from then on).
async fn receive_notion(
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
            .ok_or_else(|| rejected(ctx, "notion", Rejection::MissingSignature))?;
        learn_secret(ctx, row, token.as_bytes()).await?;
        return Ok(Ack::Stored);
    };
    verify::sha256_prefixed(&secret, delivery.header("x-notion-signature"), delivery.body)
        .map_err(|r| rejected(ctx, "notion", r))?;
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

/// Zoom: x-zm-signature over "v0:{timestamp}:{body}"; the URL validation is answered with
/// the HMAC of its plain token.
async fn receive_zoom(
    ctx: &AppContext,
    row: &WebhookRow,
    delivery: &Delivery<'_>,
) -> Result<Ack, WebhookError> {
    let secret = open_secret(ctx, row).ok_or_else(|| rejected(ctx, "zoom", Rejection::MissingSignature))?;
    verify::zoom(
        &secret,
        delivery.header("x-zm-request-timestamp"),
        delivery.header("x-zm-signature"),
        delivery.body,
        now_unix(),
    )
    .map_err(|r| rejected(ctx, "zoom", r))?;
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
