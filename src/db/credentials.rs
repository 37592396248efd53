//! Integration credentials: tokens as AES-256-GCM ciphertext only (sealed and opened by the
//! service layer; this module never sees a token in clear).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::integration_credentials as c;
use super::{DbConnection, DbError};
use crate::domain::IntegrationId;

#[derive(Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = c, treat_none_as_null = true)]
pub struct CredentialRow {
    pub integration_id: IntegrationId,
    pub key_id: String,
    pub access_token: Vec<u8>,
    pub refresh_token: Option<Vec<u8>>,
    pub token_type: String,
    pub scope: String,
    pub expires_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

impl std::fmt::Debug for CredentialRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialRow")
            .field("integration_id", &self.integration_id)
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Stores the integration's credentials, replacing what it had.
pub fn upsert(conn: &mut DbConnection, row: &CredentialRow) -> Result<(), DbError> {
    let updated = diesel::update(c::table.find(&row.integration_id))
        .set(row)
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(c::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// `upsert` for many: one statement on PostgreSQL for the rows that exist (a refresh's).
pub fn upsert_all(conn: &mut DbConnection, rows: &[&CredentialRow]) -> Result<(), DbError> {
    use diesel::sql_types::{Array, Binary, Nullable, Text, Timestamp};
    #[derive(QueryableByName)]
    struct Updated {
        #[diesel(sql_type = Text)]
        integration_id: IntegrationId,
    }
    let DbConnection::Postgresql(pg) = conn else {
        return rows.iter().try_for_each(|row| upsert(conn, row));
    };
    let ids: Vec<IntegrationId> = rows.iter().map(|r| r.integration_id).collect();
    let updated: Vec<Updated> = diesel::sql_query(
        "UPDATE integration_credentials AS c SET key_id = v.key_id, access_token = v.access_token, \
         refresh_token = v.refresh_token, token_type = v.token_type, scope = v.scope, \
         expires_at = v.expires_at, updated_at = v.updated_at \
         FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::text[], \
         $7::timestamp[], $8::timestamp[]) \
         AS v(id, key_id, access_token, refresh_token, token_type, scope, expires_at, updated_at) \
         WHERE c.integration_id = v.id RETURNING c.integration_id",
    )
    .bind::<Array<Text>, _>(&ids)
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.key_id.as_str()).collect::<Vec<_>>())
    .bind::<Array<Binary>, _>(rows.iter().map(|r| r.access_token.as_slice()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Binary>>, _>(
        rows.iter()
            .map(|r| r.refresh_token.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.token_type.as_str()).collect::<Vec<_>>())
    .bind::<Array<Text>, _>(rows.iter().map(|r| r.scope.as_str()).collect::<Vec<_>>())
    .bind::<Array<Nullable<Timestamp>>, _>(rows.iter().map(|r| r.expires_at).collect::<Vec<_>>())
    .bind::<Array<Timestamp>, _>(rows.iter().map(|r| r.updated_at).collect::<Vec<_>>())
    .load(pg)?;
    // A row that did not exist yet is inserted on its own.
    for row in rows
        .iter()
        .filter(|r| !updated.iter().any(|u| u.integration_id == r.integration_id))
    {
        diesel::insert_into(c::table).values(*row).execute(pg)?;
    }
    Ok(())
}

pub fn find(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
) -> Result<Option<CredentialRow>, DbError> {
    Ok(c::table
        .find(integration_id)
        .select(CredentialRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_many(conn: &mut DbConnection, ids: &[IntegrationId]) -> Result<Vec<CredentialRow>, DbError> {
    Ok(c::table
        .filter(c::integration_id.eq_any(ids))
        .select(CredentialRow::as_select())
        .load(conn)?)
}

/// When the stored access token expires (`None`: no tokens, or they do not expire); the
/// sealed tokens stay on disk.
pub fn expires_at(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
) -> Result<Option<NaiveDateTime>, DbError> {
    Ok(native!(conn => c::table
        .find(integration_id)
        .select(c::expires_at)
        .first::<Option<NaiveDateTime>>(conn)
        .optional())?
    .flatten())
}

pub fn delete(conn: &mut DbConnection, integration_id: IntegrationId) -> Result<usize, DbError> {
    Ok(diesel::delete(c::table.find(integration_id)).execute(conn)?)
}

/// Credential rows after `after` in id order, a batch at a time (key rotation and checks).
pub fn page_after(conn: &mut DbConnection, after: &str, limit: i64) -> Result<Vec<CredentialRow>, DbError> {
    Ok(c::table
        .filter(c::integration_id.gt(after))
        .order(c::integration_id.asc())
        .limit(limit)
        .select(CredentialRow::as_select())
        .load(conn)?)
}

/// Replaces the sealed tokens if they are still those read (a concurrent refresh wins).
pub fn reseal(
    conn: &mut DbConnection,
    old: &CredentialRow,
    new_access: &[u8],
    new_refresh: Option<&[u8]>,
    key_id: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        c::table
            .filter(c::integration_id.eq(&old.integration_id))
            .filter(c::access_token.eq(&old.access_token))
            .filter(c::key_id.eq(&old.key_id)),
    )
    .set((
        c::access_token.eq(new_access),
        c::refresh_token.eq(new_refresh),
        c::key_id.eq(key_id),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Marks the access token expired (the provider refused it), so the next use refreshes.
pub fn expire_now(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::update(c::table.find(integration_id))
        .set(c::expires_at.eq(at - chrono::Duration::seconds(1)))
        .execute(conn)?;
    Ok(())
}
