//! How a provider's answer is read: a failure by its cause (what the HTTP core does next),
//! whatever the provider's way of saying it.

use std::time::Duration;

use serde_json::Value;

use super::ApiError;
use crate::providers::catalogue::ApiErrors;

/// Empty (a 204) or JSON.
pub(super) fn is_json(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace) || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// One attempt's failure, by what to do next.
pub(super) enum Failure {
    Unauthorized(String),
    RateLimited(Option<Duration>),
    Down(String),
    Final(ApiError),
}

/// Reads a provider's answer for failures, including those that come with a 200 (Slack) or a
/// 403 (Google's rate limits).
pub(super) fn classify(
    errors: ApiErrors,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<(), Failure> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let message = || {
        json.as_ref()
            .and_then(|j| {
                j.pointer("/error/message")
                    .or_else(|| j.get("error_description"))
                    .or_else(|| j.get("error"))
                    .or_else(|| j.get("message"))
            })
            .and_then(Value::as_str)
            .map(|m| crate::domain::sanitize(m, 200))
            .unwrap_or_else(|| format!("HTTP {status}"))
    };
    let google_reason = json
        .as_ref()
        .and_then(|j| j.pointer("/error/errors/0/reason"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    // Google: `insufficientPermissions`, and in newer APIs the detail ACCESS_TOKEN_SCOPE_INSUFFICIENT.
    let scope_insufficient = google_reason == "insufficientPermissions"
        || json
            .as_ref()
            .and_then(|j| j.pointer("/error/details"))
            .and_then(Value::as_array)
            .is_some_and(|details| {
                details.iter().any(|d| {
                    d.get("reason").and_then(Value::as_str) == Some("ACCESS_TOKEN_SCOPE_INSUFFICIENT")
                })
            });
    match status {
        429 => Err(Failure::RateLimited(retry_after)),
        403 if matches!(google_reason, "rateLimitExceeded" | "userRateLimitExceeded") => {
            Err(Failure::RateLimited(retry_after))
        }
        403 if scope_insufficient => Err(Failure::Final(ApiError::MissingScope { scopes: Vec::new() })),
        401 => Err(Failure::Unauthorized(message())),
        404 => Err(Failure::Final(ApiError::NotFound)),
        500.. => Err(Failure::Down(format!("HTTP {status}"))),
        400..=499 => Err(Failure::Final(ApiError::BadRequest(message()))),
        _ if errors == ApiErrors::OkFalseBody
            && json.as_ref().and_then(|j| j.get("ok")) == Some(&Value::Bool(false)) =>
        {
            let error = json
                .as_ref()
                .and_then(|j| j.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            match error {
                "ratelimited" => Err(Failure::RateLimited(retry_after)),
                // Slack names what would allow it in `needed` (comma-separated).
                "missing_scope" => Err(Failure::Final(ApiError::MissingScope {
                    scopes: json
                        .as_ref()
                        .and_then(|j| j.get("needed"))
                        .and_then(Value::as_str)
                        .map(|needed| {
                            crate::providers::scopes::parse(needed)
                                .map(str::to_owned)
                                .collect()
                        })
                        .unwrap_or_default(),
                })),
                "invalid_auth" | "token_expired" | "not_authed" | "token_revoked" | "account_inactive" => {
                    Err(Failure::Unauthorized(error.to_owned()))
                }
                "channel_not_found" | "users_not_found" | "user_not_found" => {
                    Err(Failure::Final(ApiError::NotFound))
                }
                other => Err(Failure::Final(ApiError::BadRequest(crate::domain::sanitize(
                    other, 80,
                )))),
            }
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(result: Result<(), Failure>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(Failure::Unauthorized(_)) => "auth",
            Err(Failure::RateLimited(_)) => "rate",
            Err(Failure::Down(_)) => "down",
            Err(Failure::Final(ApiError::NotFound)) => "not_found",
            Err(Failure::Final(_)) => "final",
        }
    }

    #[test]
    fn answers_are_classified_by_cause() {
        assert_eq!(kind(classify(ApiErrors::HttpStatus, 200, None, b"{}")), "ok");
        assert_eq!(kind(classify(ApiErrors::HttpStatus, 429, None, b"")), "rate");
        let google_rate = br#"{"error":{"code":403,"errors":[{"reason":"rateLimitExceeded"}]}}"#;
        assert_eq!(
            kind(classify(ApiErrors::HttpStatus, 403, None, google_rate)),
            "rate"
        );
        assert_eq!(
            kind(classify(
                ApiErrors::HttpStatus,
                403,
                None,
                br#"{"error":{"message":"forbidden"}}"#
            )),
            "final"
        );
        assert_eq!(kind(classify(ApiErrors::HttpStatus, 401, None, b"")), "auth");
        assert_eq!(kind(classify(ApiErrors::HttpStatus, 404, None, b"")), "not_found");
        assert_eq!(kind(classify(ApiErrors::HttpStatus, 503, None, b"")), "down");
        assert_eq!(
            kind(classify(
                ApiErrors::OkFalseBody,
                200,
                None,
                br#"{"ok":false,"error":"ratelimited"}"#
            )),
            "rate"
        );
        assert_eq!(
            kind(classify(
                ApiErrors::OkFalseBody,
                200,
                None,
                br#"{"ok":false,"error":"invalid_auth"}"#
            )),
            "auth"
        );
        assert_eq!(
            kind(classify(
                ApiErrors::OkFalseBody,
                200,
                None,
                br#"{"ok":false,"error":"channel_not_found"}"#
            )),
            "not_found"
        );
        assert_eq!(
            kind(classify(ApiErrors::OkFalseBody, 200, None, br#"{"ok":true}"#)),
            "ok"
        );
        assert_eq!(
            kind(classify(ApiErrors::HttpStatus, 200, None, br#"{"ok":false}"#)),
            "ok",
            "only Slack speaks ok:false"
        );
    }
}
