//! The audit trail: who did what, kept apart from the operational log. Its page, its CSV and
//! JSON Lines exports, and the check of each organization's hash chain.

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

/// A page (from 1) of the organization's audit trail, with the check of its chain: one trip.
pub fn load_audit_page(
    conn: &mut DbConnection,
    org: OrgId,
    filter: AuditFilter,
    page: i64,
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
        check: verify_chain(conn, org)?,
    })
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
    let (mut seq, mut prev_hash) = (chain.anchor_seq, chain.anchor_hash.clone());
    let mut up_to = chain.anchor_at;
    loop {
        let batch = audit::events_after(conn, org, seq, VERIFY_BATCH)?;
        for row in &batch {
            let broken = |reason: &str| ChainCheck::Broken {
                seq: seq + 1,
                reason: reason.to_owned(),
            };
            if row.seq != seq + 1 {
                return Ok(broken("missing: the next event was deleted"));
            }
            if row.prev_hash.as_deref() != Some(prev_hash.as_str()) {
                return Ok(broken("it does not follow the event before it"));
            }
            let hash = row.record().hash(&prev_hash);
            if row.hash.as_deref() != Some(hash.as_str()) {
                return Ok(broken("its content was changed"));
            }
            (seq, prev_hash, up_to) = (row.seq, hash, Some(row.created_at));
        }
        if (batch.len() as i64) < VERIFY_BATCH {
            break;
        }
    }
    let broken = |seq: i64, reason: &str| {
        Ok(ChainCheck::Broken {
            seq,
            reason: reason.to_owned(),
        })
    };
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
        Some(up_to) => ChainCheck::Verified {
            events: seq - chain.anchor_seq,
            up_to,
        },
        None => ChainCheck::Empty,
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
    let (mut rows, _) = ctx
        .db
        .run(move |conn| audit::page_for_org(conn, org, &filter, 0, EXPORT_LIMIT))
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
