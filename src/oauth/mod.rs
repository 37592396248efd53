//! OAuth 2.0 / OpenID Connect as a confidential client: the authorization request (state,
//! PKCE S256, nonce), the token endpoint (code exchange and refresh with either client
//! authentication method), id_token validation, learning the connected account, revocation.
//! Nothing here touches the database; secrets stay in `SecretString`s.

mod authorize;
mod id_token;
mod identity;
mod revoke;
mod token;

pub use authorize::{AuthorizationRequest, authorization_request};
pub use id_token::{IdentityClaims, fetch_jwks, validate_id_token};
pub use identity::{Account, account_name, check_token, identify};
pub use revoke::revoke;
pub use token::{TokenSet, exchange_code, refresh_token};

use crate::providers::http::ReadError;

/// Why a call to a provider failed, by cause, in words that are safe to show and log (no
/// token, code or secret is ever part of one).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider answered with an OAuth error (RFC 6749 §5.2), e.g. invalid_grant.
    #[error("the provider refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Refused {
        error: String,
        description: Option<String>,
    },
    /// 5xx or 429; with the provider's Retry-After when it sent one.
    #[error("the provider is unavailable (HTTP {status})")]
    Unavailable {
        status: u16,
        retry_after: Option<std::time::Duration>,
    },
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The answer broke the protocol (not JSON, missing fields, too large).
    #[error("the provider's answer was not understood: {0}")]
    BadResponse(String),
    /// The id_token failed validation (signature, iss, aud, exp, nonce).
    #[error("the identity token is not valid: {0}")]
    InvalidIdToken(String),
    #[error("the provider does not name the connected account: {0}")]
    NoAccount(String),
}

impl OAuthError {
    /// The grant is gone for good (the user must connect again): invalid_grant and friends.
    pub fn is_grant_revoked(&self) -> bool {
        matches!(self, OAuthError::Refused { error, .. }
            if matches!(error.as_str(),
                "invalid_grant" | "token_revoked" | "invalid_token" | "unauthorized_client"
                // Slack's words for the same.
                | "invalid_auth" | "account_inactive" | "not_authed" | "token_expired"))
    }

    /// Worth retrying later: timeouts, 5xx, 429, unreachable.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            OAuthError::Unavailable { .. } | OAuthError::Timeout | OAuthError::Unreachable(_)
        )
    }
}

impl OAuthError {
    pub fn unavailable(status: u16) -> Self {
        OAuthError::Unavailable {
            status,
            retry_after: None,
        }
    }

    /// How long the provider asked us to wait (Retry-After), if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            OAuthError::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Retry-After in seconds (the HTTP-date form is rare for APIs and ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(|secs| std::time::Duration::from_secs(secs.min(3600)))
}

impl From<ReadError> for OAuthError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Timeout => OAuthError::Timeout,
            ReadError::Connect(message) => OAuthError::Unreachable(message),
            ReadError::TooLarge => OAuthError::BadResponse(e.to_string()),
        }
    }
}

impl From<reqwest::Error> for OAuthError {
    fn from(e: reqwest::Error) -> Self {
        ReadError::from(e).into()
    }
}
