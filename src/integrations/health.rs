//! Each provider's identity ("health") call through the shared HTTP core: who the connection
//! is, asked with a fresh token. Test connection runs it.

use reqwest::Method;
use serde_json::Value;

use super::provider_api::{ApiError, ApiRequest, ProviderApi};
use crate::providers::catalogue::IdentitySource;

/// Runs the provider's identity call; returns the account name it reports (when it names one).
pub async fn identity_call(api: &ProviderApi<'_>) -> Result<Option<String>, ApiError> {
    let def = &api.provider.def;
    // Jira: the sites the token reaches, then "myself" on the first one.
    if def.slug == "jira" {
        let sites = api
            .send(&ApiRequest::get(format!(
                "{}/oauth/token/accessible-resources",
                api.base()
            )))
            .await?
            .json()?;
        let cloud = sites
            .pointer("/0/id")
            .and_then(Value::as_str)
            .ok_or(ApiError::NotFound)?;
        let me = api
            .send(&ApiRequest::get(format!(
                "{}/ex/jira/{cloud}/rest/api/3/myself",
                api.base()
            )))
            .await?
            .json()?;
        return Ok(me.get("displayName").and_then(Value::as_str).map(str::to_owned));
    }
    let url = def
        .identity_url
        .clone()
        .ok_or_else(|| ApiError::BadRequest("the provider has no identity call".into()))?;
    let (request, name_pointer) = match &def.identity {
        IdentitySource::PostJson { body, name, .. } => {
            let mut request = ApiRequest::get(url);
            request.method = Method::POST;
            request.body = Some(("application/json".into(), body.clone().into_bytes()));
            // Identity calls change nothing: safe to repeat.
            (request, Some(name.as_str()))
        }
        IdentitySource::Get { name, .. } => (ApiRequest::get(url), Some(name.as_str())),
        IdentitySource::IdToken | IdentitySource::TokenResponse { .. } => (ApiRequest::get(url), None),
    };
    let answer = api.send(&request).await?.json()?;
    let name = name_pointer
        .and_then(|p| answer.pointer(p))
        .or_else(|| answer.get("email"))
        .or_else(|| answer.get("team"))
        .and_then(Value::as_str)
        .map(|n| crate::oauth::sanitize(n, 200));
    Ok(name)
}
