//! Directory entries (the accounts a connected service lists), written page by page by a
//! sync's pass (its state: directory_passes.rs), and the platform's reads of them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::directory_changes::{self, Change};
pub use super::directory_passes::{
    SyncRow, begin_pass, complete_pass, find_sync, record_error, restart_pass,
};
use super::schema::{directory_entries as e, directory_pass_seen as seen, directory_syncs as s};
use super::{DbConnection, DbError};
use crate::domain::{DirectoryChange, DirectoryState, IntegrationId, OrgId};

/// Rows per multi-row INSERT (SQLite binds at most 32,766 parameters; an entry has 11).
const INSERT_CHUNK: usize = 500;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e, treat_none_as_default_value = false)]
pub struct EntryRow {
    pub id: String,
    pub org_id: OrgId,
    pub integration_id: IntegrationId,
    pub external_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub state: DirectoryState,
    pub content_hash: String,
    pub first_seen_at: NaiveDateTime,
    /// As stored: when the account was last written. The readers below give when it was last
    /// listed (`with_last_listing`).
    pub last_seen_at: NaiveDateTime,
    pub changed_at: NaiveDateTime,
    /// The pass that created or last changed the account.
    pub written_by_pass: Option<String>,
}

/// One account as the provider lists it. A removal (a delta's) names only the id: what was
/// known of the account (email, name) is kept.
#[derive(Debug, Clone)]
pub struct Listed {
    pub external_id: String,
    /// Normalised (trimmed, lowercase).
    pub email: Option<String>,
    pub name: Option<String>,
    pub state: DirectoryState,
    /// Of what is kept: an unchanged account has the same hash.
    pub content_hash: String,
}

