//! Every call the provider clients make, as one table: where (the host and path the
//! provider documents), how (the verb), what it must send, and the feature whose scopes allow
//! it. The clients build their requests from these entries and the contract test
//! (tests/api/contracts.rs) checks each against the provider's published API description, so
//! a call cannot be added without being checked.
//!
//! The features (features.rs) group a provider's scopes by what the hub does with them.

pub use super::directory_endpoints::*;
pub use super::features::{FEATURES, Feature, feature_scopes, features_of, scopes_for};
use super::{GOOGLE, MICROSOFT, SLACK};

/// An HTTP verb of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
        }
    }
}

/// One provider call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub provider: &'static str,
    /// The provider's own name for it: Slack's method, Google's Discovery method id.
    pub id: &'static str,
    pub verb: Verb,
    /// The API host, as documented (`slack.com`, `www.googleapis.com`).
    pub host: &'static str,
    /// The path on that host; `{name}` is a path parameter.
    pub path: &'static str,
    /// The parameters the client sends, beside the path's: query parameters, and for Slack
    /// (whose methods take their parameters as the JSON body) the body's keys. `name?` is sent
    /// only sometimes (a cursor after the first page).
    pub sends: &'static [&'static str],
    /// The JSON body's keys are parameters (Slack); otherwise the body is a resource (Google).
    pub params_in_body: bool,
    /// The feature (of `FEATURES`) whose scopes allow the call.
    pub feature: &'static str,
}

impl Endpoint {
    /// The path with its parameters filled in (each percent-encoded as one segment).
    pub fn path_with(&self, params: &[(&str, &str)]) -> String {
        let mut path = self.path.to_owned();
        for (name, value) in params {
            let encoded = url::form_urlencoded::byte_serialize(value.as_bytes())
                .collect::<String>()
                .replace('+', "%20");
            path = path.replace(&format!("{{{name}}}"), &encoded);
        }
        debug_assert!(!path.contains('{'), "{}: a path parameter is missing", self.id);
        path
    }

    /// The parameter names of `sends`, each with whether it is always sent.
    pub fn parameters(&self) -> impl Iterator<Item = (&'static str, bool)> {
        self.sends
            .iter()
            .map(|p| p.strip_suffix('?').map_or((*p, true), |name| (name, false)))
    }

    /// Whether a request with these parameters is what the table says: every name declared,
    /// every always-sent one there. The HTTP core checks it in debug builds (so the test suite
    /// catches a client that drifts from its entry).
    pub fn check_sent<'a>(&self, sent: impl Iterator<Item = &'a str> + Clone) -> Result<(), String> {
        if let Some(extra) = sent
            .clone()
            .find(|name| !self.parameters().any(|(p, _)| p == *name))
        {
            return Err(format!(
                "{} sends {extra}, which endpoints.rs does not declare",
                self.id
            ));
        }
        if let Some((missing, _)) = self
            .parameters()
            .find(|(p, always)| *always && !sent.clone().any(|s| s == *p))
        {
            return Err(format!("{} does not send {missing}", self.id));
        }
        Ok(())
    }

    /// The scopes any one of which allows the call (its feature's).
    pub fn feature(&self) -> &'static Feature {
        FEATURES
            .iter()
            .find(|f| f.provider == self.provider && f.key == self.feature)
            .expect("every endpoint names a feature of its provider")
    }
}

const SLACK_HOST: &str = "slack.com";
const GOOGLE_APIS: &str = "www.googleapis.com";

const fn slack(
    id: &'static str,
    path: &'static str,
    verb: Verb,
    sends: &'static [&'static str],
    feature: &'static str,
) -> Endpoint {
    Endpoint {
        provider: SLACK,
        id,
        verb,
        host: SLACK_HOST,
        path,
        sends,
        params_in_body: true,
        feature,
    }
}

const fn google(
    id: &'static str,
    host: &'static str,
    path: &'static str,
    verb: Verb,
    sends: &'static [&'static str],
    feature: &'static str,
) -> Endpoint {
    Endpoint {
        provider: GOOGLE,
        id,
        verb,
        host,
        path,
        sends,
        params_in_body: false,
        feature,
    }
}

