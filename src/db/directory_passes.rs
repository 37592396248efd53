//! The state of each integration's directory sync: the pass in progress, its checkpoint
//! (the provider's cursor of the next page) and the token the next pass resumes from. A pass
//! that starts from a resume token (a provider's delta link or sync token) lists only changes:
//! it never marks absences; a full pass marks what it did not list deactivated.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::directory_changes::{self, Change};
use super::schema::{directory_entries as e, directory_pass_seen as seen, directory_syncs as s};
use super::{DbConnection, DbError};
use crate::domain::{DirectoryChange, DirectorySource, DirectoryState, IntegrationId, OrgId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = s)]
pub struct SyncRow {
    pub integration_id: IntegrationId,
    pub org_id: OrgId,
    /// The full pass in progress (`None`: none is).
    pub pass_id: Option<String>,
    /// The checkpoint: the provider's cursor of the next page to read.
    pub next_cursor: Option<String>,
    pub pages_read: i32,
    pub entries_seen: i32,
    pub entries_written: i32,
    pub started_at: Option<NaiveDateTime>,
    pub completed_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub updated_at: NaiveDateTime,
    /// Where the next pass resumes from (the provider's delta link or sync token, from the last
    /// complete pass); a pass that starts with one is incremental. `None`: a full pass.
    pub resume_token: Option<String>,
    /// The provider's list the pass reads (its cursors belong to that list).
    pub source: Option<DirectorySource>,
}

pub fn find_sync(conn: &mut DbConnection, integration: IntegrationId) -> Result<Option<SyncRow>, DbError> {
    Ok(s::table
        .find(integration)
        .select(SyncRow::as_select())
        .first(conn)
        .optional()?)
}

/// The pass to continue: the one in progress (from its checkpoint), or a new one.
pub fn begin_pass(
    conn: &mut DbConnection,
    org: OrgId,
    integration: IntegrationId,
    new_pass: &str,
    at: NaiveDateTime,
) -> Result<SyncRow, DbError> {
    super::transaction(conn, |conn| {
        let previous = find_sync(conn, integration)?;
        if let Some(row) = &previous
            && row.pass_id.is_some()
        {
            return Ok(row.clone());
        }
        diesel::delete(seen::table.filter(seen::integration_id.eq(integration))).execute(conn)?;
        let row = SyncRow {
            integration_id: integration,
            org_id: org,
            pass_id: Some(new_pass.to_owned()),
            next_cursor: None,
            pages_read: 0,
            entries_seen: 0,
            entries_written: 0,
            started_at: Some(at),
            completed_at: previous.as_ref().and_then(|r| r.completed_at),
            last_error: None,
            updated_at: at,
            resume_token: previous.as_ref().and_then(|r| r.resume_token.clone()),
            source: previous.and_then(|r| r.source),
        };
        diesel::delete(s::table.find(integration)).execute(conn)?;
        diesel::insert_into(s::table).values(&row).execute(conn)?;
        Ok(row)
    })
}

