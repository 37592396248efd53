//! The provider catalogue table: seeding (idempotent, updates changed rows) and reading.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::integration_providers as p;
use super::{DbConnection, DbError, now};
use crate::providers::catalogue::ProviderDef;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = p)]
pub struct ProviderRow {
    pub slug: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub brand_color: String,
    pub auth_kind: String,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke_url: Option<String>,
    pub identity_url: Option<String>,
    pub issuer: Option<String>,
    pub jwks_url: Option<String>,
    pub api_base_url: String,
    pub default_scopes: String,
    pub scope_separator: String,
    pub pkce: bool,
    pub token_auth_method: String,
    pub extra_auth_params: String,
    pub webhook_kind: String,
    pub docs_url: String,
    pub position: i32,
    pub builtin: bool,
    pub enabled: bool,
    pub updated_at: NaiveDateTime,
}

/// The catalogue columns that seeding owns, read back to tell whether a row changed.
#[derive(Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = p, treat_none_as_null = true)]
struct ProviderValues {
    name: String,
    category: String,
    description: String,
    brand_color: String,
    auth_kind: String,
    authorize_url: String,
    token_url: String,
    revoke_url: Option<String>,
    identity_url: Option<String>,
    issuer: Option<String>,
    jwks_url: Option<String>,
    api_base_url: String,
    default_scopes: String,
    scope_separator: String,
    pkce: bool,
    token_auth_method: String,
    extra_auth_params: String,
    webhook_kind: String,
    docs_url: String,
    position: i32,
    enabled: bool,
}

impl ProviderValues {
    fn from_def(def: &ProviderDef, position: usize) -> Self {
        ProviderValues {
            name: def.name.clone(),
            category: def.category.clone(),
            description: def.description.clone(),
            brand_color: def.brand_color.clone(),
            auth_kind: def.auth_kind.as_str().to_owned(),
            authorize_url: def.authorize_url.clone(),
            token_url: def.token_url.clone(),
            revoke_url: def.revoke_url.clone(),
            identity_url: def.identity_url.clone(),
            issuer: def.issuer.clone(),
            jwks_url: def.jwks_url.clone(),
            api_base_url: def.api_base_url.clone(),
            // Scope tokens never contain a space (RFC 6749 §3.3), so a space joins them.
            default_scopes: def.default_scopes.join(" "),
            scope_separator: def.scope_separator.clone(),
            pkce: def.pkce,
            token_auth_method: def.token_auth_method.as_str().to_owned(),
            extra_auth_params: serde_json::to_string(&def.extra_auth_params)
                .expect("string pairs always serialise"),
            webhook_kind: def.webhook_kind.as_str().to_owned(),
            docs_url: def.docs_url.clone(),
            position: i32::try_from(position).unwrap_or(i32::MAX),
            enabled: true,
        }
    }
}

/// Inserts or updates every provider of `defs` (in their order) and disables catalogue rows
/// that are no longer defined (they stay for the integrations that reference them).
/// Returns how many rows were inserted or changed, so a second run reports 0.
pub fn seed(conn: &mut DbConnection, defs: &[ProviderDef]) -> Result<usize, DbError> {
    conn.transaction(|conn| {
        let mut changed = 0;
        for (position, def) in defs.iter().enumerate() {
            let values = ProviderValues::from_def(def, position);
            let existing = p::table
                .find(&def.slug)
                .select(ProviderValues::as_select())
                .first(conn)
                .optional()?;
            match existing {
                None => {
                    diesel::insert_into(p::table)
                        .values((
                            p::slug.eq(&def.slug),
                            &values,
                            p::builtin.eq(true),
                            p::updated_at.eq(now()),
                        ))
                        .execute(conn)?;
                    changed += 1;
                }
                Some(current) if current != values => {
                    diesel::update(p::table.find(&def.slug))
                        .set((&values, p::updated_at.eq(now())))
                        .execute(conn)?;
                    changed += 1;
                }
                Some(_) => {}
            }
        }
        // Writes only what changed, so that an instance starts on a database it may only read.
        let slugs: Vec<&str> = defs.iter().map(|d| d.slug.as_str()).collect();
        let gone: Vec<String> = p::table
            .filter(p::slug.ne_all(&slugs))
            .filter(p::enabled.eq(true))
            .select(p::slug)
            .load(conn)?;
        if !gone.is_empty() {
            changed += diesel::update(p::table.filter(p::slug.eq_any(&gone)))
                .set((p::enabled.eq(false), p::updated_at.eq(now())))
                .execute(conn)?;
        }
        Ok(changed)
    })
}

/// The enabled providers in display order.
pub fn list_enabled(conn: &mut DbConnection) -> Result<Vec<ProviderRow>, DbError> {
    Ok(p::table
        .filter(p::enabled.eq(true))
        .order((p::position.asc(), p::slug.asc()))
        .select(ProviderRow::as_select())
        .load(conn)?)
}
