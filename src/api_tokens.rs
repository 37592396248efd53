//! Service tokens: created by an admin (or an operator), shown once, stored as a hash,
//! scoped to one organization, revocable.

use crate::crypto::{random_token, sha256_hex};
use crate::db::api_tokens::{self, ApiTokenRow};
use crate::db::{self, Db, DbError};
use crate::domain::{OrgId, UserId};

/// Tokens start with this, so they are recognisable (and greppable by secret scanners).
pub const PREFIX: &str = "tgi_";
/// `last_used_at` is written at most this often per token.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// The caller of the internal API.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    pub org_id: OrgId,
    pub token_id: String,
    pub name: String,
}

/// Creates a token; returns its row and the token itself (to show once).
pub async fn create(
    db: &Db,
    org: OrgId,
    name: &str,
    created_by: Option<UserId>,
) -> Result<(ApiTokenRow, String), DbError> {
    let token = format!("{PREFIX}{}", random_token(32));
    let row = ApiTokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org.to_text(),
        name: crate::oauth::sanitize(name.trim(), 100),
        token_hash: sha256_hex(token.as_bytes()),
        token_prefix: token.chars().take(PREFIX.len() + 6).collect(),
        created_by: created_by.map(UserId::to_text),
        created_at: db::now(),
        last_used_at: None,
        revoked_at: None,
    };
    let stored = row.clone();
    db.run(move |conn| api_tokens::insert(conn, &stored)).await?;
    Ok((row, token))
}

/// The client a bearer token belongs to, if it is a live token.
pub async fn authenticate(db: &Db, bearer: &str) -> Result<Option<ServiceClient>, DbError> {
    if !bearer.starts_with(PREFIX) || bearer.len() > 200 {
        return Ok(None);
    }
    let hash = sha256_hex(bearer.as_bytes());
    let Some(row) = db
        .run(move |conn| api_tokens::find_live_by_hash(conn, &hash))
        .await?
    else {
        return Ok(None);
    };
    let now = db::now();
    if row.last_used_at.is_none_or(|at| now - at > TOUCH_EVERY) {
        let id = row.id.clone();
        db.run(move |conn| api_tokens::touch(conn, &id, now)).await?;
    }
    Ok(OrgId::parse(&row.org_id).map(|org_id| ServiceClient {
        org_id,
        token_id: row.id,
        name: row.name,
    }))
}

pub async fn list(db: &Db, org: OrgId) -> Result<Vec<ApiTokenRow>, DbError> {
    let org = org.to_text();
    db.run(move |conn| api_tokens::list_for_org(conn, &org)).await
}

pub async fn revoke(db: &Db, org: OrgId, id: &str) -> Result<bool, DbError> {
    let (org, id) = (org.to_text(), id.to_owned());
    db.run(move |conn| api_tokens::revoke(conn, &org, &id, db::now()))
        .await
}
