//! The audit trail's storage: each organization's events in a hash chain (the hash is the
//! domain's, `AuditRecord::hash`), and the chain's head and anchor in `audit_chains`.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::native::native;

use super::schema::{audit_chains as c, audit_events as a, audit_seal_pending};
use super::{DbConnection, DbError, now, transaction};
use crate::domain::{
    Actor, AuditKind, AuditOutcome, AuditRecord, GENESIS_HASH, IntegrationId, OrgId, UserId,
};

pub struct NewAuditEvent<'a> {
    pub org_id: OrgId,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    pub actor: &'a Actor,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: &'a str,
    pub detail: &'a str,
}

impl<'a> NewAuditEvent<'a> {
    /// A succeeded event of the organization, about no integration.
    pub fn new(org_id: OrgId, kind: AuditKind, actor: &'a Actor, detail: &'a str) -> Self {
        NewAuditEvent {
            org_id,
            kind,
            outcome: AuditOutcome::Succeeded,
            actor,
            integration_id: None,
            provider_slug: "",
            detail,
        }
    }

    /// The same, failed unless `succeeded`.
    pub fn succeeded_if(self, succeeded: bool) -> Self {
        NewAuditEvent {
            outcome: if succeeded {
                AuditOutcome::Succeeded
            } else {
                AuditOutcome::Failed
            },
            ..self
        }
    }

    /// The same, about an integration of `provider_slug`.
    pub fn about(self, integration: IntegrationId, provider_slug: &'a str) -> Self {
        NewAuditEvent {
            integration_id: Some(integration),
            provider_slug,
            ..self
        }
    }
}

/// A stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = a)]
pub struct AuditEventRow {
    pub id: String,
    pub org_id: OrgId,
    pub seq: i64,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    pub actor: String,
    pub actor_user_id: Option<UserId>,
    pub integration_id: Option<IntegrationId>,
    pub provider_slug: String,
    pub source: Option<String>,
    pub detail: String,
    pub created_at: NaiveDateTime,
    pub prev_hash: Option<String>,
    pub hash: Option<String>,
}

impl AuditEventRow {
    /// What the row says, as hashed.
    pub fn record(&self) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            org: self.org_id,
            at: self.created_at,
            kind: self.kind,
            outcome: self.outcome,
            actor: self.actor.clone(),
            integration: self.integration_id,
            provider: self.provider_slug.clone(),
            source: self.source.clone(),
            detail: self.detail.clone(),
        }
    }
}

/// An organization's chain: its last event and its anchor (the last purged event).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = c)]
pub struct ChainRow {
    pub head_seq: i64,
    pub head_hash: String,
    pub head_at: Option<NaiveDateTime>,
    pub anchor_seq: i64,
    pub anchor_hash: String,
    pub anchor_at: Option<NaiveDateTime>,
}

/// Appends an event to its organization's chain (in the caller's transaction when there is
/// one). Taking the chain's head is an update of its row, which PostgreSQL locks until the
/// end of the transaction: two appends to one chain take turns and never share a `seq`.
pub fn append(conn: &mut DbConnection, event: &NewAuditEvent<'_>) -> Result<i64, DbError> {
    transaction(conn, |conn| {
        let (seq, prev_hash) = take_next_seq(conn, event.org_id)?;
        let record = AuditRecord {
            seq,
            org: event.org_id,
            at: now(),
            kind: event.kind,
            outcome: event.outcome,
            actor: event.actor.name.clone(),
            integration: event.integration_id,
            provider: event.provider_slug.to_owned(),
            source: event.actor.source.clone(),
            detail: event.detail.to_owned(),
        };
        let hash = record.hash(&prev_hash);
        diesel::insert_into(a::table)
            .values((
                a::id.eq(uuid::Uuid::new_v4().to_string()),
                a::org_id.eq(record.org),
                a::seq.eq(seq),
                a::kind.eq(record.kind),
                a::outcome.eq(record.outcome),
                a::actor.eq(&record.actor),
                a::actor_user_id.eq(event.actor.user_id),
                a::integration_id.eq(record.integration),
                a::provider_slug.eq(&record.provider),
                a::source.eq(&record.source),
                a::detail.eq(&record.detail),
                a::created_at.eq(record.at),
                a::prev_hash.eq(&prev_hash),
                a::hash.eq(&hash),
            ))
            .execute(conn)?;
        diesel::update(c::table.find(record.org))
            .set((c::head_hash.eq(&hash), c::head_at.eq(record.at)))
            .execute(conn)?;
        Ok(seq)
    })
}

