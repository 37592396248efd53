use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use crate::domain::IntegrationId;

/// Per-integration locks: callers in this process wait for the one refresh in flight.
#[derive(Default)]
pub struct RefreshLocks(Mutex<HashMap<IntegrationId, Weak<tokio::sync::Mutex<()>>>>);

impl RefreshLocks {
    pub fn get(&self, id: IntegrationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = map.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        map.retain(|_, weak| weak.strong_count() > 0);
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(id, Arc::downgrade(&lock));
        lock
    }
}
