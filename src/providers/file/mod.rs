//! PROVIDERS_FILE: a TOML file that overrides built-in providers' endpoints and credentials
//! and adds custom OAuth 2.0 or OpenID Connect providers (the latter by issuer discovery).
//! An invalid file stops the start with a message naming the file, the provider and the field.

mod custom;
mod fields;

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use super::catalogue::ProviderDef;
use crate::config::ClientCredentials;
use crate::domain::{ProviderSlug, TokenAuthMethod};
use custom::new_provider;
pub use custom::oidc_provider;
pub use fields::checked_url;
use fields::{non_empty, set_url};

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
pub(super) struct Entry {
    slug: String,
    name: Option<String>,
    kind: Option<String>,
    issuer: Option<String>,
    authorize_url: Option<String>,
    token_url: Option<String>,
    revoke_url: Option<String>,
    userinfo_url: Option<String>,
    api_base_url: Option<String>,
    /// `{base}/{host}{path}` for the calls of endpoints.rs (a mock, a recording proxy).
    api_hosts: Option<String>,
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

pub(super) type FieldError = (&'static str, String);

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
            crate::config::secret_from_env(var)
                .map_err(|e| ("client_secret_env", e.0))?
                .ok_or_else(|| {
                    (
                        "client_secret_env",
                        format!("the variable {var} (or {var}_FILE) is not set"),
                    )
                })?,
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
    if let Some(url) = &entry.api_hosts {
        def.api_hosts = Some(checked_url(url, "api_hosts")?);
    }
    if let Some(url) = &entry.revoke_url {
        def.revoke_url = Some(checked_url(url, "revoke_url")?);
    }
    if let Some(url) = &entry.userinfo_url {
        def.identity_url = Some(checked_url(url, "userinfo_url")?);
    }
    apply_common(def, entry)
}

/// Fields that mean the same for built-in and custom providers.
pub(super) fn apply_common(def: &mut ProviderDef, entry: &Entry) -> Result<(), FieldError> {
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
