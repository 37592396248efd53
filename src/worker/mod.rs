//! The background actor: keeps tokens fresh, runs the queued sync-log jobs and does the
//! housekeeping. It is safe to run in several instances on one database: every piece of work
//! is claimed there first. `run_due_work` is one round (the loop calls it every tick; tests
//! and operators call it directly).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use rand::seq::SliceRandom;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::context::AppContext;
use crate::db::DbError;
use crate::domain::IntegrationId;
use crate::integrations::housekeeping;
use crate::integrations::jobs::{JobCounts, process_due_jobs};
use crate::integrations::tokens::{self, Outcome};
use crate::metrics::Metrics;

/// Purges delete at most this many rows per statement.
const PURGE_BATCH: i64 = 500;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkReport {
    /// Due, but claimed by another instance at that moment.
    pub busy: usize,
    pub refreshed: usize,
    pub validated: usize,
    pub deferred: usize,
    pub retried: usize,
    pub needs_reauth: usize,
    pub jobs_succeeded: usize,
    pub jobs_retried: usize,
    pub jobs_failed: usize,
    /// Slices of long jobs (directory syncs) that ran and continue in a later round.
    pub jobs_continued: usize,
    pub syncs_enqueued: usize,
    pub channels_renewed: usize,
    /// Service tokens whose use was summarized in the audit trail.
    pub use_summaries: usize,
    /// What the retention rules removed (activity entries, webhook bodies, audit events).
    pub removed: housekeeping::Removed,
    pub states_purged: usize,
    pub sessions_purged: usize,
    /// Deactivated directory accounts past DIRECTORY_RETENTION_DAYS.
    pub directory_purged: usize,
    /// Webhook rows whose in-memory delivery counts were written.
    pub webhook_counts_flushed: usize,
}

#[derive(Clone)]
pub struct Worker {
    ctx: AppContext,
    stopping: Arc<AtomicBool>,
}

impl Worker {
    pub fn new(ctx: AppContext) -> Worker {
        Worker {
            ctx,
            stopping: Arc::new(AtomicBool::new(false)),
        }
    }

