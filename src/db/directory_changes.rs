//! The directory change feed of an organization: numbered in commit order. A writer takes its
//! numbers by updating the organization's head row, which holds a row lock (SQLite: the write
//! lock) until its transaction commits; the next writer waits, so numbers become visible in
//! order and a reader paging by number skips nothing and sees nothing twice.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{directory_changes as c, directory_feed_heads as h};
use super::{DbConnection, DbError};
use crate::domain::{DirectoryChange, IntegrationId, OrgId};

/// One change to record.
pub struct Change<'a> {
    pub external_id: &'a str,
    pub email: Option<&'a str>,
    pub change: DirectoryChange,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = c)]
pub struct ChangeRow {
    pub org_id: OrgId,
    pub seq: i64,
    pub integration_id: IntegrationId,
    pub external_id: String,
    pub email: Option<String>,
    pub change: DirectoryChange,
    pub at: NaiveDateTime,
}

/// Appends changes of one integration to the organization's feed (inside the caller's
/// transaction, which the numbers' lock lasts for).
pub fn append(
    conn: &mut DbConnection,
    org: OrgId,
    integration: IntegrationId,
    changes: &[Change<'_>],
    at: NaiveDateTime,
) -> Result<(), DbError> {
    if changes.is_empty() {
        return Ok(());
    }
    let head = (h::org_id.eq(org), h::last_seq.eq(0_i64));
    match conn {
        DbConnection::Postgresql(conn) => {
            diesel::insert_into(h::table)
                .values(head)
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        DbConnection::Sqlite(conn) => {
            diesel::insert_into(h::table)
                .values(head)
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
    }
    let n = changes.len() as i64;
    diesel::update(h::table.find(org))
        .set(h::last_seq.eq(h::last_seq + n))
        .execute(conn)?;
    let last: i64 = h::table.find(org).select(h::last_seq).first(conn)?;
    let first = last - n + 1;
    let rows: Vec<_> = changes
        .iter()
        .enumerate()
        .map(|(i, change)| {
            (
                c::org_id.eq(org),
                c::seq.eq(first + i as i64),
                c::integration_id.eq(integration),
                c::external_id.eq(change.external_id),
                c::email.eq(change.email),
                c::change.eq(change.change),
                c::at.eq(at),
            )
        })
        .collect();
    match conn {
        // One binary COPY: a first sync records every account it lists.
        DbConnection::Postgresql(conn) => {
            diesel::copy_from(c::table).from_insertable(&rows).execute(conn)?;
        }
        // diesel's SQLite batch insert needs its own backend type; one statement per row
        // costs little there (no round trips).
        DbConnection::Sqlite(conn) => {
            for row in rows {
                diesel::insert_into(c::table).values(row).execute(conn)?;
            }
        }
    }
    Ok(())
}

/// The organization's changes after `since`, in order, at most `limit`.
pub fn page(conn: &mut DbConnection, org: OrgId, since: i64, limit: i64) -> Result<Vec<ChangeRow>, DbError> {
    Ok(c::table
        .filter(c::org_id.eq(org))
        .filter(c::seq.gt(since))
        .order(c::seq.asc())
        .limit(limit)
        .select(ChangeRow::as_select())
        .load(conn)?)
}

/// GDPR erasure of an integration: its changes leave the feed.
pub fn erase_for_integration(conn: &mut DbConnection, integration: IntegrationId) -> Result<(), DbError> {
    diesel::delete(c::table.filter(c::integration_id.eq(integration))).execute(conn)?;
    Ok(())
}
