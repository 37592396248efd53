//! The member lists of GitHub, Asana, Notion, Jira, Linear, Zoom and Dropbox, each in its
//! provider's shape and pagination style (a `Link` header, `next_page.offset`,
//! `has_more`/`next_cursor`, `startAt`, GraphQL `pageInfo`, `next_page_token`, an RPC cursor)
//! with its page size limits. Tests set the members per provider ([`Directories::set`]).

use std::collections::HashMap;

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::LINK;
use serde_json::{Value, json};

use super::{Answer, ApiError, Call, page};

/// The organization (`login`, id) the connected GitHub user belongs to with members.
pub const GITHUB_ORG: (&str, u64) = ("acme", 1001);
/// The connected user's other organization (no members).
const GITHUB_OTHER_ORG: (&str, u64) = ("acme-labs", 1002);
/// The Asana workspace of `users/me`.
pub const ASANA_WORKSPACE: &str = "1200000000000001";
/// The Jira site (`accessible-resources`' first).
const JIRA_CLOUD: &str = "cloud-1";

#[derive(Default)]
pub(super) struct Directories {
    /// The members each provider lists, by provider slug, in its JSON shape.
    lists: HashMap<String, Vec<Value>>,
    /// Where GitHub's `Link` header points instead of this server (a test of a link to
    /// another host).
    pub link_base: Option<String>,
}

impl Directories {
    pub fn set(&mut self, provider: &str, members: Vec<Value>) {
        self.lists.insert(provider.to_owned(), members);
    }

    fn members(&self, provider: &str) -> &[Value] {
        self.lists.get(provider).map_or(&[], Vec::as_slice)
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::Google(status, message.into())
}

fn bad(message: impl Into<String>) -> ApiError {
    error(StatusCode::BAD_REQUEST, message)
}

/// A numeric query parameter within `1..=max` (absent: `default`).
fn size(call: &Call, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
    match call.query(name) {
        None => Ok(default),
        Some(value) => value
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad(format!("{name} must be between 1 and {max}"))),
    }
}

/// An opaque-looking page token for the item index `at`, and back.
fn token(prefix: &str, at: &str) -> String {
    format!("{prefix}{at}")
}

fn untoken<'t>(prefix: &str, token: Option<&'t str>) -> Result<Option<&'t str>, ApiError> {
    match token {
        None => Ok(None),
        Some(t) => t
            .strip_prefix(prefix)
            .map(Some)
            .ok_or_else(|| bad("invalid page token")),
    }
}

/// GET /orgs/{org}/members and the `Link` pages /organizations/{id}/members: `per_page` (at
/// most 100), `page` from 1.
pub(super) fn github_members(dirs: &mut Directories, call: &Call) -> Answer {
    let org = call.path_param("org");
    let id = call.path_param("id");
    if org != GITHUB_ORG.0 && id != GITHUB_ORG.1.to_string() {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    }
    let per_page = call
        .query("per_page")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page_no = call
        .query("page")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let members = dirs.members("github");
    let start = (page_no - 1).saturating_mul(per_page).min(members.len());
    let end = start.saturating_add(per_page).min(members.len());
    let mut response = HttpResponse::Ok();
    if end < members.len() {
        let base = dirs.link_base.clone().unwrap_or_else(|| {
            let info = call.req.connection_info();
            format!("{}://{}/hosts/api.github.com", info.scheme(), info.host())
        });
        let last = members.len().div_ceil(per_page);
        let link = |page: usize| {
            format!(
                "<{base}/organizations/{}/members?per_page={per_page}&page={page}>",
                GITHUB_ORG.1
            )
        };
        response.insert_header((
            LINK,
            format!(
                "{}; rel=\"next\", {}; rel=\"last\"",
                link(page_no + 1),
                link(last)
            ),
        ));
    }
    Ok(response.json(&members[start..end]))
}

