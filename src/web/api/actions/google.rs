//! Google Workspace: calendars and events, Drive files, folders and sharing, and email.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{google_api, json_body, page_json, page_query, query};
use crate::domain::{Email, IntegrationId};
use crate::integrations::google::NewEvent;
use crate::providers::catalogue::GOOGLE;
use crate::web::WebState;
use crate::web::api::ApiPath;
use crate::web::api::errors::ApiFailure;
use crate::web::api::{Service, answer};

/// GET …/calendar/calendars?cursor=: one page of the calendars in the connected user's list
/// (Google's page tokens).
pub(in crate::web::api) async fn calendars(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let page = page_query(&req, 100)?;
    let google = google_api(&state, &service.0, id).await?;
    let result = google
        .calendars_page(page.cursor.as_deref())
        .await
        .map(|calendars| page_json("calendars", calendars));
    answer(&state, &service.0, (id, GOOGLE), "Calendars", started, result).await
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
    cursor: Option<String>,
}

/// GET …/calendar/events?from=&to=&calendar_id=: the events starting in [from, to), recurring
/// ones expanded, in time order.
pub(in crate::web::api) async fn calendar_events(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
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
    let cursor = window.cursor.as_deref().filter(|c| c.len() <= 1000);
    let result = google
        .events_page(&window.calendar_id, (&window.from, &window.to), cursor)
        .await
        .map(|events| page_json("events", events));
    answer(
        &state,
        &service.0,
        (id, GOOGLE),
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

pub(in crate::web::api) async fn calendar_event(
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
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
        (id, GOOGLE),
        "Calendar event",
        started,
        result,
    )
    .await
}

/// GET …/drive/files: the first 100 files and folders of the connected user's Drive.
/// GET …/drive/files?cursor=&limit=: one page of the Drive files the connection sees.
pub(in crate::web::api) async fn drive_files(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let page = page_query(&req, 100)?;
    let google = google_api(&state, &service.0, id).await?;
    let result = google
        .files_page(&page)
        .await
        .map(|files| page_json("files", files));
    answer(&state, &service.0, (id, GOOGLE), "Drive files", started, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFolder {
    name: String,
    /// The id of the folder to create it in (else the Drive's root).
    parent: Option<String>,
}

/// POST …/drive/folders: a new folder.
pub(in crate::web::api) async fn drive_folder(
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
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
    answer(&state, &service.0, (id, GOOGLE), "Drive folder", started, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    email: String,
    role: String,
}

/// POST …/drive/files/{file_id}/permissions: shares a file or folder with a person.
pub(in crate::web::api) async fn drive_share(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
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
    answer(&state, &service.0, (id, GOOGLE), "Drive sharing", started, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    to: String,
    subject: String,
    body: String,
}

pub(in crate::web::api) async fn email(
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
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
        (id, GOOGLE),
        "Email",
        started,
        result.map(|message_id| json!({ "id": message_id })),
    )
    .await
}