/// The next `seq` of the organization's chain and the hash it follows; starts the chain at
/// its first event.
fn take_next_seq(conn: &mut DbConnection, org: OrgId) -> Result<(i64, String), DbError> {
    let advance = |conn: &mut DbConnection| {
        diesel::update(c::table.find(org))
            .set(c::head_seq.eq(c::head_seq + 1))
            .returning((c::head_seq, c::head_hash))
            .get_result::<(i64, String)>(conn)
            .optional()
    };
    if let Some(next) = advance(conn)? {
        return Ok(next);
    }
    let start = diesel::insert_into(c::table).values((
        c::org_id.eq(org),
        c::head_seq.eq(0_i64),
        c::head_hash.eq(GENESIS_HASH),
        c::anchor_seq.eq(0_i64),
        c::anchor_hash.eq(GENESIS_HASH),
    ));
    match conn {
        // A concurrent first append may start it too: then this one waits and follows it.
        DbConnection::Postgresql(conn) => start.on_conflict_do_nothing().execute(conn)?,
        // SQLite's writers take turns for the whole transaction.
        DbConnection::Sqlite(conn) => start.execute(conn)?,
    };
    advance(conn)?.ok_or_else(|| diesel::result::Error::NotFound.into())
}

/// The admin `user` as an actor (by the email the account has now).
pub fn admin_actor(conn: &mut DbConnection, user: UserId, source: Option<String>) -> Result<Actor, DbError> {
    use super::schema::users as u;
    let email: Option<String> = u::table.find(user).select(u::email).first(conn).optional()?;
    Ok(Actor {
        name: email.unwrap_or_else(|| "a removed admin".into()),
        user_id: Some(user),
        source,
    })
}

/// Hashes the events a migration moved here into their chains, once (the migration leaves a
/// row in `audit_seal_pending`; nothing is sealed after the fact without it). Returns how
/// many events it sealed.
pub fn seal_migrated(conn: &mut DbConnection) -> Result<usize, DbError> {
    // A read first: a database that takes no writes (a full disk, a read-only file) still
    // starts when there is nothing to seal.
    let pending: i64 = audit_seal_pending::table.count().get_result(conn)?;
    if pending == 0 {
        return Ok(0);
    }
    transaction(conn, |conn| {
        let pending = diesel::delete(audit_seal_pending::table).execute(conn)?;
        if pending == 0 {
            return Ok(0);
        }
        let rows: Vec<AuditEventRow> = a::table
            .filter(a::hash.is_null())
            .order((a::org_id, a::seq))
            .select(AuditEventRow::as_select())
            .load(conn)?;
        let mut sealed = 0;
        for chain in rows.chunk_by(|x, y| x.org_id == y.org_id) {
            let mut prev_hash = GENESIS_HASH.to_owned();
            for row in chain {
                let hash = row.record().hash(&prev_hash);
                diesel::update(a::table.find(&row.id))
                    .set((a::prev_hash.eq(&prev_hash), a::hash.eq(&hash)))
                    .execute(conn)?;
                prev_hash = hash;
                sealed += 1;
            }
            let last = chain.last().expect("a chunk is never empty");
            diesel::insert_into(c::table)
                .values((
                    c::org_id.eq(last.org_id),
                    c::head_seq.eq(last.seq),
                    c::head_hash.eq(&prev_hash),
                    c::head_at.eq(last.created_at),
                    c::anchor_seq.eq(0_i64),
                    c::anchor_hash.eq(GENESIS_HASH),
                ))
                .execute(conn)?;
        }
        Ok(sealed)
    })
}

/// The organizations with events created before `cutoff`.
pub fn orgs_with_events_before(
    conn: &mut DbConnection,
    cutoff: NaiveDateTime,
) -> Result<Vec<OrgId>, DbError> {
    Ok(a::table
        .filter(a::created_at.lt(cutoff))
        .select(a::org_id)
        .distinct()
        .load(conn)?)
}