/// GET /user/orgs
pub(super) fn github_orgs(_: &mut Directories, _: &Call) -> Answer {
    let org = |(login, id): (&str, u64)| json!({ "login": login, "id": id, "url": format!("https://api.github.com/orgs/{login}") });
    Ok(HttpResponse::Ok().json(json!([org(GITHUB_ORG), org(GITHUB_OTHER_ORG)])))
}

/// GET /api/1.0/users/me (with its workspaces).
pub(super) fn asana_me(_: &mut Directories, _: &Call) -> Answer {
    Ok(HttpResponse::Ok().json(json!({ "data": {
        "gid": "1200", "name": "Ada Asana", "email": "ada@asana.example",
        "workspaces": [{ "gid": ASANA_WORKSPACE, "name": "Acme", "resource_type": "workspace" }],
    } })))
}

/// GET /api/1.0/workspaces/{workspace_gid}/users: `limit` 1..=100, `offset` from the previous
/// page's `next_page`; `email` only when `opt_fields` asks for it.
pub(super) fn asana_users(dirs: &mut Directories, call: &Call) -> Answer {
    if call.path_param("workspace_gid") != ASANA_WORKSPACE {
        return Err(error(StatusCode::NOT_FOUND, "workspace: Not a recognized ID"));
    }
    let limit = size(call, "limit", 100, 100)?;
    let offset = call.query("offset");
    let offset = untoken("eyJvZmZzZXQiOi", offset.as_deref())?;
    let fields = call.query("opt_fields").unwrap_or_default();
    let (users, next) =
        page(dirs.members("asana"), offset, Some(limit)).ok_or_else(|| bad("offset: invalid"))?;
    let users: Vec<Value> = users
        .into_iter()
        .map(|mut u| {
            if !fields.split(',').any(|f| f == "email") {
                u.as_object_mut().map(|o| o.remove("email"));
            }
            u
        })
        .collect();
    let next_page = next.map(|at| {
        let offset = token("eyJvZmZzZXQiOi", &at);
        json!({ "offset": offset, "path": format!("/workspaces/{ASANA_WORKSPACE}/users?limit={limit}&offset={offset}") })
    });
    Ok(HttpResponse::Ok().json(json!({ "data": users, "next_page": next_page })))
}

/// GET /v1/users: `page_size` at most 100, `start_cursor` from `next_cursor`.
pub(super) fn notion_users(dirs: &mut Directories, call: &Call) -> Answer {
    if call.req.headers().get("notion-version").is_none() {
        return Err(bad("missing notion-version header"));
    }
    let size = size(call, "page_size", 100, 100)?;
    let start = call.query("start_cursor");
    let start = untoken("1f0c2b7a-", start.as_deref())?;
    let (users, next) =
        page(dirs.members("notion"), start, Some(size)).ok_or_else(|| bad("invalid start_cursor"))?;
    Ok(HttpResponse::Ok().json(json!({
        "object": "list",
        "results": users,
        "has_more": next.is_some(),
        "next_cursor": next.map(|at| token("1f0c2b7a-", &at)),
        "type": "user",
        "user": {},
    })))
}

/// GET /ex/jira/{cloud}/rest/api/3/users/search: `startAt` and `maxResults` (at most 1000);
/// a plain array, no total.
pub(super) fn jira_users(dirs: &mut Directories, call: &Call) -> Answer {
    if call.path_param("cloud") != JIRA_CLOUD {
        return Err(error(StatusCode::NOT_FOUND, "no such site"));
    }
    let max = size(call, "maxResults", 50, 1000)?;
    let start = call.query("startAt").unwrap_or_else(|| "0".into());
    let users = dirs.members("jira");
    let start: usize = start.parse().map_err(|_| bad("startAt must be a number"))?;
    let from = start.min(users.len());
    let to = from.saturating_add(max).min(users.len());
    Ok(HttpResponse::Ok().json(&users[from..to]))
}

