//! The internal JSON API for other Targetym services (/api/v1), authenticated by service
//! tokens and scoped to the token's organization. Every call is recorded in the sync log.

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use super::WebState;
use crate::api_tokens::{self, ServiceClient};
use crate::db::DbError;
use crate::domain::IntegrationId;
use crate::integrations::google::{Google, NewEvent};
use crate::integrations::provider_api::{ApiError, ApiRequest, ProviderApi};
use crate::integrations::slack::Slack;

/// Request bodies of the API at most.
const MAX_BODY: usize = 1024 * 1024;

super::route_table! {
    get "/api/v1/openapi.json" => openapi;
    get "/api/v1/integrations" => list_integrations;
    post "/api/v1/integrations/{id}/slack/messages" => slack_message;
    post "/api/v1/integrations/{id}/calendar/events" => calendar_event;
    post "/api/v1/integrations/{id}/email" => email;
    route "/api/v1/integrations/{id}/proxy/{tail:.*}" => proxy;
}

/// Calls per service token, per instance: a token over its rate gets 429 with Retry-After,
/// and one busy service cannot starve the others.
pub struct ApiLimits(governor::DefaultKeyedRateLimiter<String>);

impl ApiLimits {
    pub fn new(per_minute: u32) -> ApiLimits {
        let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        ApiLimits(governor::RateLimiter::keyed(governor::Quota::per_minute(
            per_minute,
        )))
    }

    /// `Err(seconds to wait)` when the token is over its rate.
    fn check(&self, token_id: &str) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        let result = self.0.check_key(&token_id.to_owned()).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        });
        // Revoked and forgotten tokens do not stay in the map.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        result
    }
}

/// A JSON error: `{"error": code, "message": sentence}`.
fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": code, "message": message }))
}

fn api_error(e: &ApiError) -> HttpResponse {
    match e {
        ApiError::UnknownIntegration => error(StatusCode::NOT_FOUND, "not_found", "no such integration"),
        ApiError::NeedsReconnect(why) => error(StatusCode::CONFLICT, "needs_reconnect", why),
        ApiError::Auth(why) => error(StatusCode::BAD_GATEWAY, "provider_auth", why),
        ApiError::RateLimited { retry_after } => {
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "the provider is rate limiting",
            );
            let secs = retry_after.map_or(30, |d| d.as_secs().max(1));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            response
        }
        ApiError::ProviderDown(why) => error(StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable", why),
        ApiError::CircuitOpen { retry_after } => {
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                &e.to_string(),
            );
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
            response
        }
        ApiError::BadRequest(why) => error(StatusCode::UNPROCESSABLE_ENTITY, "provider_rejected", why),
        ApiError::NotFound => error(
            StatusCode::NOT_FOUND,
            "provider_not_found",
            "the provider has no such resource",
        ),
    }
}

fn db_error(e: DbError) -> HttpResponse {
    if e.is_write_refused() {
        // The database's watch logs refused writes, throttled.
        tracing::debug!(error = %e, "internal API write refused");
    } else {
        tracing::error!(error = %e, "internal API storage failure");
    }
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "storage is unavailable; retry later",
    )
}

/// The calling service, from `Authorization: Bearer tgi_…`.
pub struct Service(pub ServiceClient);

impl FromRequest for Service {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<WebState>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        Box::pin(async move {
            let unauthorized = || {
                let mut response = error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a valid service token is required",
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"targetym-integrations\""),
                );
                actix_web::error::InternalError::from_response("unauthorized", response).into()
            };
            let (Some(state), Some(bearer)) = (state, bearer) else {
                return Err(unauthorized());
            };
            match api_tokens::authenticate(&state.ctx.db, bearer.trim()).await {
                Ok(Some(client)) => match state.api_limits.check(&client.token_id) {
                    Ok(()) => Ok(Service(client)),
                    Err(retry_after) => {
                        let mut response = error(
                            StatusCode::TOO_MANY_REQUESTS,
                            "rate_limited",
                            "this service token is over its rate; retry later",
                        );
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                        Err(actix_web::error::InternalError::from_response("rate limited", response).into())
                    }
                },
                Ok(None) => Err(unauthorized()),
                Err(e) => Err(actix_web::error::InternalError::from_response("storage", db_error(e)).into()),
            }
        })
    }
}

