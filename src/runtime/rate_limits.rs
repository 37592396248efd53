use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Per-webhook rate limits (token buckets of `rate_limit_per_minute`).
#[derive(Default)]
pub struct RateLimits(Mutex<HashMap<String, (f64, Instant)>>);

impl RateLimits {
    /// Takes one delivery from the webhook's bucket; `Err(seconds)` when it is empty.
    pub fn take(&self, webhook_id: &str, per_minute: i32) -> Result<(), u64> {
        let capacity = f64::from(per_minute.max(1));
        let mut buckets = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        let (tokens, last) = buckets.entry(webhook_id.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * capacity / 60.0).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) * 60.0 / capacity).ceil().max(1.0) as u64)
        }
    }
}
