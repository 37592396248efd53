//! Integrations: one connection of an organization to a provider account. `maintenance`
//! holds the claims and fenced writes of token maintenance.

mod chunks;
mod maintenance;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::integrations as i;
use super::{DbConnection, DbError, now};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId, UserId};
pub use chunks::{finish_refreshes, mark_refreshes_sent};
pub use maintenance::{
    Fence, MaintenanceResult, MaintenanceRow, claim, claim_due, due_for_maintenance, find_for_maintenance,
    find_many_for_maintenance, finish_maintenance, mark_refresh_sent, release, release_all,
};

/// What the settings page needs of an integration.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = i)]
pub struct IntegrationSummary {
    pub id: IntegrationId,
    pub provider_slug: String,
    pub status: IntegrationStatus,
    pub external_account_name: String,
    pub last_error: Option<String>,
    pub connected_at: Option<NaiveDateTime>,
    pub next_refresh_at: Option<NaiveDateTime>,
}

/// A newly connected integration, as the OAuth callback records it.
pub struct NewIntegration<'a> {
    pub id: IntegrationId,
    pub org_id: OrgId,
    pub provider_slug: &'a str,
    pub status: IntegrationStatus,
    pub external_account_id: &'a str,
    pub external_account_name: &'a str,
    pub granted_scopes: &'a str,
    pub connected_by: Option<UserId>,
}

pub fn insert(conn: &mut DbConnection, new: &NewIntegration<'_>) -> Result<(), DbError> {
    let at = now();
    diesel::insert_into(i::table)
        .values((
            i::id.eq(new.id),
            i::org_id.eq(new.org_id),
            i::provider_slug.eq(new.provider_slug),
            i::status.eq(new.status),
            i::external_account_id.eq(new.external_account_id),
            i::external_account_name.eq(new.external_account_name),
            i::granted_scopes.eq(new.granted_scopes),
            i::connected_by.eq(new.connected_by),
            i::connected_at.eq(at),
            i::created_at.eq(at),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The organization's integrations that are not disconnected, oldest first. One query,
/// served by `integrations_org_provider_idx`.
pub fn list_active_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
) -> Result<Vec<IntegrationSummary>, DbError> {
    Ok(native!(conn => i::table
        .filter(i::org_id.eq(org_id))
        .filter(i::status.ne(IntegrationStatus::Disconnected))
        .order((i::provider_slug.asc(), i::created_at.asc()))
        .select(IntegrationSummary::as_select())
        .load(conn))?)
}

/// An integration as its detail page and the lifecycle need it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = i)]
pub struct IntegrationRow {
    pub id: IntegrationId,
    pub org_id: OrgId,
    pub provider_slug: String,
    pub status: IntegrationStatus,
    pub external_account_id: String,
    pub external_account_name: String,
    pub granted_scopes: String,
    pub connected_by: Option<UserId>,
    pub connected_at: Option<NaiveDateTime>,
    pub disconnected_at: Option<NaiveDateTime>,
    pub last_refresh_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub next_refresh_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub sync_interval_minutes: Option<i32>,
    pub last_sync_at: Option<NaiveDateTime>,
}

/// One integration of the organization; `None` for an id of another organization too.
pub fn find_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
    id: IntegrationId,
) -> Result<Option<IntegrationRow>, DbError> {
    Ok(native!(conn => i::table
        .filter(i::org_id.eq(org_id))
        .filter(i::id.eq(id))
        .select(IntegrationRow::as_select())
        .first(conn)
        .optional())?)
}

/// A successful connection, as the callback records it.
pub struct Connected<'a> {
    pub org_id: OrgId,
    pub provider_slug: &'a str,
    pub external_account_id: &'a str,
    pub external_account_name: &'a str,
    pub granted_scopes: &'a str,
    pub connected_by: UserId,
    pub next_refresh_at: Option<NaiveDateTime>,
}

