//! What the benchmarks share: a fresh database with an admin and a Slack workspace, the
//! release binary on 127.0.0.1, signed Slack events, load loops and percentiles.

#![allow(dead_code)] // each benchmark uses its own part

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
use targetym_integrations::db::schema::{integration_sync_logs as logs, integrations as rows};
use targetym_integrations::db::{integrations, webhooks};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, OrgId};
use targetym_integrations::webhooks::verify::hmac_sha256;

pub const SECRET: &str = "bench-signing-secret";
pub const TEAM: &str = "T-BENCH";
pub const EMAIL: &str = "bench@acme.example";
pub const PASSWORD: &str = "bench password 123";

/// The binary, killed when dropped.
pub struct Server(pub Child);

impl Server {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

/// A process's CPU time so far (user + system), in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command's name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    ticks
        / String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse::<f64>()
            .unwrap()
}

/// Pins every thread of this process (the load generator) to the CPUs `cpus`.
pub fn pin_this_process(cpus: &str) {
    let pinned = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset runs (util-linux)");
    assert!(pinned.success(), "taskset -a -p -c {cpus}");
}

/// A figure of /proc/<pid>/status in KiB (`VmRSS:`, `VmHWM:`); 0 once the process is gone.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A Slack event with a unique id, its timestamp and signature.
pub fn signed_event(n: u64, run: &str) -> (String, String, String) {
    let body = format!(
        r#"{{"token":"t","team_id":"{TEAM}","api_app_id":"A1","type":"event_callback","event_id":"Ev{run}{n:09}","event_time":1700000000,"event":{{"type":"message","user":"U1","channel":"C1","text":"hello"}}}}"#
    );
    let ts = chrono::Utc::now().timestamp().to_string();
    let mac = hmac_sha256(SECRET.as_bytes(), &[b"v0:", ts.as_bytes(), b":", body.as_bytes()]);
    (body, ts, format!("v0={}", hex::encode(mac)))
}

/// Sends one signed event; its answer's status.
pub async fn send_event(
    client: &reqwest::Client,
    base: &str,
    n: u64,
    run: &str,
) -> Result<reqwest::StatusCode, reqwest::Error> {
    let (body, ts, signature) = signed_event(n, run);
    let response = client
        .post(format!("{base}/api/webhooks/slack"))
        .header("content-type", "application/json")
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", signature)
        .body(body)
        .send()
        .await?;
    Ok(response.status())
}

/// Sends one signed event; true when it was acknowledged (200).
pub async fn post_event(client: &reqwest::Client, base: &str, n: u64, run: &str) -> bool {
    send_event(client, base, n, run)
        .await
        .is_ok_and(|status| status == reqwest::StatusCode::OK)
}

/// Runs a benchmark's body on a multi-threaded runtime.
pub fn block_on(body: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(body);
}

/// Latencies in microseconds, sorted; the result in milliseconds.
pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

/// BENCH_DATABASE_URL (a fresh schema in it) or a SQLite file in `dir`; and the backend's name.
pub fn database(dir: &std::path::Path) -> (String, &'static str) {
    match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
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
        None => (dir.join("bench.sqlite3").display().to_string(), "SQLite"),
    }
}

/// Drops the schema `database` made, if it made one.
pub fn drop_database(database_url: &str) {
    if let Some(schema) = database_url.split("search_path%3D").nth(1) {
        let admin_url = std::env::var("BENCH_DATABASE_URL").unwrap();
        let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
        let _ = conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
    }
}

/// The app's context on that database (its migrations applied, the catalogue seeded).
pub async fn context(database_url: &str, data_dir: &std::path::Path, vars: &[(&str, &str)]) -> AppContext {
    let mut all = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("DATA_DIR".to_owned(), data_dir.display().to_string()),
    ]);
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let ctx = AppContext::load(Settings::from_vars(&all).unwrap())
        .await
        .unwrap();
    ctx.prepare_database().await.unwrap();
    ctx
}

