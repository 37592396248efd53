//! GitHub organization members, paged by the `Link` header, from the organization an admin
//! chose (targets.rs); the organizations to choose from.

use super::accounts::listed;
use super::readers::{MembersPage, PAGE_SIZE, items, text};
use crate::db::directory_targets;
use crate::integrations::provider_api::{ApiError, ProviderApi};
use crate::providers::catalogue::endpoints::{GITHUB_ORG_MEMBERS, GITHUB_USER_ORGS};

pub const NO_GITHUB_ORG: &str =
    "no GitHub organization is chosen for the directory: choose one on the integration's page";

/// The organization an admin chose for the GitHub directory.
pub async fn chosen_org(api: &ProviderApi<'_>) -> Result<Option<String>, ApiError> {
    let integration = api.integration();
    Ok(api
        .context()
        .db
        .run(move |conn| directory_targets::find(conn, integration))
        .await?)
}

/// GitHub organization members, paged by the `Link` header. Members carry no email here (the
/// public one would cost a call per member): the login is the name.
pub async fn members(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let outside = || ApiError::BadRequest("GitHub's next page is not on its API host".into());
    // A checkpoint that is no longer on the API host (its host was reconfigured since) starts
    // the pass's reading again from the first page: the pages already read are read again.
    let resumed = cursor.and_then(|link| api.follow(&GITHUB_ORG_MEMBERS, &link));
    let request = match resumed {
        Some(request) => request,
        None => {
            let org = chosen_org(api)
                .await?
                .ok_or_else(|| ApiError::BadRequest(NO_GITHUB_ORG.into()))?;
            api.request(&GITHUB_ORG_MEMBERS, &[("org", &org)])
                .query("per_page", PAGE_SIZE.to_string())
        }
    };
    let response = api.send(&request).await?;
    let answer = response.json()?;
    let members = items(&answer, "")
        .filter_map(|m| {
            let id = m.get("id")?.as_u64()?.to_string();
            Some(listed(id, None, text(m, "/login"), false))
        })
        .collect();
    // A next page elsewhere is refused rather than taken as the end (which would end the pass
    // and mark the accounts of the pages not read as gone).
    let next = match response.next_link {
        Some(link) if api.follow(&GITHUB_ORG_MEMBERS, &link).is_none() => return Err(outside()),
        next => next,
    };
    Ok((members, next))
}

/// The organizations the connected GitHub user belongs to (their logins).
pub async fn orgs(api: &ProviderApi<'_>) -> Result<Vec<String>, ApiError> {
    let request = api
        .request(&GITHUB_USER_ORGS, &[])
        .query("per_page", PAGE_SIZE.to_string());
    let answer = api.send(&request).await?.json()?;
    Ok(items(&answer, "").filter_map(|o| text(o, "/login")).collect())
}
