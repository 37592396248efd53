//! The audit trail: who did what, kept apart from the operational log. Its page, its CSV and
//! JSON Lines exports, and the check of each organization's hash chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::context::AppContext;
pub use crate::db::audit::AuditFilter;
use crate::db::audit::{self, AuditEventRow};
use crate::db::{DbConnection, DbError};
use crate::domain::{AuditRecord, OrgId, format_time};

/// Events a page of the audit trail shows.
pub const AUDIT_PAGE_SIZE: i64 = 25;
/// Events per export at most.
pub const EXPORT_LIMIT: i64 = 100_000;
/// Events read at once while checking a chain.
const VERIFY_BATCH: i64 = 1_000;

pub struct AuditPage {
    pub events: Vec<AuditEventRow>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
    /// The actors of the organization's events, for the filter.
    pub actors: Vec<String>,
    pub check: ChainCheck,
}

/// What checking a chain found.
#[derive(Debug, Clone, PartialEq)]
pub enum ChainCheck {
    /// No event yet.
    Empty,
    /// Every event from the anchor on is where it should be, up to the head.
    Verified { events: i64, up_to: NaiveDateTime },
    /// The first event (by `seq`) that is not what the chain says, and why.
    Broken { seq: i64, reason: String },
}

/// How long a page trusts its last check of a chain's older events: past this, it checks the
/// whole chain again (a change to an old event shows within this time; `audit verify`
/// always checks it all).
const FULL_RECHECK: std::time::Duration = std::time::Duration::from_secs(600);

/// What the audit page last verified of each organization's chain, so that a page checks
/// only the events added since (and the whole chain every FULL_RECHECK): a page costs the
/// same with ten events or a million.
#[derive(Clone, Default)]
pub struct ChainChecks(Arc<Mutex<HashMap<OrgId, Checkpoint>>>);

/// A chain verified from its anchor up to `seq`, whose hash is `hash`.
#[derive(Clone)]
struct Checkpoint {
    anchor_seq: i64,
    seq: i64,
    hash: String,
    up_to: NaiveDateTime,
    full_at: Instant,
}

impl ChainChecks {
    fn get(&self, org: OrgId) -> Option<Checkpoint> {
        let checks = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        checks
            .get(&org)
            .filter(|c| c.full_at.elapsed() < FULL_RECHECK)
            .cloned()
    }

    fn put(&self, org: OrgId, checkpoint: Option<Checkpoint>) {
        let mut checks = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match checkpoint {
            Some(checkpoint) => checks.insert(org, checkpoint),
            None => checks.remove(&org),
        };
    }
}

/// A page (from 1) of the organization's audit trail, with the check of its chain: one trip.
pub fn load_audit_page(
    conn: &mut DbConnection,
    org: OrgId,
    filter: AuditFilter,
    page: i64,
    checks: &ChainChecks,
) -> Result<AuditPage, DbError> {
    let page = page.max(1);
    let offset = (page - 1).saturating_mul(AUDIT_PAGE_SIZE);
    let (events, total) = audit::page_for_org(conn, org, &filter, offset, AUDIT_PAGE_SIZE)?;
    Ok(AuditPage {
        events,
        total,
        page,
        pages: (total.max(0) as u64).div_ceil(AUDIT_PAGE_SIZE as u64).max(1) as i64,
        actors: audit::actors(conn, org)?,
        check: verify_since_last_check(conn, org, checks)?,
    })
}

/// Checks the events added since the last check of the chain (all of it when there was none
/// lately, or when the anchor moved past it).
fn verify_since_last_check(
    conn: &mut DbConnection,
    org: OrgId,
    checks: &ChainChecks,
) -> Result<ChainCheck, DbError> {
    let Some(chain) = audit::chain(conn, org)? else {
        return verify_chain(conn, org);
    };
    let last = checks.get(org).filter(|c| c.anchor_seq == chain.anchor_seq);
    let (start, full_at) = match &last {
        Some(c) => ((c.seq, c.hash.clone(), Some(c.up_to)), c.full_at),
        None => (
            (chain.anchor_seq, chain.anchor_hash.clone(), chain.anchor_at),
            Instant::now(),
        ),
    };
    let (check, reached) = verify_from(conn, org, &chain, start)?;
    checks.put(
        org,
        reached.map(|(seq, hash, up_to)| Checkpoint {
            anchor_seq: chain.anchor_seq,
            seq,
            hash,
            up_to,
            full_at,
        }),
    );
    Ok(check)
}