pub const SLACK_POST_MESSAGE: Endpoint = slack(
    "chat.postMessage",
    "/api/chat.postMessage",
    Verb::Post,
    &["channel", "text"],
    "post-messages",
);
pub const SLACK_SCHEDULE_MESSAGE: Endpoint = slack(
    "chat.scheduleMessage",
    "/api/chat.scheduleMessage",
    Verb::Post,
    &["channel", "text", "post_at"],
    "post-messages",
);
pub const SLACK_OPEN_DM: Endpoint = slack(
    "conversations.open",
    "/api/conversations.open",
    Verb::Post,
    &["users"],
    "post-messages",
);
pub const SLACK_LIST_CHANNELS: Endpoint = slack(
    "conversations.list",
    "/api/conversations.list",
    Verb::Get,
    &["limit", "cursor?"],
    "manage-channels",
);
pub const SLACK_CREATE_CHANNEL: Endpoint = slack(
    "conversations.create",
    "/api/conversations.create",
    Verb::Post,
    &["name", "is_private"],
    "manage-channels",
);
pub const SLACK_LIST_USERS: Endpoint = slack(
    "users.list",
    "/api/users.list",
    Verb::Get,
    &["limit", "cursor?"],
    "read-members",
);
pub const SLACK_LOOKUP_USER: Endpoint = slack(
    "users.lookupByEmail",
    "/api/users.lookupByEmail",
    Verb::Get,
    &["email"],
    "read-members",
);
pub const SLACK_TEAM_INFO: Endpoint = slack("team.info", "/api/team.info", Verb::Get, &[], "read-workspace");

pub const GOOGLE_CALENDAR_LIST: Endpoint = google(
    "calendar.calendarList.list",
    GOOGLE_APIS,
    "/calendar/v3/users/me/calendarList",
    Verb::Get,
    &["pageToken?"],
    "calendar",
);
pub const GOOGLE_EVENTS_LIST: Endpoint = google(
    "calendar.events.list",
    GOOGLE_APIS,
    "/calendar/v3/calendars/{calendarId}/events",
    Verb::Get,
    &["timeMin", "timeMax", "singleEvents", "orderBy", "pageToken?"],
    "calendar",
);
pub const GOOGLE_EVENTS_INSERT: Endpoint = google(
    "calendar.events.insert",
    GOOGLE_APIS,
    "/calendar/v3/calendars/{calendarId}/events",
    Verb::Post,
    &["sendUpdates"],
    "calendar",
);
pub const GOOGLE_EVENTS_WATCH: Endpoint = google(
    "calendar.events.watch",
    GOOGLE_APIS,
    "/calendar/v3/calendars/{calendarId}/events/watch",
    Verb::Post,
    &[],
    "calendar",
);
pub const GOOGLE_CALENDAR_CHANNELS_STOP: Endpoint = google(
    "calendar.channels.stop",
    GOOGLE_APIS,
    "/calendar/v3/channels/stop",
    Verb::Post,
    &[],
    "calendar",
);
pub const GOOGLE_FILES_LIST: Endpoint = google(
    "drive.files.list",
    GOOGLE_APIS,
    "/drive/v3/files",
    Verb::Get,
    &["pageSize", "fields", "pageToken?"],
    "drive",
);
pub const GOOGLE_FILES_CREATE: Endpoint = google(
    "drive.files.create",
    GOOGLE_APIS,
    "/drive/v3/files",
    Verb::Post,
    &[],
    "drive",
);
pub const GOOGLE_PERMISSIONS_CREATE: Endpoint = google(
    "drive.permissions.create",
    GOOGLE_APIS,
    "/drive/v3/files/{fileId}/permissions",
    Verb::Post,
    &[],
    "drive",
);
pub const GOOGLE_START_PAGE_TOKEN: Endpoint = google(
    "drive.changes.getStartPageToken",
    GOOGLE_APIS,
    "/drive/v3/changes/startPageToken",
    Verb::Get,
    &[],
    "drive",
);
pub const GOOGLE_CHANGES_WATCH: Endpoint = google(
    "drive.changes.watch",
    GOOGLE_APIS,
    "/drive/v3/changes/watch",
    Verb::Post,
    &["pageToken"],
    "drive",
);
pub const GOOGLE_DRIVE_CHANNELS_STOP: Endpoint = google(
    "drive.channels.stop",
    GOOGLE_APIS,
    "/drive/v3/channels/stop",
    Verb::Post,
    &[],
    "drive",
);
pub const GOOGLE_SEND_MAIL: Endpoint = google(
    "gmail.users.messages.send",
    "gmail.googleapis.com",
    "/gmail/v1/users/{userId}/messages/send",
    Verb::Post,
    &[],
    "send-mail",
);

