//! The directory as the platform reads it: an integration's accounts, people matched by
//! email across services, the change feed, and what the platform says of employment.

use crate::context::AppContext;
use crate::db::directory::{self, EntryRow};
use crate::db::people::{self, PeopleFilter};
use crate::db::{self, DbError};
use crate::domain::{IntegrationId, OrgId};

/// Where the integration's directory sync stands: the list its last pass read
/// (`SyncRow::source`: Admin SDK or People API, delta query, full list), its checkpoint and
/// when it last completed. `None` before the first sync (or for another organization's).
pub async fn sync_state(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<Option<directory::SyncRow>, DbError> {
    let row = ctx
        .db
        .run(move |conn| directory::find_sync(conn, integration))
        .await?;
    Ok(row.filter(|row| row.org_id == org))
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

/// One page of people (by email, after `after`) that pass `filter`.
pub async fn people_page(
    ctx: &AppContext,
    org: OrgId,
    filter: PeopleFilter,
    after: Option<String>,
    limit: i64,
) -> Result<Vec<Person>, DbError> {
    let (emails, rows, employment) = ctx
        .db
        .run(move |conn| {
            let (emails, rows) = people::people_page(conn, org, &filter, after.as_deref(), limit)?;
            let employment = people::employment_of(conn, org, &emails)?;
            Ok((emails, rows, employment))
        })
        .await?;
    let mut rows = rows.into_iter().peekable();
    let people = emails
        .into_iter()
        .map(|email| {
            let mut person = Person {
                employment: employment
                    .iter()
                    .find(|(e, _, _)| *e == email)
                    .map(|(_, status, since)| EmploymentView {
                        status: status.as_str(),
                        since: since.map(|d| d.to_string()),
                    }),
                name: None,
                accounts: Vec::new(),
                email,
            };
            while let Some((row, provider)) = rows.next_if(|(r, _)| r.email.as_deref() == Some(&person.email))
            {
                person.name = person.name.take().or(row.name);
                person.accounts.push(PersonAccount {
                    integration_id: row.integration_id,
                    provider,
                    external_id: row.external_id,
                    state: row.state.as_str(),
                    last_seen: row.last_seen_at.and_utc().to_rfc3339(),
                });
            }
            person
        })
        .collect();
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
