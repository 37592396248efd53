//! What the hub does with each provider, and the scopes each feature takes: the connect dialog
//! offers them as choices, the catalogue asks for their scopes, and every call of endpoints.rs
//! names the feature that allows it. A feature without scopes (Notion, Zoom: the access is set
//! on the provider's app, not asked for) is not offered: there is nothing to choose.

use super::{ASANA, DROPBOX, GITHUB, GOOGLE, JIRA, LINEAR, MICROSOFT, NOTION, SLACK, ZOOM};

/// What the hub can do with a provider, and the scopes that takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    pub provider: &'static str,
    pub key: &'static str,
    /// As the connect dialog says it.
    pub label: &'static str,
    pub scopes: &'static [&'static str],
    /// Always asked for (the connection cannot work without it).
    pub required: bool,
    /// Ticked in a new connection's dialog (an optional feature only an administrator of the
    /// provider can grant starts unticked).
    pub ticked: bool,
}

macro_rules! google_scopes {
    ($($scope:literal),+ $(,)?) => { &[$(concat!("https://www.googleapis.com/auth/", $scope)),+] };
}

pub static FEATURES: &[Feature] = &[
    Feature {
        provider: SLACK,
        key: "post-messages",
        label: "Post messages and direct messages",
        scopes: &["chat:write", "im:write"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: SLACK,
        key: "read-workspace",
        label: "Read the workspace's name",
        scopes: &["team:read"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: SLACK,
        key: "read-members",
        label: "Read members and their emails",
        scopes: &["users:read", "users:read.email"],
        required: false,
        ticked: true,
    },
    Feature {
        provider: SLACK,
        key: "manage-channels",
        label: "List and create channels",
        scopes: &["channels:read", "channels:manage", "groups:read", "groups:write"],
        required: false,
        ticked: true,
    },
    Feature {
        provider: GOOGLE,
        key: "profile",
        label: "Know which account is connected",
        scopes: &["openid", "https://www.googleapis.com/auth/userinfo.email"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: GOOGLE,
        key: "calendar",
        label: "Calendars and events",
        scopes: google_scopes!("calendar.events", "calendar.calendarlist.readonly"),
        required: false,
        ticked: true,
    },
    Feature {
        provider: GOOGLE,
        key: "drive",
        label: "Drive files the hub creates and shares",
        scopes: google_scopes!("drive.file"),
        required: false,
        ticked: true,
    },
    Feature {
        provider: GOOGLE,
        key: "send-mail",
        label: "Send email",
        scopes: google_scopes!("gmail.send"),
        required: false,
        ticked: true,
    },
    Feature {
        provider: GOOGLE,
        key: "directory",
        label: "Read the Workspace directory (a Google Workspace administrator must grant it)",
        scopes: google_scopes!("admin.directory.user.readonly"),
        required: false,
        ticked: false,
    },
    // The directory when the Admin SDK is not granted: the domain's profiles, which any
    // member of the domain may read.
    Feature {
        provider: GOOGLE,
        key: "people-directory",
        label: "Read the domain's people (when the Workspace directory is not granted)",
        scopes: google_scopes!("directory.readonly"),
        required: false,
        ticked: false,
    },
    Feature {
        provider: MICROSOFT,
        key: "profile",
        label: "Know which account is connected, and stay connected",
        scopes: &["openid", "profile", "email", "offline_access", "User.Read"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: MICROSOFT,
        key: "calendar",
        label: "Calendars and events",
        scopes: &["Calendars.ReadWrite"],
        required: false,
        ticked: true,
    },
    Feature {
        provider: MICROSOFT,
        key: "send-mail",
        label: "Send email",
        scopes: &["Mail.Send"],
        required: false,
        ticked: true,
    },
    Feature {
        provider: MICROSOFT,
        key: "directory",
        label: "Read the organization's users (an administrator of the tenant must consent)",
        scopes: &["User.Read.All"],
        required: false,
        ticked: false,
    },
    Feature {
        provider: GITHUB,
        key: "profile",
        label: "Know which account is connected",
        scopes: &["read:user", "user:email"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: GITHUB,
        key: "directory",
        label: "Read the members of an organization you choose",
        scopes: &["read:org"],
        required: false,
        ticked: true,
    },
    // Asana's `users/me` (who is connected) needs users:read too: not optional.
    Feature {
        provider: ASANA,
        key: "directory",
        label: "Know who is connected and read the workspace's members",
        scopes: &["users:read", "workspaces:read", "openid", "email", "profile"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: ASANA,
        key: "tasks",
        label: "Create and track tasks and projects",
        scopes: &["tasks:read", "tasks:write", "projects:read", "webhooks:write"],
        required: false,
        ticked: true,
    },
    Feature {
        provider: NOTION,
        key: "directory",
        label: "Read the workspace's members",
        scopes: &[],
        required: true,
        ticked: true,
    },
    // Jira's `myself` (Test connection) needs read:jira-user too: not optional.
    Feature {
        provider: JIRA,
        key: "directory",
        label: "Know who is connected and read the site's users",
        scopes: &["read:jira-user", "read:me", "offline_access"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: JIRA,
        key: "issues",
        label: "Create and track issues, with webhooks",
        scopes: &["read:jira-work", "write:jira-work", "manage:jira-webhook"],
        required: false,
        ticked: true,
    },
    // Linear always grants `read`.
    Feature {
        provider: LINEAR,
        key: "directory",
        label: "Read the workspace and its members",
        scopes: &["read"],
        required: true,
        ticked: true,
    },
    Feature {
        provider: LINEAR,
        key: "issues",
        label: "Create issues",
        scopes: &["write"],
        required: false,
        ticked: true,
    },
    Feature {
        provider: ZOOM,
        key: "directory",
        label: "Read the account's users",
        scopes: &[],
        required: true,
        ticked: true,
    },
    Feature {
        provider: DROPBOX,
        key: "files",
        label: "Know who is connected and work with their files",
        scopes: &[
            "account_info.read",
            "files.metadata.read",
            "files.content.read",
            "files.content.write",
        ],
        required: true,
        ticked: true,
    },
    Feature {
        provider: DROPBOX,
        key: "directory",
        label: "Read the team's members (a Dropbox team administrator must grant it)",
        scopes: &["members.read"],
        required: false,
        ticked: false,
    },
];

/// The features of a provider that take scopes (what can be chosen), in the table's order.
pub fn features_of(provider: &str) -> impl Iterator<Item = &'static Feature> + '_ {
    FEATURES
        .iter()
        .filter(move |f| f.provider == provider && !f.scopes.is_empty())
}

/// Every scope of a provider's features, in the table's order: what it is asked for.
pub fn feature_scopes(provider: &str) -> Vec<String> {
    features_of(provider)
        .flat_map(|f| f.scopes.iter().map(|s| (*s).to_owned()))
        .collect()
}

/// The scopes to ask for: every required feature's, and the chosen ones' (a key that is not
/// one of the provider's features is ignored).
pub fn scopes_for(provider: &str, chosen: &[String]) -> Vec<String> {
    features_of(provider)
        .filter(|f| f.required || chosen.iter().any(|key| key == f.key))
        .flat_map(|f| f.scopes.iter().map(|s| (*s).to_owned()))
        .collect()
}

impl Feature {
    /// Whether every scope of the feature is among the granted ones (space- or
    /// comma-separated).
    pub fn granted_in(&self, granted: &str) -> bool {
        crate::providers::scopes::missing(self.scopes, granted).is_empty()
    }
}
