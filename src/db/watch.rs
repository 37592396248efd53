//! What the database's troubles look like in the log: an outage (no connection) or refused
//! writes (a full disk, a read-only file) gets its first failure at once, then at most one
//! line a minute with how many failures it stands for, and one line when it ends. r2d2 and
//! the request handlers alone would log every failure of every connection and request.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::r2d2;

const LOG_EVERY: Duration = Duration::from_secs(60);
/// Refused writes have ended once a write succeeds this long after the last refusal (a full
/// disk still takes the odd write that fits in space already allocated).
const REFUSALS_END_AFTER: Duration = Duration::from_secs(1);

/// One kind of trouble and its log throttle.
#[derive(Debug, Default)]
pub(super) struct Outage {
    state: std::sync::Mutex<OutageState>,
    /// Failures since start (never reset).
    total: AtomicU64,
    /// Within an outage (a cheap check before taking the lock).
    active: AtomicBool,
}

#[derive(Debug, Default)]
struct OutageState {
    /// Failures since the outage began (0: no outage).
    failures: u64,
    /// Failures not yet in a log line, and when the last line was written.
    unreported: u64,
    last_line: Option<Instant>,
    last_failure: Option<Instant>,
}

impl Outage {
    fn lock(&self) -> std::sync::MutexGuard<'_, OutageState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A failure at `now`: `Some(failures this line stands for)` when a line is due.
    pub(super) fn failed(&self, now: Instant) -> Option<u64> {
        self.total.fetch_add(1, Ordering::Relaxed);
        self.active.store(true, Ordering::Relaxed);
        let mut state = self.lock();
        state.failures += 1;
        state.unreported += 1;
        state.last_failure = Some(now);
        let due = state
            .last_line
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY);
        due.then(|| {
            state.last_line = Some(now);
            std::mem::take(&mut state.unreported)
        })
    }

    /// A success at `now`: `Some(failures of the outage)` when this ends one, that is when no
    /// failure came within `quiet` before it.
    pub(super) fn recovered(&self, now: Instant, quiet: Duration) -> Option<u64> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.lock();
        let ended = state.failures > 0
            && state
                .last_failure
                .is_none_or(|at| now.saturating_duration_since(at) >= quiet);
        ended.then(|| {
            self.active.store(false, Ordering::Relaxed);
            std::mem::take(&mut *state).failures
        })
    }

    pub(super) fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}

/// The pool's error handler: connection failures go through the outage's throttle.
#[derive(Debug)]
pub(super) struct OutageLog(pub(super) Arc<Outage>);

impl r2d2::HandleError<r2d2::Error> for OutageLog {
    fn handle_error(&self, error: r2d2::Error) {
        if let Some(failures) = self.0.failed(Instant::now()) {
            tracing::error!(error = %error, failures, "the database cannot be reached; retrying (logged at most once a minute)");
        }
    }
}

impl super::DbError {
    /// True when no connection could be had, or the one in use was lost: the database is
    /// away (the pool's outage log says so, throttled).
    pub fn is_unreachable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            super::DbError::Pool(_) => true,
            super::DbError::Query(Error::DatabaseError(kind, _)) => matches!(
                kind,
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand
            ),
            // The webhook writer's error, passed on as its text.
            super::DbError::WriteFailed(message) => message.starts_with("no database connection available"),
            _ => false,
        }
    }
}

/// Why the database refused a write while it still reads, from its error message: a full
/// disk or a read-only file (SQLite), no space left or a read-only server (PostgreSQL).
pub fn refuses_writes(message: &str) -> bool {
    const CAUSES: [&str; 6] = [
        "database or disk is full",
        "attempt to write a readonly database",
        "disk I/O error",
        "No space left on device",
        "read-only transaction",
        "read-only file system",
    ];
    CAUSES.iter().any(|cause| message.contains(cause))
}

/// Watches every statement of a connection: counts them (to prove pages do not grow with the
/// data), and notices writes refused and, after them, the first write that succeeds.
pub(super) struct Watch {
    queries: Arc<AtomicU64>,
    refusals: Arc<Outage>,
    /// Its pool's open connections (this one among them until it is dropped).
    live: Arc<AtomicUsize>,
    /// Set when SQLite refuses a write because it opened the file read-only.
    read_only: Arc<AtomicBool>,
}

