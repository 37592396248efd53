//! The writes of a refresh chunk (see `integrations::tokens::chunk`): one statement each on
//! PostgreSQL, where a round trip per row was most of a chunk's cost; a statement per row on
//! SQLite, where a statement is an in-process call.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamp};

use super::{Fence, MaintenanceResult, finish_maintenance, mark_refresh_sent};
use crate::db::{DbConnection, DbError};
use crate::domain::{IntegrationId, IntegrationStatus};

#[derive(QueryableByName)]
struct Written {
    #[diesel(sql_type = Text)]
    id: IntegrationId,
}

fn written(ids: &[IntegrationId], written: &[Written]) -> Vec<bool> {
    ids.iter().map(|id| written.iter().any(|w| w.id == *id)).collect()
}

/// `mark_refresh_sent` for a chunk: for each (id, claim generation, marker), whether it was
/// recorded.
pub fn mark_refreshes_sent(
    conn: &mut DbConnection,
    owner: &str,
    marks: &[(IntegrationId, i64, String)],
    now: NaiveDateTime,
) -> Result<Vec<bool>, DbError> {
    let DbConnection::Postgresql(pg) = conn else {
        return marks
            .iter()
            .map(|(id, generation, marker)| mark_refresh_sent(conn, *id, owner, *generation, marker, now))
            .collect();
    };
    let ids: Vec<IntegrationId> = marks.iter().map(|(id, ..)| *id).collect();
    let generations: Vec<i64> = marks.iter().map(|(_, generation, _)| *generation).collect();
    let markers: Vec<&str> = marks.iter().map(|(.., marker)| marker.as_str()).collect();
    let marked: Vec<Written> = diesel::sql_query(
        "UPDATE integrations AS i SET refresh_sent = v.marker, refresh_sent_at = $5, status = $6 \
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS v(id, generation, marker) \
         WHERE i.id = v.id AND i.lease_owner = $4 AND i.lease_generation = v.generation \
         AND i.refresh_sent IS NULL RETURNING i.id",
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Array<BigInt>, _>(&generations)
    .bind::<Array<Text>, _>(&markers)
    .bind::<Text, _>(owner)
    .bind::<Timestamp, _>(now)
    .bind::<Text, _>(IntegrationStatus::Refreshing.as_str())
    .load(pg)?;
    Ok(written(&ids, &marked))
}

/// `finish_maintenance` of a refresh for each (id, send marker, next maintenance): whether
/// it was stored (its marker still on record; otherwise nothing of it is written).
pub fn finish_refreshes(
    conn: &mut DbConnection,
    done: &[(IntegrationId, &str, NaiveDateTime)],
    now: NaiveDateTime,
) -> Result<Vec<bool>, DbError> {
    let DbConnection::Postgresql(pg) = conn else {
        return done
            .iter()
            .map(|(id, marker, next_at)| {
                let fence = Fence::Sent {
                    marker: (*marker).to_owned(),
                };
                let result = MaintenanceResult::Healthy {
                    next_at: *next_at,
                    refreshed: true,
                };
                finish_maintenance(conn, *id, &fence, &result, now)
            })
            .collect();
    };
    let ids: Vec<IntegrationId> = done.iter().map(|(id, ..)| *id).collect();
    let markers: Vec<&str> = done.iter().map(|(_, marker, _)| *marker).collect();
    let next_ats: Vec<NaiveDateTime> = done.iter().map(|(.., next_at)| *next_at).collect();
    // What `finish_maintenance` writes for `Healthy { refreshed: true }` under `Fence::Sent`.
    let finished: Vec<Written> = diesel::sql_query(
        "UPDATE integrations AS i SET status = $5, refresh_failures = 0, last_error = NULL, \
         last_error_at = NULL, next_refresh_at = v.next_at, last_validated_at = $4, \
         last_refresh_at = $4, lease_owner = NULL, lease_expires_at = NULL, refresh_sent = NULL, \
         refresh_sent_at = NULL, updated_at = $4 \
         FROM unnest($1::text[], $2::text[], $3::timestamp[]) AS v(id, marker, next_at) \
         WHERE i.id = v.id AND i.refresh_sent = v.marker RETURNING i.id",
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Array<Text>, _>(&markers)
    .bind::<Array<Timestamp>, _>(&next_ats)
    .bind::<Timestamp, _>(now)
    .bind::<Text, _>(IntegrationStatus::Connected.as_str())
    .load(pg)?;
    Ok(written(&ids, &finished))
}
