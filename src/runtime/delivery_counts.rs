//! Deliveries that are refused or dropped are counted in memory and written to their webhook
//! rows in one transaction per flush (`webhooks::counts::flush`), so a flood of forged
//! requests costs no database write each. Keys are ids of existing webhook rows, so the map is
//! bounded by the number of rows.

use std::collections::HashMap;
use std::sync::Mutex;

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

    pub fn take(&self) -> HashMap<String, Pending> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts back counts a failed flush could not write (the next flush retries them).
    pub fn restore(&self, counts: HashMap<String, Pending>) {
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
