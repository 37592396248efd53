//! People: the organization's directory accounts grouped by email, beside what the platform
//! says of their employment (employed or left, and since when).

use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::count_star;
use diesel::expression_methods::EscapeExpressionMethods;
use diesel::prelude::*;

use super::directory::EntryRow;
use super::schema::{
    directory_entries as e, directory_syncs as s, integrations as i, people_employment as p,
};
use super::{DbConnection, DbError};
use crate::domain::{DirectoryState, Employment, IntegrationId, OrgId};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>);

/// Which people a page lists.
#[derive(Debug, Clone, Default)]
pub struct PeopleFilter {
    /// A part of the name or email (any case).
    pub search: Option<String>,
    /// Only people with no active account in this integration.
    pub missing_in: Option<IntegrationId>,
    /// Only people the platform marked as leavers who still have an active account.
    pub leavers_with_access: bool,
}

/// The emails of one page of people (after `after`, at most `limit`), in order: those with
/// accounts and, unless only leavers with access are asked for, those the platform named
/// without any account yet (a new hire with no account anywhere).
fn people_emails(
    conn: &mut DbConnection,
    org: OrgId,
    filter: &PeopleFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, DbError> {
    let pattern = filter.search.as_deref().map(|q| {
        let literal = q
            .trim()
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{literal}%")
    });
    let mut accounts = e::table
        .filter(e::org_id.eq(org))
        .filter(e::email.is_not_null())
        .select(e::email.assume_not_null())
        .distinct()
        .order(e::email.asc())
        .limit(limit)
        .into_boxed();
    if let Some(after) = after {
        accounts = accounts.filter(e::email.gt(after.to_owned()));
    }
    if let Some(pattern) = &pattern {
        accounts = accounts.filter(
            e::email
                .like(pattern.clone())
                .escape('\\')
                .or(lower(e::name).like(pattern.clone()).escape('\\')),
        );
    }
    // NOT EXISTS (an anti-join), not NOT IN: see directory_passes::deactivate_unlisted.
    let other = diesel::alias!(super::schema::directory_entries as other);
    let active_in = |integration: IntegrationId| {
        other
            .filter(other.field(e::integration_id).eq(integration))
            .filter(other.field(e::state).eq(DirectoryState::Active))
    };
    if let Some(integration) = filter.missing_in {
        let has = active_in(integration).filter(other.field(e::email).eq(e::email));
        accounts = accounts.filter(diesel::dsl::not(diesel::dsl::exists(has)));
    }
    if filter.leavers_with_access {
        let leavers = p::table
            .filter(p::org_id.eq(org))
            .filter(p::status.eq(Employment::Leaver))
            .select(p::email);
        accounts = accounts
            .filter(e::state.eq(DirectoryState::Active))
            .filter(e::email.assume_not_null().eq_any(leavers));
    }
    let mut emails: Vec<String> = accounts.load(conn)?;
    if !filter.leavers_with_access {
        let mut named = p::table
            .filter(p::org_id.eq(org))
            .select(p::email)
            .order(p::email.asc())
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            named = named.filter(p::email.gt(after.to_owned()));
        }
        if let Some(pattern) = &pattern {
            named = named.filter(p::email.like(pattern.clone()).escape('\\'));
        }
        if let Some(integration) = filter.missing_in {
            let has = active_in(integration).filter(other.field(e::email).eq(p::email.nullable()));
            named = named.filter(diesel::dsl::not(diesel::dsl::exists(has)));
        }
        emails.extend(named.load::<String>(conn)?);
        emails.sort();
        emails.dedup();
        emails.truncate(limit.max(0) as usize);
    }
    Ok(emails)
}

/// The accounts of a page of people, each with its provider's slug.
pub type PeopleAccounts = Vec<(EntryRow, String)>;

/// One page of people: their emails in order and every account of theirs (with its
/// provider), sorted by email.
pub fn people_page(
    conn: &mut DbConnection,
    org: OrgId,
    filter: &PeopleFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<(Vec<String>, PeopleAccounts), DbError> {
    let emails = people_emails(conn, org, filter, after, limit)?;
    let mut accounts: PeopleAccounts = e::table
        .inner_join(i::table)
        .filter(e::org_id.eq(org))
        .filter(e::email.eq_any(&emails))
        .order((e::email.asc(), e::integration_id.asc(), e::external_id.asc()))
        .select((EntryRow::as_select(), i::provider_slug))
        .load(conn)?;
    super::directory::with_last_listing(conn, accounts.iter_mut().map(|(row, _)| row))?;
    Ok((emails, accounts))
}

/// Per integration of the organization: how many accounts it lists in each state.
pub fn directory_counts(
    conn: &mut DbConnection,
    org: OrgId,
) -> Result<Vec<(IntegrationId, DirectoryState, i64)>, DbError> {
    Ok(e::table
        .filter(e::org_id.eq(org))
        .group_by((e::integration_id, e::state))
        .select((e::integration_id, e::state, count_star()))
        .load(conn)?)
}

/// The directory syncs of the organization's integrations.
pub fn directory_syncs(
    conn: &mut DbConnection,
    org: OrgId,
) -> Result<Vec<super::directory::SyncRow>, DbError> {
    Ok(s::table
        .filter(s::org_id.eq(org))
        .select(super::directory::SyncRow::as_select())
        .load(conn)?)
}

/// Records what the platform says of a person's employment (the last word wins).
pub fn set_employment(
    conn: &mut DbConnection,
    org: OrgId,
    email: &str,
    status: Employment,
    since: Option<NaiveDate>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    super::transaction(conn, |conn| {
        diesel::delete(p::table.find((org, email))).execute(conn)?;
        diesel::insert_into(p::table)
            .values((
                p::org_id.eq(org),
                p::email.eq(email),
                p::status.eq(status),
                p::since.eq(since),
                p::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The employment the platform reported for these emails.
pub fn employment_of(
    conn: &mut DbConnection,
    org: OrgId,
    emails: &[String],
) -> Result<Vec<(String, Employment, Option<NaiveDate>)>, DbError> {
    Ok(p::table
        .filter(p::org_id.eq(org))
        .filter(p::email.eq_any(emails))
        .select((p::email, p::status, p::since))
        .load(conn)?)
}
