//! Each provider's member list, read page by page through its API client, as accounts.

use super::github;
use super::readers::{self, MembersPage};
use crate::db::directory::Listed;
use crate::domain::DirectoryState;
use crate::integrations::google::Google;
use crate::integrations::provider_api::{ApiError, PageRequest, ProviderApi};
use crate::integrations::slack::{Slack, User};
use crate::providers::catalogue::{ASANA, DROPBOX, GITHUB, GOOGLE, JIRA, LINEAR, NOTION, SLACK, ZOOM};

/// Accounts per page asked for (Slack recommends at most 200).
const PAGE_SIZE: u32 = 200;

/// The providers whose member list the hub reads.
const DIRECTORY_PROVIDERS: [&str; 9] = [SLACK, GOOGLE, GITHUB, ASANA, NOTION, JIRA, LINEAR, ZOOM, DROPBOX];

/// Whether the hub reads this provider's member list.
pub fn has_directory(provider: &str) -> bool {
    DIRECTORY_PROVIDERS.contains(&provider)
}

/// The provider's member list, read through its client (made once per sync).
pub enum Source<'a> {
    Slack(Slack<'a>),
    Google(Google<'a>),
    Github(ProviderApi<'a>),
    Asana(ProviderApi<'a>),
    Notion(ProviderApi<'a>),
    Jira(ProviderApi<'a>),
    Linear(ProviderApi<'a>),
    Zoom(ProviderApi<'a>),
    Dropbox(ProviderApi<'a>),
}

impl<'a> Source<'a> {
    /// The source of the integration's provider (one of `DIRECTORY_PROVIDERS`; Slack's shape
    /// otherwise).
    pub fn of(api: ProviderApi<'a>) -> Source<'a> {
        let slug = api.provider.def.slug.as_str();
        match slug {
            _ if slug == GOOGLE => Source::Google(Google::new(api)),
            _ if slug == GITHUB => Source::Github(api),
            _ if slug == ASANA => Source::Asana(api),
            _ if slug == NOTION => Source::Notion(api),
            _ if slug == JIRA => Source::Jira(api),
            _ if slug == LINEAR => Source::Linear(api),
            _ if slug == ZOOM => Source::Zoom(api),
            _ if slug == DROPBOX => Source::Dropbox(api),
            _ => Source::Slack(Slack::new(api)),
        }
    }

    /// One provider page, as accounts.
    pub async fn read_page(&self, cursor: Option<String>) -> Result<MembersPage, ApiError> {
        let page = |cursor| PageRequest {
            cursor,
            limit: PAGE_SIZE,
        };
        match self {
            Source::Github(api) => github::members(api, cursor).await,
            Source::Asana(api) => readers::asana(api, cursor).await,
            Source::Notion(api) => readers::notion(api, cursor).await,
            Source::Jira(api) => readers::jira(api, cursor).await,
            Source::Linear(api) => readers::linear(api, cursor).await,
            Source::Zoom(api) => readers::zoom(api, cursor).await,
            Source::Dropbox(api) => readers::dropbox(api, cursor).await,
            Source::Google(google) => {
                let page = google.directory_users_page(&page(cursor)).await?;
                let listed = page
                    .items
                    .into_iter()
                    .map(|u| listed(u.id, u.email, u.name, u.suspended))
                    .collect();
                Ok((listed, page.next_cursor))
            }
            Source::Slack(slack) => {
                let page = slack.users_page(&page(cursor)).await?;
                let listed = page
                    .items
                    .into_iter()
                    .filter(|u| !u.is_bot)
                    .map(|u: User| {
                        let name = u.real_name.filter(|n| !n.is_empty()).or(Some(u.name));
                        listed(u.id, u.email, name, u.deleted)
                    })
                    .collect();
                Ok((listed, page.next_cursor))
            }
        }
    }
}

/// An account as stored: the email normalised (trimmed, lowercase), a hash of what is kept.
pub(super) fn listed(
    external_id: String,
    email: Option<String>,
    name: Option<String>,
    inactive: bool,
) -> Listed {
    let email = email.map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
    let state = if inactive {
        DirectoryState::Deactivated
    } else {
        DirectoryState::Active
    };
    let content_hash = crate::crypto::sha256_hex(
        format!(
            "{}\0{}\0{}",
            email.as_deref().unwrap_or_default(),
            name.as_deref().unwrap_or_default(),
            state.as_str()
        )
        .as_bytes(),
    );
    Listed {
        external_id,
        email,
        name,
        state,
        content_hash,
    }
}
