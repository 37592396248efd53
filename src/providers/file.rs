//! PROVIDERS_FILE: a TOML file that overrides built-in providers' endpoints and credentials
//! and adds custom OAuth 2.0 or OpenID Connect providers (the latter by issuer discovery).
//! An invalid file stops the start with a message naming the file, the provider and the field.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use super::catalogue::{ApiErrors, HealthCheck, IdentitySource, ProviderDef, RevokeStyle};
use crate::config::ClientCredentials;
use crate::domain::{AuthKind, ProviderSlug, TokenAuthMethod, WebhookKind};

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ProvidersFileError {
    pub file: PathBuf,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContents {
    #[serde(default)]
    provider: Vec<Entry>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    slug: String,
    name: Option<String>,
    kind: Option<String>,
    issuer: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revoke_url: Option<String>,
    userinfo_url: Option<String>,
    api_base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    scopes: Option<Vec<String>>,
    scope_separator: Option<String>,
    token_auth_method: Option<String>,
    pkce: Option<bool>,
    category: Option<String>,
    description: Option<String>,
    brand_color: Option<String>,
    extra_auth_params: Option<toml::Table>,
    /// JSON pointers into the userinfo answer (custom OAuth 2.0 providers).
    account_id_field: Option<String>,
    account_name_field: Option<String>,
}

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

/// Applies the file to `defs` and returns the credentials it names, by slug.
pub async fn apply(
    path: &Path,
    defs: &mut Vec<ProviderDef>,
    http: &reqwest::Client,
) -> Result<Vec<(String, ClientCredentials)>, ProvidersFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProvidersFileError {
        file: path.to_owned(),
        message: format!("cannot read the file: {e}"),
    })?;
    apply_text(&text, path, defs, http).await
}

/// Applies the file's text (read from `path`, which errors name) to `defs`.
pub async fn apply_text(
    text: &str,
    path: &Path,
    defs: &mut Vec<ProviderDef>,
    http: &reqwest::Client,
) -> Result<Vec<(String, ClientCredentials)>, ProvidersFileError> {
    let fail = |message: String| ProvidersFileError {
        file: path.to_owned(),
        message,
    };
    let contents: FileContents =
        toml::from_str(text).map_err(|e| fail(format!("invalid TOML: {}", e.message())))?;
    let mut credentials = Vec::new();
    for entry in contents.provider {
        let slug = entry.slug.clone();
        let at =
            |field: &str, problem: String| fail(format!("provider \"{slug}\": field `{field}`: {problem}"));
        if ProviderSlug::parse(&slug).is_none() {
            return Err(at("slug", "must match [a-z0-9-]+".into()));
        }
        if let Some(creds) = entry_credentials(&entry).map_err(|(field, problem)| at(field, problem))? {
            credentials.push((slug.clone(), creds));
        }
        match defs.iter_mut().find(|d| d.slug == slug) {
            Some(existing) => {
                apply_override(existing, &entry).map_err(|(field, problem)| at(field, problem))?
            }
            None => {
                let def = new_provider(&entry, http)
                    .await
                    .map_err(|(field, problem)| at(field, problem))?;
                defs.push(def);
            }
        }
    }
    Ok(credentials)
}

