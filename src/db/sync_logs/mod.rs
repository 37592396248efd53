//! The sync log: the audit trail of everything done for an organization, its job queue
//! (`queue`) and the webhook events stored on it (`events`).

mod activity;
mod events;
mod queue;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::integration_sync_logs as l;
use super::{DbConnection, DbError, now};
use crate::domain::{IntegrationId, LogKind, LogStatus, OrgId, UserId};
pub use activity::{HourlyActivity, hourly_activity};
pub use events::{EventOwner, NewEvent, insert_events, payloads_after, requeue_event, reseal_payload};
pub use queue::{
    JOB_MAX_ATTEMPTS, JobResult, JobRow, NewJob, claim_job, due_jobs, enqueue, finish_job,
    integrations_with_open_jobs, is_due, release_jobs,
};

pub struct NewSyncLog<'a> {
    pub org_id: OrgId,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: &'a str,
    pub kind: LogKind,
    pub status: LogStatus,
    pub message: &'a str,
    pub error: Option<&'a str>,
    pub actor_user_id: Option<UserId>,
    pub duration_ms: Option<i64>,
}

/// A new row's id, time-ordered (UUID v7): rows land at the end of the primary key's index,
/// not on a random page of it (a page written and checkpointed per row at high rates).
pub fn new_row_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Appends a finished entry.
pub fn append(conn: &mut DbConnection, entry: &NewSyncLog<'_>) -> Result<String, DbError> {
    let id = new_row_id();
    append_all(conn, &[(id.as_str(), entry)])?;
    Ok(id)
}

