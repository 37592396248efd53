//! The proxy: any call under the provider's API base, with a fresh token.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use super::actions::provider_api;
use super::errors::ApiFailure;
use super::{MAX_BODY, Service, record};
use crate::domain::IntegrationId;
use crate::integrations::provider_api::{ApiError, ApiRequest};
use crate::web::WebState;
use crate::web::api::ApiPath;

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

pub(super) async fn proxy(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let api = provider_api(&state, &service.0, id).await?;
    // The raw path, as sent: the router has already decoded `tail`.
    let raw_tail = req
        .path()
        .split_once("/proxy/")
        .map_or_else(|| req.match_info().query("tail"), |(_, t)| t);
    let url = proxy_url(api.base(), raw_tail).ok_or(ApiFailure::PathOutsideApi)?;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiFailure::BadRequest("the body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiFailure::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let method = match reqwest::Method::from_bytes(req.method().as_str().as_bytes()) {
        Ok(m) if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) => m,
        _ => return Err(ApiFailure::MethodNotAllowed),
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
        endpoint: None,
    };
    let result = api.send(&request).await;
    let slug = api.provider.def.slug.clone();
    let outcome = match &result {
        Ok(response) => Ok(response.status),
        Err(
            ApiError::BadRequest(_) | ApiError::Forbidden(_) | ApiError::ResyncRequired | ApiError::NotFound,
        ) => Ok(400),
        Err(e) => Err(e.to_string()),
    };
    record(
        &state,
        &service.0,
        Some((id, &slug)),
        format!("{method} proxy /{raw_tail}"),
        &outcome,
        started,
    )
    .await;
    let response = result?;
    let mut answer =
        HttpResponse::build(StatusCode::from_u16(response.status).unwrap_or(StatusCode::BAD_GATEWAY));
    if let Some(content_type) = response.content_type {
        answer.insert_header((header::CONTENT_TYPE, content_type));
    }
    Ok(answer.body(response.body))
}
