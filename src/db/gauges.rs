//! The figures /metrics and the tests read: the pool's counters and connections (no query),
//! the job queue's backlog and the integrations by status. Aggregates only, over indexed
//! columns, so a scrape stays cheap however much data there is.

use std::sync::atomic::Ordering;

use chrono::NaiveDateTime;
use diesel::dsl::{count_star, min};
use diesel::prelude::*;

use super::schema::integration_sync_logs as l;
use super::schema::integrations as i;
use super::{Db, DbConnection, DbError};
use crate::domain::IntegrationStatus;

impl Db {
    /// Connections that failed to open or failed their check on checkout, since start.
    pub fn connection_failures(&self) -> u64 {
        self.shared.outage.total()
    }

    /// Statements run through this pool so far.
    pub fn query_count(&self) -> u64 {
        self.shared.queries.load(Ordering::Relaxed)
    }

    /// Trips to the database thread (`run`) so far: a page makes one.
    pub fn trip_count(&self) -> u64 {
        self.shared.trips.load(Ordering::Relaxed)
    }

    /// The current pool's connections: (lent out, open and idle, the most it opens).
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let pool = self
            .pool
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pool
            .clone();
        let state = pool.state();
        let in_use = state.connections.saturating_sub(state.idle_connections);
        (in_use, state.idle_connections, pool.max_size())
    }
}

/// What one scrape reads of the database.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DatabaseGauges {
    /// Jobs ready to run at `now` (as `due_jobs` picks them).
    pub jobs_due: i64,
    /// When the oldest of them became due.
    pub oldest_due_at: Option<NaiveDateTime>,
    pub integrations: Vec<(IntegrationStatus, i64)>,
}

/// Both aggregates, on one connection.
pub fn read(conn: &mut DbConnection, now: NaiveDateTime) -> Result<DatabaseGauges, DbError> {
    let (jobs_due, oldest_due_at) = l::table
        .filter(super::sync_logs::is_due(now))
        .select((count_star(), min(l::next_attempt_at)))
        .first::<(i64, Option<NaiveDateTime>)>(conn)?;
    let integrations = i::table
        .group_by(i::status)
        .select((i::status, count_star()))
        .load::<(IntegrationStatus, i64)>(conn)?;
    Ok(DatabaseGauges {
        jobs_due,
        oldest_due_at,
        integrations,
    })
}
