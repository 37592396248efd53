//! The part of a provider's accounts an integration's directory reads, as an admin chose it
//! (GitHub: the organization).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::directory_targets as t;
use super::{DbConnection, DbError};
use crate::domain::{IntegrationId, OrgId};

pub fn find(conn: &mut DbConnection, integration: IntegrationId) -> Result<Option<String>, DbError> {
    Ok(t::table
        .find(integration)
        .select(t::target)
        .first(conn)
        .optional()?)
}

/// Records the choice (replacing an earlier one).
pub fn set(
    conn: &mut DbConnection,
    org: OrgId,
    integration: IntegrationId,
    target: &str,
    now: NaiveDateTime,
) -> Result<(), DbError> {
    super::transaction(conn, |conn| {
        diesel::delete(t::table.find(integration)).execute(conn)?;
        diesel::insert_into(t::table)
            .values((
                t::integration_id.eq(integration),
                t::org_id.eq(org),
                t::target.eq(target),
                t::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(())
    })
}