/// Records an API call in the audit log (a failure to record is logged, not answered).
async fn record(
    state: &WebState,
    client: &ServiceClient,
    integration: Option<(&str, &str)>,
    what: String,
    outcome: &Result<u16, String>,
    started: Instant,
) {
    let duration = started.elapsed().as_millis() as i64;
    let stored = api_tokens::record_call(&state.ctx.db, client, integration, &what, outcome, duration).await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not record an API call");
    }
}

/// Records an action's outcome and answers with its result (JSON) or its typed error.
async fn answer<T: serde::Serialize>(
    state: &WebState,
    client: &ServiceClient,
    (integration, provider): (&str, &str),
    what: &str,
    started: Instant,
    result: Result<T, ApiError>,
) -> HttpResponse {
    let outcome = result.as_ref().map(|_| 200).map_err(ToString::to_string);
    record(
        state,
        client,
        Some((integration, provider)),
        what.to_owned(),
        &outcome,
        started,
    )
    .await;
    match result {
        Ok(value) => HttpResponse::Ok().json(value),
        Err(e) => api_error(&e),
    }
}

async fn list_integrations(state: web::Data<WebState>, service: Service) -> HttpResponse {
    let started = Instant::now();
    let rows = match api_tokens::visible_integrations(&state.ctx.db, &service.0).await {
        Ok(rows) => rows,
        Err(e) => return db_error(e),
    };
    let items: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "id": row.id,
                "provider": row.provider_slug,
                "status": row.status,
                "account_id": row.external_account_id,
                "account_name": row.external_account_name,
                "granted_scopes": row.granted_scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                "connected_at": row.connected_at.map(|t| t.and_utc().to_rfc3339()),
                "last_error": row.last_error,
            })
        })
        .collect();
    record(
        &state,
        &service.0,
        None,
        "GET /api/v1/integrations".into(),
        &Ok(200),
        started,
    )
    .await;
    HttpResponse::Ok().json(json!({ "integrations": items }))
}

async fn provider_api<'a>(
    state: &'a WebState,
    client: &ServiceClient,
    raw_id: &str,
) -> Result<ProviderApi<'a>, HttpResponse> {
    // A token limited to other integrations learns nothing more than from a wrong id.
    let id = IntegrationId::parse(raw_id)
        .filter(|id| client.may_use(&id.to_text()))
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "no such integration"))?;
    ProviderApi::for_integration(&state.ctx, client.org_id, id)
        .await
        .map_err(|e| api_error(&e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackMessage {
    /// A channel id, or
    channel: Option<String>,
    /// a user id (a direct message).
    user: Option<String>,
    text: String,
    /// Unix seconds: schedule instead of sending now.
    post_at: Option<i64>,
}

async fn slack_message(
    state: web::Data<WebState>,
    service: Service,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    let Ok(message) = serde_json::from_slice::<SlackMessage>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {\"channel\" or \"user\", \"text\", optional \"post_at\"}",
        );
    };
    if message.text.trim().is_empty() || message.text.len() > 40_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "text must be 1 to 40,000 characters",
        );
    }
    if let Some(at) = message.post_at
        && !schedulable(at, chrono::Utc::now().timestamp())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "post_at must be a Unix time in the future, at most 120 days ahead (Slack's limit)",
        );
    }
    let api = match provider_api(&state, &service.0, &id).await {
        Ok(api) if api.provider.def.slug == "slack" => api,
        Ok(_) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "wrong_provider",
                "this integration is not Slack",
            );
        }
        Err(response) => return response,
    };
    let slack = Slack::new(api);
    let result = match (&message.channel, &message.user, message.post_at) {
        (Some(channel), None, None) => slack.post_message(channel, &message.text).await.map(|m| json!(m)),
        (None, Some(user), None) => slack.send_dm(user, &message.text).await.map(|m| json!(m)),
        (Some(channel), None, Some(at)) => slack
            .schedule_message(channel, &message.text, at)
            .await
            .map(|id| json!({ "scheduled_message_id": id })),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "give exactly one of channel or user (post_at only with channel)",
            );
        }
    };
    answer(
        &state,
        &service.0,
        (&id, "slack"),
        "Slack message",
        started,
        result,
    )
    .await
}