/// An admin and a connected Slack workspace whose events are routed (no rate limit to speak
/// of); the organization.
pub async fn prepare(ctx: &AppContext) -> OrgId {
    let input = NewAdminInput::parse("Bench HR", EMAIL, SecretString::from(PASSWORD)).unwrap();
    let org = accounts::create_admin(&ctx.db, input, true).await.unwrap();
    ctx.db
        .run(move |conn| {
            let (id, org) = (uuid::Uuid::new_v4().to_string(), org.to_text());
            integrations::insert(
                conn,
                &integrations::NewIntegration {
                    id: IntegrationId::parse(&id).unwrap(),
                    org_id: OrgId::parse(&org).unwrap(),
                    provider_slug: "slack",
                    status: IntegrationStatus::Connected,
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
                    org_id: OrgId::parse(&org).unwrap(),
                    integration_id: IntegrationId::parse(&id).unwrap(),
                    team_id: TEAM,
                    rate_limit_per_minute: 10_000_000,
                    at: targetym_integrations::db::now(),
                },
            )
        })
        .await
        .unwrap();
    org
}

/// An integration connected to `slug` as `account` of `org`, holding these tokens (sealed as
/// the callback stores them), with the provider's default scopes.
pub async fn connect(
    ctx: &AppContext,
    org: OrgId,
    slug: &'static str,
    account: (&str, &str),
    (access, refresh): (String, String),
) -> IntegrationId {
    let scopes = ctx.catalogue.get(slug).unwrap().def.default_scopes.join(" ");
    let id = IntegrationId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
    let keyring = ctx.keyring.clone();
    let (account_id, account_name) = (account.0.to_owned(), account.1.to_owned());
    ctx.db
        .run(move |conn| {
            integrations::insert(
                conn,
                &integrations::NewIntegration {
                    id,
                    org_id: org,
                    provider_slug: slug,
                    status: IntegrationStatus::Connected,
                    external_account_id: &account_id,
                    external_account_name: &account_name,
                    granted_scopes: &scopes,
                    connected_by: None,
                },
            )?;
            store_tokens(conn, &keyring, id, (access, refresh), 24 * 3600, &scopes)
        })
        .await
        .unwrap();
    id
}

/// Stores tokens for integration `id`, sealed as the callback seals them.
fn store_tokens(
    conn: &mut targetym_integrations::db::DbConnection,
    keyring: &targetym_integrations::crypto::Keyring,
    id: IntegrationId,
    (access, refresh): (String, String),
    ttl_secs: i64,
    scopes: &str,
) -> Result<(), targetym_integrations::db::DbError> {
    let tokens = targetym_integrations::oauth::TokenSet {
        access_token: SecretString::from(access),
        refresh_token: Some(SecretString::from(refresh)),
        token_type: "Bearer".into(),
        expires_in: Some(ttl_secs),
        scope: None,
        id_token: None,
        extra: serde_json::Value::Null,
    };
    let now = targetym_integrations::db::now();
    let sealed =
        targetym_integrations::integrations::credentials::seal(keyring, id, &tokens, None, scopes, now);
    targetym_integrations::db::credentials::upsert(conn, &sealed)
}

/// The release binary on `port`, with the worker off unless `vars` turn it on.
pub fn start_server(
    database_url: &str,
    data_dir: &std::path::Path,
    port: u16,
    vars: &[(&str, &str)],
) -> Server {
    start_server_on(None, database_url, data_dir, port, vars)
}

