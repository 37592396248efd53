//! One-time OAuth states: hashed, bound to the browser session, the admin and the org,
//! expiring after ten minutes, consumed once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::integration_oauth_states as s;
use super::{DbConnection, DbError};
use crate::domain::{IntegrationId, OrgId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = s)]
pub struct StateRow {
    pub id: String,
    pub state_hash: String,
    pub org_id: OrgId,
    pub user_id: UserId,
    pub provider_slug: String,
    pub integration_id: Option<IntegrationId>,
    pub consent_id: Option<String>,
    /// SHA-256 of the browser session's id.
    pub session_binding: String,
    pub key_id: Option<String>,
    /// Sealed with the keyring, bound to this row.
    pub pkce_verifier: Option<Vec<u8>>,
    pub nonce: Option<String>,
    pub scopes: String,
    pub redirect_after: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub consumed_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &StateRow) -> Result<(), DbError> {
    diesel::insert_into(s::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_by_hash(conn: &mut DbConnection, state_hash: &str) -> Result<Option<StateRow>, DbError> {
    Ok(s::table
        .filter(s::state_hash.eq(state_hash))
        .select(StateRow::as_select())
        .first(conn)
        .optional()?)
}

/// Marks the state used. `false` when it already was or has expired meanwhile: of two
/// concurrent callbacks with one state, exactly one wins.
pub fn consume(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> Result<bool, DbError> {
    let updated = diesel::update(
        s::table
            .filter(s::id.eq(id))
            .filter(s::consumed_at.is_null())
            .filter(s::expires_at.gt(now)),
    )
    .set(s::consumed_at.eq(now))
    .execute(conn)?;
    Ok(updated == 1)
}

/// (id, sealed verifier) of the states after `after` in id order (key rotation and checks).
pub fn sealed_after(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    Ok(s::table
        .filter(s::pkce_verifier.is_not_null())
        .filter(s::id.gt(after))
        .order(s::id.asc())
        .select((s::id, s::pkce_verifier.assume_not_null()))
        .limit(limit)
        .load(conn)?)
}

/// Replaces a verifier if it is still the one read (a concurrent writer wins).
pub fn reseal(
    conn: &mut DbConnection,
    id: &str,
    old: &[u8],
    new: &[u8],
    key_id: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(s::table.filter(s::id.eq(id)).filter(s::pkce_verifier.eq(old)))
        .set((s::pkce_verifier.eq(new), s::key_id.eq(key_id)))
        .execute(conn)?;
    Ok(updated == 1)
}

/// Deletes states that expired before `now`. Returns how many.
pub fn purge_expired(conn: &mut DbConnection, now: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::delete(s::table.filter(s::expires_at.lt(now))).execute(conn)?)
}
