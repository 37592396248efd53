//! Token maintenance on the integrations table: claims with a lease and a generation, the
//! refresh send marker, and the fenced write of a result.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::i;
use crate::db::{DbConnection, DbError};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId};

/// What token maintenance needs of an integration.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = i)]
pub struct MaintenanceRow {
    pub id: IntegrationId,
    pub org_id: OrgId,
    pub provider_slug: String,
    pub status: IntegrationStatus,
    pub refresh_failures: i32,
    pub lease_owner: Option<String>,
    pub lease_generation: i64,
    pub refresh_sent: Option<String>,
    pub refresh_sent_at: Option<NaiveDateTime>,
}

/// Integrations whose token maintenance is due and not claimed (or whose claim expired),
/// the most urgent first.
pub fn due_for_maintenance(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(IntegrationId, String)>, DbError> {
    Ok(i::table
        .filter(i::status.eq_any(IntegrationStatus::LIVE))
        .filter(i::next_refresh_at.le(now))
        .filter(i::lease_owner.is_null().or(i::lease_expires_at.lt(now)))
        .order(i::next_refresh_at.asc())
        .limit(limit)
        .select((i::id, i::provider_slug))
        .load(conn)?)
}

/// Claims one integration for `owner` until `until`, if nobody holds a live claim (and, for
/// the worker, if it is still due: another instance may have just done it). Returns the
/// claim's generation (the fence of later writes).
pub fn claim(
    conn: &mut DbConnection,
    id: IntegrationId,
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    only_if_due: bool,
) -> Result<Option<i64>, DbError> {
    // Far ahead rather than unbounded: SQLite compares timestamps as text.
    let due_before = if only_if_due {
        now
    } else {
        now + chrono::Duration::days(36_500)
    };
    let claimed = claim_due_before(conn, &[id], owner, now, until, due_before)?;
    Ok(claimed.first().map(|(_, generation)| *generation))
}

/// Claims those of `ids` that are due and unclaimed, in one statement (the worker's chunk):
/// each claimed id with its claim's generation.
pub fn claim_due(
    conn: &mut DbConnection,
    ids: &[IntegrationId],
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Vec<(IntegrationId, i64)>, DbError> {
    claim_due_before(conn, ids, owner, now, until, now)
}

fn claim_due_before(
    conn: &mut DbConnection,
    ids: &[IntegrationId],
    owner: &str,
    now: NaiveDateTime,
    until: NaiveDateTime,
    due_before: NaiveDateTime,
) -> Result<Vec<(IntegrationId, i64)>, DbError> {
    Ok(diesel::update(
        i::table
            .filter(i::id.eq_any(ids))
            .filter(i::status.eq_any(IntegrationStatus::LIVE))
            .filter(i::next_refresh_at.le(due_before))
            .filter(i::lease_owner.is_null().or(i::lease_expires_at.lt(now))),
    )
    .set((
        i::lease_owner.eq(owner),
        i::lease_expires_at.eq(until),
        i::lease_generation.eq(i::lease_generation + 1),
    ))
    .returning((i::id, i::lease_generation))
    .get_results(conn)?)
}

pub fn find_many_for_maintenance(
    conn: &mut DbConnection,
    ids: &[IntegrationId],
) -> Result<Vec<MaintenanceRow>, DbError> {
    Ok(i::table
        .filter(i::id.eq_any(ids))
        .select(MaintenanceRow::as_select())
        .load(conn)?)
}

pub fn find_for_maintenance(
    conn: &mut DbConnection,
    id: IntegrationId,
) -> Result<Option<MaintenanceRow>, DbError> {
    Ok(i::table
        .find(id)
        .select(MaintenanceRow::as_select())
        .first(conn)
        .optional()?)
}

/// Gives up a claim (shutdown, or nothing to do).
pub fn release(conn: &mut DbConnection, id: IntegrationId, owner: &str) -> Result<(), DbError> {
    diesel::update(i::table.filter(i::id.eq(id)).filter(i::lease_owner.eq(owner)))
        .set((
            i::lease_owner.eq(None::<String>),
            i::lease_expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records, under the claim, that the refresh token is about to be sent. `false` when the
/// claim was lost or someone else's send is on record.
pub fn mark_refresh_sent(
    conn: &mut DbConnection,
    id: IntegrationId,
    owner: &str,
    generation: i64,
    marker: &str,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        i::table
            .filter(i::id.eq(id))
            .filter(i::lease_owner.eq(owner))
            .filter(i::lease_generation.eq(generation))
            .filter(i::refresh_sent.is_null()),
    )
    .set((
        i::refresh_sent.eq(marker),
        i::refresh_sent_at.eq(now),
        i::status.eq(IntegrationStatus::Refreshing),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// The end of a maintenance step, as stored.
#[derive(Debug, Clone)]
pub enum MaintenanceResult {
    /// New tokens are stored (or the token was validated): all good until `next_at`.
    Healthy { next_at: NaiveDateTime, refreshed: bool },
    /// A temporary failure: try again at `next_at`.
    Retry {
        next_at: NaiveDateTime,
        failures: i32,
        error: String,
        give_up: bool,
    },
    /// The grant is gone: an admin must reconnect.
    NeedsReauth { error: String },
    /// Nothing happened (provider unavailable by the breaker, someone else's send in flight).
    Deferred { next_at: NaiveDateTime },
}

/// Which write this is: under the claim (nothing sent by this holder; it may clear a dead
/// sender's marker), or as the sender of a refresh (fenced by the send marker, which only
/// the sender holds: once a claim holder has cleared it, a late sender cannot write).
#[derive(Debug, Clone)]
pub enum Fence {
    Claim { owner: String, generation: i64 },
    Sent { marker: String },
}

/// Stores the result and releases the claim, if the fence still holds. `false` otherwise
/// (a newer result is on record; nothing was written).
pub fn finish_maintenance(
    conn: &mut DbConnection,
    id: IntegrationId,
    fence: &Fence,
    result: &MaintenanceResult,
    now: NaiveDateTime,
) -> Result<bool, DbError> {
    // One filter for both fences (an empty marker or owner never matches a real one).
    let (marker, owner, generation) = match fence {
        Fence::Claim { owner, generation } => ("", owner.as_str(), *generation),
        Fence::Sent { marker } => (marker.as_str(), "", -1),
    };
    let target = i::table.filter(i::id.eq(id)).filter(
        i::refresh_sent
            .eq(marker)
            .or(i::lease_owner.eq(owner).and(i::lease_generation.eq(generation))),
    );
    let release = (
        i::lease_owner.eq(None::<String>),
        i::lease_expires_at.eq(None::<NaiveDateTime>),
        i::refresh_sent.eq(None::<String>),
        i::refresh_sent_at.eq(None::<NaiveDateTime>),
        i::updated_at.eq(now),
    );
    let updated = match result {
        &MaintenanceResult::Healthy { next_at, refreshed } => {
            let stamp = (
                i::status.eq(IntegrationStatus::Connected),
                i::refresh_failures.eq(0),
                i::last_error.eq(None::<String>),
                i::last_error_at.eq(None::<NaiveDateTime>),
                i::next_refresh_at.eq(next_at),
                i::last_validated_at.eq(now),
            );
            if refreshed {
                diesel::update(target)
                    .set((stamp, release, i::last_refresh_at.eq(now)))
                    .execute(conn)?
            } else {
                diesel::update(target).set((stamp, release)).execute(conn)?
            }
        }
        MaintenanceResult::Retry {
            next_at,
            failures,
            error,
            give_up,
        } => {
            let (next_at, failures, give_up) = (*next_at, *failures, *give_up);
            let status = if give_up {
                IntegrationStatus::Error
            } else {
                IntegrationStatus::Degraded
            };
            diesel::update(target)
                .set((
                    i::status.eq(status),
                    i::refresh_failures.eq(failures),
                    i::last_error.eq(error),
                    i::last_error_at.eq(now),
                    i::next_refresh_at.eq(next_at),
                    release,
                ))
                .execute(conn)?
        }
        MaintenanceResult::NeedsReauth { error } => diesel::update(target)
            .set((
                i::status.eq(IntegrationStatus::NeedsReauth),
                i::last_error.eq(error),
                i::last_error_at.eq(now),
                i::next_refresh_at.eq(None::<NaiveDateTime>),
                release,
            ))
            .execute(conn)?,
        &MaintenanceResult::Deferred { next_at } => diesel::update(target)
            .set((
                i::next_refresh_at.eq(next_at),
                i::lease_owner.eq(None::<String>),
                i::lease_expires_at.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?,
    };
    Ok(updated == 1)
}

/// Releases every claim `owner` still holds (clean shutdown).
pub fn release_all(conn: &mut DbConnection, owner: &str) -> Result<usize, DbError> {
    Ok(diesel::update(i::table.filter(i::lease_owner.eq(owner)))
        .set((
            i::lease_owner.eq(None::<String>),
            i::lease_expires_at.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?)
}
