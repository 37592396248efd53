//! The internal JSON API for other Targetym services (/api/v1), authenticated by service
//! tokens and scoped to the token's organization. Every call is recorded in the sync log.

mod actions;
mod auth;
mod errors;
mod openapi;
mod proxy;

use std::time::Instant;

use actix_web::HttpResponse;

use super::WebState;
use crate::api_tokens::{self, ServiceClient};
use crate::domain::IntegrationId;
use crate::integrations::provider_api::ApiError;
use actions::{
    calendar_event, calendar_events, calendars, drive_files, drive_folder, drive_share, email,
    integration_directory, list_integrations, org_integrations, organization, people, people_changes,
    person_employment, slack_channels, slack_message, slack_new_channel, slack_team, slack_user_by_email,
    slack_users,
};
pub use auth::{ApiLimits, ApiPath, Service};
pub use errors::ApiFailure;
use openapi::openapi;
pub use openapi::openapi_document;
use proxy::proxy;
pub use proxy::proxy_url;

/// Request bodies of the API at most.
const MAX_BODY: usize = 1024 * 1024;

super::route_table! {
    get "/api/v1/openapi.json" => openapi;
    get "/api/v1/integrations" => list_integrations;
    get "/api/v1/organization" => organization;
    get "/api/v1/people" => people;
    get "/api/v1/people/changes" => people_changes;
    put "/api/v1/people/{email}/employment" => person_employment;
    get "/api/v1/organizations/{org}/integrations" => org_integrations;
    post "/api/v1/integrations/{id}/slack/messages" => slack_message;
    get "/api/v1/integrations/{id}/slack/channels" => slack_channels;
    post "/api/v1/integrations/{id}/slack/channels" => slack_new_channel;
    get "/api/v1/integrations/{id}/slack/users" => slack_users;
    get "/api/v1/integrations/{id}/slack/users/lookup" => slack_user_by_email;
    get "/api/v1/integrations/{id}/slack/team" => slack_team;
    get "/api/v1/integrations/{id}/directory" => integration_directory;
    get "/api/v1/integrations/{id}/calendar/calendars" => calendars;
    get "/api/v1/integrations/{id}/calendar/events" => calendar_events;
    post "/api/v1/integrations/{id}/calendar/events" => calendar_event;
    get "/api/v1/integrations/{id}/drive/files" => drive_files;
    post "/api/v1/integrations/{id}/drive/folders" => drive_folder;
    post "/api/v1/integrations/{id}/drive/files/{file_id}/permissions" => drive_share;
    post "/api/v1/integrations/{id}/email" => email;
    route "/api/v1/integrations/{id}/proxy/{tail:.*}" => proxy;
}

/// Records an API call in the audit log (a failure to record is logged, not answered).
async fn record(
    state: &WebState,
    client: &ServiceClient,
    integration: Option<(IntegrationId, &str)>,
    what: String,
    outcome: &Result<u16, String>,
    started: Instant,
) {
    let duration = started.elapsed().as_millis() as i64;
    let stored = api_tokens::record_call(&state.ctx.db, client, integration, &what, outcome, duration).await;
    if let Err(e) = stored {
        tracing::warn!(error = %e, "could not record an API call");
    }
}

/// Records an action's outcome and answers with its result (JSON) or its typed error.
async fn answer<T: serde::Serialize>(
    state: &WebState,
    client: &ServiceClient,
    (integration, provider): (IntegrationId, &str),
    what: &str,
    started: Instant,
    result: Result<T, ApiError>,
) -> Result<HttpResponse, ApiFailure> {
    let outcome = result.as_ref().map(|_| 200).map_err(ToString::to_string);
    record(
        state,
        client,
        Some((integration, provider)),
        what.to_owned(),
        &outcome,
        started,
    )
    .await;
    Ok(HttpResponse::Ok().json(result?))
}
