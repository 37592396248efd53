use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};

use super::OAuthError;
use super::token::basic_authorization;
use crate::config::ClientCredentials;
use crate::domain::TokenAuthMethod;
use crate::providers::catalogue::{ProviderDef, RevokeStyle};

/// Revokes the grant at the provider in its own way. `Ok(false)` when the provider has no
/// revocation endpoint (disconnect then only forgets the tokens).
pub async fn revoke(
    http: &reqwest::Client,
    provider: &ProviderDef,
    credentials: &ClientCredentials,
    access_token: &SecretString,
    refresh_token: Option<&SecretString>,
) -> Result<bool, OAuthError> {
    let Some(url) = provider.revoke_url.as_deref() else {
        return Ok(false);
    };
    // Revoking the refresh token ends the whole grant (RFC 7009 §2.1).
    let (token, hint) = match refresh_token {
        Some(refresh) => (refresh, "refresh_token"),
        None => (access_token, "access_token"),
    };
    let bearer = format!("Bearer {}", access_token.expose_secret());
    let request = match provider.revoke_style {
        RevokeStyle::None => return Ok(false),
        RevokeStyle::Rfc7009 => {
            let mut form = vec![
                ("token", token.expose_secret().to_owned()),
                ("token_type_hint", hint.to_owned()),
            ];
            let request = http.post(url);
            match provider.token_auth_method {
                TokenAuthMethod::ClientSecretBasic => request
                    .header(AUTHORIZATION, basic_authorization(credentials))
                    .form(&form),
                TokenAuthMethod::ClientSecretPost => {
                    form.push(("client_id", credentials.client_id.clone()));
                    form.push((
                        "client_secret",
                        credentials.client_secret.expose_secret().to_owned(),
                    ));
                    request.form(&form)
                }
            }
        }
        RevokeStyle::Rfc7009Json => http
            .post(url)
            .header(AUTHORIZATION, basic_authorization(credentials))
            .json(&serde_json::json!({ "token": token.expose_secret() })),
        RevokeStyle::BearerSelf => http.post(url).header(AUTHORIZATION, bearer),
        RevokeStyle::GithubApplicationToken => http
            .delete(url.replace("{client_id}", &credentials.client_id))
            .header(AUTHORIZATION, basic_authorization(credentials))
            .header("Accept", "application/vnd.github+json")
            .json(&serde_json::json!({ "access_token": access_token.expose_secret() })),
    };
    let response = crate::providers::http::send(request, &provider.slug).await?;
    let status = response.status().as_u16();
    match status {
        200..=299 => Ok(true),
        429 | 500.. => Err(OAuthError::unavailable(status)),
        _ => Err(OAuthError::Refused {
            error: format!("HTTP {status}"),
            description: None,
        }),
    }
}
