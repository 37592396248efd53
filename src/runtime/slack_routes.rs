use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::db::webhooks::WebhookRow;

/// How long a workspace's live route is remembered. Never a risk to routing: the storing
/// transaction checks the route again (see `db::event_sink`), and a route found stale there is looked
/// up afresh, so a disconnect or a new connection takes effect at the next event.
const ROUTE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Live routes recently looked up: team id -> its webhook row, so a busy workspace's events
/// do not each cost a lookup. Only live routes are kept: a workspace just connected (here or
/// on another instance) is found at its first event.
#[derive(Default)]
pub struct SlackRoutes(Mutex<HashMap<String, (WebhookRow, Instant)>>);

impl SlackRoutes {
    pub fn get(&self, team: &str) -> Option<WebhookRow> {
        self.lock()
            .get(team)
            .filter(|(_, at)| at.elapsed() < ROUTE_TTL)
            .map(|(row, _)| row.clone())
    }

    pub fn remember(&self, row: &WebhookRow) {
        let mut routes = self.lock();
        if routes.len() > 10_000 {
            routes.retain(|_, (_, at)| at.elapsed() < ROUTE_TTL);
        }
        routes.insert(row.external_id.clone(), (row.clone(), Instant::now()));
    }

    /// Drops a workspace's route (it was connected, disconnected or erased here).
    pub fn forget(&self, team: &str) {
        self.lock().remove(team);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (WebhookRow, Instant)>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
