//! The sync log: the audit trail of everything done for an organization (and, from the
//! worker's issue on, its queue).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::integration_sync_logs as l;
use super::{DbConnection, DbError, now};

/// What happened. Stored as text in `kind`.
pub mod kind {
    pub const CONNECT: &str = "connect";
    pub const DISCONNECT: &str = "disconnect";
    pub const REFRESH: &str = "refresh";
    /// A token without expiry checked with the provider's identity call.
    pub const VALIDATE: &str = "validate";
    /// A queued sync of an integration (scheduled, or asked for).
    pub const SYNC: &str = "sync";
    /// A verified webhook delivery, stored before it was acknowledged.
    pub const WEBHOOK_EVENT: &str = "webhook_event";
    /// A call of the internal API by another Targetym service.
    pub const API_CALL: &str = "api_call";
    /// A GDPR erasure of an integration's data (the minimal record that it happened).
    pub const ERASURE: &str = "erasure";
    /// "Test connection" by an admin.
    pub const TEST: &str = "test";
    /// Register a Google watch channel for an integration.
    pub const WATCH: &str = "watch";
    /// An admin reset a webhook's first-use handshake (Asana, Notion).
    pub const WEBHOOK_RESET: &str = "webhook_reset";
}

/// How it ended. Stored as text in `status`.
pub mod status {
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
}

pub struct NewSyncLog<'a> {
    pub org_id: &'a str,
    pub integration_id: Option<&'a str>,
    pub provider_slug: &'a str,
    pub kind: &'a str,
    pub status: &'a str,
    pub message: &'a str,
    pub error: Option<&'a str>,
    pub actor_user_id: Option<&'a str>,
    pub duration_ms: Option<i64>,
}

/// Appends a finished entry.
pub fn append(conn: &mut DbConnection, entry: &NewSyncLog<'_>) -> Result<String, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    let at = now();
    diesel::insert_into(l::table)
        .values((
            l::id.eq(&id),
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
        ))
        .execute(conn)?;
    Ok(id)
}

/// Attempts of a queued job (a sync, a webhook event's processing) before it ends failed.
pub const JOB_MAX_ATTEMPTS: i32 = 5;

pub mod queue_status {
    pub const QUEUED: &str = "queued";
    pub const RUNNING: &str = "running";
}

/// A job to put on the queue.
pub struct NewJob<'a> {
    pub org_id: &'a str,
    pub integration_id: Option<&'a str>,
    pub provider_slug: &'a str,
    pub kind: &'a str,
    pub message: &'a str,
    /// Unique per provider: a second job with the same key is not added.
    pub dedup_key: Option<&'a str>,
    pub payload: Option<&'a [u8]>,
    pub max_attempts: i32,
}

