//! Microsoft Graph's `GET /v1.0/users/delta`, shaped like Graph's
//! (https://learn.microsoft.com/en-us/graph/delta-query-users): pages joined by
//! `@odata.nextLink` (a `$skiptoken`), the last with `@odata.deltaLink` (a `$deltatoken`); a
//! read from a delta token lists only the users changed or removed (`@removed`) since, and an
//! unknown or expired token is a 410 Gone.

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::Call;
use super::changelog::{Directory, Item, Position};

/// Graph's default page of users is 100.
const DEFAULT_PAGE: usize = 100;

/// The tenant's memory.
pub(super) struct Tenant {
    pub(super) users: Directory,
    /// The host the links name (a test sets another to see the client refuse it).
    pub(super) link_host: String,
}

impl Default for Tenant {
    fn default() -> Self {
        Tenant {
            users: Directory::new("id"),
            link_host: "graph.microsoft.com".to_owned(),
        }
    }
}

/// GET /v1.0/users/delta (`$select`, `$top` or `Prefer: odata.maxpagesize=N`, `$skiptoken`,
/// `$deltatoken`).
pub(super) fn users_delta(tenant: &mut Tenant, call: &Call) -> super::Answer {
    let users = &tenant.users;
    let position = match (call.query("$skiptoken"), call.query("$deltatoken")) {
        (Some(skip), _) => Position::parse(&skip).filter(|p| users.continues(p)),
        (None, Some(delta)) => delta.parse().ok().and_then(|v| users.start(Some(v))),
        (None, None) => users.start(None),
    };
    let Some(position) = position else {
        return Ok(HttpResponse::Gone().json(json!({ "error": {
            "code": "syncStateNotFound",
            "message": "The delta token is expired or unknown: start a full synchronization.",
        } })));
    };
    let (items, next) = users.page(&position, page_size(call));
    let value: Vec<Value> = items
        .into_iter()
        .map(|item| match item {
            Item::Present(user) => user,
            Item::Removed(id, reason) => json!({ "id": id, "@removed": { "reason": reason } }),
        })
        .collect();
    let link = |query: String| format!("https://{}/v1.0/users/delta?{query}", tenant.link_host);
    let mut body = json!({
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users",
        "value": value,
    });
    match next {
        Some(next) => body["@odata.nextLink"] = json!(link(format!("$skiptoken={}", next.encode()))),
        None => body["@odata.deltaLink"] = json!(link(format!("$deltatoken={}", position.upto))),
    }
    Ok(HttpResponse::Ok().json(body))
}

fn page_size(call: &Call) -> usize {
    let preferred = call
        .req
        .headers()
        .get("Prefer")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        })
        .and_then(|n| n.parse().ok());
    call.query("$top")
        .and_then(|n| n.parse().ok())
        .or(preferred)
        .filter(|&n: &usize| n > 0)
        .unwrap_or(DEFAULT_PAGE)
}
