//! Admin sessions on the server: opened at sign-in, seen on each request, ended by sign-out.
//! Rows are keyed by the SHA-256 of the session id (the cookie's secret), never the id itself.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::{admin_sessions as s, organizations, users};
use super::{DbConnection, DbError};
use crate::domain::{OrgId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = s)]
pub struct SessionRow {
    pub id: String,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<NaiveDateTime>,
}

pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> Result<(), DbError> {
    diesel::insert_into(s::table).values(row).execute(conn)?;
    Ok(())
}

/// What a request needs of an open session: its times (to expire it), its admin and the
/// admin's organization. Read at each signed-in request: no more than that (never the
/// password's hash).
#[derive(Debug, Clone, Queryable)]
pub struct OpenSession {
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub user_id: UserId,
    pub email: String,
    pub org_id: OrgId,
    pub org_name: String,
}

/// An open session with its admin and organization (`None`: ended, unknown, or the admin is
/// gone).
pub fn find_open(conn: &mut DbConnection, id: &str) -> Result<Option<OpenSession>, DbError> {
    Ok(native!(conn => s::table
        .inner_join(users::table.inner_join(organizations::table))
        .filter(s::id.eq(id))
        .filter(s::ended_at.is_null())
        .filter(users::org_id.eq(s::org_id))
        .filter(users::removed_at.is_null())
        .select((
            s::created_at,
            s::last_seen_at,
            users::id,
            users::email,
            organizations::id,
            organizations::name,
        ))
        .first(conn)
        .optional())?)
}

pub fn touch(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<(), DbError> {
    native!(conn => diesel::update(s::table.find(id))
        .set(s::last_seen_at.eq(at))
        .execute(conn))?;
    Ok(())
}

/// Ends a session; `false` when it was not open.
pub fn end(conn: &mut DbConnection, id: &str, at: NaiveDateTime) -> Result<bool, DbError> {
    let ended = diesel::update(s::table.find(id).filter(s::ended_at.is_null()))
        .set(s::ended_at.eq(at))
        .execute(conn)?;
    Ok(ended == 1)
}

/// Deletes sessions that ended, or that no request can use any more (idle or too old), before
/// the cutoffs; at most `batch`. Returns how many.
pub fn purge(
    conn: &mut DbConnection,
    idle_before: NaiveDateTime,
    created_before: NaiveDateTime,
    batch: i64,
) -> Result<usize, DbError> {
    let ids: Vec<String> = s::table
        .filter(
            s::ended_at
                .is_not_null()
                .or(s::last_seen_at.lt(idle_before))
                .or(s::created_at.lt(created_before)),
        )
        .limit(batch)
        .select(s::id)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(diesel::delete(s::table.filter(s::id.eq_any(&ids))).execute(conn)?)
}

/// The user's open sessions, the most recently seen first.
pub fn list_open_for_user(conn: &mut DbConnection, user_id: UserId) -> Result<Vec<SessionRow>, DbError> {
    Ok(s::table
        .filter(s::user_id.eq(user_id))
        .filter(s::ended_at.is_null())
        .order(s::last_seen_at.desc())
        .select(SessionRow::as_select())
        .load(conn)?)
}

/// Ends one of the user's open sessions; `false` when the user has no such open session.
pub fn end_for_user(
    conn: &mut DbConnection,
    user_id: UserId,
    id: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let ended = diesel::update(
        s::table
            .filter(s::id.eq(id))
            .filter(s::user_id.eq(user_id))
            .filter(s::ended_at.is_null()),
    )
    .set(s::ended_at.eq(at))
    .execute(conn)?;
    Ok(ended == 1)
}

/// Ends every open session of the user but `keep`; returns how many.
pub fn end_others(
    conn: &mut DbConnection,
    user_id: UserId,
    keep: &str,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        s::table
            .filter(s::user_id.eq(user_id))
            .filter(s::id.ne(keep))
            .filter(s::ended_at.is_null()),
    )
    .set(s::ended_at.eq(at))
    .execute(conn)?)
}

/// Ends every open session of the user (a password reset, a removal); returns how many.
pub fn end_all(conn: &mut DbConnection, user_id: UserId, at: NaiveDateTime) -> Result<usize, DbError> {
    Ok(diesel::update(
        s::table
            .filter(s::user_id.eq(user_id))
            .filter(s::ended_at.is_null()),
    )
    .set(s::ended_at.eq(at))
    .execute(conn)?)
}
