//! Pages side by side with /healthz (issue 17): the release binary pinned to one core
//! (`taskset -c 0`), wrk pinned to the other (`taskset -c 1`), the same keep-alive load on each
//! path after a warm-up; per path its requests/s, the server's CPU time per request (from
//! /proc/<pid>/stat) and the ratio to /healthz of the same run.
//!
//!   cargo bench --bench pages                                                   # SQLite
//!   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench pages
//!
//! Knobs: BENCH_SECONDS (8 per path), BENCH_CONCURRENCY (16 connections), BENCH_BINARY (another
//! build, for before/after), BENCH_ONLY (only the paths containing it, after /healthz: to
//! profile one with `perf record -p`). Needs `wrk` and `taskset` (Debian: wrk, util-linux).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use targetym_integrations::context::AppContext;
use targetym_integrations::db::{audit, sync_logs};
use targetym_integrations::domain::{Actor, AuditKind, IntegrationId, LogKind, LogStatus, OrgId};

use support::{EMAIL, PASSWORD, context, database, drop_database, env_number, free_port, prepare};

/// The organization's other connections: with `prepare`'s Slack, ten.
const OTHERS: [&str; 9] = [
    "google",
    "microsoft",
    "asana",
    "notion",
    "jira",
    "linear",
    "zoom",
    "dropbox",
    "github",
];

/// A connected integration of `slug` holding (unused) sealed tokens, with an audit trail to
/// show: a connect in the audit trail and nine refreshes in the activity log.
async fn connect(ctx: &AppContext, org: OrgId, slug: &'static str, n: usize) -> IntegrationId {
    let account = (format!("bench-account-{n}"), format!("Bench account {n}"));
    let tokens = (format!("bench-access-{n}"), format!("bench-refresh-{n}"));
    let id = support::connect(ctx, org, slug, (&account.0, &account.1), tokens).await;
    ctx.db
        .run(move |conn| {
            let actor = Actor {
                name: EMAIL.into(),
                user_id: None,
                source: Some("127.0.0.1".into()),
            };
            audit::append(
                conn,
                &audit::NewAuditEvent::new(org, AuditKind::Connect, &actor, "Connected (12 ms)")
                    .about(id, slug),
            )?;
            for _ in 0..9 {
                sync_logs::append(
                    conn,
                    &sync_logs::NewSyncLog {
                        org_id: org,
                        integration_id: Some(id),
                        provider_slug: slug,
                        kind: LogKind::Refresh,
                        status: LogStatus::Succeeded,
                        message: "Token refreshed",
                        error: None,
                        actor_user_id: None,
                        duration_ms: Some(12),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    id
}

/// The admin's session cookie, signed in through the login form.
async fn sign_in(base: &str) -> String {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = form
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the login form's CSRF token")
        .to_owned();
    let answer = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", EMAIL),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::SEE_OTHER, "signed in");
    let url = base.parse().unwrap();
    use reqwest::cookie::CookieStore;
    jar.cookies(&url)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned()
}

struct Run {
    requests_per_second: f64,
    p99_ms: f64,
    cpu_us_per_request: f64,
    non_2xx: u64,
}

/// wrk on core 1 against `url` for `seconds`; the server's CPU time per request meanwhile.
fn wrk(url: &str, cookie: &str, seconds: u64, connections: u64, server: u32) -> Run {
    let cpu_before = support::cpu_seconds(server);
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "--latency", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["-H", &format!("Cookie: {cookie}")])
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let cpu = support::cpu_seconds(server) - cpu_before;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim_start().strip_prefix(prefix).map(|r| r.trim().to_owned()))
    };
    let requests: f64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("wrk's answer: {text}"));
    let p99 = field("99%").unwrap_or_default();
    let p99_ms = match p99.strip_suffix("ms") {
        Some(ms) => ms.parse().unwrap_or(f64::NAN),
        None => match p99.strip_suffix("us") {
            Some(us) => us.parse::<f64>().unwrap_or(f64::NAN) / 1000.0,
            None => {
                p99.strip_suffix('s')
                    .and_then(|s| s.parse::<f64>().ok())
                    .unwrap_or(f64::NAN)
                    * 1000.0
            }
        },
    };
    Run {
        requests_per_second: field("Requests/sec:").and_then(|r| r.parse().ok()).unwrap_or(0.0),
        p99_ms,
        cpu_us_per_request: cpu / requests * 1e6,
        non_2xx: field("Non-2xx or 3xx responses:")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

fn main() {
    support::block_on(async {
        let seconds = env_number("BENCH_SECONDS", 8);
        let connections = env_number("BENCH_CONCURRENCY", 16);
        let dir = tempfile::tempdir().unwrap();
        let (database_url, backend) = database(dir.path());
        let ctx = context(&database_url, dir.path(), &[]).await;
        let org = prepare(&ctx).await;
        let mut ids = Vec::new();
        for (n, slug) in OTHERS.into_iter().enumerate() {
            ids.push(connect(&ctx, org, slug, n).await);
        }
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let spawned = Instant::now();
        let server = support::start_server_on(Some("0"), &database_url, dir.path(), port, &[]);
        let ready = support::ready_after(&reqwest::Client::new(), &base, spawned).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle_mib = support::status_kib(server.pid(), "VmRSS:") as f64 / 1024.0;
        let cookie = sign_in(&base).await;
        // The Google integration's page: its detail makes no provider call (GitHub's lists the
        // user's organizations).
        let paths = [
            "/healthz".to_owned(),
            "/integrations".to_owned(),
            format!("/integrations/{}", ids[0]),
            "/audit".to_owned(),
            "/activity".to_owned(),
            "/dashboard".to_owned(),
        ];
        println!(
            "pages benchmark — {backend}, 10 connected integrations, app on core 0, wrk on core 1, \
             {connections} connections, {seconds} s per path after a 2 s warm-up"
        );
        println!(
            "  {:<52} {:>9} {:>9} {:>10} {:>7}",
            "path", "req/s", "p99 ms", "CPU µs/req", "ratio"
        );
        println!(
            "  ready (/readyz 200) {:.0} ms after the spawn; idle RSS {idle_mib:.1} MiB",
            ready.as_secs_f64() * 1000.0
        );
        let mut healthz = None;
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        for path in paths.iter().filter(|p| *p == "/healthz" || p.contains(&only)) {
            let url = format!("{base}{path}");
            wrk(&url, &cookie, 2, connections, server.pid());
            let run = wrk(&url, &cookie, seconds, connections, server.pid());
            assert_eq!(
                run.non_2xx, 0,
                "{path} answered errors: is the session still valid?"
            );
            let ratio = run.requests_per_second / *healthz.get_or_insert(run.requests_per_second);
            println!(
                "  {:<52} {:>9.0} {:>9.2} {:>10.0} {:>7.3}",
                path, run.requests_per_second, run.p99_ms, run.cpu_us_per_request, ratio
            );
        }
        let mib = |key| support::status_kib(server.pid(), key) as f64 / 1024.0;
        println!(
            "  app memory: now {:.1} MiB, peak {:.1} MiB",
            mib("VmRSS:"),
            mib("VmHWM:")
        );
        drop(server);
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(ctx);
        drop_database(&database_url);
    });
}
