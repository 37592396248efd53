//! Discovery, JWKS and the two protected resources: /userinfo and Slack-like /api/auth.test.

use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::Shared;
use super::keys;
use super::state::WatchChannel;

pub(super) async fn discovery(shared: web::Data<Shared>) -> HttpResponse {
    let base = &shared.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "jwks_uri": format!("{base}/jwks"),
        "revocation_endpoint": format!("{base}/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access", "read", "write"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "at_hash", "email", "email_verified", "name"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

pub(super) async fn jwks() -> HttpResponse {
    HttpResponse::Ok().json(keys::jwks())
}

pub(super) async fn userinfo(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let token = bearer_token(&req);
    let valid = {
        let mut state = shared.lock();
        state.counters.userinfo_calls += 1;
        token.is_some_and(|token| state.is_active_access_token(token))
    };
    if valid {
        return HttpResponse::Ok().json(json!({
            "sub": keys::SUBJECT,
            "email": keys::EMAIL,
            "email_verified": true,
            "name": keys::NAME,
        }));
    }
    // RFC 6750 §3.1: a request without credentials gets no error code.
    let challenge = match token {
        Some(_) => "Bearer realm=\"mock-provider\", error=\"invalid_token\"",
        None => "Bearer realm=\"mock-provider\"",
    };
    HttpResponse::Unauthorized()
        .insert_header((WWW_AUTHENTICATE, challenge))
        .finish()
}

/// Slack answers 200 with `ok: false` for bad tokens, so the app must read the body.
pub(super) async fn auth_test(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let token = bearer_token(&req);
    let valid = {
        let mut state = shared.lock();
        state.counters.identity_calls += 1;
        token.is_some_and(|token| state.is_active_access_token(token))
    };
    let body = match (token, valid) {
        (_, true) => json!({
            "ok": true,
            "url": "https://mock.slack.example/",
            "team": "Mock Workspace",
            "team_id": "T-MOCK",
            "user": "mock-bot",
            "user_id": "U-MOCK",
            "bot_id": "B-MOCK",
        }),
        (Some(_), false) => json!({ "ok": false, "error": "invalid_auth" }),
        (None, false) => json!({ "ok": false, "error": "not_authed" }),
    };
    HttpResponse::Ok().json(body)
}

pub(super) fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let header = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// POST /calendar/v3/calendars/{calendar}/events/watch (Google Calendar push notifications).
pub(super) async fn calendar_watch(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    watch(req, shared, body, "calendar")
}

/// GET /drive/v3/changes/startPageToken.
pub(super) async fn drive_start_page_token(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let state = shared.lock();
    if !bearer_token(&req).is_some_and(|token| state.is_active_access_token(token)) {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!({ "kind": "drive#startPageToken", "startPageToken": "42" }))
}

/// POST /drive/v3/changes/watch?pageToken=… (Google Drive push notifications).
pub(super) async fn drive_watch(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    if !req.query_string().contains("pageToken=") {
        return HttpResponse::BadRequest()
            .json(json!({ "error": { "code": 400, "message": "Required parameter: pageToken" } }));
    }
    watch(req, shared, body, "drive")
}

fn watch(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
    resource: &str,
) -> HttpResponse {
    let mut state = shared.lock();
    if !bearer_token(&req).is_some_and(|token| state.is_active_access_token(token)) {
        return HttpResponse::Unauthorized()
            .json(json!({ "error": { "code": 401, "message": "Invalid Credentials" } }));
    }
    let text = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let (Some(id), Some(address), Some("web_hook")) = (
        text("id"),
        text("address"),
        body.get("type").and_then(|v| v.as_str()),
    ) else {
        return HttpResponse::BadRequest().json(
            json!({ "error": { "code": 400, "message": "id, type=web_hook and address are required" } }),
        );
    };
    let expiration = text("expiration")
        .unwrap_or_else(|| (chrono::Utc::now().timestamp_millis() + 604_800_000).to_string());
    let resource_id = format!("mock-resource-{}", super::state::random_hex());
    state.watch_channels.push(WatchChannel {
        resource: resource.to_owned(),
        id: id.clone(),
        resource_id: resource_id.clone(),
        token: text("token").unwrap_or_default(),
        address,
        stopped: false,
        stopped_at: None,
    });
    state.counters.watches += 1;
    HttpResponse::Ok().json(json!({
        "kind": "api#channel",
        "id": id,
        "resourceId": resource_id,
        "resourceUri": "https://www.googleapis.com/calendar/v3/calendars/primary/events",
        "expiration": expiration,
    }))
}

/// POST /calendar/v3/channels/stop.
pub(super) async fn calendar_channel_stop(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    channel_stop(req, shared, body, "calendar")
}

/// POST /drive/v3/channels/stop.
pub(super) async fn drive_channel_stop(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
) -> HttpResponse {
    channel_stop(req, shared, body, "drive")
}

/// Like Google, each API stops only its own channels: another API's channel is not found.
fn channel_stop(
    req: HttpRequest,
    shared: web::Data<Shared>,
    body: web::Json<serde_json::Value>,
    api: &str,
) -> HttpResponse {
    let mut state = shared.lock();
    if !bearer_token(&req).is_some_and(|token| state.is_active_access_token(token)) {
        return HttpResponse::Unauthorized().finish();
    }
    let id = body
        .get("id")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    match state
        .watch_channels
        .iter_mut()
        .find(|c| c.id == id && c.resource == api && !c.stopped)
    {
        Some(channel) => {
            channel.stopped = true;
            channel.stopped_at = Some(api.to_owned());
            state.counters.channel_stops += 1;
            HttpResponse::NoContent().finish()
        }
        None => HttpResponse::NotFound().finish(),
    }
}
