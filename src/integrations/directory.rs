//! Directory sync: the accounts a connected service lists, read page by page through the HTTP
//! core and stored per integration. A full pass is checkpointed after every page (the
//! provider's cursor of the next page), so a sync stopped half-way (a kill, a provider
//! failure) resumes there on any instance; only a complete pass marks the accounts it did not
//! list as deactivated. Unchanged accounts are not rewritten.

use super::google::Google;
use super::provider_api::{ApiError, PageRequest, ProviderApi};
use super::slack::{Slack, User};
use crate::context::AppContext;
use crate::db::directory::{self, EntryRow, Listed, SyncRow};
use crate::db::{self, DbError};
use crate::domain::{DirectoryState, IntegrationId, OrgId};
use crate::providers::catalogue::{GOOGLE, SLACK};

/// Accounts per page asked for (Slack recommends at most 200).
const PAGE_SIZE: u32 = 200;
/// A pass never reads more pages than this in one sync (a provider that pages forever).
const MAX_PAGES_PER_SYNC: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// How a sync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub pages: usize,
    pub written: usize,
    /// The pass was completed (every page read) in this sync.
    pub completed: bool,
    /// Accounts the completed pass no longer listed, now deactivated.
    pub deactivated: usize,
}

/// Whether the hub reads this provider's member list.
pub fn has_directory(provider: &str) -> bool {
    provider == SLACK || provider == GOOGLE
}

/// The provider's member list, read through its client (made once per sync).
enum Source<'a> {
    Slack(Slack<'a>),
    Google(Google<'a>),
}

impl<'a> Source<'a> {
    fn of(api: ProviderApi<'a>) -> Source<'a> {
        if api.provider.def.slug == GOOGLE {
            Source::Google(Google::new(api))
        } else {
            Source::Slack(Slack::new(api))
        }
    }

    /// One provider page, as accounts.
    async fn read_page(&self, cursor: Option<String>) -> Result<(Vec<Listed>, Option<String>), ApiError> {
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

/// Runs (or resumes) the integration's full pass until it completes or a page fails; the
/// failure is recorded on the sync and returned (the next sync resumes from the checkpoint).
pub async fn sync_directory(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<SyncOutcome, DirectoryError> {
    let new_pass = uuid::Uuid::new_v4().to_string();
    let pass: SyncRow = ctx
        .db
        .run(move |conn| directory::begin_pass(conn, org, integration, &new_pass, db::now()))
        .await?;
    let pass_id = pass.pass_id.clone().unwrap_or_default();
    let mut cursor = pass.next_cursor.clone();
    let mut outcome = SyncOutcome {
        pages: 0,
        written: 0,
        completed: false,
        deactivated: 0,
    };
    let pace = ctx.settings.worker.directory_page_interval;
    let source = Source::of(ProviderApi::for_integration(ctx, org, integration).await?);
    for _ in 0..MAX_PAGES_PER_SYNC {
        if outcome.pages > 0 && !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let (listed, next) = match source.read_page(cursor.clone()).await {
            Ok(page) => page,
            Err(e) => {
                let error = e.to_string();
                ctx.db
                    .run(move |conn| directory::record_error(conn, integration, &error, db::now()))
                    .await?;
                return Err(e.into());
            }
        };
        let (pass, next_cursor) = (pass_id.clone(), next.clone());
        let stored = ctx
            .db
            .run(move |conn| {
                directory::store_page(
                    conn,
                    org,
                    integration,
                    &pass,
                    &listed,
                    next_cursor.as_deref(),
                    db::now(),
                )
            })
            .await?;
        let Some(written) = stored else {
            // Another instance finished or restarted the pass: nothing more to do here.
            return Ok(outcome);
        };
        outcome.pages += 1;
        outcome.written += written;
        match next {
            Some(next) => cursor = Some(next),
            None => {
                let pass = pass_id.clone();
                let absent = ctx
                    .db
                    .run(move |conn| directory::complete_pass(conn, integration, &pass, db::now()))
                    .await?;
                outcome.completed = absent.is_some();
                outcome.deactivated = absent.unwrap_or(0);
                outcome.written += outcome.deactivated;
                return Ok(outcome);
            }
        }
    }
    Ok(outcome)
}

/// One page of an integration's directory (by external id), for the internal API.
pub async fn entries_page(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<EntryRow>, DbError> {
    ctx.db
        .run(move |conn| directory::entries_page(conn, org, integration, after.as_deref(), limit))
        .await
}

/// One person: the accounts that share an email across the organization's services.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Person {
    pub email: String,
    pub name: Option<String>,
    /// What the platform said of their employment (`None`: nothing yet).
    pub employment: Option<EmploymentView>,
    pub accounts: Vec<PersonAccount>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EmploymentView {
    pub status: &'static str,
    pub since: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PersonAccount {
    pub integration_id: IntegrationId,
    pub provider: String,
    pub external_id: String,
    pub state: &'static str,
    pub last_seen: String,
}

/// One page of people (by email, after `after`).
pub async fn people_page(
    ctx: &AppContext,
    org: OrgId,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Person>, DbError> {
    let (rows, employment) = ctx
        .db
        .run(move |conn| {
            let rows = directory::people_page(conn, org, after.as_deref(), limit)?;
            let emails: Vec<String> = rows.iter().filter_map(|(r, _)| r.email.clone()).collect();
            Ok((rows, crate::db::people::employment_of(conn, org, &emails)?))
        })
        .await?;
    let mut people: Vec<Person> = Vec::new();
    for (row, provider) in rows {
        let email = row.email.clone().unwrap_or_default();
        let account = PersonAccount {
            integration_id: row.integration_id,
            provider,
            external_id: row.external_id,
            state: row.state.as_str(),
            last_seen: row.last_seen_at.and_utc().to_rfc3339(),
        };
        match people.last_mut() {
            Some(person) if person.email == email => {
                person.name = person.name.take().or(row.name);
                person.accounts.push(account);
            }
            _ => people.push(Person {
                employment: employment
                    .iter()
                    .find(|(e, _, _)| *e == email)
                    .map(|(_, status, since)| EmploymentView {
                        status: status.as_str(),
                        since: since.map(|d| d.to_string()),
                    }),
                email,
                name: row.name,
                accounts: vec![account],
            }),
        }
    }
    Ok(people)
}

/// The organization's directory changes after `since`, in order.
pub async fn changes_page(
    ctx: &AppContext,
    org: OrgId,
    since: i64,
    limit: i64,
) -> Result<Vec<crate::db::directory_changes::ChangeRow>, DbError> {
    ctx.db
        .run(move |conn| crate::db::directory_changes::page(conn, org, since, limit))
        .await
}

/// Records what the platform says of a person's employment.
pub async fn set_employment(
    ctx: &AppContext,
    org: OrgId,
    email: &crate::domain::Email,
    status: crate::domain::Employment,
    since: Option<chrono::NaiveDate>,
) -> Result<(), DbError> {
    let email = email.as_str().to_owned();
    ctx.db
        .run(move |conn| crate::db::people::set_employment(conn, org, &email, status, since, db::now()))
        .await
}
