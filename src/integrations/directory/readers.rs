//! The member lists of Asana, Notion, Jira, Linear, Zoom and Dropbox (GitHub's: github.rs), one
//! page at a time through the HTTP core, each in its own pagination style. The checkpoint string carries what the
//! next page needs (the provider's cursor, an offset, the site or workspace, Zoom's phase).

use serde_json::{Value, json};

use super::accounts::listed;
use crate::db::directory::Listed;
use crate::integrations::provider_api::{ApiError, ProviderApi};
use crate::providers::catalogue::endpoints::*;

/// One page of accounts and the checkpoint of the next (`None`: the pass is complete).
pub type MembersPage = (Vec<Listed>, Option<String>);

/// Accounts per page asked for: each provider's maximum (Jira's page is kept small enough that
/// a short page can only be the last).
pub(super) const PAGE_SIZE: usize = 100;
const ZOOM_PAGE_SIZE: usize = 300;
/// Zoom lists one status at a time: the active users, then the deactivated ones.
const ZOOM_STATUSES: [&str; 2] = ["active", "inactive"];

pub(super) fn text(value: &Value, pointer: &str) -> Option<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub(super) fn items<'v>(value: &'v Value, pointer: &str) -> impl Iterator<Item = &'v Value> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// A checkpoint of the form `{scope}:{position}` (a site or workspace id and where to go on).
fn split(cursor: &str) -> Result<(&str, &str), ApiError> {
    cursor
        .split_once(':')
        .ok_or_else(|| ApiError::BadRequest("the directory checkpoint is not one of ours".into()))
}

/// Asana workspace users (the first workspace of the connected user), by `next_page.offset`.
pub async fn asana(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let (workspace, offset) = match cursor.as_deref() {
        Some(cursor) => split(cursor).map(|(w, o)| (w.to_owned(), Some(o.to_owned())))?,
        None => {
            let me = api
                .request(&ASANA_ME_WORKSPACES, &[])
                .query("opt_fields", "workspaces");
            let me = api.send(&me).await?.json()?;
            (
                text(&me, "/data/workspaces/0/gid").ok_or(ApiError::NotFound)?,
                None,
            )
        }
    };
    let mut request = api
        .request(&ASANA_WORKSPACE_USERS, &[("workspace_gid", &workspace)])
        .query("opt_fields", "name,email")
        .query("limit", PAGE_SIZE.to_string());
    if let Some(offset) = offset {
        request = request.query("offset", offset);
    }
    let answer = api.send(&request).await?.json()?;
    let users = items(&answer, "/data")
        .filter_map(|u| {
            Some(listed(
                text(u, "/gid")?,
                text(u, "/email"),
                text(u, "/name"),
                false,
            ))
        })
        .collect();
    let next = text(&answer, "/next_page/offset").map(|offset| format!("{workspace}:{offset}"));
    Ok((users, next))
}

/// Notion users, by `has_more` / `next_cursor`; bots are not people.
pub async fn notion(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let mut request = api
        .request(&NOTION_USERS, &[])
        .query("page_size", PAGE_SIZE.to_string());
    if let Some(cursor) = cursor {
        request = request.query("start_cursor", cursor);
    }
    let answer = api.send(&request).await?.json()?;
    let users = items(&answer, "/results")
        .filter(|u| u.get("type").and_then(Value::as_str) != Some("bot"))
        .filter_map(|u| {
            Some(listed(
                text(u, "/id")?,
                text(u, "/person/email"),
                text(u, "/name"),
                false,
            ))
        })
        .collect();
    let more = answer.get("has_more").and_then(Value::as_bool) == Some(true);
    Ok((users, text(&answer, "/next_cursor").filter(|_| more)))
}

/// Jira users of the first site the token reaches, by offset (`startAt`): a page shorter than
/// asked is the last. Only people (`atlassian` accounts), not apps or customers.
pub async fn jira(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let (cloud, start) = match cursor.as_deref() {
        Some(cursor) => {
            let (cloud, start) = split(cursor)?;
            let start: usize = start
                .parse()
                .map_err(|_| ApiError::BadRequest("the directory checkpoint is not one of ours".into()))?;
            (cloud.to_owned(), start)
        }
        None => {
            let sites = api
                .send(&api.request(&JIRA_ACCESSIBLE_RESOURCES, &[]))
                .await?
                .json()?;
            (text(&sites, "/0/id").ok_or(ApiError::NotFound)?, 0)
        }
    };
    let request = api
        .request(&JIRA_USERS_SEARCH, &[("cloudid", &cloud)])
        .query("startAt", start.to_string())
        .query("maxResults", PAGE_SIZE.to_string());
    let answer = api.send(&request).await?.json()?;
    let page = answer.as_array().map_or(0, Vec::len);
    let users = items(&answer, "")
        .filter(|u| u.get("accountType").and_then(Value::as_str) == Some("atlassian"))
        .filter_map(|u| {
            let inactive = u.get("active").and_then(Value::as_bool) == Some(false);
            Some(listed(
                text(u, "/accountId")?,
                text(u, "/emailAddress"),
                text(u, "/displayName"),
                inactive,
            ))
        })
        .collect();
    let next = (page >= PAGE_SIZE)
        .then(|| start.checked_add(page))
        .flatten()
        .map(|next| format!("{cloud}:{next}"));
    Ok((users, next))
}

