//! The job queue on the sync log: queued rows claimed with a lease, retried with backoff.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::l;
use crate::db::{DbConnection, DbError};
use crate::domain::{IntegrationId, LogKind, LogStatus, OrgId};

/// Attempts of a queued job (a sync, a webhook event's processing) before it ends failed.
pub const JOB_MAX_ATTEMPTS: i32 = 5;

/// A job to put on the queue.
pub struct NewJob<'a> {
    pub org_id: OrgId,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: &'a str,
    pub kind: LogKind,
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
    let id = super::new_row_id();
    // A savepoint: on PostgreSQL a unique violation would otherwise abort the caller's
    // transaction.
    let inserted = crate::db::transaction(conn, |conn| {
        Ok(diesel::insert_into(l::table)
            .values((
                l::id.eq(&id),
                l::org_id.eq(job.org_id),
                l::integration_id.eq(job.integration_id),
                l::provider_slug.eq(job.provider_slug),
                l::kind.eq(job.kind),
                l::status.eq(LogStatus::Queued),
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
    pub org_id: OrgId,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: String,
    pub kind: LogKind,
    pub payload: Option<Vec<u8>>,
    pub attempts: i32,
    pub max_attempts: i32,
}

/// The integrations of the organization with a job of `kind` queued or running.
pub fn integrations_with_open_jobs(
    conn: &mut DbConnection,
    org: OrgId,
    kind: LogKind,
) -> Result<Vec<IntegrationId>, DbError> {
    Ok(l::table
        .filter(l::org_id.eq(org))
        .filter(l::kind.eq(kind))
        .filter(l::status.eq_any([LogStatus::Queued, LogStatus::Running]))
        .filter(l::integration_id.is_not_null())
        .select(l::integration_id.assume_not_null())
        .distinct()
        .load(conn)?)
}

/// A job ready to run at `now`: queued and due, or running under an expired claim (its
/// worker died). The one definition of "due": picking, claiming and the metrics use it.
#[diesel::dsl::auto_type]
pub fn is_due(now: NaiveDateTime) -> _ {
    let queued: LogStatus = LogStatus::Queued;
    let running: LogStatus = LogStatus::Running;
    l::status
        .eq(queued)
        .and(l::next_attempt_at.le(now))
        .or(l::status.eq(running).and(l::lease_expires_at.lt(now)))
}

/// Jobs ready to run, the longest due first.
pub fn due_jobs(conn: &mut DbConnection, now: NaiveDateTime, limit: i64) -> Result<Vec<String>, DbError> {
    Ok(l::table
        .filter(is_due(now))
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
    crate::db::transaction(conn, |conn| {
        let updated = diesel::update(l::table.filter(l::id.eq(id)).filter(is_due(now)))
            .set((
                l::status.eq(LogStatus::Running),
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
#[derive(Debug, Clone)]
pub enum JobResult {
    Succeeded {
        message: String,
    },
    /// Queued again for `next_at`.
    Retry {
        error: String,
        next_at: NaiveDateTime,
    },
    Failed {
        error: String,
    },
    /// A slice of a long job (a directory sync) ran: it continues at `next_at`, from its own
    /// checkpoint, without counting an attempt.
    Continue {
        message: String,
        next_at: NaiveDateTime,
    },
}

/// Records the attempt if `owner` still holds the job. `false` otherwise.
pub fn finish_job(
    conn: &mut DbConnection,
    id: &str,
    owner: &str,
    result: &JobResult,
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
                l::status.eq(LogStatus::Succeeded),
                l::message.eq(message),
                l::error.eq(None::<String>),
                l::finished_at.eq(now),
                l::duration_ms.eq(duration_ms),
                release,
            ))
            .execute(conn)?,
        JobResult::Retry { error, next_at } => diesel::update(target)
            .set((
                l::status.eq(LogStatus::Queued),
                l::error.eq(error),
                l::next_attempt_at.eq(next_at),
                l::duration_ms.eq(duration_ms),
                release,
            ))
            .execute(conn)?,
        JobResult::Continue { message, next_at } => diesel::update(target)
            .set((
                l::status.eq(LogStatus::Queued),
                l::message.eq(message),
                l::error.eq(None::<String>),
                l::attempts.eq(l::attempts - 1),
                l::next_attempt_at.eq(next_at),
                l::duration_ms.eq(duration_ms),
                release,
            ))
            .execute(conn)?,
        JobResult::Failed { error } => diesel::update(target)
            .set((
                l::status.eq(LogStatus::Failed),
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
            .filter(l::status.eq(LogStatus::Running)),
    )
    .set((
        l::status.eq(LogStatus::Queued),
        l::attempts.eq(l::attempts - 1),
        l::lease_owner.eq(None::<String>),
        l::lease_expires_at.eq(None::<NaiveDateTime>),
    ))
    .execute(conn)?)
}