/// Deletes the organization's oldest events created before `cutoff`, at most `batch`, and
/// makes the last one deleted the chain's anchor (its seq, hash and time), in one
/// transaction: what is left still checks out from the anchor. Returns (how many, the new
/// anchor's seq).
pub fn purge_before(
    conn: &mut DbConnection,
    org: OrgId,
    cutoff: NaiveDateTime,
    batch: i64,
) -> Result<(usize, i64), DbError> {
    transaction(conn, |conn| {
        let oldest: Vec<(i64, Option<String>, NaiveDateTime)> = a::table
            .filter(a::org_id.eq(org))
            .filter(a::created_at.lt(cutoff))
            .order(a::seq)
            .limit(batch)
            .select((a::seq, a::hash, a::created_at))
            .load(conn)?;
        let Some((last_seq, Some(last_hash), last_at)) = oldest.last().cloned() else {
            return Ok((0, 0));
        };
        let purged =
            diesel::delete(a::table.filter(a::org_id.eq(org)).filter(a::seq.le(last_seq))).execute(conn)?;
        diesel::update(c::table.find(org))
            .set((
                c::anchor_seq.eq(last_seq),
                c::anchor_hash.eq(&last_hash),
                c::anchor_at.eq(last_at),
            ))
            .execute(conn)?;
        Ok((purged, last_seq))
    })
}

/// The organization's chain, if it has one.
pub fn chain(conn: &mut DbConnection, org: OrgId) -> Result<Option<ChainRow>, DbError> {
    Ok(native!(conn => c::table
        .find(org)
        .select(ChainRow::as_select())
        .first(conn)
        .optional())?)
}

/// The organizations that have a chain.
pub fn chained_orgs(conn: &mut DbConnection) -> Result<Vec<OrgId>, DbError> {
    Ok(c::table.select(c::org_id).order(c::org_id).load(conn)?)
}

/// Up to `limit` of the organization's events after `after_seq`, in chain order.
pub fn events_after(
    conn: &mut DbConnection,
    org: OrgId,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditEventRow>, DbError> {
    Ok(native!(conn => a::table
        .filter(a::org_id.eq(org))
        .filter(a::seq.gt(after_seq))
        .order(a::seq)
        .limit(limit)
        .select(AuditEventRow::as_select())
        .load(conn))?)
}

/// What the audit page is filtered by (empty = any).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub kind: Option<AuditKind>,
    pub integration_id: Option<IntegrationId>,
    pub provider: Option<String>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

/// The organization's events that match `filter`, boxed for the backend the caller's
/// connection names (see `native!`).
macro_rules! filtered {
    ($org:expr, $filter:expr) => {{
        let (org, filter): (OrgId, &AuditFilter) = ($org, $filter);
        let mut query = a::table.filter(a::org_id.eq(org)).into_boxed();
        if let Some(actor) = &filter.actor {
            query = query.filter(a::actor.eq(actor));
        }
        if let Some(kind) = filter.kind {
            query = query.filter(a::kind.eq(kind));
        }
        if let Some(id) = filter.integration_id {
            query = query.filter(a::integration_id.eq(id));
        }
        if let Some(provider) = &filter.provider {
            query = query.filter(a::provider_slug.eq(provider));
        }
        if let Some(from) = filter.from {
            query = query.filter(a::created_at.ge(from));
        }
        if let Some(to) = filter.to {
            query = query.filter(a::created_at.lt(to));
        }
        query
    }};
}

/// A page of the organization's events, newest first, and how many match in all.
pub fn page_for_org(
    conn: &mut DbConnection,
    org: OrgId,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<(Vec<AuditEventRow>, i64), DbError> {
    let events = list_for_org(conn, org, filter, offset, limit)?;
    let total = match super::sync_logs::counted_by_page(offset, limit, events.len()) {
        Some(total) => total,
        None => native!(conn => filtered!(org, filter).count().get_result(conn))?,
    };
    Ok((events, total))
}

/// The organization's events matching `filter`, newest first, `limit` from `offset`.
pub fn list_for_org(
    conn: &mut DbConnection,
    org: OrgId,
    filter: &AuditFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<AuditEventRow>, DbError> {
    Ok(native!(conn => filtered!(org, filter)
        .order(a::seq.desc())
        .offset(offset)
        .limit(limit)
        .select(AuditEventRow::as_select())
        .load(conn))?)
}

/// The actors of the organization's events, for the page's filter.
pub fn actors(conn: &mut DbConnection, org: OrgId) -> Result<Vec<String>, DbError> {
    Ok(native!(conn => a::table
        .filter(a::org_id.eq(org))
        .select(a::actor)
        .distinct()
        .order(a::actor)
        .load(conn))?)
}