/// Records the connection: the organization's integration with this provider account is
/// updated when it exists (a reconnect keeps its history), created otherwise. Returns its id.
pub fn upsert_connected(conn: &mut DbConnection, c: &Connected<'_>) -> Result<IntegrationId, DbError> {
    let at = now();
    let existing = i::table
        .filter(i::org_id.eq(c.org_id))
        .filter(i::provider_slug.eq(c.provider_slug))
        .filter(i::external_account_id.eq(c.external_account_id))
        .select(i::id)
        .first::<IntegrationId>(conn)
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            let id = IntegrationId::new();
            insert(
                conn,
                &NewIntegration {
                    id,
                    org_id: c.org_id,
                    provider_slug: c.provider_slug,
                    status: IntegrationStatus::Connected,
                    external_account_id: c.external_account_id,
                    external_account_name: c.external_account_name,
                    granted_scopes: c.granted_scopes,
                    connected_by: Some(c.connected_by),
                },
            )?;
            id
        }
    };
    diesel::update(i::table.find(id))
        .set((
            i::status.eq(IntegrationStatus::Connected),
            i::external_account_name.eq(c.external_account_name),
            i::granted_scopes.eq(c.granted_scopes),
            i::connected_by.eq(c.connected_by),
            i::connected_at.eq(at),
            i::disconnected_at.eq(None::<NaiveDateTime>),
            i::last_error.eq(None::<String>),
            i::last_error_at.eq(None::<NaiveDateTime>),
            i::refresh_failures.eq(0),
            i::next_refresh_at.eq(c.next_refresh_at),
            // New tokens: any refresh on record was for the old grant.
            i::refresh_sent.eq(None::<String>),
            i::refresh_sent_at.eq(None::<NaiveDateTime>),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn mark_disconnected(
    conn: &mut DbConnection,
    id: IntegrationId,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(i::table.find(id))
        .set((
            i::status.eq(IntegrationStatus::Disconnected),
            i::disconnected_at.eq(at),
            i::next_refresh_at.eq(None::<NaiveDateTime>),
            i::lease_owner.eq(None::<String>),
            i::lease_expires_at.eq(None::<NaiveDateTime>),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The provider no longer accepts the integration's token (seen outside a refresh).
pub fn mark_needs_reauth(
    conn: &mut DbConnection,
    id: IntegrationId,
    error: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(
        i::table
            .find(id)
            .filter(i::status.eq_any(IntegrationStatus::LIVE)),
    )
    .set((
        i::status.eq(IntegrationStatus::NeedsReauth),
        i::last_error.eq(error),
        i::last_error_at.eq(at),
        i::next_refresh_at.eq(None::<NaiveDateTime>),
        i::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}

/// The provider refused a call for want of scopes the hub thought granted: they are taken
/// off the granted ones (so the next call is refused before the provider and the page asks
/// for more access), with the reason as the last error.
pub fn withdraw_scopes(
    conn: &mut DbConnection,
    org: OrgId,
    id: IntegrationId,
    scopes: &[String],
    error: &str,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        let Some(row) = find_for_org(conn, org, id)? else {
            return Ok(());
        };
        let kept: Vec<&str> = row
            .granted_scopes
            .split([' ', ','])
            .filter(|s| !s.is_empty() && !scopes.iter().any(|gone| gone == s))
            .collect();
        diesel::update(i::table.find(id))
            .set((
                i::granted_scopes.eq(kept.join(" ")),
                i::last_error.eq(error),
                i::last_error_at.eq(at),
                i::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Records a finished sync.
pub fn record_sync(
    conn: &mut DbConnection,
    id: IntegrationId,
    account_name: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(i::table.find(id))
        .set((i::last_sync_at.eq(at), i::updated_at.eq(at)))
        .execute(conn)?;
    if let Some(name) = account_name {
        diesel::update(i::table.find(id))
            .set(i::external_account_name.eq(name))
            .execute(conn)?;
    }
    Ok(())
}

/// Integrations with a sync schedule that is due; their next run is moved on by the
/// interval in the same step, so an instance enqueues each run once.
pub fn take_due_syncs(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<(IntegrationId, OrgId, String)>, DbError> {
    let due: Vec<(IntegrationId, OrgId, String, i32, Option<NaiveDateTime>)> = i::table
        .filter(i::status.eq_any(IntegrationStatus::LIVE))
        .filter(i::sync_interval_minutes.is_not_null())
        .filter(i::next_sync_at.is_null().or(i::next_sync_at.le(now)))
        .limit(limit)
        .select((
            i::id,
            i::org_id,
            i::provider_slug,
            i::sync_interval_minutes.assume_not_null(),
            i::next_sync_at,
        ))
        .load(conn)?;
    let mut taken = Vec::new();
    for (id, org, provider, minutes, previous) in due {
        let next = now + chrono::Duration::minutes(i64::from(minutes));
        // Compare-and-set on the previous value: of two instances, one moves it.
        let moved = match previous {
            Some(previous) => {
                diesel::update(i::table.filter(i::id.eq(id)).filter(i::next_sync_at.eq(previous)))
                    .set(i::next_sync_at.eq(next))
                    .execute(conn)?
            }
            None => diesel::update(i::table.filter(i::id.eq(id)).filter(i::next_sync_at.is_null()))
                .set(i::next_sync_at.eq(next))
                .execute(conn)?,
        };
        if moved == 1 {
            taken.push((id, org, provider));
        }
    }
    Ok(taken)
}

pub fn find_live(conn: &mut DbConnection, id: IntegrationId) -> Result<Option<IntegrationRow>, DbError> {
    Ok(i::table
        .find(id)
        .filter(i::status.eq_any(IntegrationStatus::LIVE))
        .select(IntegrationRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sets (or clears) an integration's sync schedule; the first run is one interval from now.
pub fn set_sync_interval(
    conn: &mut DbConnection,
    org_id: OrgId,
    id: IntegrationId,
    minutes: Option<i32>,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let next = minutes.map(|m| at + chrono::Duration::minutes(i64::from(m)));
    let updated = diesel::update(i::table.filter(i::org_id.eq(org_id)).filter(i::id.eq(id)))
        .set((
            i::sync_interval_minutes.eq(minutes),
            i::next_sync_at.eq(next),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Everything the dashboard and the export list: every integration of the organization.
pub fn all_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
) -> Result<Vec<(IntegrationRow, Option<i32>)>, DbError> {
    Ok(i::table
        .filter(i::org_id.eq(org_id))
        .order((i::provider_slug.asc(), i::created_at.asc()))
        .select((IntegrationRow::as_select(), i::sync_interval_minutes))
        .load(conn)?)
}

/// The minimal record an erasure leaves: that there was an integration with this provider,
/// disconnected, and nothing that names the account.
pub fn erase(conn: &mut DbConnection, id: IntegrationId, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(i::table.find(id))
        .set((
            i::status.eq(IntegrationStatus::Disconnected),
            i::external_account_id.eq(format!("erased:{id}")),
            i::external_account_name.eq("[erased]"),
            i::granted_scopes.eq(""),
            i::last_error.eq(None::<String>),
            i::next_refresh_at.eq(None::<NaiveDateTime>),
            i::sync_interval_minutes.eq(None::<i32>),
            i::next_sync_at.eq(None::<NaiveDateTime>),
            i::disconnected_at.eq(at),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
