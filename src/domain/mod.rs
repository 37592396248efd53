//! Newtypes and enums with rules. Once a value exists it is valid.

mod audit;
mod email;
mod ids;
mod schedule;
mod status;

pub use audit::{Actor, AuditKind, AuditOutcome, AuditRecord, GENESIS_HASH};
pub use email::Email;
pub use ids::{IntegrationId, InvitationId, OrgId, ProviderSlug, UserId};
pub use schedule::Schedule;
pub use status::{
    DirectoryChange, DirectorySource, DirectoryState, Employment, IntegrationStatus, LogKind, LogStatus,
    WebhookStatus,
};

/// The current time in UTC, truncated to microseconds so that a value read back from either
/// backend compares equal to the one written.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// Text from outside (a provider, a request), made safe to store and show: bounded, no
/// control characters.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max_chars).collect()
}

/// A moment as pages show it: `2026-12-02 14:05 UTC`.
pub fn format_time(at: chrono::NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    // `%Y-%m-%d %H:%M UTC`, without parsing a format string at each of a page's many times.
    let (date, time) = (at.date(), at.time());
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        date.year(),
        date.month(),
        date.day(),
        time.hour(),
        time.minute()
    )
}

/// Declares a closed set of string-coded values stored in text columns.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum! {
    /// How a provider authenticates users: plain OAuth 2.0, or OpenID Connect on top of it.
    AuthKind { OAuth2 => "oauth2", Oidc => "oidc" }
}

text_enum! {
    /// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
    TokenAuthMethod { ClientSecretBasic => "client_secret_basic", ClientSecretPost => "client_secret_post" }
}

text_enum! {
    /// The provider's webhook scheme: how deliveries are verified and handshaken.
    WebhookKind {
        SlackEvents => "slack_events",
        GoogleChannel => "google_channel",
        GraphSubscription => "graph_subscription",
        AsanaHook => "asana_hook",
        NotionSignature => "notion_signature",
        JiraHubSignature => "jira_hub_signature",
        LinearSignature => "linear_signature",
        ZoomSignature => "zoom_signature",
        DropboxSignature => "dropbox_signature",
        GithubSignature => "github_signature",
        None => "none",
    }
}

text_enum! {
    /// A user's role in an organization.
    Role { Admin => "admin" }
}

/// An organization's display name: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgName(String);

impl OrgName {
    pub fn parse(input: &str) -> Result<Self, String> {
        let name = input.trim();
        let len = name.chars().count();
        if len == 0 || len > 100 || name.chars().any(char::is_control) {
            return Err("Enter an organization name of 1 to 100 characters.".into());
        }
        Ok(OrgName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_time_reads_as_strftime_would_write_it() {
        for at in [
            "2026-12-02 14:05:59",
            "0999-01-09 00:00:00",
            "2026-07-31 23:59:00",
        ] {
            let at = chrono::NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").unwrap();
            assert_eq!(
                super::format_time(at),
                at.format("%Y-%m-%d %H:%M UTC").to_string()
            );
        }
    }
}
