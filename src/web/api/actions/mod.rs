//! The actions: the integrations list; Slack messages, channels, users and the team; Google
//! calendars and events, Drive files, folders and sharing, and email.
//!
//! Each action checks its input (400), then finds the integration for this token (404) and
//! its provider (422), calls the provider and records the outcome with `answer`.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::errors::ApiFailure;
use super::{Service, record};
use crate::accounts;
use crate::api_tokens::{self, ServiceClient};
use crate::domain::IntegrationId;
use crate::integrations::google::Google;
use crate::integrations::provider_api::{Page, PageRequest, ProviderApi};
use crate::integrations::slack::Slack;
use crate::providers::catalogue::{GOOGLE, SLACK};
use crate::web::WebState;

mod directory;
mod google;
mod slack;

pub(super) use directory::{integration_directory, people, people_changes, person_employment};
pub(super) use google::{
    calendar_event, calendar_events, calendars, drive_files, drive_folder, drive_share, email,
};
pub(super) use slack::{
    slack_channels, slack_message, slack_new_channel, slack_team, slack_user_by_email, slack_users,
};

/// The organization's integrations (those the token may use).
pub(super) async fn list_integrations(
    state: web::Data<WebState>,
    service: Service,
) -> Result<HttpResponse, ApiFailure> {
    integrations_answer(&state, &service.0, "GET /api/v1/integrations").await
}

/// The same list, with the organization named in the path by the platform's external id (or
/// our id): a token of another organization gets 404, as an unknown one does.
pub(super) async fn org_integrations(
    state: web::Data<WebState>,
    service: Service,
    org: web::Path<String>,
) -> Result<HttpResponse, ApiFailure> {
    own_organization(&state, &service.0, &org).await?;
    integrations_answer(&state, &service.0, "GET /api/v1/organizations/{org}/integrations").await
}

/// The organization of the token: its ids and name.
pub(super) async fn organization(
    state: web::Data<WebState>,
    service: Service,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let org = own_organization(&state, &service.0, service.0.org_id.as_str()).await?;
    record(
        &state,
        &service.0,
        None,
        "GET /api/v1/organization".into(),
        &Ok(200),
        started,
    )
    .await;
    Ok(HttpResponse::Ok().json(org))
}

/// The organization `key` names, when it is the token's own.
async fn own_organization(
    state: &WebState,
    client: &ServiceClient,
    key: &str,
) -> Result<accounts::Organization, ApiFailure> {
    accounts::find_organization(&state.ctx.db, key)
        .await?
        .filter(|org| org.id == client.org_id)
        .ok_or(ApiFailure::UnknownOrganization)
}

async fn integrations_answer(
    state: &WebState,
    client: &ServiceClient,
    what: &str,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let rows = api_tokens::visible_integrations(&state.ctx.db, client).await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "id": row.id,
                "provider": row.provider_slug,
                "status": row.status,
                "account_id": row.external_account_id,
                "account_name": row.external_account_name,
                "granted_scopes": row.granted_scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                "connected_at": row.connected_at.map(|t| t.and_utc().to_rfc3339()),
                "last_error": row.last_error,
            })
        })
        .collect();
    record(state, client, None, what.into(), &Ok(200), started).await;
    Ok(HttpResponse::Ok().json(json!({ "integrations": items })))
}

/// The integration's API, if it is of this client's organization and one the token may use.
pub(super) async fn provider_api<'a>(
    state: &'a WebState,
    client: &ServiceClient,
    id: IntegrationId,
) -> Result<ProviderApi<'a>, ApiFailure> {
    // A token limited to other integrations learns nothing more than from a wrong id.
    if !client.may_use(id) {
        return Err(ApiFailure::UnknownIntegration);
    }
    Ok(ProviderApi::for_integration(&state.ctx, client.org_id, id).await?)
}

/// A Slack integration's API for this client.
async fn slack_api<'a>(
    state: &'a WebState,
    client: &ServiceClient,
    id: IntegrationId,
) -> Result<Slack<'a>, ApiFailure> {
    let api = provider_api(state, client, id).await?;
    if api.provider.def.slug != SLACK {
        return Err(ApiFailure::WrongProvider("this integration is not Slack"));
    }
    Ok(Slack::new(api))
}

/// A Google integration's API for this client.
async fn google_api<'a>(
    state: &'a WebState,
    client: &ServiceClient,
    id: IntegrationId,
) -> Result<Google<'a>, ApiFailure> {
    let api = provider_api(state, client, id).await?;
    if api.provider.def.slug != GOOGLE {
        return Err(ApiFailure::WrongProvider(
            "this integration is not Google Workspace",
        ));
    }
    Ok(Google::new(api))
}

/// The JSON body, or a 400 whose sentence says what is expected.
fn json_body<T: DeserializeOwned>(body: &[u8], expected: &'static str) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|_| ApiFailure::BadRequest(expected))
}

/// The query, or a 400 whose sentence says what is expected.
fn query<T: DeserializeOwned>(req: &HttpRequest, expected: &'static str) -> Result<T, ApiFailure> {
    serde_urlencoded::from_str(req.query_string()).map_err(|_| ApiFailure::BadRequest(expected))
}

#[derive(serde::Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `?cursor=` (the `next_cursor` of the page before, passed to the provider as its own cursor
/// or page token) and `?limit=` (1 to 1000; `default` when absent).
fn page_query(req: &HttpRequest, default: u32) -> Result<PageRequest, ApiFailure> {
    const EXPECTED: &str = "expected ?cursor= (a next_cursor) and ?limit= (1 to 1000)";
    let page: PageQuery = query(req, EXPECTED)?;
    let cursor_ok = page
        .cursor
        .as_deref()
        .is_none_or(|c| c.len() <= 1000 && !c.chars().any(char::is_control));
    let limit = page.limit.unwrap_or(default);
    if !cursor_ok || !(1..=1000).contains(&limit) {
        return Err(ApiFailure::BadRequest(EXPECTED));
    }
    Ok(PageRequest {
        cursor: page.cursor.filter(|c| !c.is_empty()),
        limit,
    })
}

/// One page as the API answers it: the items under `key`, and `next_cursor`.
fn page_json<T: serde::Serialize>(key: &str, page: Page<T>) -> Value {
    json!({ key: page.items, "next_cursor": page.next_cursor })
}
