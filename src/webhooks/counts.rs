//! Deliveries that are refused or dropped are counted in memory and written to their webhook
//! rows in one transaction per flush (each worker round, and at shutdown), so a flood of
//! forged requests costs no database write each. Keys are ids of existing webhook rows, so
//! the map is bounded by the number of rows.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::context::AppContext;
use crate::db::{self, DbError, webhooks};

/// What one webhook row has not written yet.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Refused: bad signature or token, stale, a closed handshake window.
    pub rejected: i64,
    /// Acknowledged but not stored: the endpoint or channel is stopped.
    pub dropped: i64,
}

#[derive(Default)]
pub struct DeliveryCounts(Mutex<HashMap<String, Pending>>);

impl DeliveryCounts {
    pub fn rejected(&self, webhook_id: &str) {
        self.add(webhook_id, |p| p.rejected = p.rejected.saturating_add(1));
    }

    pub fn dropped(&self, webhook_id: &str) {
        self.add(webhook_id, |p| p.dropped = p.dropped.saturating_add(1));
    }

    fn add(&self, webhook_id: &str, count: impl FnOnce(&mut Pending)) {
        let mut pending = self.lock();
        // Looked up first: a flood on one row allocates no key per request.
        match pending.get_mut(webhook_id) {
            Some(entry) => count(entry),
            None => count(pending.entry(webhook_id.to_owned()).or_default()),
        }
    }

    fn take(&self) -> HashMap<String, Pending> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back counts a failed flush could not write (the next flush retries them).
    fn restore(&self, counts: HashMap<String, Pending>) {
        let mut pending = self.lock();
        for (id, counted) in counts {
            let entry = pending.entry(id).or_default();
            entry.rejected = entry.rejected.saturating_add(counted.rejected);
            entry.dropped = entry.dropped.saturating_add(counted.dropped);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

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
