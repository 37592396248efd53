//! Which scopes allow each API method, as Slack's method pages (bot tokens), Google's
//! Discovery documents and the other providers' references say: a token without one of them gets the provider's own refusal
//! (Slack `missing_scope` with `needed`; Google 403 `insufficientPermissions`).

const G: &str = "https://www.googleapis.com/auth/";

/// The scopes any one of which allows `method path` (the path on its host); `None` for calls
/// that need no particular scope here (identity calls).
pub(super) fn allowed(method: &str, path: &str, body: &[u8]) -> Option<Vec<String>> {
    // Slack's and Microsoft's scopes are plain names.
    let slack = |scopes: &[&str]| Some(scopes.iter().map(|s| (*s).to_owned()).collect());
    let google = |scopes: &[&str]| Some(scopes.iter().map(|s| format!("{G}{s}")).collect());
    match (method, path) {
        (_, "/api/chat.postMessage" | "/api/chat.scheduleMessage") => slack(&["chat:write"]),
        (_, "/api/conversations.open") => {
            slack(&["im:write", "channels:manage", "groups:write", "mpim:write"])
        }
        (_, "/api/conversations.create") => {
            // A private channel needs groups:write; a public one channels:manage.
            let private = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|b| b.get("is_private").and_then(serde_json::Value::as_bool))
                .unwrap_or(false);
            if private {
                slack(&["groups:write"])
            } else {
                slack(&["channels:manage"])
            }
        }
        (_, "/api/conversations.list") => slack(&["channels:read", "groups:read", "im:read", "mpim:read"]),
        (_, "/api/users.list") => slack(&["users:read"]),
        (_, "/api/users.lookupByEmail") => slack(&["users:read.email"]),
        (_, "/api/team.info") => slack(&["team:read"]),
        ("GET", "/calendar/v3/users/me/calendarList") => google(&[
            "calendar",
            "calendar.readonly",
            "calendar.calendarlist",
            "calendar.calendarlist.readonly",
        ]),
        ("GET", p) if p.starts_with("/calendar/v3/calendars/") => google(&[
            "calendar",
            "calendar.readonly",
            "calendar.events",
            "calendar.events.readonly",
        ]),
        ("POST", p) if p.starts_with("/calendar/v3/calendars/") => google(&["calendar", "calendar.events"]),
        (_, p) if p.starts_with("/drive/v3/files") => google(&["drive", "drive.file"]),
        (_, p) if p.starts_with("/gmail/v1/users/") => {
            let mut scopes: Vec<String> = ["gmail.send", "gmail.compose", "gmail.modify"]
                .iter()
                .map(|s| format!("{G}{s}"))
                .collect();
            scopes.push("https://mail.google.com/".into());
            Some(scopes)
        }
        (_, "/admin/directory/v1/users") => {
            google(&["admin.directory.user", "admin.directory.user.readonly"])
        }
        (_, "/v1/people:listDirectoryPeople") => google(&["directory.readonly"]),
        (_, "/v1.0/users/delta") => slack(&["User.Read.All", "Directory.Read.All"]),
        (_, "/v1/people/me") => google(&["userinfo.profile", "userinfo.email", "contacts.readonly"]),
        // The other providers' member lists (Notion's and Zoom's access is set on the app).
        ("GET", p) if p.starts_with("/orgs/") || p.starts_with("/organizations/") || p == "/user/orgs" => {
            slack(&["read:org", "admin:org"])
        }
        ("GET", p) if p.starts_with("/api/1.0/workspaces/") => slack(&["users:read"]),
        ("GET", p) if p.ends_with("/rest/api/3/users/search") => slack(&["read:jira-user"]),
        ("POST", "/graphql") if String::from_utf8_lossy(body).contains("users(") => slack(&["read"]),
        ("POST", p) if p.starts_with("/2/team/members/") => slack(&["members.read"]),
        _ => None,
    }
}

/// Every scope `allowed` knows: a token with these can call every method.
#[cfg(test)]
pub const ALL: &[&str] = &[
    "chat:write",
    "im:write",
    "channels:manage",
    "groups:write",
    "channels:read",
    "groups:read",
    "users:read",
    "users:read.email",
    "team:read",
    "https://www.googleapis.com/auth/calendar",
    "https://www.googleapis.com/auth/drive",
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/userinfo.profile",
    "https://www.googleapis.com/auth/admin.directory.user.readonly",
    "https://www.googleapis.com/auth/directory.readonly",
    "User.Read.All",
    "read:org",
    "read:jira-user",
    "read",
    "members.read",
];