    /// One round of everything that is due at `now`. Each stage runs whatever the others
    /// did: a failing stage (the database gone for a moment) does not hold back the rest, and
    /// the round answers the first error after all of them ran. Only a stage that waited the
    /// pool's whole timeout for a connection in vain ends the round: the database is away, and
    /// every later stage would wait as long.
    pub async fn run_due_work(&self, now: NaiveDateTime) -> Result<WorkReport, DbError> {
        let mut report = WorkReport::default();
        let mut round = Stages::default();
        round.note("token refresh", self.refresh_due_tokens(now, &mut report).await);
        if round.goes_on() {
            round.note("scheduled syncs", self.enqueue_due_syncs(now, &mut report).await);
        }
        let mut jobs = JobCounts::default();
        if round.goes_on() {
            round.note(
                "jobs",
                process_due_jobs(&self.ctx, &self.stopping, now, &mut jobs).await,
            );
        }
        report.jobs_succeeded += jobs.succeeded;
        report.jobs_continued += jobs.continued;
        report.jobs_retried += jobs.retried;
        report.jobs_failed += jobs.failed;
        if round.goes_on() {
            round.note(
                "watch channels",
                crate::integrations::google_channels::renew_expiring(&self.ctx, now)
                    .await
                    .map(|renewed| report.channels_renewed += renewed),
            );
        }
        if round.goes_on() {
            round.note("housekeeping", self.housekeeping(now, &mut report).await);
        }
        self.ctx.metrics.worker_ticked(chrono::Utc::now().timestamp());
        match round.first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Claims the integrations whose token maintenance is due and works through them, at most
    /// `provider_concurrency` token requests in flight per provider. A full batch means more
    /// is due (thousands of tokens coming due together after a mass reconnect or an outage):
    /// the next batch is taken at once, for up to a tick, before the round's other stages.
    async fn refresh_due_tokens(&self, now: NaiveDateTime, report: &mut WorkReport) -> Result<(), DbError> {
        let settings = &self.ctx.settings.worker;
        let until = Instant::now() + settings.tick;
        loop {
            let due = housekeeping::due_for_maintenance(&self.ctx, now, settings.batch_size).await?;
            let full = due.len() as i64 >= settings.batch_size;
            self.refresh_batch(due, now, report).await?;
            if !full || self.stopping.load(Ordering::SeqCst) || Instant::now() >= until {
                return Ok(());
            }
        }
    }

    async fn refresh_batch(
        &self,
        due: Vec<(IntegrationId, String)>,
        now: NaiveDateTime,
        report: &mut WorkReport,
    ) -> Result<(), DbError> {
        // Instances pick the same due rows: each works through them in its own order, so that
        // they seldom race for the same claim. A provider's chunks go one after the other, at
        // most its concurrency in flight; providers go side by side.
        let mut by_provider: HashMap<String, Vec<IntegrationId>> = HashMap::new();
        for (id, provider) in due {
            by_provider.entry(provider).or_default().push(id);
        }
        let chunk = self.ctx.settings.worker.provider_concurrency;
        let per_provider = by_provider.into_values().map(|mut ids| async move {
            ids.shuffle(&mut rand::thread_rng());
            let mut done = Vec::new();
            for ids in ids.chunks(chunk) {
                if self.stopping.load(Ordering::SeqCst) {
                    // Shutting down: leave them for the next round, here or elsewhere.
                    done.push(Ok(tokens::ChunkOutcome {
                        busy: 0,
                        outcomes: vec![Outcome::Deferred; ids.len()],
                    }));
                    continue;
                }
                done.push(tokens::refresh_chunk(&self.ctx, ids, now).await);
            }
            done
        });
        for chunk in futures_util::future::join_all(per_provider)
            .await
            .into_iter()
            .flatten()
        {
            let chunk = chunk?;
            report.busy += chunk.busy;
            for outcome in chunk.outcomes {
                match outcome {
                    Outcome::Refreshed => report.refreshed += 1,
                    Outcome::Validated => report.validated += 1,
                    Outcome::Deferred | Outcome::Lost => report.deferred += 1,
                    Outcome::Retry(_) => report.retried += 1,
                    Outcome::NeedsReauth(_) => report.needs_reauth += 1,
                }
            }
        }
        Ok(())
    }

    async fn enqueue_due_syncs(&self, now: NaiveDateTime, report: &mut WorkReport) -> Result<(), DbError> {
        let batch = self.ctx.settings.worker.batch_size;
        let queued = housekeeping::enqueue_due_syncs(&self.ctx, now, batch).await?;
        report.syncs_enqueued += queued;
        Ok(())
    }

    /// Applies the retention rules and purges long-deactivated directory accounts (in batches),
    /// expired OAuth states and ended or expired admin sessions, and writes the webhook delivery counts kept in memory.
    async fn housekeeping(&self, now: NaiveDateTime, report: &mut WorkReport) -> Result<(), DbError> {
        report.webhook_counts_flushed += crate::webhooks::counts::flush(&self.ctx).await?;
        report.use_summaries += crate::api_tokens::summarize_use(&self.ctx.db, now, PURGE_BATCH).await?;
        report.removed = housekeeping::apply_retention(&self.ctx, now, PURGE_BATCH, || {
            self.stopping.load(Ordering::SeqCst)
        })
        .await?;
        let cutoff = now - chrono::Duration::days(self.ctx.settings.worker.directory_retention_days);
        loop {
            let purged = housekeeping::purge_directory_before(&self.ctx, cutoff, PURGE_BATCH).await?;
            report.directory_purged += purged;
            if purged < PURGE_BATCH as usize || self.stopping.load(Ordering::SeqCst) {
                break;
            }
        }
        report.states_purged += housekeeping::purge_expired_states(&self.ctx, now).await?;
        let policy = crate::accounts::SessionPolicy::of(&self.ctx.settings);
        report.sessions_purged += crate::accounts::purge_sessions(&self.ctx.db, policy, PURGE_BATCH).await?;
        Ok(())
    }

    /// Runs a round every tick until told to stop, under a supervisor that restarts the loop
    /// if it ever ends otherwise.
    pub fn start(self) -> WorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let worker = self.clone();
        let metrics = self.ctx.metrics.clone();
        // Its provider calls start traces of their own: no request waits on them.
        let task = tokio::spawn(supervise(metrics, stopped.clone(), move || {
            crate::telemetry::trace::background(
                worker.ctx.tracer.clone(),
                worker.clone().rounds(stopped.clone()),
            )
        }));
        WorkerHandle {
            stop,
            task,
            worker: self,
        }
    }

    async fn rounds(self, mut stopped: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.ctx.settings.worker.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = FailedRounds::default();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stopped.changed() => break,
            }
            match self.run_due_work(crate::domain::now()).await {
                Ok(report) => {
                    failures.succeeded();
                    if report != WorkReport::default() {
                        tracing::info!(?report, "background round");
                    }
                }
                Err(e) => failures.failed(&e, Instant::now()),
            }
            if *stopped.borrow() {
                break;
            }
        }
    }
}

