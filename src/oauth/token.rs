use reqwest::header::{ACCEPT, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::OAuthError;
use crate::config::ClientCredentials;
use crate::domain::TokenAuthMethod;
use crate::domain::sanitize;
use crate::providers::catalogue::ProviderDef;
use crate::providers::http::{read_body, send};

/// The longest token lifetime we believe. A provider's `expires_in` is outside input: an
/// absurd value (10^13 s) would overflow the expiry's date arithmetic, and a token that
/// claims to live longer than this is checked again within the year anyway.
pub const MAX_EXPIRES_IN_SECS: i64 = 365 * 24 * 3600;

/// What a token endpoint gave.
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    /// Seconds, from 1 to `MAX_EXPIRES_IN_SECS`.
    pub expires_in: Option<i64>,
    /// Granted scopes, space-separated, when the provider says (else those requested hold).
    pub scope: Option<String>,
    pub id_token: Option<SecretString>,
    /// The rest of the answer with every token removed (Slack's team, Notion's workspace).
    pub extra: Value,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The authorization code grant (RFC 6749 §4.1.3), with the PKCE verifier when one was sent.
pub async fn exchange_code(
    http: &reqwest::Client,
    provider: &ProviderDef,
    credentials: &ClientCredentials,
    code: &str,
    redirect_uri: &str,
    pkce_verifier: Option<&SecretString>,
) -> Result<TokenSet, OAuthError> {
    let mut form = vec![
        ("grant_type", "authorization_code".to_owned()),
        ("code", code.to_owned()),
        ("redirect_uri", redirect_uri.to_owned()),
    ];
    if let Some(verifier) = pkce_verifier {
        form.push(("code_verifier", verifier.expose_secret().to_owned()));
    }
    token_request(http, provider, credentials, form).await
}

/// The refresh token grant (RFC 6749 §6).
pub async fn refresh_token(
    http: &reqwest::Client,
    provider: &ProviderDef,
    credentials: &ClientCredentials,
    refresh_token: &SecretString,
) -> Result<TokenSet, OAuthError> {
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh_token.expose_secret().to_owned()),
    ];
    token_request(http, provider, credentials, form).await
}

async fn token_request(
    http: &reqwest::Client,
    provider: &ProviderDef,
    credentials: &ClientCredentials,
    mut form: Vec<(&'static str, String)>,
) -> Result<TokenSet, OAuthError> {
    let mut request = http.post(&provider.token_url).header(ACCEPT, "application/json");
    match provider.token_auth_method {
        TokenAuthMethod::ClientSecretBasic => {
            request = request.header(AUTHORIZATION, basic_authorization(credentials));
        }
        TokenAuthMethod::ClientSecretPost => {
            form.push(("client_id", credentials.client_id.clone()));
            form.push((
                "client_secret",
                credentials.client_secret.expose_secret().to_owned(),
            ));
        }
    }
    let response = send(request.form(&form), &provider.slug).await?;
    let status = response.status().as_u16();
    let retry_after = super::retry_after(response.headers());
    let body = read_body(response).await?;
    parse_token_response(status, &body).map_err(|e| match e {
        OAuthError::Unavailable { status, .. } => OAuthError::Unavailable { status, retry_after },
        other => other,
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, as RFC 6749 §2.3.1 says.
pub(super) fn basic_authorization(credentials: &ClientCredentials) -> String {
    use base64::Engine;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&credentials.client_id),
        encode(credentials.client_secret.expose_secret())
    );
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// Reads an OAuth error body (RFC 6749 §5.2; Slack's `{"ok": false, "error": ...}` too).
pub(super) fn oauth_error(json: &Value) -> Option<OAuthError> {
    let error = json.get("error")?.as_str()?;
    Some(OAuthError::Refused {
        error: sanitize(error, 64),
        description: json
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| sanitize(d, 300)),
    })
}

fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenSet, OAuthError> {
    if status == 429 || status >= 500 {
        return Err(OAuthError::unavailable(status));
    }
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| OAuthError::BadResponse(format!("HTTP {status} without a JSON body")))?;
    if let Some(error) = oauth_error(&json) {
        return Err(error);
    }
    if !(200..300).contains(&status) {
        return Err(OAuthError::BadResponse(format!("HTTP {status}")));
    }
    let Value::Object(mut fields) = json else {
        return Err(OAuthError::BadResponse("the answer is not a JSON object".into()));
    };
    let mut take_secret = |name: &str| match fields.remove(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(SecretString::from(s)),
        _ => None,
    };
    let access_token = take_secret("access_token")
        .ok_or_else(|| OAuthError::BadResponse("no access_token in the answer".into()))?;
    let refresh_token = take_secret("refresh_token");
    let id_token = take_secret("id_token");
    let token_type = match fields.remove("token_type") {
        Some(Value::String(t)) => sanitize(&t, 32),
        _ => "Bearer".to_owned(),
    };
    let expires_in = match fields.remove("expires_in") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|secs| *secs > 0)
    .map(|secs| secs.min(MAX_EXPIRES_IN_SECS));
    let scope = match fields.remove("scope") {
        Some(Value::String(s)) => Some(normalize_scopes(&s)),
        _ => None,
    };
    // Other tokens hide in provider-specific fields (Slack's authed_user.access_token).
    let mut extra = Value::Object(fields);
    strip_tokens(&mut extra);
    Ok(TokenSet {
        access_token,
        refresh_token,
        token_type,
        expires_in,
        scope,
        id_token,
        extra,
    })
}

