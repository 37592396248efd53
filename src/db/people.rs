//! What the platform says of its people: employed or left, and since when.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::schema::people_employment as p;
use super::{DbConnection, DbError};
use crate::domain::{Employment, OrgId};

/// Records what the platform says of a person's employment (the last word wins).
pub fn set_employment(
    conn: &mut DbConnection,
    org: OrgId,
    email: &str,
    status: Employment,
    since: Option<NaiveDate>,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    super::transaction(conn, |conn| {
        diesel::delete(p::table.find((org, email))).execute(conn)?;
        diesel::insert_into(p::table)
            .values((
                p::org_id.eq(org),
                p::email.eq(email),
                p::status.eq(status),
                p::since.eq(since),
                p::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The employment the platform reported for these emails.
pub fn employment_of(
    conn: &mut DbConnection,
    org: OrgId,
    emails: &[String],
) -> Result<Vec<(String, Employment, Option<NaiveDate>)>, DbError> {
    Ok(p::table
        .filter(p::org_id.eq(org))
        .filter(p::email.eq_any(emails))
        .select((p::email, p::status, p::since))
        .load(conn)?)
}