/// Recomputes the organization's chain from its anchor: a changed event breaks its hash, a
/// deleted one leaves a gap in `seq`, an inserted one a hash or a head that does not match.
pub fn verify_chain(conn: &mut DbConnection, org: OrgId) -> Result<ChainCheck, DbError> {
    let Some(chain) = audit::chain(conn, org)? else {
        return Ok(match audit::events_after(conn, org, 0, 1)?.first() {
            None => ChainCheck::Empty,
            Some(stray) => ChainCheck::Broken {
                seq: stray.seq,
                reason: "an event outside any chain".into(),
            },
        });
    };
    let start = (chain.anchor_seq, chain.anchor_hash.clone(), chain.anchor_at);
    Ok(verify_from(conn, org, &chain, start)?.0)
}

/// The last event a check verified: its seq, hash and time.
type LastVerified = (i64, String, NaiveDateTime);

/// Checks the chain from `(seq, hash, time)` (its anchor, or an event verified before) to its
/// head; with the check, the last event verified when the chain checks out.
fn verify_from(
    conn: &mut DbConnection,
    org: OrgId,
    chain: &audit::ChainRow,
    (mut seq, mut prev_hash, mut up_to): (i64, String, Option<NaiveDateTime>),
) -> Result<(ChainCheck, Option<LastVerified>), DbError> {
    let broken = |seq: i64, reason: &str| {
        Ok((
            ChainCheck::Broken {
                seq,
                reason: reason.to_owned(),
            },
            None,
        ))
    };
    loop {
        let batch = audit::events_after(conn, org, seq, VERIFY_BATCH)?;
        for row in &batch {
            if row.seq != seq + 1 {
                return broken(seq + 1, "missing: the next event was deleted");
            }
            if row.prev_hash.as_deref() != Some(prev_hash.as_str()) {
                return broken(seq + 1, "it does not follow the event before it");
            }
            let hash = row.record().hash(&prev_hash);
            if row.hash.as_deref() != Some(hash.as_str()) {
                return broken(seq + 1, "its content was changed");
            }
            (seq, prev_hash, up_to) = (row.seq, hash, Some(row.created_at));
        }
        if (batch.len() as i64) < VERIFY_BATCH {
            break;
        }
    }
    match seq.cmp(&chain.head_seq) {
        std::cmp::Ordering::Less => return broken(seq + 1, "missing: the last events were deleted"),
        std::cmp::Ordering::Greater => {
            return broken(chain.head_seq + 1, "added after the last event the app wrote");
        }
        std::cmp::Ordering::Equal if prev_hash != chain.head_hash => {
            return broken(seq, "it is not the last event the app wrote");
        }
        std::cmp::Ordering::Equal => {}
    }
    Ok(match up_to {
        Some(at) => (
            ChainCheck::Verified {
                events: seq - chain.anchor_seq,
                up_to: at,
            },
            Some((seq, prev_hash, at)),
        ),
        None => (ChainCheck::Empty, None),
    })
}

/// Every organization's chain checked (the `audit verify` command).
pub async fn verify_all(ctx: &AppContext, only: Option<OrgId>) -> Result<Vec<(OrgId, ChainCheck)>, DbError> {
    ctx.db
        .run(move |conn| {
            let orgs = match only {
                Some(org) => vec![org],
                None => audit::chained_orgs(conn)?,
            };
            orgs.into_iter()
                .map(|org| Ok((org, verify_chain(conn, org)?)))
                .collect()
        })
        .await
}

/// An exported event: what is hashed, and the hashes.
#[derive(Serialize)]
struct ExportLine<'a> {
    #[serde(flatten)]
    record: &'a AuditRecord,
    prev_hash: Option<&'a str>,
    hash: Option<&'a str>,
}

/// The organization's events matching `filter`, oldest first, at most EXPORT_LIMIT of them
/// (the newest): as JSON Lines with the hashes (`jsonl`), or as CSV.
pub async fn export(
    ctx: &AppContext,
    org: OrgId,
    filter: AuditFilter,
    jsonl: bool,
) -> Result<String, DbError> {
    let mut rows = ctx
        .db
        .run(move |conn| audit::list_for_org(conn, org, &filter, 0, EXPORT_LIMIT))
        .await?;
    rows.reverse();
    let mut out = String::new();
    if jsonl {
        for row in &rows {
            let record = row.record();
            let line = ExportLine {
                record: &record,
                prev_hash: row.prev_hash.as_deref(),
                hash: row.hash.as_deref(),
            };
            out.push_str(&serde_json::to_string(&line).expect("an audit line serializes"));
            out.push('\n');
        }
        return Ok(out);
    }
    out.push_str("seq,time,kind,outcome,actor,source,provider,integration_id,detail,hash\r\n");
    for row in rows {
        let cells = [
            row.seq.to_string(),
            format_time(row.created_at),
            row.kind.to_string(),
            row.outcome.to_string(),
            row.actor,
            row.source.unwrap_or_default(),
            row.provider_slug,
            row.integration_id.map(|id| id.to_text()).unwrap_or_default(),
            row.detail,
            row.hash.unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| super::activity::csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}