/// The stages of one round: the first error, and whether the next stage should run.
#[derive(Default)]
struct Stages {
    first_error: Option<DbError>,
    /// A stage found no connection in the pool's whole timeout.
    database_away: bool,
}

impl Stages {
    fn note(&mut self, stage: &str, result: Result<(), DbError>) {
        let Err(e) = result else { return };
        self.database_away |= matches!(e, DbError::Pool(_));
        if e.is_unreachable() {
            // The pool logs the outage itself, throttled; the round's failure is too.
            tracing::debug!(stage, error = %e, "background stage failed");
        } else {
            tracing::error!(stage, error = %e, "background stage failed; the others ran");
        }
        self.first_error.get_or_insert(e);
    }

    fn goes_on(&self) -> bool {
        !self.database_away
    }
}

/// Rounds failing one after the other (the database away) are logged at the first, then at
/// most once a minute with how many failed meanwhile, and once when a round succeeds again:
/// an outage of an hour is a few lines, not one per tick.
#[derive(Default)]
struct FailedRounds {
    /// Failed rounds in a row, and those not yet in a log line.
    in_a_row: u64,
    unreported: u64,
    last_line: Option<Instant>,
}

const FAILED_ROUNDS_LOG_EVERY: Duration = Duration::from_secs(60);

impl FailedRounds {
    fn failed(&mut self, error: &DbError, now: Instant) {
        self.in_a_row += 1;
        self.unreported += 1;
        if self.in_a_row == 1
            || self
                .last_line
                .is_none_or(|at| now - at >= FAILED_ROUNDS_LOG_EVERY)
        {
            tracing::error!(error = %error, failed_rounds = self.unreported, "background round failed; retrying every tick (logged at most once a minute)");
            self.unreported = 0;
            self.last_line = Some(now);
        }
    }

    fn succeeded(&mut self) {
        if self.in_a_row > 0 {
            tracing::warn!(failed_rounds = self.in_a_row, "background rounds succeed again");
        }
        *self = FailedRounds::default();
    }
}

/// Restarts of a dead loop wait this long at first, doubling up to `RESTART_MAX`.
const RESTART_FIRST: Duration = Duration::from_secs(1);
const RESTART_MAX: Duration = Duration::from_secs(60);

/// Runs the loop `run` makes until `stopped` says so. If the loop ends before that (a panic
/// escaped it, or it returned), the instance is marked down (`worker_up` 0, /readyz 503),
/// and a new loop starts after a backoff.
pub async fn supervise<F, Fut>(metrics: Arc<Metrics>, stopped: watch::Receiver<bool>, run: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut wait = RESTART_FIRST;
    loop {
        metrics.worker_running(true);
        let ended = tokio::spawn(run()).await;
        if *stopped.borrow() {
            return;
        }
        metrics.worker_running(false);
        match ended {
            Err(e) if e.is_panic() => {
                tracing::error!(panic = %tokens::panic_text(&e.into_panic()), restart_in_secs = wait.as_secs(), "the background actor panicked; restarting it")
            }
            _ => tracing::error!(
                restart_in_secs = wait.as_secs(),
                "the background actor stopped unexpectedly; restarting it"
            ),
        }
        let mut stopped = stopped.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => return,
        }
        wait = (wait * 2).min(RESTART_MAX);
    }
}

/// The running actor. `shutdown` lets the round in progress finish its in-flight calls, gives
/// back every claim not started, and waits for the loop to end.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    worker: Worker,
}

impl WorkerHandle {
    pub async fn shutdown(self) {
        self.worker.stopping.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the background actor ended abnormally");
        }
        let owner = self.worker.ctx.instance_id.to_string();
        let released = housekeeping::release_claims(&self.worker.ctx, owner).await;
        match released {
            Ok(n) => tracing::info!(released = n, "background actor stopped"),
            Err(e) => {
                tracing::error!(error = %e, "could not release claims at shutdown; they expire with their lease")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_loop_that_dies_is_reported_down_and_restarted() {
        let metrics = Arc::new(Metrics::new());
        let (stop, stopped) = watch::channel(false);
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let supervisor = tokio::spawn(supervise(metrics.clone(), stopped, move || {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("the first loop dies");
                }
                std::future::pending::<()>().await;
            }
        }));
        let deadline = Instant::now() + Duration::from_secs(5);
        while runs.load(Ordering::SeqCst) < 1 || !metrics.worker_is_down() {
            assert!(Instant::now() < deadline, "the death was not reported");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(metrics.render().contains("worker_up 0"));
        while runs.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "not restarted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!metrics.worker_is_down(), "up again");
        stop.send(true).unwrap();
        // A stop while a loop runs: the supervisor returns (the loop is cancelled with it).
        supervisor.abort();
    }
}
