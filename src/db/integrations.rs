//! Integrations: one connection of an organization to a provider account.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::integrations as i;
use super::{DbConnection, DbError, now};

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
