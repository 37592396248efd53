//! The delivery counts kept in memory (`runtime::DeliveryCounts`) written to their webhook
//! rows: each worker round, and at shutdown.

use crate::context::AppContext;
use crate::db::{self, DbError, webhooks};
use crate::runtime::Pending;

/// Writes the pending counts to their rows; returns how many rows were updated.
pub async fn flush(ctx: &AppContext) -> Result<usize, DbError> {
    let counts = ctx.delivery_counts.take();
    if counts.is_empty() {
        return Ok(0);
    }
    // In id order, like the event writers, so shared rows are locked in one order.
    let mut writes: Vec<(String, Pending)> = counts.iter().map(|(id, p)| (id.clone(), *p)).collect();
    writes.sort_by(|a, b| a.0.cmp(&b.0));
    let written = ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                for (id, pending) in &writes {
                    webhooks::add_counts(conn, id, pending.rejected, pending.dropped)?;
                }
                Ok(writes.len())
            })
        })
        .await;
    if written.is_err() {
        ctx.delivery_counts.restore(counts);
    }
    written
}
