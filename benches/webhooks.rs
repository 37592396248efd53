//! Webhook ingestion benchmark: starts the release binary on 127.0.0.1 with a fresh database
//! and a connected Slack workspace, then measures in one run
//!   1. GET /healthz at full speed,
//!   2. Slack events at full speed (unique event ids, each signed, verified, durably stored
//!      before the 200),
//!   3. Slack events at a fixed 2,000/s, for the latency at that rate;
//!
//! then checks that every acknowledged event is in the database.
//!
//!   cargo bench --bench webhooks                                  # SQLite
//!   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench webhooks
//!
//! Knobs: BENCH_SECONDS (per phase, default 8), BENCH_CONCURRENCY (default 64).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use secrecy::SecretString;

use targetym_integrations::accounts::{self, NewAdminInput};
use targetym_integrations::config::Settings;
use targetym_integrations::context::AppContext;
use targetym_integrations::db::schema::integration_sync_logs as logs;
use targetym_integrations::db::{integrations, webhooks};
use targetym_integrations::webhooks::verify::hmac_sha256;

const SECRET: &str = "bench-signing-secret";
const TEAM: &str = "T-BENCH";

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn signed_event(n: u64, run: &str) -> (String, String, String) {
    let body = format!(
        r#"{{"token":"t","team_id":"{TEAM}","api_app_id":"A1","type":"event_callback","event_id":"Ev{run}{n:09}","event_time":1700000000,"event":{{"type":"message","user":"U1","channel":"C1","text":"hello"}}}}"#
    );
    let ts = chrono::Utc::now().timestamp().to_string();
    let mac = hmac_sha256(SECRET.as_bytes(), &[b"v0:", ts.as_bytes(), b":", body.as_bytes()]);
    (body, ts, format!("v0={}", hex::encode(mac)))
}

/// Latencies in microseconds.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

async fn prepare(database_url: &str, data_dir: &std::path::Path) {
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("DATA_DIR".to_owned(), data_dir.display().to_string()),
    ]);
    let ctx = AppContext::load(Settings::from_vars(&vars).unwrap())
        .await
        .unwrap();
    ctx.prepare_database().await.unwrap();
    let input = NewAdminInput::parse(
        "Bench HR",
        "bench@acme.example",
        SecretString::from("bench password 123"),
    )
    .unwrap();
    let org = accounts::create_admin(&ctx.db, input).await.unwrap();
    ctx.db
        .run(move |conn| {
            let (id, org) = (uuid::Uuid::new_v4().to_string(), org.to_text());
            integrations::insert(
                conn,
                &integrations::NewIntegration {
                    id: &id,
                    org_id: &org,
                    provider_slug: "slack",
                    status: "connected",
                    external_account_id: TEAM,
                    external_account_name: "Bench Workspace",
                    granted_scopes: "chat:write",
                    connected_by: None,
                },
            )?;
            // What the callback does: the workspace's events go to this integration.
            webhooks::bind_slack_route(
                conn,
                &webhooks::SlackRoute {
                    org_id: &org,
                    integration_id: &id,
                    team_id: TEAM,
                    rate_limit_per_minute: 10_000_000,
                    at: targetym_integrations::db::now(),
                },
            )
        })
        .await
        .unwrap();
}

fn start_server(database_url: &str, data_dir: &std::path::Path, port: u16) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_targetym-integrations"))
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", data_dir)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("SLACK_SIGNING_SECRET", SECRET)
        .env("WEBHOOK_RATE_LIMIT_PER_MINUTE", "10000000")
        .env("DB_POOL_SIZE", "8")
        // Ingestion alone: the actor would process the stored events meanwhile.
        .env("WORKER_ENABLED", "false")
        .env("RUST_LOG", "warn")
        .current_dir(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the release binary starts");
    Server(child)
}

/// `concurrency` loops sending requests as fast as answers come, for `duration`.
async fn full_speed<F, Fut>(concurrency: u64, duration: Duration, send: F) -> (u64, Vec<u64>, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let send = Arc::new(send);
    let counter = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (send, counter) = (send.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                if send(n).await {
                    latencies.push(started.elapsed().as_micros() as u64);
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        }));
    }
    let mut all = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (latencies, failed) = task.await.unwrap();
        all.extend(latencies);
        failures += failed;
    }
    all.sort_unstable();
    (all.len() as u64, all, failures)
}

