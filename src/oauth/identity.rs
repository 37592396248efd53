use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::token::oauth_error;
use super::{IdentityClaims, OAuthError, TokenSet};
use crate::domain::sanitize;
use crate::providers::catalogue::{IdentitySource, ProviderDef};
use crate::providers::http::{read_body, send};

/// The provider account a token belongs to: a stable id and a name to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
}

/// Learns the connected account the way the catalogue says for this provider.
pub async fn identify(
    http: &reqwest::Client,
    provider: &ProviderDef,
    tokens: &TokenSet,
    claims: Option<&IdentityClaims>,
) -> Result<Account, OAuthError> {
    let (document, id_pointer, name_pointer) = match &provider.identity {
        IdentitySource::IdToken => {
            let claims = claims.ok_or_else(|| OAuthError::NoAccount("no id_token in the answer".into()))?;
            // Microsoft: tid + oid is stable across apps; sub is pairwise per app.
            let id = match (&claims.tenant_id, &claims.object_id) {
                (Some(tid), Some(oid)) => format!("{tid}:{oid}"),
                _ => claims.subject.clone(),
            };
            let name = claims
                .email
                .clone()
                .or_else(|| claims.name.clone())
                .unwrap_or_else(|| id.clone());
            return account(id, name);
        }
        IdentitySource::TokenResponse { id, name } => (tokens.extra.clone(), id, name),
        IdentitySource::Get { id, name } => (
            identity_call(http, provider, &tokens.access_token, None).await?,
            id,
            name,
        ),
        IdentitySource::PostJson { body, id, name } => (
            identity_call(http, provider, &tokens.access_token, Some(body)).await?,
            id,
            name,
        ),
    };
    let id = text_at(&document, id_pointer)
        .ok_or_else(|| OAuthError::NoAccount(format!("nothing at {id_pointer}")))?;
    let name = text_at(&document, name_pointer).unwrap_or_else(|| id.clone());
    account(id, name)
}

fn account(id: String, name: String) -> Result<Account, OAuthError> {
    let id = sanitize(&id, 255);
    if id.is_empty() {
        return Err(OAuthError::NoAccount("an empty account id".into()));
    }
    Ok(Account {
        id,
        name: sanitize(&name, 200),
    })
}

/// The account name an identity answer reports (a check, a sync, Test connection): at the
/// provider's name pointer, else its `email` or `team`; made safe to store and show.
pub fn account_name(provider: &ProviderDef, answer: &Value) -> Option<String> {
    let pointer = match &provider.identity {
        IdentitySource::Get { name, .. } | IdentitySource::PostJson { name, .. } => Some(name.as_str()),
        IdentitySource::IdToken | IdentitySource::TokenResponse { .. } => None,
    };
    pointer
        .and_then(|p| answer.pointer(p))
        .or_else(|| answer.get("email"))
        .or_else(|| answer.get("team"))
        .and_then(Value::as_str)
        .map(|name| sanitize(name, 200))
}

/// A string or number at a JSON pointer.
fn text_at(document: &Value, pointer: &str) -> Option<String> {
    match document.pointer(pointer)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Asks the provider's identity endpoint whether it still accepts the access token
/// (tokens without an expiry, "Test connection"). A refusal is a revoked grant.
pub async fn check_token(
    http: &reqwest::Client,
    provider: &ProviderDef,
    access_token: &SecretString,
) -> Result<Value, OAuthError> {
    let body = match &provider.identity {
        IdentitySource::PostJson { body, .. } => Some(body),
        _ => None,
    };
    identity_call(http, provider, access_token, body).await
}

async fn identity_call(
    http: &reqwest::Client,
    provider: &ProviderDef,
    access_token: &SecretString,
    json_body: Option<&String>,
) -> Result<Value, OAuthError> {
    let url = provider
        .identity_url
        .as_deref()
        .ok_or_else(|| OAuthError::NoAccount("the provider has no identity endpoint".into()))?;
    let request = match json_body {
        Some(body) => http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.clone()),
        None => http.get(url),
    };
    let request = request
        .header(AUTHORIZATION, format!("Bearer {}", access_token.expose_secret()))
        .header(ACCEPT, "application/json");
    let response = send(request, &provider.slug).await?;
    let status = response.status().as_u16();
    if status == 429 || status >= 500 {
        return Err(OAuthError::Unavailable {
            status,
            retry_after: super::retry_after(response.headers()),
        });
    }
    if status == 401 {
        return Err(OAuthError::Refused {
            error: "invalid_token".into(),
            description: Some("the provider no longer accepts the access token".into()),
        });
    }
    let body = read_body(response).await?;
    let json: Value = serde_json::from_slice(&body)
        .map_err(|_| OAuthError::BadResponse(format!("identity call: HTTP {status} without JSON")))?;
    // Slack answers 200 {"ok": false, "error": "invalid_auth"}.
    if json.get("ok") == Some(&Value::Bool(false)) || !(200..300).contains(&status) {
        return Err(
            oauth_error(&json).unwrap_or(OAuthError::BadResponse(format!("identity call: HTTP {status}")))
        );
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::catalogue::builtin_providers;

    fn provider(slug: &str) -> ProviderDef {
        builtin_providers().into_iter().find(|p| p.slug == slug).unwrap()
    }

    #[test]
    fn the_account_name_is_read_where_the_provider_says_then_from_email_or_team() {
        let asana = provider("asana");
        let answer = serde_json::json!({ "data": { "gid": "1", "name": "Ada\u{7}" }, "email": "x@y" });
        assert_eq!(account_name(&asana, &answer).as_deref(), Some("Ada"));
        let without_name = serde_json::json!({ "data": { "gid": "1" }, "email": "ada@acme.example" });
        assert_eq!(
            account_name(&asana, &without_name).as_deref(),
            Some("ada@acme.example")
        );
        let slack = provider("slack");
        let auth_test = serde_json::json!({ "ok": true, "team": "Acme Workspace" });
        assert_eq!(
            account_name(&slack, &auth_test).as_deref(),
            Some("Acme Workspace")
        );
        assert_eq!(account_name(&slack, &serde_json::json!({ "ok": true })), None);
    }
}
