//! The audit log: a page of it, filtered, and its CSV.

use crate::context::AppContext;
pub use crate::db::sync_logs::LogFilter;
use crate::db::sync_logs::{self, LogRow};
use crate::db::{DbConnection, DbError, integrations};
use crate::domain::{IntegrationId, LogKind, LogStatus, OrgId, format_time};

/// One row of the audit log, for the page and the CSV.
pub struct LogEntry {
    pub id: String,
    pub at: String,
    pub provider: String,
    pub integration_id: Option<IntegrationId>,
    pub kind: LogKind,
    pub status: LogStatus,
    pub message: String,
    pub error: Option<String>,
    pub attempts: i32,
    pub duration_ms: Option<i64>,
}

impl LogEntry {
    /// A webhook event that has run (or failed for good) can be queued again.
    pub fn replayable(&self) -> bool {
        self.kind == LogKind::WebhookEvent && matches!(self.status, LogStatus::Succeeded | LogStatus::Failed)
    }
}

impl From<LogRow> for LogEntry {
    fn from(row: LogRow) -> Self {
        LogEntry {
            id: row.id,
            at: format_time(row.created_at),
            provider: row.provider_slug,
            integration_id: row.integration_id,
            kind: row.kind,
            status: row.status,
            message: row.message,
            error: row.error,
            attempts: row.attempts,
            duration_ms: row.duration_ms,
        }
    }
}

pub struct LogPage {
    pub entries: Vec<LogEntry>,
    pub total: i64,
    pub page: i64,
    pub pages: i64,
}

pub const PAGE_SIZE: i64 = 25;

/// A page (from 1) of the organization's log: two queries.
pub async fn log_page(
    ctx: &AppContext,
    org: OrgId,
    filter: LogFilter,
    page: i64,
    per_page: i64,
) -> Result<LogPage, DbError> {
    ctx.db
        .run(move |conn| {
            // An integration's log is another organization's to see only if it is theirs.
            if let Some(id) = filter.integration_id
                && integrations::find_for_org(conn, org, id)?.is_none()
            {
                return Err(diesel::result::Error::NotFound.into());
            }
            load_log_page(conn, org, filter, page, per_page)
        })
        .await
}

/// The same, on the caller's connection (a page that loads more in the same trip). Only the
/// organization's entries are read: another organization's integration has none here.
pub fn load_log_page(
    conn: &mut DbConnection,
    org: OrgId,
    filter: LogFilter,
    page: i64,
    per_page: i64,
) -> Result<LogPage, DbError> {
    // The page number comes from a request: saturate rather than overflow.
    let (page, per_page) = (page.max(1), per_page.max(1));
    let offset = (page - 1).saturating_mul(per_page);
    let (rows, total) = sync_logs::page_for_org(conn, org, &filter, offset, per_page)?;
    Ok(LogPage {
        entries: rows.into_iter().map(LogEntry::from).collect(),
        total,
        page,
        pages: (total.max(0) as u64).div_ceil(per_page as u64).max(1) as i64,
    })
}

/// Up to `limit` entries as CSV (RFC 4180), cells that a spreadsheet would run as formulas
/// made inert.
pub async fn log_csv(ctx: &AppContext, org: OrgId, filter: LogFilter, limit: i64) -> Result<String, DbError> {
    let page = log_page(ctx, org, filter, 1, limit).await?;
    let mut out =
        String::from("id,time,provider,integration_id,kind,status,message,error,attempts,duration_ms\r\n");
    for e in page.entries {
        let cells = [
            e.id,
            e.at,
            e.provider,
            e.integration_id.map(IntegrationId::to_text).unwrap_or_default(),
            e.kind.to_string(),
            e.status.to_string(),
            e.message,
            e.error.unwrap_or_default(),
            e.attempts.to_string(),
            e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    Ok(out)
}

pub(super) fn csv_cell(value: &str) -> String {
    let inert = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if inert.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", inert.replace('"', "\"\""))
    } else {
        inert
    }
}
