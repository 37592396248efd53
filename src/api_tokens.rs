//! Service tokens: created by an admin (or an operator), shown once, stored as a hash,
//! scoped to one organization and optionally to chosen integrations of it, revocable.

use std::collections::HashMap;

use crate::context::AppContext;
use crate::crypto::{random_token, sha256_hex};
use crate::db::api_tokens::{self, ApiTokenRow};
use crate::db::audit::{self, NewAuditEvent};
use crate::db::{self, Db, DbError, integrations};
use crate::domain::{Actor, AuditKind, IntegrationId, IntegrationStatus, LogKind, LogStatus, OrgId};

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
    /// `Some`: the only integrations this token may use; `None`: all of the organization's.
    pub integrations: Option<Vec<IntegrationId>>,
}

impl ServiceClient {
    /// Whether this token may act on the integration (of its organization: checked apart).
    pub fn may_use(&self, integration_id: IntegrationId) -> bool {
        self.integrations
            .as_ref()
            .is_none_or(|ids| ids.contains(&integration_id))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateTokenError {
    /// A chosen integration is not a live one of the organization.
    #[error("no such integration in this organization")]
    UnknownIntegration,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// An integration a token can be limited to, as the admin recognises it.
#[derive(Debug, Clone)]
pub struct IntegrationChoice {
    pub id: IntegrationId,
    pub label: String,
}

/// A token as the list shows it.
pub struct TokenListing {
    pub row: ApiTokenRow,
    /// For a restricted token, the integrations it may use.
    pub integrations: Option<Vec<IntegrationChoice>>,
}

/// Creates a token, limited to `limit_to` when that is not empty; returns its row and the
/// token itself (to show once).
pub async fn create(
    db: &Db,
    org: OrgId,
    name: &str,
    actor: &Actor,
    limit_to: &[IntegrationId],
) -> Result<(ApiTokenRow, String), CreateTokenError> {
    let token = format!("{PREFIX}{}", random_token(32));
    let row = ApiTokenRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: org,
        name: crate::domain::sanitize(name.trim(), 100),
        token_hash: sha256_hex(token.as_bytes()),
        token_prefix: token.chars().take(PREFIX.len() + 6).collect(),
        created_by: actor.user_id,
        created_at: db::now(),
        last_used_at: None,
        revoked_at: None,
        restricted: !limit_to.is_empty(),
    };
    let stored = row.clone();
    let chosen = limit_to.to_vec();
    let actor = actor.clone();
    let created = db
        .run(move |conn| {
            for id in &chosen {
                let live = integrations::find_for_org(conn, stored.org_id, *id)?
                    .is_some_and(|r| r.status != IntegrationStatus::Disconnected);
                if !live {
                    return Ok(false);
                }
            }
            db::transaction(conn, |conn| {
                api_tokens::insert(conn, &stored, &chosen)?;
                let scope = match chosen.len() {
                    0 => "every integration".to_owned(),
                    n => format!("{n} integration(s)"),
                };
                let detail = format!(
                    "Service token \"{}\" ({}…) created for {scope}",
                    stored.name, stored.token_prefix
                );
                audit::append(
                    conn,
                    &NewAuditEvent::new(stored.org_id, AuditKind::ServiceToken, &actor, &detail),
                )?;
                Ok(true)
            })
        })
        .await?;
    if !created {
        return Err(CreateTokenError::UnknownIntegration);
    }
    Ok((row, token))
}

/// The client a bearer token belongs to, if it is a live token.
pub async fn authenticate(db: &Db, bearer: &str) -> Result<Option<ServiceClient>, DbError> {
    if !bearer.starts_with(PREFIX) || bearer.len() > 200 {
        return Ok(None);
    }
    let hash = sha256_hex(bearer.as_bytes());
    let Some((row, integrations)) = db
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
    Ok(Some(ServiceClient {
        org_id: row.org_id,
        token_id: row.id,
        name: row.name,
        integrations,
    }))
}

/// The organization's tokens and its integrations that a new token can be limited to.
pub async fn list(
    ctx: &AppContext,
    org: OrgId,
) -> Result<(Vec<TokenListing>, Vec<IntegrationChoice>), DbError> {
    let (rows, allowed, all) = ctx
        .db
        .run(move |conn| {
            Ok((
                api_tokens::list_for_org(conn, org)?,
                api_tokens::allowed_for_org(conn, org)?,
                integrations::all_for_org(conn, org)?,
            ))
        })
        .await?;
    let label = |row: &integrations::IntegrationRow| {
        let provider = ctx
            .catalogue
            .get(&row.provider_slug)
            .map_or(row.provider_slug.as_str(), |p| p.def.name.as_str());
        format!("{provider} — {}", row.external_account_name)
    };
    let labels: HashMap<IntegrationId, String> = all.iter().map(|(row, _)| (row.id, label(row))).collect();
    let choices = all
        .iter()
        .filter(|(row, _)| row.status != IntegrationStatus::Disconnected)
        .map(|(row, _)| IntegrationChoice {
            id: row.id,
            label: label(row),
        })
        .collect();
    let tokens = rows
        .into_iter()
        .map(|row| {
            let integrations = row.restricted.then(|| {
                allowed
                    .iter()
                    .filter(|(token, _)| *token == row.id)
                    .map(|&(_, id)| IntegrationChoice {
                        id,
                        label: labels.get(&id).cloned().unwrap_or_else(|| id.to_text()),
                    })
                    .collect()
            });
            TokenListing { row, integrations }
        })
        .collect();
    Ok((tokens, choices))
}

pub async fn revoke(db: &Db, actor: &Actor, org: OrgId, id: &str) -> Result<bool, DbError> {
    let (id, actor) = (id.to_owned(), actor.clone());
    db.run(move |conn| {
        db::transaction(conn, |conn| {
            if !api_tokens::revoke(conn, org, &id, db::now())? {
                return Ok(false);
            }
            let detail = format!("Service token {id} revoked");
            audit::append(
                conn,
                &NewAuditEvent::new(org, AuditKind::ServiceToken, &actor, &detail),
            )?;
            Ok(true)
        })
    })
    .await
}

/// The integrations this client may see: its organization's live ones (only those it is
/// limited to, if it is).
pub async fn visible_integrations(
    db: &Db,
    client: &ServiceClient,
) -> Result<Vec<integrations::IntegrationRow>, DbError> {
    let org = client.org_id;
    let rows = db.run(move |conn| integrations::all_for_org(conn, org)).await?;
    Ok(rows
        .into_iter()
        .map(|(row, _)| row)
        .filter(|row| row.status != IntegrationStatus::Disconnected && client.may_use(row.id))
        .collect())
}

/// Writes a call of the internal API to the audit log: what was asked, by which token, of
/// which integration (and provider), how it ended (an HTTP status, or why it failed) and how
/// long it took.
pub async fn record_call(
    db: &Db,
    client: &ServiceClient,
    integration: Option<(IntegrationId, &str)>,
    what: &str,
    outcome: &Result<u16, String>,
    duration_ms: i64,
) -> Result<(), DbError> {
    use crate::db::sync_logs::{self, NewSyncLog};
    let org = client.org_id;
    let (integration_id, provider) = integration
        .map(|(i, p)| (Some(i), p.to_owned()))
        .unwrap_or((None, "api".into()));
    let (ok, error) = match outcome {
        Ok(code) => (*code < 400, (*code >= 400).then(|| format!("HTTP {code}"))),
        Err(e) => (false, Some(e.clone())),
    };
    let message = format!("{what} (service token \"{}\")", client.name);
    let token = client.token_id.clone();
    db.run(move |conn| {
        api_tokens::count_call(conn, &token, !ok)?;
        sync_logs::append(
            conn,
            &NewSyncLog {
                org_id: org,
                integration_id,
                provider_slug: &provider,
                kind: LogKind::ApiCall,
                status: if ok {
                    LogStatus::Succeeded
                } else {
                    LogStatus::Failed
                },
                message: &message,
                error: error.as_deref(),
                actor_user_id: None,
                duration_ms: Some(duration_ms),
            },
        )
        .map(drop)
    })
    .await
}

/// How often a used token's use is summarized in its organization's audit trail.
pub const USE_SUMMARY_EVERY: chrono::Duration = chrono::Duration::hours(24);

/// Writes the due use summaries: per token called since its last one (at least a day ago), an
/// audit event by the token saying how many calls, how many failed, since when. Returns how
/// many it wrote.
pub async fn summarize_use(db: &Db, now: chrono::NaiveDateTime, batch: i64) -> Result<usize, DbError> {
    db.run(move |conn| {
        let due = api_tokens::due_use_summaries(conn, now, USE_SUMMARY_EVERY, batch)?;
        for token in &due {
            let (calls, failures) = (token.calls, token.failures);
            db::transaction(conn, |conn| {
                api_tokens::mark_summarized(conn, &token.id, calls, failures, now)?;
                let actor = Actor {
                    name: format!("service token \"{}\"", token.name),
                    user_id: None,
                    source: None,
                };
                let detail = format!(
                    "Used {calls} time(s) since {} ({failures} failed); each call is in the activity log",
                    crate::domain::format_time(token.since)
                );
                audit::append(
                    conn,
                    &NewAuditEvent::new(token.org_id, AuditKind::ServiceToken, &actor, &detail),
                )
                .map(drop)
            })?;
        }
        Ok(due.len())
    })
    .await
}
