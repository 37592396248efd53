//! Google Calendar, Drive, Gmail and People endpoints (JSON), at Google's paths.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde_json::{Value, json};

use super::{Answer, ApiError, Call, google_error, page};

/// Gmail's `raw` is base64url; clients differ on the padding.
const BASE64URL_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const PRIMARY_CALENDAR: &str = "primary-id@mock";

/// The Google account's memory.
#[derive(Default)]
pub(super) struct Account {
    /// The Workspace directory's users (Admin SDK), as a test set them.
    pub(super) directory: Vec<Value>,
    /// The domain's profiles (People API), with their changes.
    pub(super) people: super::people_directory::People,
    events: Vec<Event>,
    files: Vec<Value>,
    permissions: u64,
    pub(super) sent_emails: Vec<String>,
}

struct Event {
    calendar: String,
    start: DateTime<Utc>,
    body: Value,
}

fn bad_request(message: impl Into<String>) -> ApiError {
    google_error(StatusCode::BAD_REQUEST, message)
}

/// GET /calendar/v3/users/me/calendarList
pub(super) fn calendar_list(_: &mut Account, _: &Call) -> Answer {
    Ok(HttpResponse::Ok().json(json!({
        "kind": "calendar#calendarList",
        "items": [
            { "kind": "calendar#calendarListEntry", "id": PRIMARY_CALENDAR, "summary": "Ada", "primary": true },
            { "kind": "calendar#calendarListEntry", "id": "hr@mock", "summary": "HR" },
        ],
    })))
}

/// GET /calendar/v3/calendars/{calendar}/events: the events starting in [timeMin, timeMax).
pub(super) fn list_events(account: &mut Account, call: &Call) -> Answer {
    let bound = |name: &str| -> Result<DateTime<Utc>, ApiError> {
        let value = call
            .query(name)
            .ok_or_else(|| bad_request(format!("Missing {name}.")))?;
        DateTime::parse_from_rfc3339(&value)
            .map(|time| time.to_utc())
            .map_err(|_| bad_request(format!("Bad Request: invalid {name}.")))
    };
    let (min, max) = (bound("timeMin")?, bound("timeMax")?);
    let ordered = call.query("orderBy").is_some_and(|order| order == "startTime");
    if ordered && call.query("singleEvents").is_none_or(|single| single != "true") {
        return Err(bad_request(
            "The requested ordering is not available for the particular query.",
        ));
    }
    let calendar = calendar_id(call);
    let mut events: Vec<&Event> = account
        .events
        .iter()
        .filter(|event| event.calendar == calendar)
        .collect();
    events.retain(|event| min <= event.start && event.start < max);
    events.sort_by_key(|event| event.start);
    let items: Vec<&Value> = events.iter().map(|event| &event.body).collect();
    Ok(HttpResponse::Ok().json(json!({ "kind": "calendar#events", "items": items })))
}

/// POST /calendar/v3/calendars/{calendar}/events
pub(super) fn insert_event(account: &mut Account, call: &Call) -> Answer {
    let send_updates = call.query("sendUpdates");
    if send_updates.is_some_and(|value| !matches!(value.as_str(), "all" | "externalOnly" | "none")) {
        return Err(bad_request("Invalid value for sendUpdates."));
    }
    let mut body = json_object(call)?;
    let start = event_time(&body, "start")?;
    if event_time(&body, "end")? < start {
        return Err(bad_request("The specified time range is empty."));
    }
    let n = account.events.len() + 1;
    body["kind"] = json!("calendar#event");
    body["id"] = json!(format!("evt-{n}"));
    body["status"] = json!("confirmed");
    body["htmlLink"] = json!(format!("https://calendar.mock/evt-{n}"));
    account.events.push(Event {
        calendar: calendar_id(call),
        start,
        body: body.clone(),
    });
    Ok(HttpResponse::Ok().json(body))
}

/// The route's calendar id, with `primary` standing for the primary calendar's id.
fn calendar_id(call: &Call) -> String {
    match call.path_param("calendar") {
        "primary" => PRIMARY_CALENDAR.to_owned(),
        id => id.to_owned(),
    }
}

/// An event's `start` or `end`: a `dateTime` or an all-day `date`.
fn event_time(event: &Value, name: &str) -> Result<DateTime<Utc>, ApiError> {
    let time = &event[name];
    let parsed = match (time["dateTime"].as_str(), time["date"].as_str()) {
        (Some(date_time), _) => parse_date_time(date_time),
        (None, Some(date)) => NaiveDate::parse_from_str(date, "%Y-%m-%d")
            .ok()
            .map(|date| date.and_time(NaiveTime::MIN).and_utc()),
        (None, None) => return Err(bad_request(format!("Missing {name} time."))),
    };
    parsed.ok_or_else(|| bad_request(format!("Invalid {name} time.")))
}

/// RFC 3339; a time without an offset is taken as UTC, the mock knowing no time zones.
fn parse_date_time(text: &str) -> Option<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(time) => Some(time.to_utc()),
        Err(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|naive| naive.and_utc()),
    }
}

/// GET /drive/v3/files (`pageSize`, `pageToken`; `q` and `fields` are ignored).
pub(super) fn list_files(account: &mut Account, call: &Call) -> Answer {
    let page_size = call.query("pageSize").and_then(|size| size.parse().ok());
    match page(&account.files, call.query("pageToken").as_deref(), page_size) {
        Some((files, next)) => Ok(HttpResponse::Ok().json(json!({
            "kind": "drive#fileList",
            "files": files,
            "nextPageToken": next,
        }))),
        None => Err(bad_request("Invalid pageToken.")),
    }
}

