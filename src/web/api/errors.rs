//! The internal API's errors: one enum, one table of status, code and sentence, answered as
//! JSON `{"error": code, "message": sentence}`. A provider's failure keeps the provider's
//! sentence (it names what the caller must fix); our own failures (storage, a panic) answer a
//! fixed sentence and their cause goes to the log.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::db::DbError;
use crate::integrations::provider_api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    /// No token, or one that is wrong or revoked.
    #[error("a valid service token is required")]
    Unauthorized,
    /// The token is over its rate: it may call again in this many seconds.
    #[error("this service token is over its rate; retry later")]
    TokenOverRate { retry_after_secs: u64 },
    /// Not an id, not this organization's, or not one the token is limited to: the caller
    /// learns nothing more from one than from the others.
    #[error("no such integration")]
    UnknownIntegration,
    /// Not an organization, or not the token's: the same answer for both.
    #[error("no such organization")]
    UnknownOrganization,
    /// The request is malformed; the sentence says what is expected.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The proxy's path would leave the provider's API.
    #[error("the path must stay inside the provider's API")]
    PathOutsideApi,
    #[error("the body is larger than 1 MiB")]
    TooLarge,
    /// The proxy forwards these methods only.
    #[error("GET, POST, PUT, PATCH or DELETE")]
    MethodNotAllowed,
    /// The action belongs to another provider; the sentence names the one it needs.
    #[error("{0}")]
    WrongProvider(&'static str),
    /// The provider's call failed, typed by what the caller must do.
    #[error(transparent)]
    Provider(#[from] ApiError),
    /// Our storage failed or refused a write.
    #[error("storage: {0}")]
    Storage(#[from] DbError),
    /// A handler panicked (answered by the middleware that caught it).
    #[error("an unexpected error occurred; nothing was changed")]
    Internal,
}

impl ApiFailure {
    /// The status, the code callers match on, and the sentence.
    fn parts(&self) -> (StatusCode, &'static str, String) {
        let (status, code) = match self {
            ApiFailure::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiFailure::TokenOverRate { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiFailure::UnknownIntegration
            | ApiFailure::UnknownOrganization
            | ApiFailure::Provider(ApiError::UnknownIntegration) => (StatusCode::NOT_FOUND, "not_found"),
            ApiFailure::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiFailure::PathOutsideApi => (StatusCode::BAD_REQUEST, "bad_path"),
            ApiFailure::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiFailure::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiFailure::WrongProvider(_) => (StatusCode::UNPROCESSABLE_ENTITY, "wrong_provider"),
            ApiFailure::Provider(ApiError::NeedsReconnect(_)) => (StatusCode::CONFLICT, "needs_reconnect"),
            ApiFailure::Provider(ApiError::Auth(_)) => (StatusCode::BAD_GATEWAY, "provider_auth"),
            ApiFailure::Provider(ApiError::RateLimited { .. }) => {
                (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
            }
            ApiFailure::Provider(ApiError::ProviderDown(_) | ApiError::CircuitOpen { .. }) => {
                (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable")
            }
            ApiFailure::Provider(
                ApiError::BadRequest(_) | ApiError::Forbidden(_) | ApiError::ResyncRequired,
            ) => (StatusCode::UNPROCESSABLE_ENTITY, "provider_rejected"),
            ApiFailure::Provider(ApiError::NotFound) => (StatusCode::NOT_FOUND, "provider_not_found"),
            ApiFailure::Provider(ApiError::MissingScope { .. }) => (StatusCode::FORBIDDEN, "missing_scope"),
            ApiFailure::Storage(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiFailure::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let message = match self {
            // The provider's own words, without our prefix.
            ApiFailure::Provider(
                ApiError::NeedsReconnect(why)
                | ApiError::Auth(why)
                | ApiError::ProviderDown(why)
                | ApiError::BadRequest(why)
                | ApiError::Forbidden(why),
            ) => why.clone(),
            ApiFailure::Storage(_) => "storage is unavailable; retry later".to_owned(),
            other => other.to_string(),
        };
        (status, code, message)
    }

    /// Seconds to wait, for the answers that say.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiFailure::TokenOverRate { retry_after_secs } => Some(*retry_after_secs),
            ApiFailure::Provider(ApiError::RateLimited { retry_after }) => {
                Some(retry_after.map_or(30, |d| d.as_secs().max(1)))
            }
            ApiFailure::Provider(ApiError::CircuitOpen { retry_after }) => Some(retry_after.as_secs().max(1)),
            _ => None,
        }
    }
}

impl ResponseError for ApiFailure {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiFailure::Storage(e) = self {
            if e.is_write_refused() {
                // The database's watch logs refused writes, throttled.
                tracing::debug!(error = %e, "internal API write refused");
            } else {
                tracing::error!(error = %e, "internal API storage failure");
            }
        }
        let (status, code, message) = self.parts();
        let mut response = HttpResponse::build(status);
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if let ApiFailure::Unauthorized = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"targetym-integrations\""),
            ));
        }
        match self {
            // The scopes that would allow the call: the admin adds access, then it works.
            ApiFailure::Provider(ApiError::MissingScope { scopes }) => {
                response.json(json!({ "error": code, "message": message, "scopes": scopes }))
            }
            _ => response.json(json!({ "error": code, "message": message })),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// (status, code, message, Retry-After, WWW-Authenticate) of an answer.
    fn answered(failure: ApiFailure) -> (u16, String, String, Option<String>, Option<String>) {
        let response = failure.error_response();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        let (retry_after, authenticate) = (header(header::RETRY_AFTER), header(header::WWW_AUTHENTICATE));
        assert_eq!(
            header(header::CONTENT_TYPE).as_deref(),
            Some("application/json"),
            "{failure:?}"
        );
        let status = response.status().as_u16();
        let body = actix_web::body::to_bytes(response.into_body());
        let body: serde_json::Value =
            serde_json::from_slice(&futures_util::FutureExt::now_or_never(body).unwrap().unwrap()).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
        let text = |key: &str| body[key].as_str().unwrap().to_owned();
        (status, text("error"), text("message"), retry_after, authenticate)
    }

    #[test]
    fn each_failure_has_its_status_code_sentence_and_headers() {
        let some = |s: &str| Some(s.to_owned());
        let table = [
            (
                ApiFailure::Unauthorized,
                (
                    401,
                    "unauthorized",
                    "a valid service token is required",
                    None,
                    some("Bearer realm=\"targetym-integrations\""),
                ),
            ),
            (
                ApiFailure::TokenOverRate { retry_after_secs: 7 },
                (
                    429,
                    "rate_limited",
                    "this service token is over its rate; retry later",
                    some("7"),
                    None,
                ),
            ),
            (
                ApiFailure::UnknownIntegration,
                (404, "not_found", "no such integration", None, None),
            ),
            (
                ApiFailure::Provider(ApiError::UnknownIntegration),
                (404, "not_found", "no such integration", None, None),
            ),
            (
                ApiFailure::UnknownOrganization,
                (404, "not_found", "no such organization", None, None),
            ),
            (
                ApiFailure::BadRequest("expected {to}"),
                (400, "bad_request", "expected {to}", None, None),
            ),
            (
                ApiFailure::PathOutsideApi,
                (
                    400,
                    "bad_path",
                    "the path must stay inside the provider's API",
                    None,
                    None,
                ),
            ),
            (
                ApiFailure::TooLarge,
                (413, "too_large", "the body is larger than 1 MiB", None, None),
            ),
            (
                ApiFailure::MethodNotAllowed,
                (
                    405,
                    "method_not_allowed",
                    "GET, POST, PUT, PATCH or DELETE",
                    None,
                    None,
                ),
            ),
            (
                ApiFailure::WrongProvider("this integration is not Slack"),
                (422, "wrong_provider", "this integration is not Slack", None, None),
            ),
            (
                ApiFailure::Provider(ApiError::NeedsReconnect("reconnect it".into())),
                (409, "needs_reconnect", "reconnect it", None, None),
            ),
            (
                ApiFailure::Provider(ApiError::Auth("invalid_auth".into())),
                (502, "provider_auth", "invalid_auth", None, None),
            ),
            (
                ApiFailure::Provider(ApiError::RateLimited {
                    retry_after: Some(Duration::from_secs(120)),
                }),
                (
                    429,
                    "rate_limited",
                    "the provider is rate limiting",
                    some("120"),
                    None,
                ),
            ),
            (
                ApiFailure::Provider(ApiError::RateLimited { retry_after: None }),
                (
                    429,
                    "rate_limited",
                    "the provider is rate limiting",
                    some("30"),
                    None,
                ),
            ),
            (
                ApiFailure::Provider(ApiError::ProviderDown("HTTP 503".into())),
                (503, "provider_unavailable", "HTTP 503", None, None),
            ),
            (
                ApiFailure::Provider(ApiError::CircuitOpen {
                    retry_after: Duration::from_millis(200),
                }),
                (
                    503,
                    "provider_unavailable",
                    "calls to the provider are paused after repeated failures (circuit open)",
                    some("1"),
                    None,
                ),
            ),
            (
                ApiFailure::Provider(ApiError::BadRequest("invalid_name".into())),
                (422, "provider_rejected", "invalid_name", None, None),
            ),
            (
                ApiFailure::Provider(ApiError::NotFound),
                (
                    404,
                    "provider_not_found",
                    "the provider has no such resource",
                    None,
                    None,
                ),
            ),
            (
                ApiFailure::Storage(DbError::Query(diesel::result::Error::NotFound)),
                (
                    503,
                    "unavailable",
                    "storage is unavailable; retry later",
                    None,
                    None,
                ),
            ),
            (
                ApiFailure::Internal,
                (
                    500,
                    "internal",
                    "an unexpected error occurred; nothing was changed",
                    None,
                    None,
                ),
            ),
        ];
        for (failure, (status, code, message, retry_after, authenticate)) in table {
            let expected = (
                status,
                code.to_owned(),
                message.to_owned(),
                retry_after,
                authenticate,
            );
            assert_eq!(failure.status_code().as_u16(), status, "{failure:?}");
            assert_eq!(answered(failure), expected);
        }
    }
}
