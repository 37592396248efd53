//! The actions: the integrations list; Slack messages, channels, users and the team; Google
//! calendars and events, Drive files, folders and sharing, and email.
//!
//! Each action checks its input (400), then finds the integration for this token (404) and
//! its provider (422), calls the provider and records the outcome with `answer`.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::errors::ApiFailure;
use super::{Service, answer, record};
use crate::api_tokens::{self, ServiceClient};
use crate::domain::{Email, IntegrationId};
use crate::integrations::google::{Google, NewEvent};
use crate::integrations::provider_api::ProviderApi;
use crate::integrations::slack::Slack;
use crate::web::WebState;
use crate::web::ids::IdPath;

pub(super) async fn list_integrations(
    state: web::Data<WebState>,
    service: Service,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let rows = api_tokens::visible_integrations(&state.ctx.db, &service.0).await?;
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
    record(
        &state,
        &service.0,
        None,
        "GET /api/v1/integrations".into(),
        &Ok(200),
        started,
    )
    .await;
    Ok(HttpResponse::Ok().json(json!({ "integrations": items })))
}

/// The integration's API, if it is of this client's organization and one the token may use.
pub(super) async fn provider_api<'a>(
    state: &'a WebState,
    client: &ServiceClient,
    id: IntegrationId,
) -> Result<ProviderApi<'a>, ApiFailure> {
    // A token limited to other integrations learns nothing more than from a wrong id.
    if !client.may_use(&id.to_text()) {
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
    if api.provider.def.slug != "slack" {
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
    if api.provider.def.slug != "google" {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackMessage {
    /// A channel id, or
    channel: Option<String>,
    /// a user id (a direct message).
    user: Option<String>,
    text: String,
    /// Unix seconds: schedule instead of sending now.
    post_at: Option<i64>,
}

pub(super) async fn slack_message(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let message: SlackMessage = json_body(
        &body,
        "expected {\"channel\" or \"user\", \"text\", optional \"post_at\"}",
    )?;
    if message.text.trim().is_empty() || message.text.len() > 40_000 {
        return Err(ApiFailure::BadRequest("text must be 1 to 40,000 characters"));
    }
    if let Some(at) = message.post_at
        && !schedulable(at, chrono::Utc::now().timestamp())
    {
        return Err(ApiFailure::BadRequest(
            "post_at must be a Unix time in the future, at most 120 days ahead (Slack's limit)",
        ));
    }
    let slack = slack_api(&state, &service.0, id).await?;
    let result = match (&message.channel, &message.user, message.post_at) {
        (Some(channel), None, None) => slack.post_message(channel, &message.text).await.map(|m| json!(m)),
        (None, Some(user), None) => slack.send_dm(user, &message.text).await.map(|m| json!(m)),
        (Some(channel), None, Some(at)) => slack
            .schedule_message(channel, &message.text, at)
            .await
            .map(|id| json!({ "scheduled_message_id": id })),
        _ => {
            return Err(ApiFailure::BadRequest(
                "give exactly one of channel or user (post_at only with channel)",
            ));
        }
    };
    answer(
        &state,
        &service.0,
        (id, "slack"),
        "Slack message",
        started,
        result,
    )
    .await
}

/// Slack schedules messages up to 120 days ahead (chat.scheduleMessage, `time_too_far`).
const MAX_SCHEDULE_AHEAD_SECS: i64 = 120 * 24 * 3600;

fn schedulable(post_at: i64, now: i64) -> bool {
    post_at > now && post_at.abs_diff(now) <= MAX_SCHEDULE_AHEAD_SECS.unsigned_abs()
}

/// GET …/slack/channels: every channel the app sees.
pub(super) async fn slack_channels(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack
        .list_channels()
        .await
        .map(|channels| json!({ "channels": channels }));
    answer(
        &state,
        &service.0,
        (id, "slack"),
        "Slack channels",
        started,
        result,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    name: String,
    #[serde(default)]
    is_private: bool,
}

/// POST …/slack/channels: a new channel (Slack checks the name's characters).
pub(super) async fn slack_new_channel(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let channel: NewChannel = json_body(&body, "expected {\"name\", optional \"is_private\"}")?;
    if channel.name.trim().is_empty() || channel.name.chars().count() > 80 {
        return Err(ApiFailure::BadRequest("name must be 1 to 80 characters"));
    }
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.create_channel(&channel.name, channel.is_private).await;
    answer(
        &state,
        &service.0,
        (id, "slack"),
        "Slack channel",
        started,
        result,
    )
    .await
}

/// GET …/slack/users: every member of the workspace.
pub(super) async fn slack_users(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.list_users().await.map(|users| json!({ "users": users }));
    answer(&state, &service.0, (id, "slack"), "Slack users", started, result).await
}

#[derive(Deserialize)]
pub struct UserLookup {
    email: String,
}

/// GET …/slack/users/lookup?email=: the member with this email (404 `provider_not_found`
/// when there is none).
pub(super) async fn slack_user_by_email(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    const EXPECTED: &str = "expected ?email= with a valid address";
    let started = Instant::now();
    let lookup: UserLookup = query(&req, EXPECTED)?;
    let email = Email::parse(&lookup.email).map_err(|_| ApiFailure::BadRequest(EXPECTED))?;
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.lookup_user_by_email(email.as_str()).await;
    answer(
        &state,
        &service.0,
        (id, "slack"),
        "Slack user lookup",
        started,
        result,
    )
    .await
}

/// GET …/slack/team: the workspace's id and name.
pub(super) async fn slack_team(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.team_info().await;
    answer(&state, &service.0, (id, "slack"), "Slack team", started, result).await
}

/// GET …/calendar/calendars: the calendars in the connected user's list.
pub(super) async fn calendars(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let google = google_api(&state, &service.0, id).await?;
    let result = google
        .list_calendars()
        .await
        .map(|calendars| json!({ "calendars": calendars }));
    answer(&state, &service.0, (id, "google"), "Calendars", started, result).await
}

fn primary() -> String {
    "primary".into()
}

fn rfc3339(text: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(text).ok()
}

#[derive(Deserialize)]
pub struct EventWindow {
    #[serde(default = "primary")]
    calendar_id: String,
    from: String,
    to: String,
}

/// GET …/calendar/events?from=&to=&calendar_id=: the events starting in [from, to), recurring
/// ones expanded, in time order.
pub(super) async fn calendar_events(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    const EXPECTED: &str = "expected ?from= and ?to= (RFC 3339, from before to), optional ?calendar_id=";
    let started = Instant::now();
    let window: EventWindow = query(&req, EXPECTED)?;
    let in_order = match (rfc3339(&window.from), rfc3339(&window.to)) {
        (Some(from), Some(to)) => from < to,
        _ => false,
    };
    if !in_order || window.calendar_id.trim().is_empty() {
        return Err(ApiFailure::BadRequest(EXPECTED));
    }
    let google = google_api(&state, &service.0, id).await?;
    let result = google
        .list_events(&window.calendar_id, &window.from, &window.to)
        .await
        .map(|events| json!({ "events": events }));
    answer(
        &state,
        &service.0,
        (id, "google"),
        "Calendar events",
        started,
        result,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarEventRequest {
    #[serde(default = "primary")]
    calendar_id: String,
    summary: String,
    #[serde(default)]
    description: Option<String>,
    start: String,
    end: String,
    #[serde(default)]
    attendees: Vec<String>,
}

pub(super) async fn calendar_event(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let request: CalendarEventRequest = json_body(
        &body,
        "expected {summary, start, end (RFC 3339), attendees?, description?, calendar_id?}",
    )?;
    let times_valid = [&request.start, &request.end]
        .iter()
        .all(|t| rfc3339(t).is_some());
    if request.summary.trim().is_empty()
        || !times_valid
        || request.attendees.iter().any(|a| Email::parse(a).is_err())
    {
        return Err(ApiFailure::BadRequest(
            "a summary, RFC 3339 start and end, and valid attendee emails are required",
        ));
    }
    let google = google_api(&state, &service.0, id).await?;
    let new = NewEvent {
        summary: request.summary,
        description: request.description,
        start: request.start,
        end: request.end,
        attendees: request.attendees,
    };
    let result = google.create_event(&request.calendar_id, &new).await;
    answer(
        &state,
        &service.0,
        (id, "google"),
        "Calendar event",
        started,
        result,
    )
    .await
}

/// GET …/drive/files: the first 100 files and folders of the connected user's Drive.
pub(super) async fn drive_files(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let google = google_api(&state, &service.0, id).await?;
    let result = google.list_files().await.map(|files| json!({ "files": files }));
    answer(&state, &service.0, (id, "google"), "Drive files", started, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    name: String,
    /// The id of the folder to create it in (else the Drive's root).
    parent: Option<String>,
}

/// POST …/drive/folders: a new folder.
pub(super) async fn drive_folder(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let folder: NewFolder = json_body(&body, "expected {\"name\", optional \"parent\"}")?;
    let parent = folder.parent.as_deref();
    if folder.name.trim().is_empty()
        || folder.name.chars().count() > 1000
        || parent.is_some_and(|p| p.trim().is_empty())
    {
        return Err(ApiFailure::BadRequest(
            "name must be 1 to 1,000 characters, and parent a folder id",
        ));
    }
    let google = google_api(&state, &service.0, id).await?;
    let result = google.create_folder(&folder.name, parent).await;
    answer(
        &state,
        &service.0,
        (id, "google"),
        "Drive folder",
        started,
        result,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    email: String,
    role: String,
}

/// POST …/drive/files/{file_id}/permissions: shares a file or folder with a person.
pub(super) async fn drive_share(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    const EXPECTED: &str = "expected {\"email\", \"role\": reader, commenter or writer}";
    let started = Instant::now();
    let share: ShareRequest = json_body(&body, EXPECTED)?;
    let email = Email::parse(&share.email).map_err(|_| ApiFailure::BadRequest(EXPECTED))?;
    if !matches!(share.role.as_str(), "reader" | "commenter" | "writer") {
        return Err(ApiFailure::BadRequest(EXPECTED));
    }
    let file_id = req.match_info().query("file_id");
    let google = google_api(&state, &service.0, id).await?;
    let result = google
        .share(file_id, email.as_str(), &share.role)
        .await
        .map(|permission| json!({ "id": permission }));
    answer(
        &state,
        &service.0,
        (id, "google"),
        "Drive sharing",
        started,
        result,
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    to: String,
    subject: String,
    body: String,
}

pub(super) async fn email(
    state: web::Data<WebState>,
    service: Service,
    IdPath(id): IdPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let request: EmailRequest = json_body(&body, "expected {to, subject, body}")?;
    if Email::parse(&request.to).is_err() || request.subject.len() > 998 || request.body.len() > 500_000 {
        return Err(ApiFailure::BadRequest(
            "a valid recipient, a subject and a body are required",
        ));
    }
    let google = google_api(&state, &service.0, id).await?;
    let result = google
        .send_email(&request.to, &request.subject, &request.body)
        .await;
    answer(
        &state,
        &service.0,
        (id, "google"),
        "Email",
        started,
        result.map(|message_id| json!({ "id": message_id })),
    )
    .await
}