/// Slack schedules messages up to 120 days ahead (chat.scheduleMessage, `time_too_far`).
const MAX_SCHEDULE_AHEAD_SECS: i64 = 120 * 24 * 3600;

fn schedulable(post_at: i64, now: i64) -> bool {
    post_at > now && post_at.abs_diff(now) <= MAX_SCHEDULE_AHEAD_SECS.unsigned_abs()
}

/// A Google integration's API for this client, or the answer to give.
async fn google_api<'a>(
    state: &'a WebState,
    client: &ServiceClient,
    raw_id: &str,
) -> Result<Google<'a>, HttpResponse> {
    match provider_api(state, client, raw_id).await {
        Ok(api) if api.provider.def.slug == "google" => Ok(Google::new(api)),
        Ok(_) => Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_provider",
            "this integration is not Google Workspace",
        )),
        Err(response) => Err(response),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarEventRequest {
    #[serde(default = "primary")]
    calendar_id: String,
    summary: String,
    #[serde(default)]
    description: Option<String>,
    start: String,
    end: String,
    #[serde(default)]
    attendees: Vec<String>,
}

fn primary() -> String {
    "primary".into()
}

async fn calendar_event(
    state: web::Data<WebState>,
    service: Service,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    let Ok(request) = serde_json::from_slice::<CalendarEventRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {summary, start, end (RFC 3339), attendees?, description?, calendar_id?}",
        );
    };
    let times_valid = [&request.start, &request.end]
        .iter()
        .all(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
    if request.summary.trim().is_empty()
        || !times_valid
        || request
            .attendees
            .iter()
            .any(|a| crate::domain::Email::parse(a).is_err())
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a summary, RFC 3339 start and end, and valid attendee emails are required",
        );
    }
    let google = match google_api(&state, &service.0, &id).await {
        Ok(google) => google,
        Err(response) => return response,
    };
    let new = NewEvent {
        summary: request.summary,
        description: request.description,
        start: request.start,
        end: request.end,
        attendees: request.attendees,
    };
    let result = google.create_event(&request.calendar_id, &new).await;
    answer(
        &state,
        &service.0,
        (&id, "google"),
        "Calendar event",
        started,
        result,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    to: String,
    subject: String,
    body: String,
}

async fn email(
    state: web::Data<WebState>,
    service: Service,
    id: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    let Ok(request) = serde_json::from_slice::<EmailRequest>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "expected {to, subject, body}",
        );
    };
    if crate::domain::Email::parse(&request.to).is_err()
        || request.subject.len() > 998
        || request.body.len() > 500_000
    {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "a valid recipient, a subject and a body are required",
        );
    }
    let google = match google_api(&state, &service.0, &id).await {
        Ok(google) => google,
        Err(response) => return response,
    };
    let result = google
        .send_email(&request.to, &request.subject, &request.body)
        .await;
    answer(
        &state,
        &service.0,
        (&id, "google"),
        "Email",
        started,
        result.map(|message_id| json!({ "id": message_id })),
    )
    .await
}

/// The proxy's path, checked to stay inside the provider's API base: no absolute URLs, no
/// `..`, no encoded separators or dots, no backslashes or control characters.
pub fn proxy_url(base: &str, tail: &str) -> Option<String> {
    let lower = tail.to_ascii_lowercase();
    let forbidden = tail.is_empty()
        || tail.contains("..")
        || tail.contains("//")
        || tail.contains('\\')
        || tail.contains('@')
        || tail.contains(':')
        || tail.chars().any(char::is_control)
        || ["%2e", "%2f", "%5c", "%00", "%40", "%3a", "%25"]
            .iter()
            .any(|e| lower.contains(e));
    if forbidden {
        return None;
    }
    let url = format!("{}/{}", base.trim_end_matches('/'), tail.trim_start_matches('/'));
    let parsed = url::Url::parse(&url).ok()?;
    let base = url::Url::parse(base).ok()?;
    (parsed.origin() == base.origin() && parsed.path().starts_with(base.path().trim_end_matches('/')))
        .then_some(url)
}

