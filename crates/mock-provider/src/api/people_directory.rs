//! Google People's `GET /v1/people:listDirectoryPeople`: the domain's profiles page by page
//! (`pageToken`), the last page with `nextSyncToken` when asked (`requestSyncToken=true`); a
//! read from a sync token lists only the people changed since, deleted ones as
//! `metadata.deleted: true`; an expired token is a 400 FAILED_PRECONDITION naming
//! EXPIRED_SYNC_TOKEN, as Google answers it.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde_json::{Value, json};

use super::changelog::{Directory, Item, Position};
use super::{Call, google_error};

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// The domain's profiles (`resourceName` `people/{id}`).
pub(super) struct People(pub(super) Directory);

impl Default for People {
    fn default() -> Self {
        People(Directory::new("resourceName"))
    }
}

pub(super) fn list_directory_people(people: &mut People, call: &Call) -> super::Answer {
    let bad = |message: &str| google_error(StatusCode::BAD_REQUEST, message);
    if call.query("readMask").is_none_or(|mask| mask.is_empty()) {
        return Err(bad("readMask is required"));
    }
    if call.query("sources").is_none() {
        return Err(bad("sources is required"));
    }
    let people = &people.0;
    // `Some(None)`: a sync token the directory never gave.
    let since = call.query("syncToken").map(|token| token.parse::<u64>().ok());
    let position = match (call.query("pageToken"), since) {
        (Some(page), since) => {
            let position = Position::parse(&page).filter(|p| people.continues(p));
            // Google wants the same parameters on every page of a read.
            match position {
                Some(p) if p.since == since.flatten() => p,
                _ => return Err(bad("The page token does not match the request.")),
            }
        }
        (None, Some(since)) => match since.and_then(|v| people.start(Some(v))) {
            Some(p) => p,
            None => return Ok(expired()),
        },
        (None, None) => people.start(None).expect("a full read always starts"),
    };
    let limit = call
        .query("pageSize")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .map_or(DEFAULT_PAGE, |n| n.min(MAX_PAGE));
    let (items, next) = people.page(&position, limit);
    let listed: Vec<Value> = items
        .into_iter()
        .map(|item| match item {
            Item::Present(person) => person,
            Item::Removed(id, _) => json!({ "resourceName": id, "metadata": { "deleted": true } }),
        })
        .collect();
    let mut body = json!({ "people": listed });
    match next {
        Some(next) => body["nextPageToken"] = json!(next.encode()),
        None if call.query("requestSyncToken").as_deref() == Some("true") => {
            body["nextSyncToken"] = json!(position.upto.to_string());
        }
        None => {}
    }
    Ok(HttpResponse::Ok().json(body))
}

fn expired() -> HttpResponse {
    HttpResponse::BadRequest().json(json!({ "error": {
        "code": 400,
        "message": "Sync token is expired. Clear local cache and retry call without the sync token.",
        "status": "FAILED_PRECONDITION",
        "details": [{
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "EXPIRED_SYNC_TOKEN",
            "domain": "people.googleapis.com",
        }],
    } }))
}
