//! The webhook endpoints: raw body (bounded), headers and query in; the provider's expected
//! answer out. Bodies over the limit are refused by their Content-Length before being read.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use super::WebState;
use crate::webhooks::{self, Ack, Delivery, WebhookError};

super::route_table! {
    post "/api/webhooks/slack" => slack;
    post "/api/webhooks/google" => google;
    post "/api/webhooks/{provider}/{webhook_id}" => other;
    get "/api/webhooks/{provider}/{webhook_id}" => other;
}

enum Refused {
    TooLarge,
    Broken,
}

async fn read_body(req: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, Refused> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(Refused::TooLarge);
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| Refused::Broken)?;
        if body.len() + chunk.len() > limit {
            return Err(Refused::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn headers_of(req: &HttpRequest) -> HashMap<String, String> {
    req.headers()
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_ascii_lowercase(),
                value.to_str().ok()?.to_owned(),
            ))
        })
        .collect()
}

fn query_of(req: &HttpRequest) -> HashMap<String, String> {
    serde_urlencoded::from_str(req.query_string()).unwrap_or_default()
}

fn respond(result: Result<Ack, WebhookError>) -> HttpResponse {
    let plain = |status: StatusCode, text: &str| {
        HttpResponse::build(status)
            .content_type("text/plain; charset=utf-8")
            .body(text.to_owned())
    };
    match result {
        Ok(Ack::Stored) => HttpResponse::Ok().finish(),
        Ok(Ack::Text(text)) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(text),
        Ok(Ack::Json(json)) => HttpResponse::Ok().json(json),
        Ok(Ack::Header(name, value)) => match HeaderValue::from_str(&value) {
            Ok(value) => HttpResponse::Ok().insert_header((name, value)).finish(),
            Err(_) => plain(StatusCode::BAD_REQUEST, "malformed header"),
        },
        Err(WebhookError::NotFound) => plain(StatusCode::NOT_FOUND, "no such webhook"),
        Err(WebhookError::Unauthorized(_)) => plain(StatusCode::UNAUTHORIZED, "verification failed"),
        Err(WebhookError::BadRequest(why)) => plain(StatusCode::BAD_REQUEST, why),
        Err(WebhookError::RateLimited { retry_after_secs }) => HttpResponse::TooManyRequests()
            .insert_header((header::RETRY_AFTER, retry_after_secs.to_string()))
            .content_type("text/plain; charset=utf-8")
            .body("too many deliveries"),
        Err(WebhookError::Unavailable(e)) => {
            if e.is_write_refused() || e.is_unreachable() {
                // The database's watch logs refused writes and outages, throttled.
                tracing::debug!(error = %e, "webhook not stored (database away or refusing writes); answering 503");
            } else {
                tracing::error!(error = %e, "webhook not stored; answering 503 so the provider retries");
            }
            HttpResponse::ServiceUnavailable()
                .insert_header((header::RETRY_AFTER, "5"))
                .content_type("text/plain; charset=utf-8")
                .body("temporarily unavailable")
        }
    }
}

async fn with_body<F, Fut>(
    req: HttpRequest,
    payload: web::Payload,
    state: &WebState,
    handle: F,
) -> HttpResponse
where
    F: FnOnce(HashMap<String, String>, HashMap<String, String>, Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Result<Ack, WebhookError>>,
{
    match read_body(&req, payload, state.ctx.settings.webhook_max_body_bytes).await {
        Ok(body) => respond(handle(headers_of(&req), query_of(&req), body).await),
        Err(Refused::TooLarge) => {
            state.ctx.metrics.webhook("any", "too_large");
            HttpResponse::PayloadTooLarge()
                .insert_header((header::CONNECTION, "close"))
                .body("body too large")
        }
        Err(Refused::Broken) => HttpResponse::BadRequest().body("the body could not be read"),
    }
}

async fn slack(req: HttpRequest, payload: web::Payload, state: web::Data<WebState>) -> HttpResponse {
    receive_at(req, payload, state, Endpoint::Slack).await
}

async fn google(req: HttpRequest, payload: web::Payload, state: web::Data<WebState>) -> HttpResponse {
    receive_at(req, payload, state, Endpoint::Google).await
}

/// The two endpoints that serve every account of their provider.
enum Endpoint {
    Slack,
    Google,
}

async fn receive_at(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebState>,
    endpoint: Endpoint,
) -> HttpResponse {
    let ctx = state.ctx.clone();
    with_body(req, payload, &state, |headers, query, body| async move {
        let delivery = Delivery {
            headers: &headers,
            query: &query,
            body: &body,
        };
        match endpoint {
            Endpoint::Slack => webhooks::receive_slack(&ctx, &delivery).await,
            Endpoint::Google => webhooks::receive_google(&ctx, &delivery).await,
        }
    })
    .await
}

async fn other(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<WebState>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (provider, webhook_id) = path.into_inner();
    let is_get = req.method() == actix_web::http::Method::GET;
    let ctx = state.ctx.clone();
    with_body(req, payload, &state, |headers, query, body| async move {
        let delivery = Delivery {
            headers: &headers,
            query: &query,
            body: &body,
        };
        webhooks::receive(&ctx, &provider, &webhook_id, is_get, &delivery).await
    })
    .await
}