type FieldError = (&'static str, String);

fn entry_credentials(entry: &Entry) -> Result<Option<ClientCredentials>, FieldError> {
    let secret = match (&entry.client_secret, &entry.client_secret_env) {
        (Some(_), Some(_)) => {
            return Err((
                "client_secret_env",
                "set client_secret or client_secret_env, not both".into(),
            ));
        }
        (Some(secret), None) => Some(secret.clone()),
        (None, Some(var)) => Some(
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ("client_secret_env", format!("the variable {var} is not set")))?,
        ),
        (None, None) => None,
    };
    match (&entry.client_id, secret) {
        (Some(id), Some(secret)) => Ok(Some(ClientCredentials {
            client_id: id.clone(),
            client_secret: SecretString::from(secret),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(("client_secret", "client_id is set without a client secret".into())),
        (None, Some(_)) => Err(("client_id", "a client secret is set without client_id".into())),
    }
}

fn apply_override(def: &mut ProviderDef, entry: &Entry) -> Result<(), FieldError> {
    if entry.kind.is_some() || entry.issuer.is_some() {
        return Err((
            "kind",
            "a built-in provider's kind and issuer cannot be changed".into(),
        ));
    }
    set_url(&mut def.authorize_url, &entry.authorize_url, "authorize_url")?;
    set_url(&mut def.token_url, &entry.token_url, "token_url")?;
    set_url(&mut def.api_base_url, &entry.api_base_url, "api_base_url")?;
    if let Some(url) = &entry.revoke_url {
        def.revoke_url = Some(checked_url(url, "revoke_url")?);
    }
    if let Some(url) = &entry.userinfo_url {
        def.identity_url = Some(checked_url(url, "userinfo_url")?);
    }
    apply_common(def, entry)
}

/// Fields that mean the same for built-in and custom providers.
fn apply_common(def: &mut ProviderDef, entry: &Entry) -> Result<(), FieldError> {
    if let Some(name) = &entry.name {
        def.name = non_empty(name, "name")?;
    }
    if let Some(category) = &entry.category {
        def.category = non_empty(category, "category")?;
    }
    if let Some(description) = &entry.description {
        def.description = description.trim().to_owned();
    }
    if let Some(color) = &entry.brand_color {
        let valid =
            color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
        if !valid {
            return Err(("brand_color", "must be #rrggbb".into()));
        }
        def.brand_color = color.to_lowercase();
    }
    if let Some(scopes) = &entry.scopes {
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(("scopes", "scopes are non-empty and contain no spaces".into()));
        }
        def.default_scopes = scopes.clone();
    }
    if let Some(separator) = &entry.scope_separator {
        if separator != " " && separator != "," {
            return Err(("scope_separator", "must be \" \" or \",\"".into()));
        }
        def.scope_separator = separator.clone();
    }
    if let Some(method) = &entry.token_auth_method {
        def.token_auth_method = TokenAuthMethod::parse(method).ok_or((
            "token_auth_method",
            "must be client_secret_basic or client_secret_post".into(),
        ))?;
    }
    if let Some(pkce) = entry.pkce {
        def.pkce = pkce;
    }
    if let Some(params) = &entry.extra_auth_params {
        def.extra_auth_params = params
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) => Ok((k.clone(), v.to_owned())),
                None => Err(("extra_auth_params", format!("the value of {k} must be a string"))),
            })
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

async fn new_provider(entry: &Entry, http: &reqwest::Client) -> Result<ProviderDef, FieldError> {
    let kind = entry
        .kind
        .as_deref()
        .ok_or(("kind", "required for a new provider (oidc or oauth2)".into()))?;
    let kind = AuthKind::parse(kind).ok_or(("kind", "must be oidc or oauth2".into()))?;
    let name = non_empty(entry.name.as_deref().unwrap_or_default(), "name")?;
    let mut def = ProviderDef {
        slug: entry.slug.clone(),
        name: name.clone(),
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
    };
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
            let discovery = discover(http, &issuer)
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

async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("discovery at {url} failed: {}", e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("discovery at {url} answered {}", response.status()));
    }
    let body = super::http::read_body(response)
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

fn set_url(target: &mut String, value: &Option<String>, field: &'static str) -> Result<(), FieldError> {
    if let Some(url) = value {
        *target = checked_url(url, field)?;
    }
    Ok(())
}

/// https everywhere; plain http only to this machine (the mock provider, local development).
pub fn checked_url(url: &str, field: &'static str) -> Result<String, FieldError> {
    let parsed = url::Url::parse(url).map_err(|e| (field, format!("not a URL: {e}")))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match parsed.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err((
                field,
                "must be an https:// URL (http only on 127.0.0.1/localhost)".into(),
            ));
        }
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err((field, "must not carry a query, fragment or credentials".into()));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

fn non_empty(value: &str, field: &'static str) -> Result<String, FieldError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 {
        return Err((field, "required, 1 to 100 characters".into()));
    }
    Ok(value.to_owned())
}

fn pointer(value: &str, field: &'static str) -> Result<String, FieldError> {
    if value.starts_with('/') {
        Ok(value.to_owned())
    } else {
        Err((field, "must be a JSON pointer such as /sub or /data/id".into()))
    }
}

fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}