/// The same, pinned to the CPUs `cpus` (taskset's list) when given.
pub fn start_server_on(
    cpus: Option<&str>,
    database_url: &str,
    data_dir: &std::path::Path,
    port: u16,
    vars: &[(&str, &str)],
) -> Server {
    // BENCH_BINARY: another build of the app (an older commit's), driven by the same load.
    let binary =
        std::env::var("BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_targetym-integrations").into());
    // taskset execs the binary: the child's pid is the app's.
    let mut command = match cpus {
        Some(cpus) => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", cpus]).arg(binary);
            taskset
        }
        None => Command::new(binary),
    };
    let child = command
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
        .envs(vars.iter().copied())
        .current_dir(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the release binary starts");
    Server(child)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until `base` answers /healthz.
pub async fn wait_up(client: &reqwest::Client, base: &str) {
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not come up");
}

/// Polls `base`/readyz every 2 ms until it answers 200 (up to 10 s): how long since `spawned`.
pub async fn ready_after(client: &reqwest::Client, base: &str, spawned: Instant) -> Duration {
    while spawned.elapsed() < Duration::from_secs(10) {
        let answer = client.get(format!("{base}/readyz")).send().await;
        if answer.is_ok_and(|a| a.status() == reqwest::StatusCode::OK) {
            return spawned.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("{base} was not ready in 10 s");
}

/// Webhook events stored so far.
pub async fn stored_events(ctx: &AppContext) -> u64 {
    ctx.db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap() as u64
}

/// `concurrency` loops sending requests as fast as answers come, for `duration`: how many
/// succeeded, their latencies (µs, sorted), how many failed.
pub async fn full_speed<F, Fut>(concurrency: u64, duration: Duration, send: F) -> (u64, Vec<u64>, u64)
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

/// The mock provider on 127.0.0.1 with access tokens living `ttl_secs`, and the path of a
/// providers file (in `dir`) naming it `mock-oauth`.
pub async fn mock_provider(dir: &std::path::Path, ttl_secs: i64) -> (mock_provider::MockProvider, String) {
    let mock = mock_provider::MockProvider::start(mock_provider::MockConfig {
        access_token_ttl_secs: ttl_secs,
        auto_approve: true,
        ..Default::default()
    })
    .await
    .unwrap();
    let base = mock.base_url();
    let file = format!(
        r#"
[[provider]]
slug = "mock-oauth"
name = "Mock OAuth"
kind = "oauth2"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
revoke_url = "{base}/revoke"
userinfo_url = "{base}/userinfo"
client_id = "mock-client"
client_secret = "mock-secret"
scopes = ["read", "write"]
token_auth_method = "client_secret_post"
category = "Testing"
"#
    );
    let path = dir.join("providers.toml");
    std::fs::write(&path, file).unwrap();
    (mock, path.display().to_string())
}

/// `count` integrations of `mock-oauth` holding tokens `mock` issued (access tokens living
/// `ttl_secs`), each due for the worker at once as after a connection; stored 500 to a
/// transaction.
pub async fn connect_mock_integrations(
    ctx: &AppContext,
    mock: &mock_provider::MockProvider,
    org: OrgId,
    count: usize,
    ttl_secs: i64,
) -> Vec<IntegrationId> {
    let mut ids = Vec::with_capacity(count);
    for first in (0..count).step_by(500) {
        let batch: Vec<(IntegrationId, (String, String))> = (first..count.min(first + 500))
            .map(|_| {
                let id = IntegrationId::parse(&uuid::Uuid::new_v4().to_string()).unwrap();
                (id, mock.issue_tokens("read write"))
            })
            .collect();
        ids.extend(batch.iter().map(|(id, _)| *id));
        let keyring = ctx.keyring.clone();
        ctx.db
            .run(move |conn| {
                targetym_integrations::db::transaction(conn, |conn| {
                    let now = targetym_integrations::db::now();
                    for (id, (access, refresh)) in batch {
                        let account = id.to_string();
                        integrations::insert(
                            conn,
                            &integrations::NewIntegration {
                                id,
                                org_id: org,
                                provider_slug: "mock-oauth",
                                status: IntegrationStatus::Connected,
                                external_account_id: &account,
                                external_account_name: &account,
                                granted_scopes: "read write",
                                connected_by: None,
                            },
                        )?;
                        store_tokens(conn, &keyring, id, (access, refresh), ttl_secs, "read write")?;
                        diesel::update(rows::table.find(id))
                            .set(rows::next_refresh_at.eq(Some(now)))
                            .execute(conn)?;
                    }
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
    ids
}
