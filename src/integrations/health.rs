//! Each provider's identity ("health") call through the shared HTTP core: who the connection
//! is, asked with a fresh token. Test connection runs it.

use reqwest::Method;
use serde_json::Value;

use super::provider_api::{ApiError, ApiRequest, ProviderApi};
use crate::providers::catalogue::{HealthCheck, IdentitySource};

/// Runs the provider's identity call; returns the account name it reports (when it names one).
pub async fn identity_call(api: &ProviderApi<'_>) -> Result<Option<String>, ApiError> {
    let def = &api.provider.def;
    if def.health_check == HealthCheck::FirstSiteMyself {
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
    let mut request = ApiRequest::get(url);
    if let IdentitySource::PostJson { body, .. } = &def.identity {
        // Identity calls change nothing: safe to repeat.
        request.method = Method::POST;
        request.body = Some(("application/json".into(), body.clone().into_bytes()));
    }
    let answer = api.send(&request).await?.json()?;
    Ok(crate::oauth::account_name(def, &answer))
}
