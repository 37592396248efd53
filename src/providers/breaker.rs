//! A circuit breaker per provider: after repeated failures calls to that provider stop for a
//! cool-down, then one probe decides whether it closes again. Times are passed in, so the
//! worker's "run due work now" (and tests) control them.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// No calls until then.
    Open {
        until: NaiveDateTime,
    },
    /// One probe call is allowed; its outcome closes or reopens the breaker.
    HalfOpen,
}

impl BreakerState {
    /// For the metrics gauge: 0 closed, 1 open, 2 half-open.
    pub fn code(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open { .. } => 1,
            BreakerState::HalfOpen => 2,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Breaker {
    consecutive_failures: u32,
    state: BreakerState,
    probe_in_flight: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            consecutive_failures: 0,
            state: BreakerState::Closed,
            probe_in_flight: false,
        }
    }
}

pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    by_provider: Mutex<HashMap<String, Breaker>>,
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Breakers {
        Breakers {
            threshold: threshold.max(1),
            cooldown,
            by_provider: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, provider: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut map = self
            .by_provider
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(map.entry(provider.to_owned()).or_default())
    }

    /// May a call go to `provider` now? `Err(retry_at)` while the breaker is open (or a
    /// probe is already out).
    pub fn admit(&self, provider: &str, now: NaiveDateTime) -> Result<(), NaiveDateTime> {
        let cooldown = self.cooldown;
        self.with(provider, |b| match b.state {
            BreakerState::Closed => Ok(()),
            BreakerState::Open { until } if until > now => Err(until),
            BreakerState::Open { .. } | BreakerState::HalfOpen => {
                if b.probe_in_flight {
                    return Err(now + cooldown / 4);
                }
                b.state = BreakerState::HalfOpen;
                b.probe_in_flight = true;
                Ok(())
            }
        })
    }

    pub fn record_success(&self, provider: &str) {
        self.with(provider, |b| *b = Breaker::default());
    }

    /// Returns the state after this failure.
    pub fn record_failure(&self, provider: &str, now: NaiveDateTime) -> BreakerState {
        let (threshold, cooldown) = (self.threshold, self.cooldown);
        self.with(provider, |b| {
            b.consecutive_failures += 1;
            b.probe_in_flight = false;
            if b.state == BreakerState::HalfOpen || b.consecutive_failures >= threshold {
                b.state = BreakerState::Open {
                    until: now + cooldown,
                };
            }
            b.state
        })
    }

    pub fn state(&self, provider: &str) -> BreakerState {
        self.with(provider, |b| b.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_once_and_closes_on_success() {
        let breakers = Breakers::new(3, Duration::seconds(60));
        let t0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        for _ in 0..2 {
            assert!(breakers.admit("slack", t0).is_ok());
            assert_eq!(breakers.record_failure("slack", t0), BreakerState::Closed);
        }
        assert!(matches!(
            breakers.record_failure("slack", t0),
            BreakerState::Open { .. }
        ));
        assert_eq!(
            breakers.admit("slack", t0 + Duration::seconds(30)),
            Err(t0 + Duration::seconds(60))
        );
        assert!(breakers.admit("google", t0).is_ok(), "per provider");
        // After the cool-down one probe goes out, a second caller waits.
        let later = t0 + Duration::seconds(61);
        assert!(breakers.admit("slack", later).is_ok());
        assert_eq!(breakers.state("slack"), BreakerState::HalfOpen);
        assert!(breakers.admit("slack", later).is_err());
        // A failed probe reopens; a successful one closes.
        assert!(matches!(
            breakers.record_failure("slack", later),
            BreakerState::Open { .. }
        ));
        let again = later + Duration::seconds(61);
        assert!(breakers.admit("slack", again).is_ok());
        breakers.record_success("slack");
        assert_eq!(breakers.state("slack"), BreakerState::Closed);
    }
}