/// Requests started at a fixed rate (not waiting for answers), latency from the scheduled start.
async fn fixed_rate<F, Fut>(rate: u64, duration: Duration, send: F) -> (Vec<u64>, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send + 'static,
{
    let send = Arc::new(send);
    let total = rate * duration.as_secs();
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let scheduled = start + interval * n as u32;
        tokio::time::sleep_until(scheduled.into()).await;
        let send = send.clone();
        tasks.push(tokio::spawn(async move {
            let ok = send(n).await;
            (ok, scheduled.elapsed().as_micros() as u64)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (ok, latency) = task.await.unwrap();
        if ok {
            latencies.push(latency);
        } else {
            failures += 1;
        }
    }
    latencies.sort_unstable();
    (latencies, failures)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let seconds = Duration::from_secs(env_number("BENCH_SECONDS", 8));
    let concurrency = env_number("BENCH_CONCURRENCY", 64);
    let dir = tempfile::tempdir().unwrap();
    let (database_url, backend) = match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin_url) => {
            let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = diesel::PgConnection::establish(&admin_url).expect("BENCH_DATABASE_URL reachable");
            conn.batch_execute(&format!("CREATE SCHEMA {schema}")).unwrap();
            let sep = if admin_url.contains('?') { '&' } else { '?' };
            (
                format!("{admin_url}{sep}options=-csearch_path%3D{schema}"),
                "PostgreSQL",
            )
        }
        None => (dir.path().join("bench.sqlite3").display().to_string(), "SQLite"),
    };
    prepare(&database_url, dir.path()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = start_server(&database_url, dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    println!(
        "webhook ingestion benchmark — {backend}, {concurrency} connections, {}s per phase",
        seconds.as_secs()
    );
    let (c, url) = (client.clone(), format!("{base}/healthz"));
    let (healthz, latencies, _) = full_speed(concurrency, seconds, move |_| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(&url).send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let healthz_rate = healthz as f64 / seconds.as_secs_f64();
    println!(
        "  /healthz           {healthz_rate:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let post = |run: &'static str| {
        let (c, url) = (client.clone(), format!("{base}/api/webhooks/slack"));
        move |n: u64| {
            let (c, url) = (c.clone(), url.clone());
            async move {
                let (body, ts, signature) = signed_event(n, run);
                c.post(&url)
                    .header("content-type", "application/json")
                    .header("X-Slack-Request-Timestamp", ts)
                    .header("X-Slack-Signature", signature)
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
            }
        }
    };
    let (acked, latencies, failed) = full_speed(concurrency, seconds, post("A")).await;
    let events_rate = acked as f64 / seconds.as_secs_f64();
    println!(
        "  Slack events       {events_rate:>9.0} ev/s    p50 {:>6.2} ms   p99 {:>6.2} ms   ({failed} not acknowledged)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!("  events / healthz   {:>9.2}", events_rate / healthz_rate);

    let (latencies, failed_fixed) = fixed_rate(2000, seconds, post("B")).await;
    println!(
        "  at 2,000 ev/s      {:>9} sent    p50 {:>6.2} ms   p99 {:>6.2} ms   ({failed_fixed} not acknowledged)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    // Every acknowledged event is stored.
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), database_url.clone()),
        ("DATA_DIR".to_owned(), dir.path().display().to_string()),
    ]);
    let ctx = AppContext::load(Settings::from_vars(&vars).unwrap())
        .await
        .unwrap();
    let stored: i64 = ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    let acknowledged = acked + latencies.len() as u64;
    println!("  stored {stored} of {acknowledged} acknowledged events");
    assert!(stored as u64 >= acknowledged, "an acknowledged event is missing");
    if let Some(schema) = database_url.split("search_path%3D").nth(1) {
        let admin_url = std::env::var("BENCH_DATABASE_URL").unwrap();
        let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
        let _ = conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
}