/// Stores one page of a pass and moves its checkpoint on, in one transaction: accounts that
/// are new or changed are written, with the pass's id; the others are only marked seen by
/// the pass. Returns
/// how many entries were written; `None` when the pass is no longer the one in progress
/// (another instance finished or restarted it).
pub fn store_page(
    conn: &mut DbConnection,
    org: OrgId,
    integration: IntegrationId,
    pass_id: &str,
    listed: &[Listed],
    next_cursor: Option<&str>,
    at: NaiveDateTime,
) -> Result<Option<usize>, DbError> {
    super::transaction(conn, |conn| {
        let current = find_sync(conn, integration)?.and_then(|r| r.pass_id);
        if current.as_deref() != Some(pass_id) {
            return Ok(None);
        }
        plan_for_this_table_size(conn)?;
        let ids: Vec<&str> = listed.iter().map(|l| l.external_id.as_str()).collect();
        let existing: std::collections::HashMap<String, Known> = known_entries(conn, integration, &ids)?
            .into_iter()
            .map(|k| (k.external_id.clone(), k))
            .collect();
        let mut changes = Vec::new();
        let mut created = Vec::new();
        let mut unchanged = Vec::new();
        for item in listed {
            let known = existing.get(&item.external_id);
            let email = item.email.as_deref().or(known.and_then(|k| k.email.as_deref()));
            let name = item.name.as_deref().or(known.and_then(|k| k.name.as_deref()));
            let change = |kind| Change {
                external_id: &item.external_id,
                email,
                change: kind,
            };
            match known {
                Some(k) if k.content_hash == item.content_hash && k.state == item.state => {
                    unchanged.push(item.external_id.as_str());
                }
                Some(k) => {
                    changes.push(change(match (k.state, item.state) {
                        (_, DirectoryState::Deleted) => DirectoryChange::Deleted,
                        (DirectoryState::Active, DirectoryState::Deactivated) => DirectoryChange::Deactivated,
                        _ => DirectoryChange::Updated,
                    }));
                    diesel::update(
                        e::table
                            .filter(e::integration_id.eq(integration))
                            .filter(e::external_id.eq(&item.external_id)),
                    )
                    .set((
                        e::email.eq(email),
                        e::name.eq(name),
                        e::state.eq(item.state),
                        e::content_hash.eq(&item.content_hash),
                        e::last_seen_at.eq(at),
                        e::changed_at.eq(at),
                        e::written_by_pass.eq(pass_id),
                    ))
                    .execute(conn)?;
                }
                None => {
                    changes.push(change(match item.state {
                        DirectoryState::Deleted => DirectoryChange::Deleted,
                        _ => DirectoryChange::Created,
                    }));
                    created.push(EntryRow {
                        id: uuid::Uuid::new_v4().to_string(),
                        org_id: org,
                        integration_id: integration,
                        external_id: item.external_id.clone(),
                        email: item.email.clone(),
                        name: item.name.clone(),
                        state: item.state,
                        content_hash: item.content_hash.clone(),
                        first_seen_at: at,
                        last_seen_at: at,
                        changed_at: at,
                        written_by_pass: Some(pass_id.to_owned()),
                    });
                }
            }
        }
        insert_entries(conn, &created)?;
        let written = changes.len();
        directory_changes::append(conn, org, integration, &changes, at)?;
        mark_seen(conn, integration, &unchanged)?;
        diesel::update(s::table.find(integration))
            .set((
                s::next_cursor.eq(next_cursor),
                s::pages_read.eq(s::pages_read + 1),
                s::entries_seen.eq(s::entries_seen + listed.len() as i32),
                s::entries_written.eq(s::entries_written + written as i32),
                s::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(Some(written))
    })
}

/// What is stored of a listed account.
#[derive(Debug, QueryableByName, Queryable, Selectable)]
#[diesel(table_name = e)]
struct Known {
    external_id: String,
    content_hash: String,
    state: DirectoryState,
    email: Option<String>,
    name: Option<String>,
}

/// The stored accounts among a page's `ids`. On PostgreSQL one index probe per id, whatever
/// the planner knows of the table: a directory's first pass fills it before any statistics
/// exist, and without them PostgreSQL scans the integration's every account per page (for
/// `= ANY`, or to hash-join a LATERAL subquery it flattened; `OFFSET 0` keeps it apart).
fn known_entries(
    conn: &mut DbConnection,
    integration: IntegrationId,
    ids: &[&str],
) -> Result<Vec<Known>, DbError> {
    use diesel::sql_types::{Array, Text};
    Ok(match conn {
        DbConnection::Postgresql(conn) => diesel::sql_query(
            "SELECT e.external_id, e.content_hash, e.state, e.email, e.name \
             FROM unnest($2) AS listed(id) \
             CROSS JOIN LATERAL (SELECT * FROM directory_entries \
                 WHERE integration_id = $1 AND external_id = listed.id OFFSET 0) AS e",
        )
        .bind::<Text, _>(integration)
        .bind::<Array<Text>, _>(ids)
        .load(conn)?,
        DbConnection::Sqlite(conn) => e::table
            .filter(e::integration_id.eq(integration))
            .filter(e::external_id.eq_any(ids))
            .select(Known::as_select())
            .load(conn)?,
    })
}

/// A directory grows from nothing during its first pass: a query plan that PostgreSQL cached
/// for the pass's first pages (a sequential scan of a table then tiny) would scan 100,000
/// accounts per page at its end. Within the page's transaction, every statement is planned
/// for the table as it is.
pub(super) fn plan_for_this_table_size(conn: &mut DbConnection) -> Result<(), DbError> {
    if let DbConnection::Postgresql(conn) = conn {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("SET LOCAL plan_cache_mode = force_custom_plan")?;
    }
    Ok(())
}

/// New accounts (a first sync is all new): on PostgreSQL one binary COPY, which binds no
/// parameters; on SQLite multi-row INSERTs (no round trips to save there), which diesel
/// builds on the backend's own connection, not through the MultiConnection.
fn insert_entries(conn: &mut DbConnection, rows: &[EntryRow]) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    match conn {
        DbConnection::Postgresql(conn) => {
            diesel::copy_from(e::table).from_insertable(rows).execute(conn)?;
        }
        DbConnection::Sqlite(conn) => {
            for chunk in rows.chunks(INSERT_CHUNK) {
                diesel::insert_into(e::table).values(chunk).execute(conn)?;
            }
        }
    }
    Ok(())
}

fn mark_seen(conn: &mut DbConnection, integration: IntegrationId, ids: &[&str]) -> Result<(), DbError> {
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = ids
        .iter()
        .map(|id| (seen::integration_id.eq(integration), seen::external_id.eq(*id)))
        .collect();
    match conn {
        DbConnection::Postgresql(conn) => {
            diesel::insert_into(seen::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        // SQLite's multi-row form of ON CONFLICT DO NOTHING.
        DbConnection::Sqlite(conn) => {
            for rows in rows.chunks(INSERT_CHUNK) {
                diesel::insert_or_ignore_into(seen::table)
                    .values(rows)
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// One page of an integration's entries, by external id after `after`.
pub fn entries_page(
    conn: &mut DbConnection,
    org: OrgId,
    integration: IntegrationId,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<EntryRow>, DbError> {
    let mut query = e::table
        .filter(e::org_id.eq(org))
        .filter(e::integration_id.eq(integration))
        .order(e::external_id.asc())
        .limit(limit)
        .select(EntryRow::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(e::external_id.gt(after.to_owned()));
    }
    let mut rows = query.load(conn)?;
    with_last_listing(conn, rows.iter_mut())?;
    Ok(rows)
}

/// An unchanged account is not rewritten, so its stored `last_seen_at` is when it was last
/// written; an account still active was listed by its integration's last complete pass too
/// (a full pass deactivates what it did not list; an incremental one lists what changed).
/// Sets `last_seen_at` of such rows to that pass's end, where later.
pub(super) fn with_last_listing<'r>(
    conn: &mut DbConnection,
    rows: impl Iterator<Item = &'r mut EntryRow>,
) -> Result<(), DbError> {
    let mut rows: Vec<&mut EntryRow> = rows.filter(|r| r.state == DirectoryState::Active).collect();
    let mut integrations: Vec<IntegrationId> = rows.iter().map(|r| r.integration_id).collect();
    integrations.sort_unstable();
    integrations.dedup();
    if integrations.is_empty() {
        return Ok(());
    }
    let listed: std::collections::HashMap<IntegrationId, NaiveDateTime> = s::table
        .filter(s::integration_id.eq_any(&integrations))
        .filter(s::completed_at.is_not_null())
        .select((s::integration_id, s::completed_at.assume_not_null()))
        .load(conn)?
        .into_iter()
        .collect();
    for row in &mut rows {
        if let Some(&listed) = listed.get(&row.integration_id) {
            row.last_seen_at = row.last_seen_at.max(listed);
        }
    }
    Ok(())
}

/// GDPR erasure of an integration: its directory, its sync state, what a pass had seen and
/// which part of the provider's accounts it read.
pub fn erase_for_integration(conn: &mut DbConnection, integration: IntegrationId) -> Result<(), DbError> {
    use super::schema::directory_targets as t;
    diesel::delete(t::table.find(integration)).execute(conn)?;
    diesel::delete(e::table.filter(e::integration_id.eq(integration))).execute(conn)?;
    directory_changes::erase_for_integration(conn, integration)?;
    diesel::delete(seen::table.filter(seen::integration_id.eq(integration))).execute(conn)?;
    diesel::delete(s::table.find(integration)).execute(conn)?;
    Ok(())
}

/// Every account of the organization's directories (the GDPR export).
pub fn all_for_org(conn: &mut DbConnection, org: OrgId) -> Result<Vec<EntryRow>, DbError> {
    let mut rows = e::table
        .filter(e::org_id.eq(org))
        .order((e::integration_id.asc(), e::external_id.asc()))
        .select(EntryRow::as_select())
        .load(conn)?;
    with_last_listing(conn, rows.iter_mut())?;
    Ok(rows)
}

/// Deletes at most `batch` deactivated or deleted accounts unchanged since `cutoff`; returns
/// how many.
pub fn purge_inactive_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    let ids: Vec<String> = e::table
        .filter(e::state.ne(DirectoryState::Active))
        .filter(e::changed_at.lt(cutoff))
        .limit(batch)
        .select(e::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(e::table.filter(e::id.eq_any(&ids))).execute(conn)?)
}
