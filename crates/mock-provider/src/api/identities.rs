//! The identity ("who am I") calls of the other catalogue providers, in their shapes, so the
//! app's Test connection can be checked for each: Microsoft Graph, Asana, Notion, Jira (sites,
//! then myself), Linear (GraphQL), Zoom, Dropbox and GitHub.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::json;

use super::google::Account;
use super::{Answer, ApiError, Call};

fn ok(body: serde_json::Value) -> Answer {
    Ok(HttpResponse::Ok().json(body))
}

/// The request must carry `name` (as Notion's and GitHub's APIs require).
fn require_header(call: &Call, name: &str) -> Result<(), ApiError> {
    match call.req.headers().get(name) {
        Some(_) => Ok(()),
        None => Err(ApiError::Google(
            StatusCode::BAD_REQUEST,
            format!("missing {name} header"),
        )),
    }
}

pub(super) fn graph_me(_: &mut Account, _: &Call) -> Answer {
    ok(
        json!({ "id": "graph-user-1", "displayName": "Ada Graph", "userPrincipalName": "ada@contoso.example", "mail": "ada@contoso.example" }),
    )
}

pub(super) fn asana_me(_: &mut Account, _: &Call) -> Answer {
    ok(json!({ "data": { "gid": "1200", "name": "Ada Asana", "email": "ada@asana.example" } }))
}

pub(super) fn notion_me(_: &mut Account, call: &Call) -> Answer {
    require_header(call, "notion-version")?;
    ok(
        json!({ "object": "user", "id": "bot-1", "type": "bot", "name": "Targetym", "bot": { "workspace_name": "Acme Wiki" } }),
    )
}

pub(super) fn jira_sites(_: &mut Account, _: &Call) -> Answer {
    ok(
        json!([{ "id": "cloud-1", "name": "acme", "url": "https://acme.atlassian.net", "scopes": ["read:jira-user"] }]),
    )
}

pub(super) fn jira_myself(_: &mut Account, call: &Call) -> Answer {
    if call.path_param("cloud") != "cloud-1" {
        return Err(ApiError::Google(StatusCode::NOT_FOUND, "no such site".into()));
    }
    ok(json!({ "accountId": "jira-1", "displayName": "Ada Jira", "emailAddress": "ada@acme.example" }))
}

pub(super) fn linear_graphql(_: &mut Account, call: &Call) -> Answer {
    let query: serde_json::Value = serde_json::from_slice(&call.body)
        .map_err(|_| ApiError::Google(StatusCode::BAD_REQUEST, "the body is not JSON".into()))?;
    if !query
        .get("query")
        .and_then(|q| q.as_str())
        .is_some_and(|q| q.contains("organization"))
    {
        return Err(ApiError::Google(StatusCode::BAD_REQUEST, "unknown query".into()));
    }
    ok(
        json!({ "data": { "organization": { "id": "org-1", "name": "Acme Linear", "urlKey": "acme" }, "viewer": { "id": "u-1", "name": "Ada" } } }),
    )
}

pub(super) fn zoom_me(_: &mut Account, _: &Call) -> Answer {
    ok(
        json!({ "id": "zoom-1", "account_id": "acct-1", "email": "ada@zoom.example", "display_name": "Ada Zoom" }),
    )
}

pub(super) fn dropbox_account(_: &mut Account, call: &Call) -> Answer {
    // An RPC endpoint: POST with a JSON `null` body.
    if call.body.as_ref() != b"null" {
        return Err(ApiError::Google(
            StatusCode::BAD_REQUEST,
            "expected the body null".into(),
        ));
    }
    ok(
        json!({ "account_id": "dbid:1", "name": { "display_name": "Ada Dropbox" }, "email": "ada@dropbox.example" }),
    )
}

pub(super) fn github_user(_: &mut Account, call: &Call) -> Answer {
    require_header(call, "x-github-api-version")?;
    ok(json!({ "id": 583231, "login": "ada-gh", "name": "Ada GitHub" }))
}
