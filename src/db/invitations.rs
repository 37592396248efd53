//! Invitations to become an admin: one-time links, stored as the SHA-256 of their token.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{admin_invitations as inv, users};
use super::{DbConnection, DbError};
use crate::domain::{InvitationId, OrgId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = inv)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: String,
    pub token_hash: String,
    pub invited_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &InvitationRow) -> Result<(), DbError> {
    diesel::insert_into(inv::table).values(row).execute(conn)?;
    Ok(())
}

/// The invitation a link names, if it can still be used (not accepted, revoked or expired).
pub fn find_usable(
    conn: &mut DbConnection,
    token_hash: &str,
    at: NaiveDateTime,
) -> Result<Option<InvitationRow>, DbError> {
    Ok(inv::table
        .filter(inv::token_hash.eq(token_hash))
        .filter(inv::accepted_at.is_null())
        .filter(inv::revoked_at.is_null())
        .filter(inv::expires_at.gt(at))
        .select(InvitationRow::as_select())
        .first(conn)
        .optional()?)
}

/// The organization's invitations not yet accepted, revoked or expired, with who sent them,
/// the newest first.
pub fn list_pending(
    conn: &mut DbConnection,
    org_id: OrgId,
    at: NaiveDateTime,
) -> Result<Vec<(InvitationRow, Option<String>)>, DbError> {
    Ok(inv::table
        .left_join(users::table.on(inv::invited_by.eq(users::id.nullable())))
        .filter(inv::org_id.eq(org_id))
        .filter(inv::accepted_at.is_null())
        .filter(inv::revoked_at.is_null())
        .filter(inv::expires_at.gt(at))
        .order(inv::created_at.desc())
        .select((InvitationRow::as_select(), users::email.nullable()))
        .load(conn)?)
}

/// Marks a usable invitation accepted; `false` when another request used it first.
pub fn accept(conn: &mut DbConnection, id: InvitationId, at: NaiveDateTime) -> Result<bool, DbError> {
    let accepted = diesel::update(
        inv::table
            .find(id)
            .filter(inv::accepted_at.is_null())
            .filter(inv::revoked_at.is_null())
            .filter(inv::expires_at.gt(at)),
    )
    .set(inv::accepted_at.eq(at))
    .execute(conn)?;
    Ok(accepted == 1)
}

/// Revokes a pending invitation of the organization; its email when there was one.
pub fn revoke(
    conn: &mut DbConnection,
    org_id: OrgId,
    id: InvitationId,
    at: NaiveDateTime,
) -> Result<Option<String>, DbError> {
    let email = inv::table
        .find(id)
        .filter(inv::org_id.eq(org_id))
        .filter(inv::accepted_at.is_null())
        .filter(inv::revoked_at.is_null())
        .select(inv::email)
        .first::<String>(conn)
        .optional()?;
    if email.is_some() {
        diesel::update(inv::table.find(id))
            .set(inv::revoked_at.eq(at))
            .execute(conn)?;
    }
    Ok(email)
}

/// Revokes every pending invitation of this email in the organization (a new invitation
/// replaces the old links); returns how many.
pub fn revoke_for_email(
    conn: &mut DbConnection,
    org_id: OrgId,
    email: &str,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        inv::table
            .filter(inv::org_id.eq(org_id))
            .filter(inv::email.eq(email))
            .filter(inv::accepted_at.is_null())
            .filter(inv::revoked_at.is_null()),
    )
    .set(inv::revoked_at.eq(at))
    .execute(conn)?)
}