/// GET /admin/directory/v1/users (`customer`, `maxResults` up to 500, `pageToken`).
pub(super) fn list_directory_users(account: &mut Account, call: &Call) -> Answer {
    if call.query("customer").is_none() && call.query("domain").is_none() {
        return Err(bad_request("Bad Request: customer or domain is required."));
    }
    let max = call
        .query("maxResults")
        .and_then(|size| size.parse::<usize>().ok())
        .map(|size| size.min(500));
    match page(&account.directory, call.query("pageToken").as_deref(), max) {
        Some((users, next)) => Ok(HttpResponse::Ok().json(json!({
            "kind": "admin#directory#users",
            "users": users,
            "nextPageToken": next,
        }))),
        None => Err(bad_request("Invalid pageToken.")),
    }
}

/// POST /drive/v3/files (metadata only).
pub(super) fn create_file(account: &mut Account, call: &Call) -> Answer {
    let body = json_object(call)?;
    let mut file = json!({
        "kind": "drive#file",
        "id": format!("file-{}", account.files.len() + 1),
        "name": body["name"].as_str().unwrap_or("Untitled"),
        "mimeType": body["mimeType"].as_str().unwrap_or("application/octet-stream"),
    });
    if let Some(parents) = body.get("parents") {
        file["parents"] = parents.clone();
    }
    account.files.push(file.clone());
    Ok(HttpResponse::Ok().json(file))
}

/// POST /drive/v3/files/{file}/permissions
pub(super) fn create_permission(account: &mut Account, call: &Call) -> Answer {
    let file_id = call.path_param("file");
    if !account.files.iter().any(|file| file["id"] == file_id) {
        let message = format!("File not found: {file_id}.");
        return Err(google_error(StatusCode::NOT_FOUND, message));
    }
    let body = json_object(call)?;
    let kind = body["type"].as_str().unwrap_or_default();
    let role = body["role"].as_str().unwrap_or_default();
    if !matches!(kind, "user" | "group" | "domain" | "anyone") {
        return Err(bad_request("Invalid permission type."));
    }
    if !matches!(role, "reader" | "commenter" | "writer") {
        return Err(bad_request("Invalid permission role."));
    }
    let email = body["emailAddress"].as_str().filter(|email| email.contains('@'));
    if matches!(kind, "user" | "group") && email.is_none() {
        return Err(bad_request("The permission emailAddress field is required."));
    }
    account.permissions += 1;
    Ok(HttpResponse::Ok().json(json!({
        "kind": "drive#permission",
        "id": format!("perm-{}", account.permissions),
        "type": kind,
        "role": role,
        "emailAddress": email,
    })))
}

/// POST /gmail/v1/users/me/messages/send with `{"raw": base64url(RFC 5322 message)}`.
pub(super) fn send_message(account: &mut Account, call: &Call) -> Answer {
    let body = json_object(call)?;
    let raw = body["raw"]
        .as_str()
        .filter(|raw| !raw.is_empty())
        .ok_or_else(|| {
            bad_request("'raw' RFC822 payload message string or uploading message via /upload/* URL required")
        })?;
    let decoded = BASE64URL_ANY_PADDING.decode(raw.trim()).ok();
    let message = decoded.and_then(|bytes| String::from_utf8(bytes).ok());
    let message = message.ok_or_else(|| bad_request("Invalid value for ByteString: raw"))?;
    if !has_to_and_subject(&message) {
        return Err(bad_request("Invalid To header"));
    }
    account.sent_emails.push(message);
    let n = account.sent_emails.len();
    Ok(HttpResponse::Ok().json(json!({
        "id": format!("msg-{n}"),
        "threadId": format!("thread-{n}"),
        "labelIds": ["SENT"],
    })))
}

/// A header section with a non-empty `To:` and a `Subject:`, ended by a blank line before the
/// body.
fn has_to_and_subject(message: &str) -> bool {
    let Some((headers, _body)) = message
        .split_once("\r\n\r\n")
        .or_else(|| message.split_once("\n\n"))
    else {
        return false;
    };
    let header = |name: &str| {
        let mut fields = headers.lines().filter_map(|line| line.split_once(':'));
        fields.find_map(|(key, value)| key.eq_ignore_ascii_case(name).then(|| value.trim()))
    };
    header("To").is_some_and(|to| !to.is_empty()) && header("Subject").is_some()
}

/// GET /v1/people/me (People API; `personFields` is required, as at Google).
pub(super) fn people_me(_: &mut Account, call: &Call) -> Answer {
    if call.query("personFields").is_none_or(|fields| fields.is_empty()) {
        return Err(bad_request(
            "personFields mask is required. Please specify one or more valid paths.",
        ));
    }
    Ok(HttpResponse::Ok().json(json!({
        "resourceName": "people/mock-user-1",
        "names": [{ "displayName": "Ada Mock" }],
        "emailAddresses": [{ "value": "ada@mock.example" }],
    })))
}

/// The request body, which must be a JSON object.
fn json_object(call: &Call) -> Result<Value, ApiError> {
    match serde_json::from_slice(call.body()) {
        Ok(body @ Value::Object(_)) => Ok(body),
        _ => Err(bad_request("Invalid JSON payload received.")),
    }
}