/// Space-separated, whatever the provider used (GitHub and Slack answer with commas).
pub fn normalize_scopes(scopes: &str) -> String {
    scopes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn strip_tokens(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !(key.ends_with("token") || key.ends_with("_token") || key == "code"));
            map.values_mut().for_each(strip_tokens);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_tokens),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_standard_answer_and_keeps_no_token_in_extra() {
        let body = br#"{"access_token":"at-1","refresh_token":"rt-1","token_type":"bearer","expires_in":"3600",
            "scope":"chat:write,users:read","team":{"id":"T1","name":"Acme"},"authed_user":{"id":"U1","access_token":"xoxp-user"}}"#;
        let set = parse_token_response(200, body).unwrap();
        assert_eq!(set.access_token.expose_secret(), "at-1");
        assert_eq!(set.refresh_token.unwrap().expose_secret(), "rt-1");
        assert_eq!(set.expires_in, Some(3600));
        assert_eq!(set.scope.as_deref(), Some("chat:write users:read"));
        assert_eq!(set.extra["team"]["id"], "T1");
        assert!(!set.extra.to_string().contains("xoxp-user"));
    }

    #[test]
    fn an_absurd_lifetime_is_clamped_to_a_year_and_a_negative_one_ignored() {
        let answer = |expires_in: &str| {
            let body = format!(r#"{{"access_token":"at-1","expires_in":{expires_in}}}"#);
            parse_token_response(200, body.as_bytes()).unwrap().expires_in
        };
        assert_eq!(answer("10000000000000"), Some(MAX_EXPIRES_IN_SECS));
        assert_eq!(answer("\"9223372036854775807\""), Some(MAX_EXPIRES_IN_SECS));
        assert_eq!(answer("-5"), None);
        assert_eq!(answer("1e300"), None);
        assert_eq!(answer("3599"), Some(3599));
        // What callers do with it cannot overflow.
        let far = chrono::NaiveDate::MAX.and_hms_opt(0, 0, 0).unwrap() - chrono::Duration::days(400);
        assert!(
            far.checked_add_signed(chrono::Duration::seconds(MAX_EXPIRES_IN_SECS))
                .is_some()
        );
    }

    #[test]
    fn errors_by_cause() {
        let refused =
            parse_token_response(400, br#"{"error":"invalid_grant","error_description":"expired"}"#)
                .unwrap_err();
        assert!(refused.is_grant_revoked());
        assert!(matches!(
            parse_token_response(200, br#"{"ok":false,"error":"invalid_code"}"#),
            Err(OAuthError::Refused { .. })
        ));
        assert!(matches!(
            parse_token_response(503, b"down"),
            Err(OAuthError::Unavailable { status: 503, .. })
        ));
        assert!(matches!(
            parse_token_response(429, b""),
            Err(OAuthError::Unavailable { status: 429, .. })
        ));
        assert!(matches!(
            parse_token_response(200, b"<html>"),
            Err(OAuthError::BadResponse(_))
        ));
        assert!(matches!(
            parse_token_response(200, br#"{"token_type":"bearer"}"#),
            Err(OAuthError::BadResponse(_))
        ));
    }

    #[test]
    fn basic_authorization_form_encodes_before_base64() {
        let credentials = ClientCredentials {
            client_id: "id:1".into(),
            client_secret: SecretString::from("a b"),
        };
        use base64::Engine;
        let header = basic_authorization(&credentials);
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(header.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"id%3A1:a+b");
    }
}
