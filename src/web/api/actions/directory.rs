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
