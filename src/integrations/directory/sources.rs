//! Each provider's member list, read page by page through its API client, as accounts. Some
//! providers can also list only what changed since a token their last page gave (Microsoft
//! Graph's delta link, Google People's sync token): a pass that starts from one is incremental.

use super::accounts::{listed, removed};
use super::github;
use super::readers;
use crate::db::directory::Listed;
use crate::domain::DirectorySource;
use crate::integrations::google::Google;
use crate::integrations::microsoft::{DeltaNext, Graph, Removal};
use crate::integrations::provider_api::{ApiError, PageRequest, ProviderApi};
use crate::integrations::slack::{Slack, User};
use crate::providers::catalogue::endpoints::{GOOGLE_DIRECTORY_USERS, GOOGLE_PEOPLE_DIRECTORY};
use crate::providers::catalogue::{
    ASANA, DROPBOX, GITHUB, GOOGLE, JIRA, LINEAR, MICROSOFT, NOTION, SLACK, ZOOM,
};

/// Accounts per page asked for (Slack recommends at most 200).
const PAGE_SIZE: u32 = 200;

/// The providers whose member list the hub reads.
const DIRECTORY_PROVIDERS: [&str; 10] = [
    SLACK, GOOGLE, MICROSOFT, GITHUB, ASANA, NOTION, JIRA, LINEAR, ZOOM, DROPBOX,
];

/// Whether the hub reads this provider's member list.
pub fn has_directory(provider: &str) -> bool {
    DIRECTORY_PROVIDERS.contains(&provider)
}

/// The provider's member list, read through its client (made once per sync).
pub enum Source<'a> {
    Slack(Slack<'a>),
    /// The Admin SDK's users or the People API's domain profiles (`list`), and whether the
    /// People API was granted (what a refused Admin SDK falls back to).
    Google {
        google: Google<'a>,
        list: DirectorySource,
        people_granted: bool,
    },
    Graph(Graph<'a>),
    /// The providers whose list is read whole every pass, each in its own paging style
    /// (readers.rs, github.rs).
    Github(ProviderApi<'a>),
    Asana(ProviderApi<'a>),
    Notion(ProviderApi<'a>),
    Jira(ProviderApi<'a>),
    Linear(ProviderApi<'a>),
    Zoom(ProviderApi<'a>),
    Dropbox(ProviderApi<'a>),
}

/// What one read of the provider's list gave.
pub enum Read {
    /// A page of accounts; more follow from this cursor.
    More(Vec<Listed>, String),
    /// The last page: the pass is complete. The token the next pass resumes from (a list that
    /// can list only changes).
    Last(Vec<Listed>, Option<String>),
    /// This list cannot go on: a new full pass of `list` starts (the provider forgot the
    /// resume token, or refused the list and allows another).
    Restart(DirectorySource),
}

impl<'a> Source<'a> {
    /// `pass_list`: the list of the pass in progress (`None`: a new pass, whose list is
    /// chosen here: Google's Admin SDK first, its People API when only that is granted).
    pub fn of(api: ProviderApi<'a>, pass_list: Option<DirectorySource>) -> Source<'a> {
        let slug = api.provider.def.slug.as_str();
        if slug == GOOGLE {
            let admin_granted = api.allows(&GOOGLE_DIRECTORY_USERS);
            let people_granted = api.allows(&GOOGLE_PEOPLE_DIRECTORY);
            let list = match pass_list {
                Some(list @ (DirectorySource::AdminDirectory | DirectorySource::PeopleDirectory)) => list,
                // With neither granted, the Admin SDK's refusal names what is missing.
                _ if admin_granted || !people_granted => DirectorySource::AdminDirectory,
                _ => DirectorySource::PeopleDirectory,
            };
            Source::Google {
                google: Google::new(api),
                list,
                people_granted,
            }
        } else {
            match slug {
                _ if slug == MICROSOFT => Source::Graph(Graph::new(api)),
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
    }

    /// The list it reads.
    pub fn list(&self) -> DirectorySource {
        match self {
            Source::Google { list, .. } => *list,
            Source::Graph(_) => DirectorySource::GraphDelta,
            _ => DirectorySource::FullList,
        }
    }

    /// Reads `list` from now on (a restarted pass).
    pub fn switch_to(&mut self, new_list: DirectorySource) {
        if let Source::Google { list, .. } = self {
            *list = new_list;
        }
    }

    /// One provider page, as accounts: at `cursor` in the pass, or its first page (from
    /// `resume`, the token of the last complete pass, when the pass is incremental).
    pub async fn read_page(&self, cursor: Option<String>, resume: Option<&str>) -> Result<Read, ApiError> {
        let page = PageRequest {
            cursor,
            limit: PAGE_SIZE,
        };
        let read = |listed, next: Option<String>, token| match next {
            Some(next) => Read::More(listed, next),
            None => Read::Last(listed, token),
        };
        let whole = |(listed, next): readers::MembersPage| Ok(read(listed, next, None));
        match self {
            Source::Github(api) => whole(github::members(api, page.cursor).await?),
            Source::Asana(api) => whole(readers::asana(api, page.cursor).await?),
            Source::Notion(api) => whole(readers::notion(api, page.cursor).await?),
            Source::Jira(api) => whole(readers::jira(api, page.cursor).await?),
            Source::Linear(api) => whole(readers::linear(api, page.cursor).await?),
            Source::Zoom(api) => whole(readers::zoom(api, page.cursor).await?),
            Source::Dropbox(api) => whole(readers::dropbox(api, page.cursor).await?),
            Source::Graph(graph) => {
                let link = page.cursor.as_deref().or(resume);
                let delta = match graph.users_delta_page(link).await {
                    Err(ApiError::ResyncRequired) if link.is_some() => {
                        return Ok(Read::Restart(DirectorySource::GraphDelta));
                    }
                    other => other?,
                };
                let listed = delta
                    .users
                    .into_iter()
                    .map(|u| match u.removed {
                        Some(removal) => removed(u.id, removal == Removal::Deleted),
                        None => listed(u.id, u.email, u.name, u.disabled),
                    })
                    .collect();
                Ok(match delta.next {
                    DeltaNext::Page(next) => Read::More(listed, next),
                    DeltaNext::Delta(token) => Read::Last(listed, Some(token)),
                })
            }
            Source::Google {
                google,
                list: DirectorySource::PeopleDirectory,
                ..
            } => {
                let people = match google.directory_people_page(&page, resume).await {
                    Err(ApiError::ResyncRequired) if resume.is_some() => {
                        return Ok(Read::Restart(DirectorySource::PeopleDirectory));
                    }
                    other => other?,
                };
                let listed = people
                    .page
                    .items
                    .into_iter()
                    .map(|p| match p.deleted {
                        true => removed(p.id, true),
                        false => listed(p.id, p.email, p.name, false),
                    })
                    .collect();
                Ok(read(listed, people.page.next_cursor, people.sync_token))
            }
            Source::Google {
                google,
                people_granted,
                ..
            } => {
                let users = match google.directory_users_page(&page).await {
                    // Not an administrator (403), or the grant withdrawn: the People API.
                    Err(ApiError::Forbidden(_) | ApiError::MissingScope { .. }) if *people_granted => {
                        return Ok(Read::Restart(DirectorySource::PeopleDirectory));
                    }
                    other => other?,
                };
                let listed = users
                    .items
                    .into_iter()
                    .map(|u| listed(u.id, u.email, u.name, u.suspended))
                    .collect();
                Ok(read(listed, users.next_cursor, None))
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
                Ok(read(listed, page.next_cursor, None))
            }
        }
    }
}
