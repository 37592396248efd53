//! Integrations: one connection of an organization to a provider account.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::integrations as i;
use super::{DbConnection, DbError, now};
use crate::domain::IntegrationStatus;

/// What the settings page needs of an integration.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = i)]
pub struct IntegrationSummary {
    pub id: String,
    pub provider_slug: String,
    pub status: String,
    pub external_account_name: String,
    pub last_error: Option<String>,
    pub connected_at: Option<NaiveDateTime>,
}

/// A newly connected integration, as the OAuth callback records it.
pub struct NewIntegration<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub provider_slug: &'a str,
    pub status: &'a str,
    pub external_account_id: &'a str,
    pub external_account_name: &'a str,
    pub granted_scopes: &'a str,
    pub connected_by: Option<&'a str>,
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
    org_id: &str,
) -> Result<Vec<IntegrationSummary>, DbError> {
    Ok(i::table
        .filter(i::org_id.eq(org_id))
        .filter(i::status.ne("disconnected"))
        .order((i::provider_slug.asc(), i::created_at.asc()))
        .select(IntegrationSummary::as_select())
        .load(conn)?)
}

/// An integration as its detail page and the lifecycle need it.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = i)]
pub struct IntegrationRow {
    pub id: String,
    pub org_id: String,
    pub provider_slug: String,
    pub status: String,
    pub external_account_id: String,
    pub external_account_name: String,
    pub granted_scopes: String,
    pub connected_by: Option<String>,
    pub connected_at: Option<NaiveDateTime>,
    pub disconnected_at: Option<NaiveDateTime>,
    pub last_refresh_at: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub last_error_at: Option<NaiveDateTime>,
    pub next_refresh_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

/// One integration of the organization; `None` for an id of another organization too.
pub fn find_for_org(
    conn: &mut DbConnection,
    org_id: &str,
    id: &str,
) -> Result<Option<IntegrationRow>, DbError> {
    Ok(i::table
        .filter(i::org_id.eq(org_id))
        .filter(i::id.eq(id))
        .select(IntegrationRow::as_select())
        .first(conn)
        .optional()?)
}

/// A successful connection, as the callback records it.
pub struct Connected<'a> {
    pub org_id: &'a str,
    pub provider_slug: &'a str,
    pub external_account_id: &'a str,
    pub external_account_name: &'a str,
    pub granted_scopes: &'a str,
    pub connected_by: &'a str,
    pub next_refresh_at: Option<NaiveDateTime>,
}

/// Records the connection: the organization's integration with this provider account is
/// updated when it exists (a reconnect keeps its history), created otherwise. Returns its id.
pub fn upsert_connected(conn: &mut DbConnection, c: &Connected<'_>) -> Result<String, DbError> {
    let at = now();
    let existing = i::table
        .filter(i::org_id.eq(c.org_id))
        .filter(i::provider_slug.eq(c.provider_slug))
        .filter(i::external_account_id.eq(c.external_account_id))
        .select(i::id)
        .first::<String>(conn)
        .optional()?;
    let id = match existing {
        Some(id) => id,
        None => {
            let id = uuid::Uuid::new_v4().to_string();
            insert(
                conn,
                &NewIntegration {
                    id: &id,
                    org_id: c.org_id,
                    provider_slug: c.provider_slug,
                    status: IntegrationStatus::Connected.as_str(),
                    external_account_id: c.external_account_id,
                    external_account_name: c.external_account_name,
                    granted_scopes: c.granted_scopes,
                    connected_by: Some(c.connected_by),
                },
            )?;
            id
        }
    };
    diesel::update(i::table.find(&id))
        .set((
            i::status.eq(IntegrationStatus::Connected.as_str()),
            i::external_account_name.eq(c.external_account_name),
            i::granted_scopes.eq(c.granted_scopes),
            i::connected_by.eq(c.connected_by),
            i::connected_at.eq(at),
            i::disconnected_at.eq(None::<NaiveDateTime>),
            i::last_error.eq(None::<String>),
            i::last_error_at.eq(None::<NaiveDateTime>),
            i::refresh_failures.eq(0),
            i::next_refresh_at.eq(c.next_refresh_at),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(id)
}

pub fn mark_disconnected(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(i::table.find(id))
        .set((
            i::status.eq(IntegrationStatus::Disconnected.as_str()),
            i::disconnected_at.eq(at),
            i::next_refresh_at.eq(None::<NaiveDateTime>),
            i::lease_owner.eq(None::<String>),
            i::lease_expires_at.eq(None::<NaiveDateTime>),
            i::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}
