//! An integration's directory: the accounts its provider lists, as the last syncs stored them.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::json;

use super::page_query;
use crate::domain::IntegrationId;
use crate::integrations::directory;
use crate::web::WebState;
use crate::web::api::errors::ApiFailure;
use crate::web::api::{ApiPath, Service, record};

/// GET …/directory?cursor=&limit=: one page of the stored accounts, by external id.
pub(in crate::web::api) async fn integration_directory(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let page = page_query(&req, 200)?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let after = match page.cursor {
        Some(cursor) => Some(
            b64.decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(ApiFailure::BadRequest(
                    "the cursor is not a next_cursor of this list",
                ))?,
        ),
        None => None,
    };
    // The integration must be this token's (and of its organization).
    let slug = super::provider_api(&state, &service.0, id)
        .await?
        .provider
        .def
        .slug
        .clone();
    let limit = i64::from(page.limit);
    let rows = directory::entries_page(&state.ctx, service.0.org_id, id, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next_cursor =
        more.then(|| b64.encode(rows.last().map(|r| r.external_id.as_str()).unwrap_or_default()));
    let entries: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "external_id": r.external_id,
                "email": r.email,
                "name": r.name,
                "state": r.state.as_str(),
                "first_seen": r.first_seen_at.and_utc().to_rfc3339(),
                "last_seen": r.last_seen_at.and_utc().to_rfc3339(),
                "changed": r.changed_at.and_utc().to_rfc3339(),
            })
        })
        .collect();
    let what = "Directory".to_owned();
    record(&state, &service.0, Some((id, &slug)), what, &Ok(200), started).await;
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next_cursor": next_cursor })))
}

fn decode_cursor(cursor: Option<String>) -> Result<Option<String>, ApiFailure> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    cursor
        .map(|c| {
            b64.decode(c)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(ApiFailure::BadRequest(
                    "the cursor is not a next_cursor of this list",
                ))
        })
        .transpose()
}

/// GET /api/v1/people?cursor=&limit=: the organization's people (accounts grouped by email),
/// by email.
pub(in crate::web::api) async fn people(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let page = page_query(&req, 100)?;
    let after = decode_cursor(page.cursor)?;
    let limit = i64::from(page.limit);
    let mut people =
        directory::people_page(&state.ctx, service.0.org_id, Default::default(), after, limit + 1).await?;
    let more = people.len() as i64 > limit;
    people.truncate(limit as usize);
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let next_cursor = more.then(|| b64.encode(people.last().map(|p| p.email.as_str()).unwrap_or_default()));
    record(&state, &service.0, None, "People".into(), &Ok(200), started).await;
    Ok(HttpResponse::Ok().json(json!({ "people": people, "next_cursor": next_cursor })))
}

#[derive(serde::Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    limit: Option<u32>,
}

/// GET /api/v1/people/changes?since=&limit=: the directory changes after `since` (a
/// next_cursor; none: from the start), in commit order; none is skipped or repeated.
pub(in crate::web::api) async fn people_changes(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
) -> Result<HttpResponse, ApiFailure> {
    const EXPECTED: &str = "expected ?since= (a next_cursor) and ?limit= (1 to 1000)";
    let started = Instant::now();
    let query: ChangesQuery = super::query(&req, EXPECTED)?;
    let since = match query.since.as_deref() {
        None | Some("") => 0,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or(ApiFailure::BadRequest(EXPECTED))?,
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiFailure::BadRequest(EXPECTED));
    }
    let rows = directory::changes_page(&state.ctx, service.0.org_id, since, i64::from(limit)).await?;
    let next_cursor = rows.last().map_or(since, |r| r.seq).to_string();
    let changes: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "seq": r.seq,
                "change": r.change.as_str(),
                "integration_id": r.integration_id,
                "external_id": r.external_id,
                "email": r.email,
                "at": r.at.and_utc().to_rfc3339(),
            })
        })
        .collect();
    record(
        &state,
        &service.0,
        None,
        "People changes".into(),
        &Ok(200),
        started,
    )
    .await;
    Ok(HttpResponse::Ok().json(json!({ "changes": changes, "next_cursor": next_cursor })))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EmploymentBody {
    status: String,
    #[serde(default)]
    since: Option<String>,
}

/// PUT /api/v1/people/{email}/employment `{"status": "active"|"leaver", "since"}`: the
/// platform says who works here and who left; the people views then show leavers who still
/// have accounts.
pub(in crate::web::api) async fn person_employment(
    state: web::Data<WebState>,
    service: Service,
    email: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    const EXPECTED: &str = "expected {\"status\": \"active\" or \"leaver\", \"since\": \"YYYY-MM-DD\" (optional)} for a valid email";
    let started = Instant::now();
    let body: EmploymentBody = super::json_body(&body, EXPECTED)?;
    let email = crate::domain::Email::parse(&email).map_err(|_| ApiFailure::BadRequest(EXPECTED))?;
    let status = crate::domain::Employment::parse(&body.status).ok_or(ApiFailure::BadRequest(EXPECTED))?;
    let since = match body.since.as_deref() {
        Some(text) => Some(
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| ApiFailure::BadRequest(EXPECTED))?,
        ),
        None => None,
    };
    directory::set_employment(&state.ctx, service.0.org_id, &email, status, since).await?;
    record(
        &state,
        &service.0,
        None,
        format!("Employment of {email}: {}", status.as_str()),
        &Ok(200),
        started,
    )
    .await;
    Ok(HttpResponse::Ok().json(
        json!({ "email": email.as_str(), "status": status.as_str(), "since": since.map(|d| d.to_string()) }),
    ))
}
