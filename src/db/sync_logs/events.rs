//! Verified webhook events, stored on the sync log as queued jobs in batches, and replayed.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::l;
use crate::db::{DbConnection, DbError};
use crate::domain::{IntegrationId, LogKind, LogStatus, OrgId};

/// A verified webhook event to store.
pub struct NewEvent {
    /// The row's id: its payload is sealed for it.
    pub id: String,
    pub org_id: OrgId,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: String,
    pub dedup_key: String,
    pub message: String,
    /// Sealed (`sealed::seal_payload`).
    pub payload: Vec<u8>,
}

#[derive(Insertable)]
#[diesel(table_name = l)]
struct EventRow<'a> {
    id: String,
    org_id: OrgId,
    integration_id: Option<IntegrationId>,
    provider_slug: &'a str,
    kind: LogKind,
    status: LogStatus,
    message: &'a str,
    dedup_key: &'a str,
    payload: &'a [u8],
    attempts: i32,
    max_attempts: i32,
    next_attempt_at: NaiveDateTime,
    created_at: NaiveDateTime,
}

/// Stores a batch of events as queued jobs in one statement, skipping those whose dedup key
/// exists (a retry, or twice in the batch). Returns, per event, whether it was stored.
pub fn insert_events(
    conn: &mut DbConnection,
    events: &[NewEvent],
    at: NaiveDateTime,
) -> Result<Vec<bool>, DbError> {
    let rows: Vec<EventRow<'_>> = events
        .iter()
        .map(|e| EventRow {
            id: e.id.clone(),
            org_id: e.org_id,
            integration_id: e.integration_id,
            provider_slug: &e.provider_slug,
            kind: LogKind::WebhookEvent,
            status: LogStatus::Queued,
            message: &e.message,
            dedup_key: &e.dedup_key,
            payload: &e.payload,
            attempts: 0,
            max_attempts: 5,
            next_attempt_at: at,
            created_at: at,
        })
        .collect();
    let stored: Vec<(String, Option<String>)> = match conn {
        // One statement for the whole batch.
        DbConnection::Postgresql(conn) => diesel::insert_into(l::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning((l::provider_slug, l::dedup_key))
            .get_results(conn)?,
        // diesel's SQLite batch insert does not take ON CONFLICT; one statement per event
        // costs little there (no round trips).
        DbConnection::Sqlite(conn) => {
            let mut stored = Vec::with_capacity(rows.len());
            for row in &rows {
                let inserted = diesel::insert_into(l::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(conn)?;
                if inserted == 1 {
                    stored.push((row.provider_slug.to_owned(), Some(row.dedup_key.to_owned())));
                }
            }
            stored
        }
    };
    let mut new: std::collections::HashSet<(String, String)> = stored
        .into_iter()
        .filter_map(|(provider, key)| Some((provider, key?)))
        .collect();
    // The first event with a stored key is the new one; a second in the same batch is a duplicate.
    Ok(events
        .iter()
        .map(|e| new.remove(&(e.provider_slug.clone(), e.dedup_key.clone())))
        .collect())
}

/// Whose event a replay must be: the organization and the integration in the URL.
#[derive(Debug, Clone, Copy)]
pub struct EventOwner {
    pub org_id: OrgId,
    pub integration_id: IntegrationId,
}

/// Queues a stored webhook event again (replay): the same entry, not a copy. `false` when it
/// is not a finished webhook event of that organization's integration (`None`: any, for the
/// operator's CLI).
pub fn requeue_event(
    conn: &mut DbConnection,
    id: &str,
    owner: Option<EventOwner>,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let mut target = l::table
        .filter(l::id.eq(id))
        .filter(l::kind.eq(LogKind::WebhookEvent))
        .filter(l::status.eq_any([LogStatus::Succeeded, LogStatus::Failed]))
        .into_boxed();
    if let Some(owner) = owner {
        target = target
            .filter(l::org_id.eq(owner.org_id))
            .filter(l::integration_id.eq(owner.integration_id));
    }
    let found: Option<String> = target.select(l::id).first(conn).optional()?;
    let Some(found) = found else { return Ok(false) };
    let updated = diesel::update(
        l::table
            .filter(l::id.eq(&found))
            .filter(l::status.eq_any([LogStatus::Succeeded, LogStatus::Failed])),
    )
    .set((
        l::status.eq(LogStatus::Queued),
        l::attempts.eq(0),
        l::error.eq(None::<String>),
        l::next_attempt_at.eq(at),
        l::finished_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Up to `limit` stored webhook bodies of rows after `after` (id order): for `keys rotate`
/// and `keys check`.
pub fn payloads_after(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    Ok(l::table
        .filter(l::payload.is_not_null())
        .filter(l::id.gt(after))
        .order(l::id.asc())
        .select((l::id, l::payload.assume_not_null()))
        .limit(limit)
        .load(conn)?)
}

/// Replaces a row's stored body if it is still `old` (a body has no key column: `_key_id`
/// is the sealed value's own header).
pub fn reseal_payload(
    conn: &mut DbConnection,
    id: &str,
    old: &[u8],
    new: &[u8],
    _key_id: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(l::table.filter(l::id.eq(id)).filter(l::payload.eq(old)))
        .set(l::payload.eq(new))
        .execute(conn)?;
    Ok(updated == 1)
}