/// Queues a job. `None` when a job with the same dedup key exists already.
pub fn enqueue(
    conn: &mut DbConnection,
    job: &NewJob<'_>,
    at: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    let id = uuid::Uuid::new_v4().to_string();
    // A savepoint: on PostgreSQL a unique violation would otherwise abort the caller's
    // transaction.
    let inserted = super::transaction(conn, |conn| {
        Ok(diesel::insert_into(l::table)
            .values((
                l::id.eq(&id),
                l::org_id.eq(job.org_id),
                l::integration_id.eq(job.integration_id),
                l::provider_slug.eq(job.provider_slug),
                l::kind.eq(job.kind),
                l::status.eq(queue_status::QUEUED),
                l::message.eq(job.message),
                l::dedup_key.eq(job.dedup_key),
                l::payload.eq(job.payload),
                l::attempts.eq(0),
                l::max_attempts.eq(job.max_attempts.max(1)),
                l::next_attempt_at.eq(at),
                l::created_at.eq(at),
            ))
            .execute(conn)?)
    });
    match inserted {
        Ok(_) => Ok(Some(id)),
        Err(e) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// A claimed job.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = l)]
pub struct JobRow {
    pub id: String,
    pub org_id: String,
    pub integration_id: Option<String>,
    pub provider_slug: String,
    pub kind: String,
    pub payload: Option<Vec<u8>>,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// Jobs ready to run: queued and due, or running under an expired claim (its worker died).
pub fn due_jobs(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> Result<Vec<String>, DbError> {
    Ok(l::table
        .filter(
            l::status
                .eq(queue_status::QUEUED)
                .and(l::next_attempt_at.le(now))
                .or(l::status
                    .eq(queue_status::RUNNING)
                    .and(l::lease_expires_at.lt(now))),
        )
        .order(l::next_attempt_at.asc())
        .limit(limit)
        .select(l::id)
        .load(conn)?)
}

/// Claims a due job for `owner`: it becomes running, with one more attempt counted.
pub fn claim_job(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Option<JobRow>, DbError> {
    super::transaction(conn, |conn| {
        let updated = diesel::update(
            l::table.filter(l::id.eq(id)).filter(
                l::status
                    .eq(queue_status::QUEUED)
                    .and(l::next_attempt_at.le(now))
                    .or(l::status
                        .eq(queue_status::RUNNING)
                        .and(l::lease_expires_at.lt(now))),
            ),
        )
        .set((
            l::status.eq(queue_status::RUNNING),
            l::lease_owner.eq(owner),
            l::lease_expires_at.eq(until),
            l::attempts.eq(l::attempts + 1),
            l::started_at.eq(now),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Ok(None);
        }
        Ok(Some(l::table.find(id).select(JobRow::as_select()).first(conn)?))
    })
}

/// How a job attempt ended.
pub enum JobResult<'a> {
    Succeeded {
        message: &'a str,
    },
    /// Queued again for `next_at`.
    Retry {
        error: &'a str,
        next_at: NaiveDateTime,
    },
    Failed {
        error: &'a str,
    },
}

/// Records the attempt if `owner` still holds the job. `false` otherwise.
pub fn finish_job(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    result: JobResult<'_>,
    duration_ms: i64,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let target = l::table.filter(l::id.eq(id)).filter(l::lease_owner.eq(owner));
    let release = (
        l::lease_owner.eq(None::<String>),
        l::lease_expires_at.eq(None::<NaiveDateTime>),
    );
    let updated = match result {
        JobResult::Succeeded { message } => diesel::update(target)
            .set((
                l::status.eq(status::SUCCEEDED),
                l::message.eq(message),
                l::error.eq(None::<String>),
                l::finished_at.eq(now),
                l::duration_ms.eq(duration_ms),
                release,
            ))
            .execute(conn)?,
        JobResult::Retry { error, next_at } => diesel::update(target)
            .set((
                l::status.eq(queue_status::QUEUED),
                l::error.eq(error),
                l::next_attempt_at.eq(next_at),
                l::duration_ms.eq(duration_ms),
                release,
            ))
            .execute(conn)?,
        JobResult::Failed { error } => diesel::update(target)
            .set((
                l::status.eq(status::FAILED),
                l::error.eq(error),
                l::finished_at.eq(now),
                l::duration_ms.eq(duration_ms),
                release,
            ))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// Gives back the jobs `owner` holds (clean shutdown): they run again at once elsewhere.
pub fn release_jobs(conn: &mut DbConnection, owner: &str) -> Result<usize, DbError> {
    Ok(diesel::update(
        l::table
            .filter(l::lease_owner.eq(owner))
            .filter(l::status.eq(queue_status::RUNNING)),
    )
    .set((
        l::status.eq(queue_status::QUEUED),
        l::attempts.eq(l::attempts - 1),
        l::lease_owner.eq(None::<String>),
        l::lease_expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}

/// Deletes finished entries created before `cutoff`, at most `batch` of them. Returns how
/// many; call again until it returns less than `batch`.
pub fn purge_finished_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    let ids: Vec<String> = l::table
        .filter(l::created_at.lt(cutoff))
        .filter(l::status.ne_all([queue_status::QUEUED, queue_status::RUNNING]))
        .limit(batch)
        .select(l::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(l::table.filter(l::id.eq_any(&ids))).execute(conn)?)
}

/// A verified webhook event to store.
pub struct NewEvent {
    pub org_id: String,
    pub integration_id: Option<String>,
    pub provider_slug: String,
    pub dedup_key: String,
    pub message: String,
    pub payload: Vec<u8>,
}

#[derive(Insertable)]
#[diesel(table_name = l)]
struct EventRow<'a> {
    id: String,
    org_id: &'a str,
    integration_id: Option<&'a str>,
    provider_slug: &'a str,
    kind: &'a str,
    status: &'a str,
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
            id: uuid::Uuid::new_v4().to_string(),
            org_id: &e.org_id,
            integration_id: e.integration_id.as_deref(),
            provider_slug: &e.provider_slug,
            kind: kind::WEBHOOK_EVENT,
            status: queue_status::QUEUED,
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
pub struct EventOwner<'a> {
    pub org_id: &'a str,
    pub integration_id: &'a str,
}

/// Queues a stored webhook event again (replay): the same entry, not a copy. `false` when it
/// is not a finished webhook event of that organization's integration (`None`: any, for the
/// operator's CLI).
pub fn requeue_event(
    conn: &mut DbConnection,
    id: &str,
    owner: Option<EventOwner<'_>>,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let mut target = l::table
        .filter(l::id.eq(id))
        .filter(l::kind.eq(kind::WEBHOOK_EVENT))
        .filter(l::status.eq_any([status::SUCCEEDED, status::FAILED]))
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
            .filter(l::status.eq_any([status::SUCCEEDED, status::FAILED])),
    )
    .set((
        l::status.eq(queue_status::QUEUED),
        l::attempts.eq(0),
        l::error.eq(None::<String>),
        l::next_attempt_at.eq(at),
        l::finished_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// What the audit log and an integration's activity are filtered by.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub integration_id: Option<String>,
    pub provider: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// An audit-log entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = l)]
pub struct AuditRow {
    pub id: String,
    pub integration_id: Option<String>,
    pub provider_slug: String,
    pub kind: String,
    pub status: String,
    pub message: String,
    pub error: Option<String>,
    pub attempts: i32,
    pub actor_user_id: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: NaiveDateTime,
}

fn filtered<'a>(
    org_id: &'a str,
    filter: &'a LogFilter,
) -> l::BoxedQuery<'a, <DbConnection as diesel::Connection>::Backend> {
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
}

/// One page of the organization's entries (newest first) and how many match in all: two
/// queries whatever the size of the log.
pub fn page_for_org(
    conn: &mut DbConnection,
    org_id: &str,
    filter: &LogFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditRow>, i64), DbError> {
    let total = filtered(org_id, filter).count().get_result(conn)?;
    let rows = filtered(org_id, filter)
        .order((l::created_at.desc(), l::id.desc()))
        .offset(offset)
        .limit(limit)
        .select(AuditRow::as_select())
        .load(conn)?;
    Ok((rows, total))
}

/// The number of an integration's refreshes or webhook events of one status in one hour.
#[derive(Debug, QueryableByName)]
pub struct HourlyActivity {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub integration_id: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub status: String,
    /// Whole hours since `since`.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub hour: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub entries: i64,
}

/// The organization's refreshes and webhook events in [since, until), counted by
/// integration, kind, status and hour: one grouped query whose answer grows with the number
/// of integrations and hours, never with the number of entries (the health dashboard).
pub fn hourly_activity(
    conn: &mut DbConnection,
    org_id: &str,
    since: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Vec<HourlyActivity>, DbError> {
    use diesel::sql_types::{Text, Timestamp};
    // The hour of an entry is date arithmetic, which each backend spells its own way.
    let query = match conn {
        DbConnection::Sqlite(_) => {
            "SELECT integration_id, kind, status, \
             CAST((julianday(created_at) - julianday($1)) * 24 AS INTEGER) AS hour, COUNT(*) AS entries \
             FROM integration_sync_logs \
             WHERE created_at >= $1 AND created_at < $2 AND org_id = $3 AND kind IN ($4, $5) \
             GROUP BY integration_id, kind, status, hour"
        }
        DbConnection::Postgresql(_) => {
            "SELECT integration_id, kind, status, \
             FLOOR(EXTRACT(EPOCH FROM (created_at - $1)) / 3600)::BIGINT AS hour, COUNT(*) AS entries \
             FROM integration_sync_logs \
             WHERE created_at >= $1 AND created_at < $2 AND org_id = $3 AND kind IN ($4, $5) \
             GROUP BY integration_id, kind, status, hour"
        }
    };
    Ok(diesel::sql_query(query)
        .bind::<Timestamp, _>(since)
        .bind::<Timestamp, _>(until)
        .bind::<Text, _>(org_id)
        .bind::<Text, _>(kind::REFRESH)
        .bind::<Text, _>(kind::WEBHOOK_EVENT)
        .load(conn)?)
}

/// An entry with its payload.
pub type ExportRow = (AuditRow, Option<Vec<u8>>);

/// Up to `limit` of the organization's entries with their payloads, newest first, older
/// than `before` (the (created_at, id) of the last entry of the previous page), for the GDPR
/// export. Keyset paging: entries written meanwhile neither repeat nor shift a page.
pub fn export_page_for_org(
    conn: &mut DbConnection,
    org_id: &str,
    before: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<ExportRow>, DbError> {
    let mut query = l::table
        .filter(l::org_id.eq(org_id))
        .order((l::created_at.desc(), l::id.desc()))
        .limit(limit)
        .select((AuditRow::as_select(), l::payload))
        .into_boxed();
    if let Some((at, id)) = before {
        query = query.filter(l::created_at.lt(at).or(l::created_at.eq(at).and(l::id.lt(id))));
    }
    Ok(query.load(conn)?)
}

/// Removes the personal data of an integration's entries (GDPR erasure): payloads, messages
/// and errors may carry names, emails and message texts.
pub fn erase_for_integration(conn: &mut DbConnection, integration_id: &str) -> Result<usize, DbError> {
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
