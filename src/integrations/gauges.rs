//! The gauges a scrape of /metrics reads at that moment: the database pool (no query), then
//! the job queue and the integrations by status in one trip to the database.

use std::time::Duration;

use crate::context::AppContext;
use crate::db::DbError;

/// A scrape waits at most this long for the database: while it is away, /metrics still
/// answers in time (with the figures of the last scrape that read them).
const SCRAPE_BUDGET: Duration = Duration::from_secs(2);

pub async fn refresh_database_gauges(ctx: &AppContext) -> Result<(), DbError> {
    let (in_use, idle, max) = ctx.db.pool_state();
    ctx.metrics.database_pool(in_use, idle, max);
    let now = crate::domain::now();
    let read = ctx.db.run(move |conn| crate::db::gauges::read(conn, now));
    let gauges = tokio::time::timeout(SCRAPE_BUDGET, read)
        .await
        .map_err(|_| DbError::Cancelled)??;
    let oldest_age = gauges.oldest_due_at.map_or(0, |at| (now - at).num_seconds());
    ctx.metrics.job_queue(gauges.jobs_due, oldest_age);
    ctx.metrics.integrations_by_status(&gauges.integrations);
    Ok(())
}
