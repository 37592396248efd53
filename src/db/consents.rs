//! The GDPR (Art. 7) consent ledger: who consented to which scopes, when, from where, and
//! when it was withdrawn.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::integration_consents as c;
use super::{DbConnection, DbError};
use crate::domain::{IntegrationId, OrgId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = c)]
pub struct ConsentRow {
    pub id: String,
    pub org_id: OrgId,
    pub user_id: Option<UserId>,
    pub provider_slug: String,
    pub integration_id: Option<IntegrationId>,
    pub scopes: String,
    pub consent_text_version: String,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub granted_at: NaiveDateTime,
    pub withdrawn_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &ConsentRow) -> Result<(), DbError> {
    diesel::insert_into(c::table).values(row).execute(conn)?;
    Ok(())
}

pub fn attach_to_integration(
    conn: &mut DbConnection,
    consent_id: &str,
    integration_id: IntegrationId,
) -> Result<(), DbError> {
    diesel::update(c::table.find(consent_id))
        .set(c::integration_id.eq(integration_id))
        .execute(conn)?;
    Ok(())
}

/// Marks every standing consent of the integration withdrawn. Returns how many.
pub fn withdraw_for_integration(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        c::table
            .filter(c::integration_id.eq(integration_id))
            .filter(c::withdrawn_at.is_null()),
    )
    .set(c::withdrawn_at.eq(at))
    .execute(conn)?)
}

pub fn list_for_integration(
    conn: &mut DbConnection,
    org_id: OrgId,
    integration_id: IntegrationId,
) -> Result<Vec<ConsentRow>, DbError> {
    Ok(native!(conn => c::table
        .filter(c::org_id.eq(org_id))
        .filter(c::integration_id.eq(integration_id))
        .order(c::granted_at.desc())
        .select(ConsentRow::as_select())
        .load(conn))?)
}

/// The organization's ledger, newest first, with the consenting admin's email.
pub fn ledger_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
) -> Result<Vec<(ConsentRow, Option<String>)>, DbError> {
    use super::schema::users;
    Ok(c::table
        .left_join(users::table.on(users::id.nullable().eq(c::user_id)))
        .filter(c::org_id.eq(org_id))
        .order(c::granted_at.desc())
        .select((ConsentRow::as_select(), users::email.nullable()))
        .load(conn)?)
}

/// Erasure: the ledger keeps who consented to what and when (Art. 7(1) proof), not where from.
pub fn scrub_for_integration(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    withdraw_for_integration(conn, integration_id, at)?;
    Ok(
        diesel::update(c::table.filter(c::integration_id.eq(integration_id)))
            .set((c::ip_address.eq(None::<String>), c::user_agent.eq(None::<String>)))
            .execute(conn)?,
    )
}