/// Drops the pass in progress and the resume token for a new full pass of `source` (the
/// provider forgot the token, or the sync reads another of its lists). `false` when `pass_id`
/// is no longer the pass in progress.
pub fn restart_pass(
    conn: &mut DbConnection,
    integration: IntegrationId,
    (pass_id, new_pass): (&str, &str),
    source: DirectorySource,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    super::transaction(conn, |conn| {
        let current = find_sync(conn, integration)?.and_then(|r| r.pass_id);
        if current.as_deref() != Some(pass_id) {
            return Ok(false);
        }
        diesel::delete(seen::table.filter(seen::integration_id.eq(integration))).execute(conn)?;
        diesel::update(s::table.find(integration))
            .set((
                s::pass_id.eq(new_pass),
                s::next_cursor.eq(None::<String>),
                s::resume_token.eq(None::<String>),
                s::source.eq(source),
                (
                    s::pages_read.eq(0),
                    s::entries_seen.eq(0),
                    s::entries_written.eq(0),
                ),
                s::started_at.eq(at),
                s::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(true)
    })
}

/// Ends a complete pass (every page read) and keeps the token the next pass resumes from. A
/// full pass marks the active accounts it did not list deactivated; an incremental one (it
/// started from a resume token) listed only changes, so it marks none. Returns how many were
/// marked; `None` when the pass is not the one in progress.
pub fn complete_pass(
    conn: &mut DbConnection,
    integration: IntegrationId,
    pass_id: &str,
    resume_token: Option<&str>,
    at: NaiveDateTime,
) -> Result<Option<usize>, DbError> {
    super::transaction(conn, |conn| {
        let Some(row) = find_sync(conn, integration)?.filter(|r| r.pass_id.as_deref() == Some(pass_id))
        else {
            return Ok(None);
        };
        super::directory::plan_for_this_table_size(conn)?;
        let absent = match row.resume_token {
            None => deactivate_unlisted(conn, integration, pass_id, at, row.completed_at)?,
            Some(_) => 0,
        };
        diesel::delete(seen::table.filter(seen::integration_id.eq(integration))).execute(conn)?;
        diesel::update(s::table.find(integration))
            .set((
                s::pass_id.eq(None::<String>),
                s::next_cursor.eq(None::<String>),
                s::resume_token.eq(resume_token),
                s::completed_at.eq(at),
                s::last_error.eq(None::<String>),
                s::entries_written.eq(s::entries_written + absent as i32),
                s::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(Some(absent))
    })
}

/// Marks the active accounts a full pass did not list deactivated (with their changes): those
/// it neither wrote nor recorded as seen. Each was last seen by the previous complete pass
/// (`listed_until`), which did list it: its `last_seen_at` says so from now on.
fn deactivate_unlisted(
    conn: &mut DbConnection,
    integration: IntegrationId,
    pass_id: &str,
    at: NaiveDateTime,
    listed_until: Option<NaiveDateTime>,
) -> Result<usize, DbError> {
    // NOT EXISTS, not NOT IN: PostgreSQL plans it as an anti-join, where NOT IN over a
    // 100,000-row list that outgrows work_mem is compared row by row.
    let listed = seen::table
        .filter(seen::integration_id.eq(e::integration_id))
        .filter(seen::external_id.eq(e::external_id));
    let gone = e::table
        .filter(e::integration_id.eq(integration))
        .filter(e::state.eq(DirectoryState::Active))
        .filter(e::written_by_pass.is_null().or(e::written_by_pass.ne(pass_id)))
        .filter(diesel::dsl::not(diesel::dsl::exists(listed)));
    let absent_rows: Vec<(String, Option<String>, OrgId)> =
        gone.select((e::external_id, e::email, e::org_id)).load(conn)?;
    let absent = match listed_until {
        Some(listed) => diesel::update(gone)
            .set((
                e::state.eq(DirectoryState::Deactivated),
                e::changed_at.eq(at),
                e::last_seen_at.eq(listed),
            ))
            .execute(conn)?,
        None => diesel::update(gone)
            .set((e::state.eq(DirectoryState::Deactivated), e::changed_at.eq(at)))
            .execute(conn)?,
    };
    if let Some((_, _, org)) = absent_rows.first() {
        let changes: Vec<Change<'_>> = absent_rows
            .iter()
            .map(|(id, email, _)| Change {
                external_id: id,
                email: email.as_deref(),
                change: DirectoryChange::Deactivated,
            })
            .collect();
        directory_changes::append(conn, *org, integration, &changes, at)?;
    }
    Ok(absent)
}

/// Records why the pass stopped (it resumes from its checkpoint at the next sync).
pub fn record_error(
    conn: &mut DbConnection,
    integration: IntegrationId,
    error: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(s::table.find(integration))
        .set((s::last_error.eq(error), s::updated_at.eq(at)))
        .execute(conn)?;
    Ok(())
}