const LINEAR_USERS_QUERY: &str = "query Users($first: Int!, $after: String) { users(first: $first, after: $after, includeDisabled: true) { nodes { id name email active } pageInfo { hasNextPage endCursor } } }";

/// Linear users (the disabled ones too), by GraphQL `pageInfo`.
pub async fn linear(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let body = json!({
        "query": LINEAR_USERS_QUERY,
        "variables": { "first": PAGE_SIZE, "after": cursor },
    });
    let mut request = api.request(&LINEAR_USERS, &[]).json(&body);
    // A query changes nothing: safe to repeat.
    request.retry_safe = true;
    let answer = api.send(&request).await?.json()?;
    if let Some(message) = text(&answer, "/errors/0/message") {
        return Err(ApiError::BadRequest(crate::domain::sanitize(&message, 200)));
    }
    let users = items(&answer, "/data/users/nodes")
        .filter_map(|u| {
            let inactive = u.get("active").and_then(Value::as_bool) == Some(false);
            Some(listed(
                text(u, "/id")?,
                text(u, "/email"),
                text(u, "/name"),
                inactive,
            ))
        })
        .collect();
    let more = answer
        .pointer("/data/users/pageInfo/hasNextPage")
        .and_then(Value::as_bool)
        == Some(true);
    Ok((
        users,
        text(&answer, "/data/users/pageInfo/endCursor").filter(|_| more),
    ))
}

/// Zoom users: the active ones, then (a second phase of the same pass, in the checkpoint) the
/// inactive ones, each by `next_page_token`.
pub async fn zoom(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let (phase, token) = match cursor.as_deref() {
        Some(cursor) => {
            let (status, token) = split(cursor)?;
            let phase = ZOOM_STATUSES
                .iter()
                .position(|s| *s == status)
                .ok_or_else(|| ApiError::BadRequest("the directory checkpoint is not one of ours".into()))?;
            (phase, Some(token.to_owned()).filter(|t| !t.is_empty()))
        }
        None => (0, None),
    };
    let mut request = api
        .request(&ZOOM_USERS, &[])
        .query("status", ZOOM_STATUSES[phase])
        .query("page_size", ZOOM_PAGE_SIZE.to_string());
    if let Some(token) = token {
        request = request.query("next_page_token", token);
    }
    let answer = api.send(&request).await?.json()?;
    let users = items(&answer, "/users")
        .filter_map(|u| {
            let name = text(u, "/display_name").or_else(|| {
                let full = format!(
                    "{} {}",
                    text(u, "/first_name").unwrap_or_default(),
                    text(u, "/last_name").unwrap_or_default()
                );
                Some(full.trim().to_owned()).filter(|n| !n.is_empty())
            });
            Some(listed(text(u, "/id")?, text(u, "/email"), name, phase == 1))
        })
        .collect();
    let next = match text(&answer, "/next_page_token") {
        Some(token) => Some(format!("{}:{token}", ZOOM_STATUSES[phase])),
        None => ZOOM_STATUSES.get(phase + 1).map(|status| format!("{status}:")),
    };
    Ok((users, next))
}

/// Dropbox team members: `list_v2`, then `list/continue_v2` with the cursor while `has_more`.
/// Suspended and removed members are deactivated.
pub async fn dropbox(api: &ProviderApi<'_>, cursor: Option<String>) -> Result<MembersPage, ApiError> {
    let mut request = match cursor {
        Some(cursor) => api
            .request(&DROPBOX_MEMBERS_CONTINUE, &[])
            .json(&json!({ "cursor": cursor })),
        None => api
            .request(&DROPBOX_MEMBERS_LIST, &[])
            .json(&json!({ "limit": PAGE_SIZE })),
    };
    // Listing changes nothing: safe to repeat.
    request.retry_safe = true;
    let answer = api.send(&request).await?.json()?;
    let members = items(&answer, "/members")
        .filter_map(|m| {
            let active = m.pointer("/profile/status/.tag").and_then(Value::as_str) == Some("active");
            Some(listed(
                text(m, "/profile/team_member_id")?,
                text(m, "/profile/email"),
                text(m, "/profile/name/display_name"),
                !active,
            ))
        })
        .collect();
    let more = answer.get("has_more").and_then(Value::as_bool) == Some(true);
    Ok((members, text(&answer, "/cursor").filter(|_| more)))
}
