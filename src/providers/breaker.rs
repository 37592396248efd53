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

/// Told of every change of a provider's state (the metrics gauge).
type Observer = Box<dyn Fn(&str, BreakerState) + Send + Sync>;

pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    by_provider: Mutex<HashMap<String, Breaker>>,
    observer: Option<Observer>,
}

/// A call the breaker let through. Recording its outcome consumes it; dropped without one (an
/// early return, a 429, a cancelled future) it gives back the probe it may hold, so the
/// breaker never waits for an outcome that will not come.
#[must_use = "record the call's outcome, or drop it to give the probe back"]
pub struct Admission<'a> {
    breakers: &'a Breakers,
    provider: String,
    /// This call is the half-open probe.
    probe: bool,
}

impl Admission<'_> {
    /// The provider answered (whatever it said): it is up.
    pub fn succeeded(self) {
        self.breakers.record_success(&self.provider);
        std::mem::forget(self);
    }

    /// The provider is down (5xx, timeout, refused connection). Returns the state after it.
    pub fn failed(self, now: NaiveDateTime) -> BreakerState {
        let state = self.breakers.record_failure(&self.provider, now);
        std::mem::forget(self);
        state
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.probe {
            // No outcome: the next caller may probe instead.
            self.breakers.with(&self.provider, |b| b.probe_in_flight = false);
        }
    }
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration) -> Breakers {
        Breakers {
            threshold: threshold.max(1),
            cooldown,
            by_provider: Mutex::new(HashMap::new()),
            observer: None,
        }
    }

    /// Calls `observer` with a provider's new state whenever it changes.
    pub fn observed(mut self, observer: impl Fn(&str, BreakerState) + Send + Sync + 'static) -> Breakers {
        self.observer = Some(Box::new(observer));
        self
    }

    fn with<T>(&self, provider: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut map = self
            .by_provider
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let breaker = map.entry(provider.to_owned()).or_default();
        let before = breaker.state;
        let result = f(breaker);
        if breaker.state != before
            && let Some(observer) = &self.observer
        {
            observer(provider, breaker.state);
        }
        result
    }

    /// May a call go to `provider` now? `Err(retry_at)` while the breaker is open (or a
    /// probe is already out).
    pub fn admit(&self, provider: &str, now: NaiveDateTime) -> Result<Admission<'_>, NaiveDateTime> {
        let cooldown = self.cooldown;
        let probe = self.with(provider, |b| match b.state {
            BreakerState::Closed => Ok(false),
            BreakerState::Open { until } if until > now => Err(until),
            BreakerState::Open { .. } | BreakerState::HalfOpen => {
                if b.probe_in_flight {
                    return Err(now + cooldown / 4);
                }
                b.state = BreakerState::HalfOpen;
                b.probe_in_flight = true;
                Ok(true)
            }
        })?;
        Ok(Admission {
            breakers: self,
            provider: provider.to_owned(),
            probe,
        })
    }

    fn record_success(&self, provider: &str) {
        self.with(provider, |b| *b = Breaker::default());
    }

    fn record_failure(&self, provider: &str, now: NaiveDateTime) -> BreakerState {
        let (threshold, cooldown) = (self.threshold, self.cooldown);
        self.with(provider, |b| {
            b.consecutive_failures = b.consecutive_failures.saturating_add(1);
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
            assert_eq!(
                breakers.admit("slack", t0).unwrap().failed(t0),
                BreakerState::Closed
            );
        }
        assert!(matches!(
            breakers.admit("slack", t0).unwrap().failed(t0),
            BreakerState::Open { .. }
        ));
        assert_eq!(
            breakers.admit("slack", t0 + Duration::seconds(30)).err(),
            Some(t0 + Duration::seconds(60))
        );
        assert!(breakers.admit("google", t0).is_ok(), "per provider");
        // After the cool-down one probe goes out, a second caller waits.
        let later = t0 + Duration::seconds(61);
        let probe = breakers.admit("slack", later).unwrap();
        assert_eq!(breakers.state("slack"), BreakerState::HalfOpen);
        assert!(breakers.admit("slack", later).is_err());
        // A failed probe reopens; a successful one closes.
        assert!(matches!(probe.failed(later), BreakerState::Open { .. }));
        let again = later + Duration::seconds(61);
        breakers.admit("slack", again).unwrap().succeeded();
        assert_eq!(breakers.state("slack"), BreakerState::Closed);
    }

    #[test]
    fn a_probe_without_an_outcome_gives_its_turn_back() {
        let breakers = Breakers::new(1, Duration::seconds(60));
        let t0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let _ = breakers.admit("slack", t0).unwrap().failed(t0);
        let later = t0 + Duration::seconds(61);
        // The probe's caller returns early, or its future is dropped (a 429, a shutdown).
        drop(breakers.admit("slack", later).unwrap());
        let next = breakers.admit("slack", later);
        assert!(next.is_ok(), "the next caller probes instead of waiting forever");
        next.unwrap().succeeded();
        assert_eq!(breakers.state("slack"), BreakerState::Closed);
    }

    #[test]
    fn the_observer_sees_every_change_back_to_closed() {
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let breakers = Breakers::new(1, Duration::seconds(60))
            .observed(move |provider, state| log.lock().unwrap().push((provider.to_owned(), state.code())));
        let t0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let _ = breakers.admit("slack", t0).unwrap().failed(t0);
        breakers
            .admit("slack", t0 + Duration::seconds(61))
            .unwrap()
            .succeeded();
        let codes: Vec<i64> = seen.lock().unwrap().iter().map(|(_, code)| *code).collect();
        assert_eq!(codes, vec![1, 2, 0], "open, half-open, closed");
    }
}
