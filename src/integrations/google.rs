//! Google Workspace for the platform: Calendar (calendars, events in a window, new events
//! with attendees), Drive (files, folders, sharing) and Gmail (send). Every call goes through
//! the shared HTTP core.

use base64::Engine;
use serde_json::{Value, json};

use super::provider_api::{ApiError, ApiRequest, Page, PageRequest, ProviderApi};
use crate::providers::catalogue::endpoints::*;

pub struct Google<'a> {
    api: ProviderApi<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Calendar {
    pub id: String,
    pub summary: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CalendarEvent {
    pub id: String,
    pub summary: String,
    pub start: String,
    pub end: String,
    pub html_link: Option<String>,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct NewEvent {
    pub summary: String,
    #[serde(default)]
    pub description: Option<String>,
    /// RFC 3339.
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub attendees: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DriveFile {
    pub id: String,
    pub name: String,
    pub mime_type: String,
}

fn text(value: &Value, pointer: &str) -> Result<String, ApiError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::ProviderDown(format!("Google's answer has no {pointer}")))
}

fn event(item: &Value) -> Option<CalendarEvent> {
    let when = |key: &str| {
        item.pointer(&format!("/{key}/dateTime"))
            .or_else(|| item.pointer(&format!("/{key}/date")))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(CalendarEvent {
        id: item.get("id")?.as_str()?.to_owned(),
        summary: item
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        start: when("start")?,
        end: when("end")?,
        html_link: item.get("htmlLink").and_then(Value::as_str).map(str::to_owned),
    })
}

fn file(item: &Value) -> Option<DriveFile> {
    Some(DriveFile {
        id: item.get("id")?.as_str()?.to_owned(),
        name: item.get("name")?.as_str()?.to_owned(),
        mime_type: item
            .get("mimeType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

/// A user of the Workspace directory (Admin SDK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Suspended or archived by an administrator.
    pub suspended: bool,
}

fn directory_user(item: &Value) -> Option<DirectoryUser> {
    let flag = |key: &str| item.get(key).and_then(Value::as_bool).unwrap_or(false);
    Some(DirectoryUser {
        id: item.get("id")?.as_str()?.to_owned(),
        email: item
            .get("primaryEmail")
            .and_then(Value::as_str)
            .map(str::to_owned),
        name: item
            .pointer("/name/fullName")
            .and_then(Value::as_str)
            .map(str::to_owned),
        suspended: flag("suspended") || flag("archived"),
    })
}

/// A person of the domain's directory (People API), by the same id as the Admin SDK's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPerson {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// A change read by sync token: the person was deleted (only the id is said).
    pub deleted: bool,
}

/// One page of the domain's people and, on the last page, the token a later read of only the
/// changes starts from.
#[derive(Debug, Clone)]
pub struct DirectoryPeoplePage {
    pub page: Page<DirectoryPerson>,
    pub sync_token: Option<String>,
}

fn directory_person(item: &Value) -> Option<DirectoryPerson> {
    let resource = item.get("resourceName")?.as_str()?;
    // The primary value, else the first.
    let primary = |key: &str, field: &str| {
        let values = item.get(key)?.as_array()?;
        values
            .iter()
            .find(|v| v.pointer("/metadata/primary") == Some(&Value::Bool(true)))
            .or_else(|| values.first())?
            .get(field)?
            .as_str()
            .map(str::to_owned)
    };
    Some(DirectoryPerson {
        id: resource.strip_prefix("people/").unwrap_or(resource).to_owned(),
        email: primary("emailAddresses", "value"),
        name: primary("names", "displayName"),
        deleted: item.pointer("/metadata/deleted") == Some(&Value::Bool(true)),
    })
}

/// An RFC 5322 message in UTF-8 (RFC 2047 subject, base64 body), as Gmail's `raw` wants it:
/// base64url. Header values with line breaks are refused (header injection).
pub fn rfc5322_message(to: &str, subject: &str, body: &str) -> Result<String, ApiError> {
    if to.contains(['\r', '\n']) || subject.contains(['\r', '\n']) || !to.contains('@') {
        return Err(ApiError::BadRequest(
            "the recipient or the subject is malformed".into(),
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let encoded_body = b64.encode(body.as_bytes());
    let wrapped: Vec<&str> = encoded_body
        .as_bytes()
        .chunks(76)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    let message = format!(
        "To: {to}\r\nSubject: =?UTF-8?B?{}?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        b64.encode(subject.as_bytes()),
        wrapped.join("\r\n")
    );
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(message.as_bytes()))
}

/// The request with Google's `pageToken` when there is a cursor.
fn with_page_token(request: ApiRequest, cursor: Option<&str>) -> ApiRequest {
    match cursor.filter(|c| !c.is_empty()) {
        Some(token) => request.query("pageToken", token),
        None => request,
    }
}

/// The items under `key` and `nextPageToken` as the next cursor.
fn page_of<T>(answer: &Value, key: &str, item: impl Fn(&Value) -> Option<T>) -> Page<T> {
    Page {
        items: answer
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(item)
            .collect(),
        next_cursor: answer
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    }
}

impl<'a> Google<'a> {
    pub fn new(api: ProviderApi<'a>) -> Google<'a> {
        Google { api }
    }

    async fn call(&self, request: ApiRequest) -> Result<Value, ApiError> {
        self.api.send(&request).await?.json()
    }

    /// One page of the calendars in the user's list (Google's page token as the cursor).
    pub async fn calendars_page(&self, cursor: Option<&str>) -> Result<Page<Calendar>, ApiError> {
        let request = with_page_token(self.api.request(&GOOGLE_CALENDAR_LIST, &[]), cursor);
        let answer = self.call(request).await?;
        Ok(page_of(&answer, "items", |c| {
            Some(Calendar {
                id: c.get("id")?.as_str()?.to_owned(),
                summary: c
                    .get("summary")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                primary: c.get("primary").and_then(Value::as_bool).unwrap_or(false),
            })
        }))
    }

    /// One page of the events starting in [from, to) (RFC 3339), recurring ones expanded, in
    /// time order.
    pub async fn events_page(
        &self,
        calendar: &str,
        (from, to): (&str, &str),
        cursor: Option<&str>,
    ) -> Result<Page<CalendarEvent>, ApiError> {
        let request = self
            .api
            .request(&GOOGLE_EVENTS_LIST, &[("calendarId", calendar)])
            .query("timeMin", from)
            .query("timeMax", to)
            .query("singleEvents", "true")
            .query("orderBy", "startTime");
        let answer = self.call(with_page_token(request, cursor)).await?;
        Ok(page_of(&answer, "items", event))
    }

    /// Creates an event and invites the attendees (Google emails them).
    pub async fn create_event(&self, calendar: &str, new: &NewEvent) -> Result<CalendarEvent, ApiError> {
        let body = json!({
            "summary": new.summary,
            "description": new.description,
            "start": { "dateTime": new.start },
            "end": { "dateTime": new.end },
            "attendees": new.attendees.iter().map(|email| json!({ "email": email })).collect::<Vec<_>>(),
        });
        let request = self
            .api
            .request(&GOOGLE_EVENTS_INSERT, &[("calendarId", calendar)])
            .json(&body)
            .query("sendUpdates", "all");
        let answer = self.call(request).await?;
        event(&answer).ok_or_else(|| ApiError::ProviderDown("Google's answer is not an event".into()))
    }

    /// One page of the Drive files the connection sees.
    pub async fn files_page(&self, page: &PageRequest) -> Result<Page<DriveFile>, ApiError> {
        let request = self
            .api
            .request(&GOOGLE_FILES_LIST, &[])
            .query("pageSize", page.limit.to_string())
            .query("fields", "files(id,name,mimeType),nextPageToken");
        let answer = self
            .call(with_page_token(request, page.cursor.as_deref()))
            .await?;
        Ok(page_of(&answer, "files", file))
    }

    /// One page of the Workspace directory's users (Admin SDK, the connected administrator's
    /// own customer).
    pub async fn directory_users_page(&self, page: &PageRequest) -> Result<Page<DirectoryUser>, ApiError> {
        let request = self
            .api
            .request(&GOOGLE_DIRECTORY_USERS, &[])
            .query("customer", "my_customer")
            .query("maxResults", page.limit.min(500).to_string());
        let answer = self
            .call(with_page_token(request, page.cursor.as_deref()))
            .await?;
        Ok(page_of(&answer, "users", directory_user))
    }

    /// One page of the domain's people (People API), the whole directory or, from a sync
    /// token, only what changed since it was given.
    pub async fn directory_people_page(
        &self,
        page: &PageRequest,
        sync_token: Option<&str>,
    ) -> Result<DirectoryPeoplePage, ApiError> {
        let mut request = self
            .api
            .request(&GOOGLE_PEOPLE_DIRECTORY, &[])
            .query("readMask", "names,emailAddresses,metadata")
            .query("sources", "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE")
            .query("pageSize", page.limit.min(1000).to_string())
            .query("requestSyncToken", "true");
        // Every page of a read by sync token carries the token (Google wants the same
        // parameters on each page).
        if let Some(token) = sync_token {
            request = request.query("syncToken", token);
        }
        let answer = self
            .call(with_page_token(request, page.cursor.as_deref()))
            .await?;
        Ok(DirectoryPeoplePage {
            page: page_of(&answer, "people", directory_person),
            sync_token: answer
                .get("nextSyncToken")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
        })
    }

    pub async fn create_folder(&self, name: &str, parent: Option<&str>) -> Result<DriveFile, ApiError> {
        let mut body = json!({ "name": name, "mimeType": "application/vnd.google-apps.folder" });
        if let Some(parent) = parent {
            body["parents"] = json!([parent]);
        }
        let answer = self
            .call(self.api.request(&GOOGLE_FILES_CREATE, &[]).json(&body))
            .await?;
        file(&answer).ok_or_else(|| ApiError::ProviderDown("Google's answer is not a file".into()))
    }

    /// Shares a file or folder with a person (`role`: reader, commenter or writer). Returns the
    /// permission's id.
    pub async fn share(&self, file_id: &str, email: &str, role: &str) -> Result<String, ApiError> {
        if !matches!(role, "reader" | "commenter" | "writer") {
            return Err(ApiError::BadRequest(
                "role must be reader, commenter or writer".into(),
            ));
        }
        let body = json!({ "type": "user", "role": role, "emailAddress": email });
        let request = self
            .api
            .request(&GOOGLE_PERMISSIONS_CREATE, &[("fileId", file_id)])
            .json(&body);
        text(&self.call(request).await?, "/id")
    }

    /// Sends a plain-text email from the connected account. Returns Gmail's message id.
    pub async fn send_email(&self, to: &str, subject: &str, body: &str) -> Result<String, ApiError> {
        let raw = rfc5322_message(to, subject, body)?;
        let request = self
            .api
            .request(&GOOGLE_SEND_MAIL, &[("userId", "me")])
            .json(&json!({ "raw": raw }));
        text(&self.call(request).await?, "/id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_messages_are_utf8_and_refuse_header_injection() {
        let raw = rfc5322_message("ada@acme.example", "Bienvenue, Zoë ✓", "Bonjour Zoë,\nà lundi !").unwrap();
        let message = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(raw)
                .unwrap(),
        )
        .unwrap();
        assert!(message.starts_with("To: ada@acme.example\r\nSubject: =?UTF-8?B?"));
        let subject = message
            .lines()
            .nth(1)
            .unwrap()
            .trim_start_matches("Subject: =?UTF-8?B?")
            .trim_end_matches("?=");
        assert_eq!(
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(subject).unwrap()).unwrap(),
            "Bienvenue, Zoë ✓"
        );
        let body = message.split("\r\n\r\n").nth(1).unwrap().replace("\r\n", "");
        assert_eq!(
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(body).unwrap()).unwrap(),
            "Bonjour Zoë,\nà lundi !"
        );
        assert!(rfc5322_message("ada@acme.example\r\nBcc: eve@evil.example", "s", "b").is_err());
        assert!(rfc5322_message("ada@acme.example", "s\nBcc: eve@evil.example", "b").is_err());
    }
}
