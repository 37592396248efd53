//! Errors as JSON: `{"error": code, "message": sentence}`, one status per cause.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use serde_json::json;

use crate::db::DbError;
use crate::integrations::provider_api::ApiError;

/// A JSON error: `{"error": code, "message": sentence}`.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "error": code, "message": message }))
}

pub(super) fn api_error(e: &ApiError) -> HttpResponse {
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

pub(super) fn db_error(e: DbError) -> HttpResponse {
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
