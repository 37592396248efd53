//! Service tokens for the internal API: hashes only.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::api_token_integrations as allowed;
use super::schema::api_tokens as t;
use super::{DbConnection, DbError};
use crate::domain::{IntegrationId, OrgId, UserId};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = t)]
pub struct ApiTokenRow {
    pub id: String,
    pub org_id: OrgId,
    pub name: String,
    pub token_hash: String,
    /// The first characters, to recognise a token in the list.
    pub token_prefix: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    /// Limited to the integrations in `api_token_integrations` (none left: reaches nothing).
    pub restricted: bool,
}

/// Stores a token and, for a restricted one, the integrations it may use.
pub fn insert(
    conn: &mut DbConnection,
    row: &ApiTokenRow,
    integrations: &[IntegrationId],
) -> Result<(), DbError> {
    super::transaction(conn, |conn| {
        diesel::insert_into(t::table).values(row).execute(conn)?;
        for integration in integrations {
            diesel::insert_into(allowed::table)
                .values((
                    allowed::token_id.eq(&row.id),
                    allowed::integration_id.eq(integration),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// `Some`: the only integrations a restricted token may use; `None`: all of its organization's.
pub type AllowedIntegrations = Option<Vec<IntegrationId>>;

/// The live token with this hash, and the integrations it may use when it is restricted.
pub fn find_live_by_hash(
    conn: &mut DbConnection,
    hash: &str,
) -> Result<Option<(ApiTokenRow, AllowedIntegrations)>, DbError> {
    let Some(row) = t::table
        .filter(t::token_hash.eq(hash))
        .filter(t::revoked_at.is_null())
        .select(ApiTokenRow::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let integrations = if row.restricted {
        Some(
            allowed::table
                .filter(allowed::token_id.eq(&row.id))
                .select(allowed::integration_id)
                .load(conn)?,
        )
    } else {
        None
    };
    Ok(Some((row, integrations)))
}

/// (token id, integration id) of every restricted token of the organization.
pub fn allowed_for_org(
    conn: &mut DbConnection,
    org_id: OrgId,
) -> Result<Vec<(String, IntegrationId)>, DbError> {
    Ok(allowed::table
        .inner_join(t::table)
        .filter(t::org_id.eq(org_id))
        .select((allowed::token_id, allowed::integration_id))
        .load(conn)?)
}

pub fn list_for_org(conn: &mut DbConnection, org_id: OrgId) -> Result<Vec<ApiTokenRow>, DbError> {
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

/// Counts a call of the token toward its next use summary.
pub fn count_call(conn: &mut DbConnection, id: &str, failed: bool) -> Result<(), DbError> {
    diesel::update(t::table.find(id))
        .set((
            t::calls_unsummarized.eq(t::calls_unsummarized + 1),
            t::failures_unsummarized.eq(t::failures_unsummarized + i64::from(failed)),
        ))
        .execute(conn)?;
    Ok(())
}

/// A token's calls since its last use summary.
#[derive(Debug, Queryable)]
pub struct TokenUse {
    pub id: String,
    pub org_id: OrgId,
    pub name: String,
    pub calls: i64,
    pub failures: i64,
    /// The last summary (or the token's creation, before the first).
    pub since: NaiveDateTime,
}

/// Tokens called since their last summary, which is at least `every` old (or their creation,
/// for a first one), at most `batch`.
pub fn due_use_summaries(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    every: chrono::Duration,
    batch: i64,
) -> Result<Vec<TokenUse>, DbError> {
    let due = now - every;
    Ok(t::table
        .filter(t::calls_unsummarized.gt(0))
        .filter(
            t::summarized_at
                .le(due)
                .or(t::summarized_at.is_null().and(t::created_at.le(due))),
        )
        .order(t::id)
        .limit(batch)
        .select((
            t::id,
            t::org_id,
            t::name,
            t::calls_unsummarized,
            t::failures_unsummarized,
            diesel::dsl::sql::<diesel::sql_types::Timestamp>("COALESCE(summarized_at, created_at)"),
        ))
        .load(conn)?)
}

/// Takes the counted calls out (those counted meanwhile stay for the next summary).
pub fn mark_summarized(
    conn: &mut DbConnection,
    id: &str,
    calls: i64,
    failures: i64,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(t::table.find(id))
        .set((
            t::calls_unsummarized.eq(t::calls_unsummarized - calls),
            t::failures_unsummarized.eq(t::failures_unsummarized - failures),
            t::summarized_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Revokes a token of the organization; `false` when there is no such live token.
pub fn revoke(conn: &mut DbConnection, org_id: OrgId, id: &str, at: NaiveDateTime) -> Result<bool, DbError> {
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
