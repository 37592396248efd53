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
}

/// How it ended. Stored as text in `status`.
pub mod status {
    pub const SUCCEEDED: &str = "succeeded";
    pub const FAILED: &str = "failed";
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = l)]
pub struct SyncLogRow {
    pub id: String,
    pub integration_id: Option<String>,
    pub provider_slug: String,
    pub kind: String,
    pub status: String,
    pub message: String,
    pub error: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: NaiveDateTime,
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

/// The newest entries of one integration of the organization.
pub fn recent_for_integration(
    conn: &mut DbConnection,
    org_id: &str,
    integration_id: &str,
    limit: i64,
) -> Result<Vec<SyncLogRow>, DbError> {
    Ok(l::table
        .filter(l::org_id.eq(org_id))
        .filter(l::integration_id.eq(integration_id))
        .order((l::created_at.desc(), l::id.desc()))
        .limit(limit)
        .select(SyncLogRow::as_select())
        .load(conn)?)
}

/// The newest entries of the organization (all integrations and failed attempts).
pub fn recent_for_org(conn: &mut DbConnection, org_id: &str, limit: i64) -> Result<Vec<SyncLogRow>, DbError> {
    Ok(l::table
        .filter(l::org_id.eq(org_id))
        .order((l::created_at.desc(), l::id.desc()))
        .limit(limit)
        .select(SyncLogRow::as_select())
        .load(conn)?)
}
