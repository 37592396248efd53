//! Webhook endpoints and channels: how deliveries are routed and verified, and their counters.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::integration_webhooks as w;
use super::{DbConnection, DbError};
use crate::domain::{IntegrationId, OrgId, WebhookStatus};
use crate::providers::catalogue::SLACK;

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = w)]
pub struct WebhookRow {
    pub id: String,
    pub org_id: OrgId,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: String,
    /// Google: the channel id; Slack: the team id; others: the row id (in the URL).
    pub external_id: String,
    pub resource_id: Option<String>,
    pub key_id: Option<String>,
    /// Sealed signing secret, channel token or clientState.
    pub secret: Option<Vec<u8>>,
    pub status: WebhookStatus,
    pub expires_at: Option<NaiveDateTime>,
    pub received_count: i64,
    pub rejected_count: i64,
    pub last_event_at: Option<NaiveDateTime>,
    pub rate_limit_per_minute: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Google channels: "calendar" or "drive".
    pub channel_kind: Option<String>,
    /// Deliveries acknowledged but not stored because the row was stopped.
    pub dropped_count: i64,
    /// Asana, Notion: when the first-use handshake window opened (created or reset).
    pub handshake_opened_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow")
            .field("id", &self.id)
            .field("provider_slug", &self.provider_slug)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

pub fn insert(conn: &mut DbConnection, row: &WebhookRow) -> Result<(), DbError> {
    diesel::insert_into(w::table).values(row).execute(conn)?;
    Ok(())
}

pub fn find_by_external_id(
    conn: &mut DbConnection,
    provider: &str,
    external_id: &str,
) -> Result<Option<WebhookRow>, DbError> {
    Ok(w::table
        .filter(w::provider_slug.eq(provider))
        .filter(w::external_id.eq(external_id))
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_id(conn: &mut DbConnection, id: &str) -> Result<Option<WebhookRow>, DbError> {
    Ok(w::table
        .find(id)
        .select(WebhookRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn list_for_integration(
    conn: &mut DbConnection,
    org_id: OrgId,
    integration_id: IntegrationId,
) -> Result<Vec<WebhookRow>, DbError> {
    Ok(native!(conn => w::table
        .filter(w::org_id.eq(org_id))
        .filter(w::integration_id.eq(integration_id))
        .order(w::created_at.asc())
        .select(WebhookRow::as_select())
        .load(conn))?)
}

/// Stores a secret learned in a handshake (Asana, Notion), only if none is set yet and the
/// handshake window opened after `opened_after`.
pub fn set_secret_once(
    conn: &mut DbConnection,
    id: &str,
    key_id: &str,
    sealed: &[u8],
    opened_after: NaiveDateTime,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        w::table
            .filter(w::id.eq(id))
            .filter(w::secret.is_null())
            .filter(w::status.eq(WebhookStatus::Active))
            .filter(w::handshake_opened_at.gt(opened_after)),
    )
    .set((w::secret.eq(sealed), w::key_id.eq(key_id), w::updated_at.eq(at)))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Forgets a handshake's secret and opens a new window (an admin's reset). `false` when the
/// organization's integration has no such active endpoint.
pub fn reset_handshake(
    conn: &mut DbConnection,
    org_id: OrgId,
    integration_id: IntegrationId,
    id: &str,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let updated = diesel::update(
        w::table
            .filter(w::id.eq(id))
            .filter(w::org_id.eq(org_id))
            .filter(w::integration_id.eq(integration_id))
            .filter(w::status.eq(WebhookStatus::Active)),
    )
    .set((
        w::secret.eq(None::<Vec<u8>>),
        w::key_id.eq(None::<String>),
        w::handshake_opened_at.eq(at),
        w::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Counts events stored on a webhook row, if the row still takes events for that integration;
/// `false` when it was stopped or re-bound meanwhile. The update locks the row until commit:
/// a disconnect (which stops the row in its own transaction) either committed before, and
/// this finds the row stopped, or waits for our commit.
pub fn count_received_if_live(
    conn: &mut DbConnection,
    id: &str,
    integration_id: Option<IntegrationId>,
    events: i64,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let live = w::table.find(id).filter(w::status.ne(WebhookStatus::Stopped));
    let set = (
        w::received_count.eq(w::received_count + events),
        w::last_event_at.eq(at),
    );
    let updated = match integration_id {
        Some(integration) => native!(conn => diesel::update(live.filter(w::integration_id.eq(integration)))
            .set(set)
            .execute(conn))?,
        None => native!(conn => diesel::update(live.filter(w::integration_id.is_null()))
            .set(set)
            .execute(conn))?,
    };
    Ok(updated == 1)
}

/// Adds deliveries counted in memory (refused, and acknowledged without storing).
pub fn add_counts(conn: &mut DbConnection, id: &str, rejected: i64, dropped: i64) -> Result<(), DbError> {
    diesel::update(w::table.find(id))
        .set((
            w::rejected_count.eq(w::rejected_count + rejected),
            w::dropped_count.eq(w::dropped_count + dropped),
        ))
        .execute(conn)?;
    Ok(())
}

/// Active channels of `provider` expiring before `before`.
pub fn expiring(
    conn: &mut DbConnection,
    provider: &str,
    before: NaiveDateTime,
    limit: i64,
) -> Result<Vec<WebhookRow>, DbError> {
    Ok(w::table
        .filter(w::provider_slug.eq(provider))
        .filter(w::status.eq(WebhookStatus::Active))
        .filter(w::expires_at.lt(before))
        .limit(limit)
        .select(WebhookRow::as_select())
        .load(conn)?)
}

/// Moves a row from one status to another; `false` when it was not in `from` (another
/// instance took it).
pub fn transition(
    conn: &mut DbConnection,
    id: &str,
    from: WebhookStatus,
    to: WebhookStatus,
    at: NaiveDateTime,
) -> Result<bool, DbError> {
    let updated = diesel::update(w::table.filter(w::id.eq(id)).filter(w::status.eq(from)))
        .set((w::status.eq(to), w::updated_at.eq(at)))
        .execute(conn)?;
    Ok(updated == 1)
}

/// (id, sealed secret) of the webhooks after `after` in id order (key rotation and checks).
pub fn sealed_after(
    conn: &mut DbConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    Ok(w::table
        .filter(w::secret.is_not_null())
        .filter(w::id.gt(after))
        .order(w::id.asc())
        .select((w::id, w::secret.assume_not_null()))
        .limit(limit)
        .load(conn)?)
}

pub fn reseal(
    conn: &mut DbConnection,
    id: &str,
    old: &[u8],
    new: &[u8],
    key_id: &str,
) -> Result<bool, DbError> {
    let updated = diesel::update(w::table.filter(w::id.eq(id)).filter(w::secret.eq(old)))
        .set((w::secret.eq(new), w::key_id.eq(key_id)))
        .execute(conn)?;
    Ok(updated == 1)
}

pub fn list_for_org(conn: &mut DbConnection, org_id: OrgId) -> Result<Vec<WebhookRow>, DbError> {
    Ok(w::table
        .filter(w::org_id.eq(org_id))
        .order(w::created_at.asc())
        .select(WebhookRow::as_select())
        .load(conn)?)
}

/// The Slack route of a workspace to one integration, as a connect binds it.
pub struct SlackRoute<'a> {
    pub org_id: OrgId,
    pub integration_id: IntegrationId,
    pub team_id: &'a str,
    pub rate_limit_per_minute: i32,
    pub at: NaiveDateTime,
}

/// Routes the workspace's events to this integration. `false` (nothing written) when another
/// organization's live integration holds the route.
pub fn bind_slack_route(conn: &mut DbConnection, route: &SlackRoute<'_>) -> Result<bool, DbError> {
    let existing = find_by_external_id(conn, SLACK, route.team_id)?;
    if let Some(row) = &existing {
        if row.status != WebhookStatus::Stopped && row.org_id != route.org_id {
            return Ok(false);
        }
        if row.integration_id == Some(route.integration_id) {
            diesel::update(w::table.find(&row.id))
                .set((w::status.eq(WebhookStatus::Active), w::updated_at.eq(route.at)))
                .execute(conn)?;
            return Ok(true);
        }
        // Another integration's old route: a new row, so its counters and any cached copy
        // of it stay with the old integration.
        diesel::delete(w::table.find(&row.id)).execute(conn)?;
    }
    let row = WebhookRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: route.org_id.to_owned(),
        integration_id: Some(route.integration_id.to_owned()),
        provider_slug: SLACK.into(),
        external_id: route.team_id.to_owned(),
        resource_id: None,
        key_id: None,
        secret: None,
        status: WebhookStatus::Active,
        expires_at: None,
        received_count: 0,
        rejected_count: 0,
        last_event_at: None,
        rate_limit_per_minute: route.rate_limit_per_minute,
        created_at: route.at,
        updated_at: route.at,
        channel_kind: None,
        dropped_count: 0,
        handshake_opened_at: None,
    };
    match insert(conn, &row) {
        Ok(()) => Ok(true),
        // Another organization bound it at the same moment.
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Stops every endpoint, channel and route of an integration (disconnect): later deliveries
/// are acknowledged and counted, never stored.
pub fn stop_for_integration(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
    at: NaiveDateTime,
) -> Result<usize, DbError> {
    Ok(diesel::update(
        w::table
            .filter(w::integration_id.eq(integration_id))
            .filter(w::status.ne(WebhookStatus::Stopped)),
    )
    .set((w::status.eq(WebhookStatus::Stopped), w::updated_at.eq(at)))
    .execute(conn)?)
}

/// Erasure: the Slack route goes (its key is the erased workspace's id); the other rows stay
/// stopped, without secret or provider resource id, so late deliveries are still counted.
pub fn scrub_for_integration(
    conn: &mut DbConnection,
    integration_id: IntegrationId,
    at: NaiveDateTime,
) -> Result<(), DbError> {
    diesel::delete(
        w::table
            .filter(w::integration_id.eq(integration_id))
            .filter(w::provider_slug.eq(SLACK)),
    )
    .execute(conn)?;
    diesel::update(w::table.filter(w::integration_id.eq(integration_id)))
        .set((
            w::status.eq(WebhookStatus::Stopped),
            w::secret.eq(None::<Vec<u8>>),
            w::key_id.eq(None::<String>),
            w::resource_id.eq(None::<String>),
            w::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Of these rows, the (id, integration) pairs that still take events: the row is not stopped
/// and its integration is not disconnected (or erased). A plain read: the storing transaction
/// confirms each row with `count_received_if_live`, which locks it.
pub fn live_targets(
    conn: &mut DbConnection,
    ids: &[&str],
) -> Result<std::collections::HashSet<(String, Option<IntegrationId>)>, DbError> {
    use super::schema::integrations as i;
    let live = w::table
        .inner_join(i::table)
        .filter(w::status.ne(WebhookStatus::Stopped))
        .filter(i::status.ne(crate::domain::IntegrationStatus::Disconnected))
        .select((w::id, w::integration_id));
    let distinct: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    let rows: Vec<(String, Option<IntegrationId>)> = match conn {
        DbConnection::Postgresql(conn) => live.filter(w::id.eq_any(distinct)).load(conn)?,
        // An `IN (…)` list is prepared again at each use on SQLite: one cached lookup per
        // webhook instead (a batch's events mostly share a few).
        DbConnection::Sqlite(conn) => {
            let mut rows = Vec::with_capacity(distinct.len());
            for id in distinct {
                rows.extend(live.filter(w::id.eq(id)).load(conn)?);
            }
            rows
        }
    };
    Ok(rows.into_iter().collect())
}
