//! Exponential backoff with full jitter (a random wait between zero and the exponential
//! bound), never shorter than a provider's Retry-After.

use std::time::Duration;

use rand::Rng;

/// The wait before attempt number `failures + 1`.
pub fn backoff(failures: u32, base: Duration, cap: Duration, retry_after: Option<Duration>) -> Duration {
    let bound = base
        .saturating_mul(2u32.saturating_pow(failures.min(20)))
        .min(cap);
    let jittered = Duration::from_millis(rand::thread_rng().gen_range(0..=bound.as_millis() as u64));
    // Never retry sooner than the provider asked, nor immediately.
    jittered
        .max(retry_after.unwrap_or_default())
        .max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_jittered_and_respects_retry_after() {
        let (base, cap) = (Duration::from_secs(30), Duration::from_secs(1800));
        for failures in 0..12 {
            let wait = backoff(failures, base, cap, None);
            assert!(wait <= cap.max(Duration::from_secs(1)));
            assert!(wait <= base * 2u32.pow(failures.min(10)) || wait == cap);
        }
        assert!(backoff(0, base, cap, Some(Duration::from_secs(120))) >= Duration::from_secs(120));
        let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff(5, base, cap, None)).collect();
        assert!(samples.len() > 1, "jittered");
    }
}