pub const GOOGLE_DIRECTORY_USERS: Endpoint = google(
    "directory.users.list",
    "admin.googleapis.com",
    "/admin/directory/v1/users",
    Verb::Get,
    &["customer", "maxResults", "pageToken?"],
    "directory",
);

/// Google People API: the domain's profiles, then only what changed (by sync token).
pub const GOOGLE_PEOPLE_DIRECTORY: Endpoint = google(
    "people.people.listDirectoryPeople",
    "people.googleapis.com",
    "/v1/people:listDirectoryPeople",
    Verb::Get,
    &[
        "readMask",
        "sources",
        "pageSize",
        "requestSyncToken",
        "pageToken?",
        "syncToken?",
    ],
    "people-directory",
);

/// Microsoft Graph `user: delta`: every user, page by page (`@odata.nextLink`), then only what
/// changed since the `@odata.deltaLink` of the last page. Links carry their own query.
pub const GRAPH_USERS_DELTA: Endpoint = Endpoint {
    provider: MICROSOFT,
    id: "user.delta",
    verb: Verb::Get,
    host: "graph.microsoft.com",
    path: "/v1.0/users/delta",
    sends: &["$select?", "$skiptoken?", "$deltatoken?"],
    params_in_body: false,
    feature: "directory",
};

/// Every call the clients make.
pub static ENDPOINTS: &[Endpoint] = &[
    SLACK_POST_MESSAGE,
    SLACK_SCHEDULE_MESSAGE,
    SLACK_OPEN_DM,
    SLACK_LIST_CHANNELS,
    SLACK_CREATE_CHANNEL,
    SLACK_LIST_USERS,
    SLACK_LOOKUP_USER,
    SLACK_TEAM_INFO,
    GOOGLE_CALENDAR_LIST,
    GOOGLE_EVENTS_LIST,
    GOOGLE_EVENTS_INSERT,
    GOOGLE_EVENTS_WATCH,
    GOOGLE_CALENDAR_CHANNELS_STOP,
    GOOGLE_FILES_LIST,
    GOOGLE_FILES_CREATE,
    GOOGLE_PERMISSIONS_CREATE,
    GOOGLE_START_PAGE_TOKEN,
    GOOGLE_CHANGES_WATCH,
    GOOGLE_DRIVE_CHANNELS_STOP,
    GOOGLE_SEND_MAIL,
    GOOGLE_DIRECTORY_USERS,
    GOOGLE_PEOPLE_DIRECTORY,
    GRAPH_USERS_DELTA,
    GITHUB_ORG_MEMBERS,
    GITHUB_USER_ORGS,
    ASANA_ME_WORKSPACES,
    ASANA_WORKSPACE_USERS,
    NOTION_USERS,
    JIRA_ACCESSIBLE_RESOURCES,
    JIRA_USERS_SEARCH,
    LINEAR_USERS,
    ZOOM_USERS,
    DROPBOX_MEMBERS_LIST,
    DROPBOX_MEMBERS_CONTINUE,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_names_a_feature_of_its_provider_and_a_scope_is_never_twice() {
        for endpoint in ENDPOINTS {
            assert_eq!(endpoint.feature().provider, endpoint.provider);
        }
        let mut seen = std::collections::HashSet::new();
        for feature in FEATURES {
            for scope in feature.scopes {
                assert!(seen.insert((feature.provider, *scope)), "{scope} twice");
            }
        }
    }

    #[test]
    fn path_parameters_are_one_encoded_segment() {
        assert_eq!(
            GOOGLE_EVENTS_LIST.path_with(&[("calendarId", "team/hr@group.calendar.google.com")]),
            "/calendar/v3/calendars/team%2Fhr%40group.calendar.google.com/events"
        );
    }
}