impl Watch {
    pub(super) fn new(
        queries: Arc<AtomicU64>,
        refusals: Arc<Outage>,
        live: Arc<AtomicUsize>,
        read_only: Arc<AtomicBool>,
    ) -> Watch {
        live.fetch_add(1, Ordering::Relaxed);
        Watch {
            queries,
            refusals,
            live,
            read_only,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Instrumentation for Watch {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartQuery { .. } => {
                self.queries.fetch_add(1, Ordering::Relaxed);
            }
            InstrumentationEvent::FinishQuery {
                error: Some(error), ..
            } => {
                let cause = error.to_string();
                if cause.contains("attempt to write a readonly database") {
                    self.read_only.store(true, Ordering::Relaxed);
                }
                if refuses_writes(&cause)
                    && let Some(refused) = self.refusals.failed(Instant::now())
                {
                    tracing::error!(
                        cause = %cause,
                        refused,
                        "the database refuses writes; they answer 503 until it accepts them again, reads go on; check free space and that the database files (SQLite: with their -wal and -shm) are writable (logged at most once a minute)"
                    );
                }
            }
            InstrumentationEvent::FinishQuery {
                query, error: None, ..
            } if self.refusals.active.load(Ordering::Relaxed) && is_write(query) => {
                if let Some(refused) = self.refusals.recovered(Instant::now(), REFUSALS_END_AFTER) {
                    tracing::warn!(refused, "the database accepts writes again");
                }
            }
            _ => {}
        }
    }
}

/// An INSERT, UPDATE or DELETE (by the statement's first word).
fn is_write(query: &(impl std::fmt::Display + ?Sized)) -> bool {
    /// Keeps the first bytes written to it, then refuses the rest (which ends the formatting).
    struct Head([u8; 8], usize);
    impl std::fmt::Write for Head {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for byte in s.bytes() {
                if self.1 == 0 && byte.is_ascii_whitespace() {
                    continue;
                }
                if self.1 == self.0.len() {
                    return Err(std::fmt::Error);
                }
                self.0[self.1] = byte.to_ascii_uppercase();
                self.1 += 1;
            }
            Ok(())
        }
    }
    let mut head = Head([0; 8], 0);
    let _ = write!(head, "{query}");
    let head = &head.0[..head.1];
    [&b"INSERT"[..], b"UPDATE", b"DELETE"]
        .iter()
        .any(|word| head.starts_with(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_logged_once_per_interval_and_its_end_once() {
        let outage = Outage::default();
        let t0 = Instant::now();
        assert_eq!(outage.failed(t0), Some(1), "the first failure at once");
        for n in 1..50 {
            assert_eq!(outage.failed(t0 + Duration::from_millis(n * 100)), None);
        }
        let t10 = t0 + LOG_EVERY;
        assert_eq!(outage.failed(t10), Some(50), "then one line for the 49 + 1 since");
        assert_eq!(
            outage.recovered(t10 + Duration::from_millis(500), Duration::from_secs(1)),
            None,
            "a success amid failures does not end it"
        );
        assert_eq!(
            outage.recovered(t10 + Duration::from_secs(1), Duration::from_secs(1)),
            Some(51),
            "the end, once"
        );
        assert_eq!(
            outage.recovered(t10 + Duration::from_secs(2), Duration::ZERO),
            None
        );
        assert_eq!(
            outage.failed(t10 + Duration::from_secs(3)),
            Some(1),
            "a new outage"
        );
        assert_eq!(outage.total(), 52);
    }

    #[test]
    fn refused_writes_are_told_by_their_cause() {
        assert!(refuses_writes("database or disk is full"));
        assert!(refuses_writes("attempt to write a readonly database"));
        assert!(refuses_writes(
            "could not extend file \"base/16384/2619\": No space left on device"
        ));
        assert!(refuses_writes("cannot execute INSERT in a read-only transaction"));
        assert!(!refuses_writes("UNIQUE constraint failed: orgs.name"));
        assert!(!refuses_writes("database is locked"));
    }

    #[test]
    fn writes_are_told_by_their_first_word() {
        assert!(is_write(&"  insert INTO t VALUES (1)"));
        assert!(is_write(&"UPDATE t SET a = 1"));
        assert!(is_write(&"DELETE FROM t"));
        assert!(!is_write(&"SELECT 1"));
        assert!(!is_write(&"COMMIT"));
        assert!(!is_write(&""));
    }
}
