//! Prometheus metrics, served as text at /metrics: HTTP requests, sign-in refusals, token
//! refreshes, circuit breakers and background jobs; the build, the process (Linux), the
//! database pool, and gauges read from the database when scraped (the job queue, the
//! integrations by status). The README's "Metrics" table lists them all.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::IntegrationStatus;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    login_failures: IntCounterVec,
    refreshes: IntCounterVec,
    breaker_state: IntGaugeVec,
    jobs: IntCounterVec,
    webhooks: IntCounterVec,
    worker_last_tick: IntGauge,
    worker_up: IntGauge,
    pool_in_use: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    jobs_due: IntGauge,
    oldest_due_job_age: IntGauge,
    integrations: IntGaugeVec,
    /// The actor's loop ended unexpectedly and is being restarted (/readyz says so).
    worker_down: std::sync::atomic::AtomicBool,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["method", "route"],
        )
        .expect("valid metric");
        let login_failures = IntCounterVec::new(
            Opts::new(
                "login_failures_total",
                "Refused sign-ins by reason (credentials, rate_limited)",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let refreshes = IntCounterVec::new(
            Opts::new(
                "token_refreshes_total",
                "Token refreshes and validations by provider and outcome (ok, retry, needs_reauth, deferred)",
            ),
            &["provider", "outcome"],
        )
        .expect("valid metric");
        let breaker_state = IntGaugeVec::new(
            Opts::new(
                "provider_circuit_breaker_state",
                "Per-provider circuit breaker: 0 closed, 1 open, 2 half-open (probing)",
            ),
            &["provider"],
        )
        .expect("valid metric");
        let jobs = IntCounterVec::new(
            Opts::new(
                "background_jobs_total",
                "Queued sync-log jobs by kind and outcome (succeeded, retry, failed)",
            ),
            &["kind", "outcome"],
        )
        .expect("valid metric");
        let webhooks = IntCounterVec::new(
            Opts::new(
                "webhook_deliveries_total",
                "Webhook deliveries by provider and outcome (stored, duplicate, rejected, rate_limited, unknown_team, sync)",
            ),
            &["provider", "outcome"],
        )
        .expect("valid metric");
        let worker_last_tick = IntGauge::new(
            "worker_last_tick_timestamp_seconds",
            "When the background actor last finished a round (Unix seconds); alert when it stops moving",
        )
        .expect("valid metric");
        let worker_up = IntGauge::new(
            "worker_up",
            "1 while the background actor runs in this instance, 0 while it is down and being restarted",
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "targetym_build_info",
                "Always 1; the labels name the running build",
            ),
            &["version", "commit"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[crate::telemetry::VERSION, crate::telemetry::COMMIT])
            .set(1);
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let pool_in_use = gauge(
            "db_pool_connections_in_use",
            "Database connections of this instance's pool now lent out",
        );
        let pool_idle = gauge(
            "db_pool_connections_idle",
            "Database connections of this instance's pool open and waiting",
        );
        let pool_max = gauge(
            "db_pool_connections_max",
            "The most connections this instance's pool opens (DB_POOL_SIZE)",
        );
        let jobs_due = gauge(
            "job_queue_due",
            "Queued jobs whose time has come (and running ones whose claim expired), all instances",
        );
        let oldest_due_job_age = gauge(
            "job_queue_oldest_due_age_seconds",
            "How long the oldest due job has waited past its time (0: none due)",
        );
        let integrations = IntGaugeVec::new(
            Opts::new("integrations", "Integrations of every organization by status"),
            &["status"],
        )
        .expect("valid metric");
        let mut collectors = vec![
            Box::new(build_info) as Box<dyn prometheus::core::Collector>,
            Box::new(pool_in_use.clone()),
            Box::new(pool_idle.clone()),
            Box::new(pool_max.clone()),
            Box::new(jobs_due.clone()),
            Box::new(oldest_due_job_age.clone()),
            Box::new(integrations.clone()),
        ];
        // CPU seconds, resident memory, open and max fds, start time, threads (from /proc).
        #[cfg(target_os = "linux")]
        collectors.push(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        for metric in collectors.into_iter().chain([
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(worker_last_tick.clone()),
            Box::new(worker_up.clone()),
            Box::new(latency.clone()),
            Box::new(login_failures.clone()),
            Box::new(refreshes.clone()),
            Box::new(breaker_state.clone()),
            Box::new(jobs.clone()),
            Box::new(webhooks.clone()),
        ]) {
            registry.register(metric).expect("metric names are unique");
        }
        Metrics {
            registry,
            requests,
            latency,
            login_failures,
            refreshes,
            breaker_state,
            jobs,
            webhooks,
            worker_last_tick,
            worker_up,
            pool_in_use,
            pool_idle,
            pool_max,
            jobs_due,
            oldest_due_job_age,
            integrations,
            worker_down: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A round of the background actor ended (well or not) at `unix_seconds`.
    pub fn worker_ticked(&self, unix_seconds: i64) {
        self.worker_last_tick.set(unix_seconds);
    }

    /// The actor started (`true`) or its loop ended unexpectedly (`false`).
    pub fn worker_running(&self, up: bool) {
        self.worker_up.set(i64::from(up));
        self.worker_down.store(!up, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn worker_is_down(&self) -> bool {
        self.worker_down.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// `route` is the matched pattern (e.g. `/integrations/{id}`), never the raw path, and
    /// `method` one of a closed set, so the number of series stays bounded whatever clients
    /// send.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
    }

    pub fn login_failed(&self, reason: &str) {
        self.login_failures.with_label_values(&[reason]).inc();
    }

    pub fn refresh_outcome(&self, provider: &str, outcome: &str) {
        self.refreshes.with_label_values(&[provider, outcome]).inc();
    }

    pub fn breaker_state(&self, provider: &str, state: i64) {
        self.breaker_state.with_label_values(&[provider]).set(state);
    }

    pub fn job_outcome(&self, kind: &str, outcome: &str) {
        self.jobs.with_label_values(&[kind, outcome]).inc();
    }

    pub fn webhook(&self, provider: &str, outcome: &str) {
        self.webhooks.with_label_values(&[provider, outcome]).inc();
    }

    /// The pool's connections: lent out, idle, and the most it opens.
    pub fn database_pool(&self, in_use: u32, idle: u32, max: u32) {
        self.pool_in_use.set(in_use.into());
        self.pool_idle.set(idle.into());
        self.pool_max.set(max.into());
    }

    /// The job queue: how many jobs are due, and how long the oldest of them has waited.
    pub fn job_queue(&self, due: i64, oldest_due_age_seconds: i64) {
        self.jobs_due.set(due);
        self.oldest_due_job_age.set(oldest_due_age_seconds.max(0));
    }

    /// The integrations by status; a status with none reads 0 (so "rising" starts from 0).
    pub fn integrations_by_status(&self, counts: &[(IntegrationStatus, i64)]) {
        for status in IntegrationStatus::ALL {
            let count = counts.iter().filter(|(s, _)| s == status).map(|(_, n)| *n).sum();
            self.integrations.with_label_values(&[status.as_str()]).set(count);
        }
    }

    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("Prometheus text is UTF-8")
    }
}

/// The standard HTTP methods by name; anything a client invents is `other`.
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Lets a repeated log line through at most once a second per key, so a flood of forged
/// deliveries cannot flood the logs.
#[derive(Default)]
pub struct LogThrottle(std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>);

impl LogThrottle {
    pub fn allow(&self, key: &str) -> bool {
        let mut last = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = std::time::Instant::now();
        match last.get(key) {
            Some(at) if now.duration_since(*at) < Duration::from_secs(1) => false,
            _ => {
                if last.len() > 10_000 {
                    last.clear();
                }
                last.insert(key.to_owned(), now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(super::method_label("GET"), "GET");
        assert_eq!(super::method_label("PATCH"), "PATCH");
        assert_eq!(super::method_label("get"), "other");
        assert_eq!(super::method_label("PURGE17"), "other");
    }
}
