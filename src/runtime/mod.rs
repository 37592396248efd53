//! What one process keeps in memory for all its parts: the single flight of token refreshes,
//! per-webhook rate limits, recently looked-up Slack routes, and delivery counts not yet
//! written. The services act on it through the context; it holds no logic of theirs.

mod delivery_counts;
mod rate_limits;
mod refresh_locks;
mod slack_routes;

pub use delivery_counts::{DeliveryCounts, Pending};
pub use rate_limits::RateLimits;
pub use refresh_locks::RefreshLocks;
pub use slack_routes::SlackRoutes;
