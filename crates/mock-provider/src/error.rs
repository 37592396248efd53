//! OAuth error responses (RFC 6749 §5.2, RFC 7009 §2.2.1).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: Option<&'static str>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: Option<&'static str>) -> Self {
        Self {
            status,
            error,
            description,
        }
    }

    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", Some(description))
    }

    pub fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            Some("Client authentication failed"),
        )
    }

    pub fn invalid_grant(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", Some(description))
    }

    pub fn invalid_scope(description: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", Some(description))
    }

    pub fn unsupported_grant_type() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", None)
    }

    /// A forced failure (behaviour knob) or an internal one; unknown codes become 500.
    pub fn server_error(status: u16) -> Self {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::new(status, "server_error", None)
    }

    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((WWW_AUTHENTICATE, "Basic realm=\"mock-provider\""));
        }
        let body = match self.description {
            Some(description) => json!({ "error": self.error, "error_description": description }),
            None => json!({ "error": self.error }),
        };
        response.json(body)
    }
}
