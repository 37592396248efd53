//! Organizations, their users, and the one-time setup marker.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{instance_setup, organizations, users};
use super::{DbConnection, DbError, now};
use crate::domain::{OrgId, Role, UserId};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: OrgId,
    pub name: String,
    pub created_at: NaiveDateTime,
    /// The platform's own id of the organization.
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub last_login_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    /// Removed from the organization: kept for the records, signs in no more.
    pub removed_at: Option<NaiveDateTime>,
}

/// A new admin as the account service hands it over (password already hashed).
pub struct NewAdmin<'a> {
    pub user_id: UserId,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
}

pub fn setup_completed(conn: &mut DbConnection) -> Result<bool, DbError> {
    let count: i64 = instance_setup::table.count().get_result(conn)?;
    Ok(count > 0)
}

/// Marks the first-run setup as done. `Ok(false)` when it already was: the primary key
/// (always 1) makes two concurrent setups impossible.
fn mark_setup_completed(conn: &mut DbConnection) -> Result<bool, DbError> {
    // In a savepoint: on PostgreSQL a failed statement would otherwise abort the caller's
    // whole transaction.
    let inserted = conn.transaction(|conn| {
        diesel::insert_into(instance_setup::table)
            .values((instance_setup::id.eq(1), instance_setup::completed_at.eq(now())))
            .execute(conn)
    });
    match inserted.map_err(DbError::from) {
        Ok(_) => Ok(true),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateAdminError {
    #[error("setup has already been completed")]
    SetupAlreadyDone,
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The organization exists and joining it was not asked for: its admins' emails.
    #[error("an organization with this name exists")]
    OrgExists(Vec<String>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for CreateAdminError {
    fn from(e: diesel::result::Error) -> Self {
        let e = DbError::from(e);
        if e.is_unique_violation() {
            CreateAdminError::EmailTaken
        } else {
            CreateAdminError::Db(e)
        }
    }
}

/// First-run setup: the organization and its first admin, once and only once.
pub fn create_first_org(
    conn: &mut DbConnection,
    org_id: OrgId,
    org_name: &str,
    admin: &NewAdmin<'_>,
) -> Result<(), CreateAdminError> {
    conn.transaction(|conn| {
        if !mark_setup_completed(conn)? {
            return Err(CreateAdminError::SetupAlreadyDone);
        }
        insert_org(conn, org_id, org_name)?;
        insert_user(conn, org_id, admin)?;
        Ok(())
    })
}

/// Operator path: adds an admin to the organization named `org_name`, creating it when it
/// does not exist; an existing one only with `join` (otherwise `OrgExists`, nothing written).
/// Returns the organization's id. Also completes the first-run setup.
pub fn create_admin_in_org(
    conn: &mut DbConnection,
    new_org_id: OrgId,
    org_name: &str,
    join: bool,
    admin: &NewAdmin<'_>,
) -> Result<OrgId, CreateAdminError> {
    conn.transaction(|conn| {
        let existing = organizations::table
            .filter(organizations::name.eq(org_name))
            .select(organizations::id)
            .first::<OrgId>(conn)
            .optional()?;
        let org_id = match existing {
            Some(id) if !join => {
                let admins = admins_of(conn, id)?.into_iter().map(|u| u.email).collect();
                return Err(CreateAdminError::OrgExists(admins));
            }
            Some(id) => id,
            None => {
                insert_org(conn, new_org_id, org_name)?;
                new_org_id
            }
        };
        insert_user(conn, org_id, admin)?;
        mark_setup_completed(conn)?;
        Ok(org_id)
    })
}

fn insert_org(conn: &mut DbConnection, id: OrgId, name: &str) -> Result<(), diesel::result::Error> {
    diesel::insert_into(organizations::table)
        .values((
            organizations::id.eq(id),
            organizations::name.eq(name),
            organizations::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

fn insert_user(
    conn: &mut DbConnection,
    org_id: OrgId,
    admin: &NewAdmin<'_>,
) -> Result<(), diesel::result::Error> {
    diesel::insert_into(users::table)
        .values((
            users::id.eq(admin.user_id),
            users::org_id.eq(org_id),
            users::email.eq(admin.email),
            users::password_hash.eq(admin.password_hash),
            users::role.eq(admin.role),
            users::created_at.eq(now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// An admin who can sign in (not removed), by email.
pub fn find_user_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .filter(users::removed_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// The user and their organization, as the session names them.
pub fn find_user_with_org(
    conn: &mut DbConnection,
    user_id: UserId,
    org_id: OrgId,
) -> Result<Option<(UserRow, OrgRow)>, DbError> {
    Ok(users::table
        .inner_join(organizations::table)
        .filter(users::id.eq(user_id))
        .filter(users::org_id.eq(org_id))
        .filter(users::removed_at.is_null())
        .select((UserRow::as_select(), OrgRow::as_select()))
        .first(conn)
        .optional()?)
}

/// An organization by its exact name.
pub fn find_org_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<OrgRow>, DbError> {
    Ok(organizations::table
        .filter(organizations::name.eq(name))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?)
}

/// The organization's admins (not removed), by email.
pub fn admins_of(conn: &mut DbConnection, org_id: OrgId) -> Result<Vec<UserRow>, DbError> {
    Ok(users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::removed_at.is_null())
        .order(users::email.asc())
        .select(UserRow::as_select())
        .load(conn)?)
}

pub fn set_password_hash(conn: &mut DbConnection, user_id: UserId, hash: &str) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set(users::password_hash.eq(hash))
        .execute(conn)?;
    Ok(())
}

pub fn record_login(conn: &mut DbConnection, user_id: UserId) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set(users::last_login_at.eq(now()))
        .execute(conn)?;
    Ok(())
}

pub fn find_org_id_by_name(conn: &mut DbConnection, name: &str) -> Result<Option<String>, DbError> {
    Ok(organizations::table
        .filter(organizations::name.eq(name))
        .select(organizations::id)
        .first(conn)
        .optional()?)
}

/// A user row by email, removed or not (an email names one account for good).
pub fn find_any_user_by_email(conn: &mut DbConnection, email: &str) -> Result<Option<UserRow>, DbError> {
    Ok(users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .first(conn)
        .optional()?)
}

/// Adds an admin to an existing organization (an accepted invitation).
pub fn add_admin(conn: &mut DbConnection, org_id: OrgId, admin: &NewAdmin<'_>) -> Result<(), DbError> {
    insert_user(conn, org_id, admin)?;
    Ok(())
}

/// Brings a removed admin back into their organization with a new password.
pub fn restore_admin(conn: &mut DbConnection, user_id: UserId, hash: &str) -> Result<(), DbError> {
    diesel::update(users::table.find(user_id))
        .set((
            users::removed_at.eq(None::<NaiveDateTime>),
            users::password_hash.eq(hash),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks an admin of the organization removed; `false` when there is no such active admin.
pub fn remove_admin(
    conn: &mut DbConnection,
    org_id: OrgId,
    user_id: UserId,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let removed = diesel::update(
        users::table
            .find(user_id)
            .filter(users::org_id.eq(org_id))
            .filter(users::removed_at.is_null()),
    )
    .set(users::removed_at.eq(at))
    .execute(conn)?;
    Ok(removed == 1)
}

/// How many active admins the organization has. On PostgreSQL it first locks the
/// organization's row, so two admins removing each other at once cannot both succeed (SQLite
/// writes one transaction at a time).
pub fn count_admins_locked(conn: &mut DbConnection, org_id: OrgId) -> Result<i64, DbError> {
    if let DbConnection::Postgresql(pg) = conn {
        organizations::table
            .find(org_id)
            .select(organizations::id)
            .for_update()
            .first::<OrgId>(pg)
            .optional()?;
    }
    Ok(users::table
        .filter(users::org_id.eq(org_id))
        .filter(users::removed_at.is_null())
        .count()
        .get_result(conn)?)
}

/// An organization by its id.
pub fn find_org(conn: &mut DbConnection, org_id: OrgId) -> Result<Option<OrgRow>, DbError> {
    Ok(organizations::table
        .find(org_id)
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?)
}

/// An organization by the platform's id for it.
pub fn find_org_by_external_id(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<OrgRow>, DbError> {
    Ok(organizations::table
        .filter(organizations::external_id.eq(external_id))
        .select(OrgRow::as_select())
        .first(conn)
        .optional()?)
}

/// Sets (or with `None` clears) the organization's external id; a value another organization
/// holds is a unique violation.
pub fn set_external_id(
    conn: &mut DbConnection,
    org_id: OrgId,
    external_id: Option<&str>,
) -> Result<(), DbError> {
    diesel::update(organizations::table.find(org_id))
        .set(organizations::external_id.eq(external_id))
        .execute(conn)?;
    Ok(())
}

/// A user's email (removed or not).
pub fn find_user_email(conn: &mut DbConnection, user_id: UserId) -> Result<Option<String>, DbError> {
    Ok(users::table
        .find(user_id)
        .select(users::email)
        .first(conn)
        .optional()?)
}

/// The email of an active admin of the organization.
pub fn find_admin_email(
    conn: &mut DbConnection,
    org_id: OrgId,
    user_id: UserId,
) -> Result<Option<String>, DbError> {
    Ok(users::table
        .find(user_id)
        .filter(users::org_id.eq(org_id))
        .filter(users::removed_at.is_null())
        .select(users::email)
        .first(conn)
        .optional()?)
}

/// Every organization's id.
pub fn all_ids(conn: &mut DbConnection) -> Result<Vec<OrgId>, DbError> {
    Ok(organizations::table
        .select(organizations::id)
        .order(organizations::id)
        .load(conn)?)
}