/// Appends finished entries (with their ids) in one statement.
pub fn append_all(conn: &mut DbConnection, entries: &[(&str, &NewSyncLog<'_>)]) -> Result<(), DbError> {
    let at = now();
    let rows: Vec<_> = entries
        .iter()
        .map(|(id, entry)| {
            (
                l::id.eq(*id),
                l::org_id.eq(entry.org_id),
                l::integration_id.eq(entry.integration_id),
                l::provider_slug.eq(entry.provider_slug),
                l::kind.eq(entry.kind),
                l::status.eq(entry.status),
                l::message.eq(entry.message),
                l::error.eq(entry.error),
                l::actor_user_id.eq(entry.actor_user_id),
                l::attempts.eq(1),
                l::max_attempts.eq(1),
                l::started_at.eq(at),
                l::finished_at.eq(at),
                l::duration_ms.eq(entry.duration_ms),
                l::created_at.eq(at),
            )
        })
        .collect();
    // One statement on PostgreSQL; SQLite's inserts are in-process calls, one per row.
    match conn {
        DbConnection::Postgresql(conn) => {
            diesel::insert_into(l::table).values(rows).execute(conn)?;
        }
        DbConnection::Sqlite(conn) => {
            for row in rows {
                diesel::insert_into(l::table).values(row).execute(conn)?;
            }
        }
    }
    Ok(())
}

/// Deletes finished entries created before `cutoff`, at most `batch` of them. Returns what
/// it deleted, by organization and kind; call again until it deletes less than `batch`.
pub fn purge_finished_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<Vec<(OrgId, LogKind)>, DbError> {
    let rows: Vec<(String, OrgId, LogKind)> = l::table
        .filter(l::created_at.lt(cutoff))
        .filter(l::status.ne_all([LogStatus::Queued, LogStatus::Running]))
        .limit(batch)
        .select((l::id, l::org_id, l::kind))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    diesel::delete(l::table.filter(l::id.eq_any(&ids))).execute(conn)?;
    Ok(rows.into_iter().map(|(_, org, kind)| (org, kind)).collect())
}

/// Removes the bodies of processed webhook events created before `cutoff` (their provider,
/// type, ids, time and outcome stay), at most `batch` of them. Returns the organization of
/// each; call again until it returns less than `batch`.
pub fn drop_payloads_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<Vec<OrgId>, DbError> {
    let rows: Vec<(String, OrgId)> = l::table
        .filter(l::created_at.lt(cutoff))
        .filter(l::kind.eq(LogKind::WebhookEvent))
        .filter(l::status.eq_any([LogStatus::Succeeded, LogStatus::Failed]))
        .filter(l::payload.is_not_null())
        .limit(batch)
        .select((l::id, l::org_id))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    diesel::update(l::table.filter(l::id.eq_any(&ids)))
        .set(l::payload.eq(None::<Vec<u8>>))
        .execute(conn)?;
    Ok(rows.into_iter().map(|(_, org)| org).collect())
}

/// What the audit log and an integration's activity are filtered by.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub integration_id: Option<IntegrationId>,
    pub provider: Option<String>,
    pub kind: Option<LogKind>,
    pub status: Option<LogStatus>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// An audit-log entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = l)]
pub struct LogRow {
    pub id: String,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: String,
    pub kind: LogKind,
    pub status: LogStatus,
    pub message: String,
    pub error: Option<String>,
    pub attempts: i32,
    pub actor_user_id: Option<UserId>,
    pub duration_ms: Option<i64>,
    pub created_at: NaiveDateTime,
}

/// The organization's entries that match `filter`, boxed for the backend the caller's
/// connection names (see `native!`).
macro_rules! filtered {
    ($org_id:expr, $filter:expr) => {{
        let (org_id, filter): (OrgId, &LogFilter) = ($org_id, $filter);
        let mut query = l::table.filter(l::org_id.eq(org_id)).into_boxed();
        if let Some(id) = &filter.integration_id {
            query = query.filter(l::integration_id.eq(id));
        }
        if let Some(provider) = &filter.provider {
            query = query.filter(l::provider_slug.eq(provider));
        }
        if let Some(kind) = &filter.kind {
            query = query.filter(l::kind.eq(kind));
        }
        if let Some(status) = &filter.status {
            query = query.filter(l::status.eq(status));
        }
        if let Some(from) = filter.from {
            query = query.filter(l::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(l::created_at.lt(to));
        }
        query
    }};
}

/// How many match in all, when a page of `len` rows from `offset` tells: a page that is not
/// full is the last one (`None`: count them).
pub(crate) fn counted_by_page(offset: i64, limit: i64, len: usize) -> Option<i64> {
    let len = len as i64;
    (len < limit && (len > 0 || offset == 0)).then_some(offset + len)
}

/// One page of the organization's entries (newest first) and how many match in all: one
/// query when the page is not full, two otherwise, whatever the size of the log.
pub fn page_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
    filter: &LogFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<LogRow>, i64), DbError> {
    Ok(native!(conn => {
        let rows: Vec<LogRow> = filtered!(org_id, filter)
            .order((l::created_at.desc(), l::id.desc()))
            .offset(offset)
            .limit(limit)
            .select(LogRow::as_select())
            .load(conn)?;
        let total = match counted_by_page(offset, limit, rows.len()) {
            Some(total) => total,
            None => filtered!(org_id, filter).count().get_result(conn)?,
        };
        Ok::<_, diesel::result::Error>((rows, total))
    })?)
}

/// An entry with its payload.
pub type ExportRow = (LogRow, Option<Vec<u8>>);

/// Up to `limit` of the organization's entries with their payloads, newest first, older
/// than `before` (the (created_at, id) of the last entry of the previous page), for the GDPR
/// export. Keyset paging: entries written meanwhile neither repeat nor shift a page.
pub fn export_page_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<ExportRow>, DbError> {
    let mut query = l::table
        .filter(l::org_id.eq(org_id))
        .order((l::created_at.desc(), l::id.desc()))
        .limit(limit)
        .select((LogRow::as_select(), l::payload))
        .into_boxed();
    if let Some((at, id)) = before {
        query = query.filter(l::created_at.lt(at).or(l::created_at.eq(at).and(l::id.lt(id))));
    }
    Ok(query.load(conn)?)
}

/// Removes the personal data of an integration's entries (GDPR erasure): payloads, messages
/// and errors may carry names, emails and message texts.
pub fn erase_for_integration(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
) -> Result<usize, DbError> {
    Ok(
        diesel::update(l::table.filter(l::integration_id.eq(integration_id)))
            .set((
                l::payload.eq(None::<Vec<u8>>),
                l::message.eq("[erased]"),
                l::error.eq(None::<String>),
            ))
            .execute(conn)?,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_that_is_not_full_counts_the_matches() {
        use super::counted_by_page;
        assert_eq!(counted_by_page(0, 20, 9), Some(9));
        assert_eq!(counted_by_page(0, 20, 0), Some(0));
        assert_eq!(counted_by_page(40, 20, 3), Some(43));
        assert_eq!(
            counted_by_page(0, 20, 20),
            None,
            "a full page may have more after it"
        );
        assert_eq!(
            counted_by_page(40, 20, 0),
            None,
            "past the end: how far is unknown"
        );
    }

    #[test]
    fn new_row_ids_sort_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..1000).map(|_| super::new_row_id()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        assert_eq!(sorted.windows(2).filter(|w| w[0] == w[1]).count(), 0, "unique");
    }
}
