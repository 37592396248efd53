//! Scopes in plain words, for the consent dialog. Unknown scopes are shown as they are.

/// What granting `scope` lets the hub do, in a sentence an HR admin can judge.
pub fn describe(scope: &str) -> String {
    let known = match scope {
        "openid" => "Confirm who you are",
        "email" | "https://www.googleapis.com/auth/userinfo.email" | "users:read.email" | "user:email" => {
            "See email addresses"
        }
        "profile" | "read:user" | "User.Read" | "read:me" => "See your basic profile",
        "offline_access" => "Stay connected when you are not signed in (refresh tokens)",
        "https://www.googleapis.com/auth/calendar.events" | "Calendars.ReadWrite" => {
            "See and edit calendar events (to schedule interviews and onboarding)"
        }
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly" => "See the list of your calendars",
        "https://www.googleapis.com/auth/drive.file" => "Create and share the Drive files the hub makes",
        "https://www.googleapis.com/auth/gmail.send" | "Mail.Send" => "Send email on your behalf",
        "chat:write" => "Post messages as the Targetym app",
        "users:read" => "See the people in your workspace",
        "channels:read" => "See public channels",
        "channels:manage" => "Create and manage public channels",
        "groups:read" => "See private channels the app is in",
        "groups:write" => "Create and manage private channels",
        "team:read" => "See the workspace's name",
        "im:write" => "Start direct messages with people",
        "workspaces:read" => "See workspaces",
        "tasks:read" => "See tasks",
        "tasks:write" => "Create and edit tasks",
        "projects:read" => "See projects",
        "webhooks:write" => "Register webhooks for updates",
        "read:jira-user" => "See Jira users",
        "read:jira-work" => "See Jira issues and projects",
        "write:jira-work" => "Create and edit Jira issues",
        "manage:jira-webhook" => "Register Jira webhooks",
        "read" => "Read your data",
        "write" => "Create and edit your data",
        "account_info.read" => "See your account information",
        "files.metadata.read" => "See file and folder names",
        "files.content.read" => "Read file contents",
        "files.content.write" => "Create and edit files",
        _ => return scope.to_owned(),
    };
    known.to_owned()
}

/// The scopes of a granted-scopes text: space-separated (OAuth 2.0) or comma-separated (Slack).
pub fn parse(granted: &str) -> impl Iterator<Item = &str> {
    granted.split([' ', ',']).map(str::trim).filter(|s| !s.is_empty())
}

/// Which of `needed` the granted scopes lack.
pub fn missing(needed: &[&str], granted: &str) -> Vec<String> {
    needed
        .iter()
        .filter(|scope| !parse(granted).any(|g| g == **scope))
        .map(|scope| (*scope).to_owned())
        .collect()
}
