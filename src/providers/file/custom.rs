//! A custom provider from its file entry: OAuth 2.0 from its endpoints, OpenID Connect by
//! discovery at its issuer.

use serde::Deserialize;

use super::fields::{checked_url, non_empty, origin, pointer};
use super::{Entry, FieldError, apply_common};
use crate::domain::{AuthKind, TokenAuthMethod, WebhookKind};
use crate::providers::catalogue::{ApiErrors, HealthCheck, IdentitySource, ProviderDef, RevokeStyle};

/// What an OpenID provider publishes at `{issuer}/.well-known/openid-configuration`.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    revocation_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

pub(super) async fn new_provider(entry: &Entry, http: &reqwest::Client) -> Result<ProviderDef, FieldError> {
    let kind = entry
        .kind
        .as_deref()
        .ok_or(("kind", "required for a new provider (oidc or oauth2)".into()))?;
    let kind = AuthKind::parse(kind).ok_or(("kind", "must be oidc or oauth2".into()))?;
    let name = non_empty(entry.name.as_deref().unwrap_or_default(), "name")?;
    let mut def = base_def(&entry.slug, &name, kind);
    match kind {
        AuthKind::Oidc => {
            if entry.authorize_url.is_some() || entry.token_url.is_some() {
                return Err((
                    "authorize_url",
                    "an oidc provider's endpoints come from discovery".into(),
                ));
            }
            let issuer = checked_url(
                entry
                    .issuer
                    .as_deref()
                    .ok_or(("issuer", "required for kind = \"oidc\"".into()))?,
                "issuer",
            )?;
            discovered(&mut def, http, issuer).await?;
        }
        AuthKind::OAuth2 => {
            if entry.issuer.is_some() {
                return Err(("issuer", "only for kind = \"oidc\"".into()));
            }
            def.authorize_url = checked_url(
                entry
                    .authorize_url
                    .as_deref()
                    .ok_or(("authorize_url", "required for kind = \"oauth2\"".into()))?,
                "authorize_url",
            )?;
            def.token_url = checked_url(
                entry
                    .token_url
                    .as_deref()
                    .ok_or(("token_url", "required for kind = \"oauth2\"".into()))?,
                "token_url",
            )?;
            def.revoke_url = entry
                .revoke_url
                .as_deref()
                .map(|u| checked_url(u, "revoke_url"))
                .transpose()?;
            def.revoke_style = if def.revoke_url.is_some() {
                RevokeStyle::Rfc7009
            } else {
                RevokeStyle::None
            };
            let userinfo = entry.userinfo_url.as_deref().ok_or((
                "userinfo_url",
                "required for kind = \"oauth2\" (it names the connected account)".into(),
            ))?;
            def.identity_url = Some(checked_url(userinfo, "userinfo_url")?);
            def.identity = IdentitySource::Get {
                id: pointer(
                    entry.account_id_field.as_deref().unwrap_or("/sub"),
                    "account_id_field",
                )?,
                name: pointer(
                    entry.account_name_field.as_deref().unwrap_or("/email"),
                    "account_name_field",
                )?,
            };
            def.api_base_url = origin(&def.token_url);
        }
    }
    if let Some(url) = &entry.api_base_url {
        def.api_base_url = checked_url(url, "api_base_url")?;
    }
    apply_common(&mut def, entry)?;
    Ok(def)
}

/// An OpenID provider known only by its issuer (admin single sign-on): endpoints, keys, PKCE
/// and client authentication from its discovery document. The error says what failed.
pub async fn oidc_provider(
    http: &reqwest::Client,
    slug: &str,
    name: &str,
    issuer: &str,
) -> Result<ProviderDef, String> {
    let mut def = base_def(slug, name, AuthKind::Oidc);
    let issuer = checked_url(issuer, "issuer").map_err(|(_, problem)| problem)?;
    discovered(&mut def, http, issuer)
        .await
        .map_err(|(_, problem)| problem)?;
    Ok(def)
}

/// Fills an OpenID provider's endpoints, PKCE and client authentication from discovery at
/// `issuer`.
async fn discovered(def: &mut ProviderDef, http: &reqwest::Client, issuer: String) -> Result<(), FieldError> {
    let discovery = discover(http, &def.slug, &issuer)
        .await
        .map_err(|problem| ("issuer", problem))?;
    def.issuer = Some(issuer);
    def.authorize_url = checked_url(&discovery.authorization_endpoint, "issuer")?;
    def.token_url = checked_url(&discovery.token_endpoint, "issuer")?;
    def.jwks_url = Some(checked_url(&discovery.jwks_uri, "issuer")?);
    def.identity_url = discovery
        .userinfo_endpoint
        .as_deref()
        .map(|u| checked_url(u, "issuer"))
        .transpose()?;
    def.revoke_url = discovery
        .revocation_endpoint
        .as_deref()
        .map(|u| checked_url(u, "issuer"))
        .transpose()?;
    def.revoke_style = if def.revoke_url.is_some() {
        RevokeStyle::Rfc7009
    } else {
        RevokeStyle::None
    };
    def.pkce = discovery
        .code_challenge_methods_supported
        .iter()
        .any(|m| m == "S256");
    def.iss_parameter_supported = discovery.authorization_response_iss_parameter_supported;
    // Discovery lists what the server accepts; basic is the default (RFC 8414).
    let methods = &discovery.token_endpoint_auth_methods_supported;
    if !methods.is_empty()
        && !methods.iter().any(|m| m == "client_secret_basic")
        && methods.iter().any(|m| m == "client_secret_post")
    {
        def.token_auth_method = TokenAuthMethod::ClientSecretPost;
    }
    def.default_scopes = vec!["openid".into(), "email".into(), "profile".into()];
    def.api_base_url = origin(&def.token_url);
    Ok(())
}

/// A provider with nothing configured yet but its name and kind.
fn base_def(slug: &str, name: &str, kind: AuthKind) -> ProviderDef {
    ProviderDef {
        slug: slug.to_owned(),
        name: name.to_owned(),
        category: "Other".into(),
        description: format!("Connect {name}."),
        brand_color: "#374151".into(),
        auth_kind: kind,
        authorize_url: String::new(),
        token_url: String::new(),
        revoke_url: None,
        identity_url: None,
        issuer: None,
        jwks_url: None,
        api_base_url: String::new(),
        api_hosts: None,
        default_scopes: Vec::new(),
        scope_separator: " ".into(),
        pkce: true,
        token_auth_method: TokenAuthMethod::ClientSecretBasic,
        extra_auth_params: Vec::new(),
        webhook_kind: WebhookKind::None,
        docs_url: String::new(),
        identity: IdentitySource::IdToken,
        revoke_style: RevokeStyle::Rfc7009,
        iss_parameter_supported: false,
        api_headers: Vec::new(),
        api_errors: ApiErrors::HttpStatus,
        health_check: HealthCheck::Identity,
    }
}

async fn discover(http: &reqwest::Client, slug: &str, issuer: &str) -> Result<Discovery, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = crate::providers::http::send(http.get(&url), slug)
        .await
        .map_err(|e| format!("discovery at {url} failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("discovery at {url} answered {}", response.status()));
    }
    let body = crate::providers::http::read_body(response)
        .await
        .map_err(|e| format!("discovery at {url}: {e}"))?;
    let discovery: Discovery = serde_json::from_slice(&body)
        .map_err(|e| format!("discovery at {url} is not a valid document: {e}"))?;
    // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
    if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!(
            "discovery names the issuer {:?}, not {issuer:?}",
            discovery.issuer
        ));
    }
    Ok(discovery)
}