/// POST /graphql `users(first, after, includeDisabled)`: `first` at most 250.
pub(super) fn linear_users(dirs: &mut Directories, call: &Call) -> Answer {
    let body: Value = serde_json::from_slice(call.body()).map_err(|_| bad("the body is not JSON"))?;
    let query = body["query"].as_str().unwrap_or_default();
    if !query.contains("users(") {
        return Err(bad("unknown query"));
    }
    let vars = &body["variables"];
    let first = vars["first"].as_u64().unwrap_or(50) as usize;
    if !(1..=250).contains(&first) {
        return Ok(HttpResponse::BadRequest()
            .json(json!({ "errors": [{ "message": "first must be at most 250" }] })));
    }
    let include_disabled = query.contains("includeDisabled: true") || vars["includeDisabled"] == true;
    let users: Vec<Value> = dirs
        .members("linear")
        .iter()
        .filter(|u| include_disabled || u["active"] != false)
        .cloned()
        .collect();
    let after = untoken("lin_", vars["after"].as_str())?;
    let (nodes, next) = page(&users, after, Some(first)).ok_or_else(|| bad("invalid cursor"))?;
    let end = nodes.len().to_string();
    Ok(HttpResponse::Ok().json(json!({ "data": { "users": {
        "nodes": nodes,
        "pageInfo": { "hasNextPage": next.is_some(), "endCursor": token("lin_", next.as_deref().unwrap_or(&end)) },
    } } })))
}

/// GET /v2/users: `status` (active by default, inactive, pending), `page_size` at most 300,
/// `next_page_token`.
pub(super) fn zoom_users(dirs: &mut Directories, call: &Call) -> Answer {
    let status = call.query("status").unwrap_or_else(|| "active".into());
    if !["active", "inactive", "pending"].contains(&status.as_str()) {
        return Err(bad("invalid status"));
    }
    let size = size(call, "page_size", 30, 300)?;
    let users: Vec<Value> = dirs
        .members("zoom")
        .iter()
        .filter(|u| u["status"] == status.as_str())
        .cloned()
        .collect();
    let token_prefix = format!("zm{status}");
    let at = call.query("next_page_token").filter(|t| !t.is_empty());
    let at = untoken(&token_prefix, at.as_deref())?;
    let (page_users, next) = page(&users, at, Some(size)).ok_or_else(|| bad("invalid next_page_token"))?;
    Ok(HttpResponse::Ok().json(json!({
        "page_size": size,
        "total_records": users.len(),
        "next_page_token": next.map(|at| token(&token_prefix, &at)).unwrap_or_default(),
        "users": page_users,
    })))
}

/// POST /2/team/members/list_v2 `{"limit"}` (1..=1000) and /2/team/members/list/continue_v2
/// `{"cursor"}`.
pub(super) fn dropbox_members(dirs: &mut Directories, call: &Call) -> Answer {
    let body: Value =
        serde_json::from_slice(call.body()).map_err(|_| bad("Error in call: the body is not JSON"))?;
    let (at, limit) = match body.get("cursor") {
        Some(cursor) => {
            let cursor = cursor.as_str().unwrap_or_default();
            let (at, limit) = untoken("AAF", Some(cursor))
                .ok()
                .flatten()
                .and_then(|rest| rest.split_once('-'))
                .ok_or_else(|| error(StatusCode::CONFLICT, "invalid_cursor/"))?;
            (
                Some(at.to_owned()),
                limit
                    .parse()
                    .map_err(|_| error(StatusCode::CONFLICT, "invalid_cursor/"))?,
            )
        }
        None => {
            let limit = body["limit"].as_u64().unwrap_or(1000) as usize;
            if !(1..=1000).contains(&limit) {
                return Err(bad(
                    "Error in call to API function \"team/members/list_v2\": limit: value out of range",
                ));
            }
            (None, limit)
        }
    };
    let (members, next) = page(dirs.members("dropbox"), at.as_deref(), Some(limit))
        .ok_or_else(|| error(StatusCode::CONFLICT, "invalid_cursor/"))?;
    let end = next
        .clone()
        .unwrap_or_else(|| dirs.members("dropbox").len().to_string());
    Ok(HttpResponse::Ok().json(json!({
        "members": members,
        "cursor": token("AAF", &format!("{end}-{limit}")),
        "has_more": next.is_some(),
    })))
}
