//! Service tokens for the internal API: hashes only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_tokens as t;
use super::{DbConnection, DbError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct ApiTokenRow {
    pub id: String,
    pub org_id: String,
    pub name: String,
    pub token_hash: String,
    /// The first characters, to recognise a token in the list.
    pub token_prefix: String,
    pub created_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &ApiTokenRow) -> Result<(), DbError> {
    diesel::insert_into(t::table).values(row).execute(conn)?;
    Ok(())
}

/// The live token with this hash.
pub fn find_live_by_hash(conn: &mut DbConnection, hash: &str) -> Result<Option<ApiTokenRow>, DbError> {
    Ok(t::table
        .filter(t::token_hash.eq(hash))
        .filter(t::revoked_at.is_null())
        .select(ApiTokenRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_for_org(conn: &mut DbConnection, org_id: &str) -> Result<Vec<ApiTokenRow>, DbError> {
    Ok(t::table
        .filter(t::org_id.eq(org_id))
        .order(t::created_at.desc())
        .select(ApiTokenRow::as_select())
        .load(conn)?)
}

pub fn touch(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), DbError> {
    diesel::update(t::table.find(id))
        .set(t::last_used_at.eq(at))
        .execute(conn)?;
    Ok(())
}

/// Revokes a token of the organization; `false` when there is no such live token.
pub fn revoke(conn: &mut DbConnection, org_id: &str, id: &str, at: NaiveDateTime) -> Result<bool, DbError> {
    let updated = diesel::update(
        t::table
            .filter(t::org_id.eq(org_id))
            .filter(t::id.eq(id))
            .filter(t::revoked_at.is_null()),
    )
    .set(t::revoked_at.eq(at))
    .execute(conn)?;
    Ok(updated == 1)
}
