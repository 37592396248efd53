//! Each provider's member list, read page by page through its API client, as accounts.

use crate::db::directory::Listed;
use crate::domain::DirectoryState;
use crate::integrations::google::Google;
use crate::integrations::provider_api::{ApiError, PageRequest, ProviderApi};
use crate::integrations::slack::{Slack, User};
use crate::providers::catalogue::{GOOGLE, SLACK};

/// Accounts per page asked for (Slack recommends at most 200).
const PAGE_SIZE: u32 = 200;

/// Whether the hub reads this provider's member list.
pub fn has_directory(provider: &str) -> bool {
    provider == SLACK || provider == GOOGLE
}

/// The provider's member list, read through its client (made once per sync).
pub enum Source<'a> {
    Slack(Slack<'a>),
    Google(Google<'a>),
}

impl<'a> Source<'a> {
    pub fn of(api: ProviderApi<'a>) -> Source<'a> {
        if api.provider.def.slug == GOOGLE {
            Source::Google(Google::new(api))
        } else {
            Source::Slack(Slack::new(api))
        }
    }

    /// One provider page, as accounts.
    pub async fn read_page(&self, cursor: Option<String>) -> Result<(Vec<Listed>, Option<String>), ApiError> {
        let page = PageRequest {
            cursor,
            limit: PAGE_SIZE,
        };
        match self {
            Source::Google(google) => {
                let page = google.directory_users_page(&page).await?;
                let listed = page
                    .items
                    .into_iter()
                    .map(|u| listed(u.id, u.email, u.name, u.suspended))
                    .collect();
                Ok((listed, page.next_cursor))
            }
            Source::Slack(slack) => {
                let page = slack.users_page(&page).await?;
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

fn listed(external_id: String, email: Option<String>, name: Option<String>, inactive: bool) -> Listed {
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