async fn proxy(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    path: web::Path<(String, String)>,
    mut payload: web::Payload,
) -> HttpResponse {
    let started = Instant::now();
    let (id, tail) = path.into_inner();
    let api = match provider_api(&state, &service.0, &id).await {
        Ok(api) => api,
        Err(response) => return response,
    };
    // The raw path, as sent: the router has already decoded `tail`.
    let raw_tail = req.path().split_once("/proxy/").map(|(_, t)| t).unwrap_or(&tail);
    let Some(url) = proxy_url(api.base(), raw_tail) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_path",
            "the path must stay inside the provider's API",
        );
    };
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the body could not be read",
            );
        };
        if body.len() + chunk.len() > MAX_BODY {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the body is larger than 1 MiB",
            );
        }
        body.extend_from_slice(&chunk);
    }
    let method = match reqwest::Method::from_bytes(req.method().as_str().as_bytes()) {
        Ok(m) if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) => m,
        _ => {
            return error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "GET, POST, PUT, PATCH or DELETE",
            );
        }
    };
    let query: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    // A JSON answer is expected unless the caller asked for another type (a file's bytes).
    let expects_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|accept| accept.contains("json") || accept.trim() == "*/*");
    let request = ApiRequest {
        retry_safe: matches!(method.as_str(), "GET" | "PUT" | "DELETE"),
        expects_json,
        method: method.clone(),
        url,
        query,
        body: (!body.is_empty()).then(|| (content_type.to_owned(), body)),
    };
    let result = api.send(&request).await;
    let slug = api.provider.def.slug.clone();
    let outcome = match &result {
        Ok(response) => Ok(response.status),
        Err(ApiError::BadRequest(_) | ApiError::NotFound) => Ok(400),
        Err(e) => Err(e.to_string()),
    };
    record(
        &state,
        &service.0,
        Some((id.as_str(), &slug)),
        format!("{method} proxy /{raw_tail}"),
        &outcome,
        started,
    )
    .await;
    match result {
        Ok(response) => {
            let mut answer =
                HttpResponse::build(StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY));
            if let Some(content_type) = response.content_type {
                answer.insert_header((header::CONTENT_TYPE, content_type));
            }
            answer.body(response.body)
        }
        Err(e) => api_error(&e),
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The OpenAPI 3.1 description of /api/v1 (a test checks it against the routes).
pub fn openapi_document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let errors = json!({
        "401": { "description": "missing, wrong or revoked service token", "content": { "application/json": { "schema": error } } },
        "404": { "description": "no such integration in the token's organization, or not one the token is limited to", "content": { "application/json": { "schema": error } } },
        "409": { "description": "the integration needs a reconnect", "content": { "application/json": { "schema": error } } },
        "429": { "description": "this service token is over its rate (error rate_limited), or the provider is rate limiting; wait Retry-After seconds", "content": { "application/json": { "schema": error } } },
        "503": { "description": "the provider or storage is unavailable", "content": { "application/json": { "schema": error } } },
    });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Targetym Integrations internal API", "version": "1.0.0",
                  "description": "For other Targetym services. Authenticate with a service token: `Authorization: Bearer tgi_…`." },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "serviceToken": [] }],
        "paths": {
            "/integrations": { "get": {
                "summary": "The organization's integrations and their status",
                "responses": { "200": { "description": "the integrations", "content": { "application/json": { "schema": { "type": "object",
                    "properties": { "integrations": { "type": "array", "items": { "$ref": "#/components/schemas/Integration" } } } } } } },
                    "401": errors["401"] },
            } },
            "/integrations/{id}/slack/messages": { "post": {
                "summary": "Send a Slack message to a channel or a person, now or scheduled",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SlackMessage" } } } },
                "responses": { "200": { "description": "sent (channel, ts) or scheduled (scheduled_message_id)" },
                    "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "409": errors["409"],
                    "422": { "description": "refused by Slack or not a Slack integration" }, "429": errors["429"], "503": errors["503"] },
            } },
            "/integrations/{id}/proxy/{path}": {
                "parameters": [id, { "name": "path", "in": "path", "required": true, "schema": { "type": "string" },
                    "description": "a path under the provider's API base (no `..`, no absolute URL, no encoded separators)" }],
                "description": "A successful answer must be JSON unless the request's Accept names another type (a file's bytes, say); one that is not (a proxy's HTML page, a cut or garbled body) answers 503 and counts as the provider failing. The call and its retries take at most twice PROVIDER_TIMEOUT_SECS; after repeated failures calls answer 503 with Retry-After at once (circuit open).",
                "get": { "summary": "Forward to the provider's API with a fresh token", "responses": { "200": { "description": "the provider's answer, passed back" }, "400": { "description": "the path leaves the provider's API" }, "401": errors["401"], "404": errors["404"], "503": errors["503"] } },
                "post": { "summary": "Forward to the provider's API with a fresh token", "responses": { "200": { "description": "the provider's answer, passed back" }, "400": { "description": "the path leaves the provider's API" }, "401": errors["401"], "404": errors["404"] } },
                "put": { "summary": "Forward to the provider's API with a fresh token", "responses": { "200": { "description": "the provider's answer, passed back" } } },
                "patch": { "summary": "Forward to the provider's API with a fresh token", "responses": { "200": { "description": "the provider's answer, passed back" } } },
                "delete": { "summary": "Forward to the provider's API with a fresh token", "responses": { "200": { "description": "the provider's answer, passed back" } } },
            },
            "/integrations/{id}/calendar/events": { "post": {
                "summary": "Create a calendar event with attendees (Google Workspace)",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CalendarEvent" } } } },
                "responses": { "200": { "description": "the event (id, summary, start, end, html_link)" },
                    "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "409": errors["409"],
                    "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "503": errors["503"] },
            } },
            "/integrations/{id}/email": { "post": {
                "summary": "Send a plain-text email from the connected account (Gmail)",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Email" } } } },
                "responses": { "200": { "description": "sent (id)" },
                    "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "409": errors["409"],
                    "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "503": errors["503"] },
            } },
            "/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } } },
        },
        "components": {
            "securitySchemes": { "serviceToken": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error", "message"], "properties": { "error": { "type": "string" }, "message": { "type": "string" } } },
                "Integration": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "provider": { "type": "string" }, "status": { "type": "string" },
                    "account_id": { "type": "string" }, "account_name": { "type": "string" },
                    "granted_scopes": { "type": "array", "items": { "type": "string" } },
                    "connected_at": { "type": ["string", "null"], "format": "date-time" }, "last_error": { "type": ["string", "null"] } } },
                "CalendarEvent": { "type": "object", "required": ["summary", "start", "end"], "additionalProperties": false, "properties": {
                    "calendar_id": { "type": "string", "default": "primary" }, "summary": { "type": "string" },
                    "description": { "type": "string" }, "start": { "type": "string", "format": "date-time" },
                    "end": { "type": "string", "format": "date-time" },
                    "attendees": { "type": "array", "items": { "type": "string", "format": "email" } } } },
                "Email": { "type": "object", "required": ["to", "subject", "body"], "additionalProperties": false, "properties": {
                    "to": { "type": "string", "format": "email" }, "subject": { "type": "string" }, "body": { "type": "string" } } },
                "SlackMessage": { "type": "object", "required": ["text"], "additionalProperties": false, "properties": {
                    "channel": { "type": "string" }, "user": { "type": "string" }, "text": { "type": "string", "maxLength": 40000 },
                    "post_at": { "type": "integer", "description": "Unix seconds; with channel only" } } },
            },
        },
    })
}
