//! The soak: the release binary with its worker on, for SOAK_SECONDS (default 600), under
//!   - signed Slack events at half the rate measured at full speed first (SOAK_RATE sets it),
//!   - an admin viewing the integrations page twice a second,
//!   - 20 integrations of a mock provider whose access tokens live 20 s, kept fresh by the
//!     worker (refresh tokens rotate at every refresh),
//!   - one restart at a third (SIGTERM, then a new process on the same database);
//!
//! then checks: no 5xx and no refused connection outside the restart window, every
//! acknowledged event stored, every integration still connected with no failed refresh, and
//! the second process's resident memory at its end within 20% of what it was two minutes in
//! (caches warm); the memory of both is printed every 10 s.
//!
//!   cargo bench --bench soak                                      # SQLite
//!   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench soak

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use support::{
    EMAIL, PASSWORD, Server, context, database, drop_database, env_number, free_port, full_speed, post_event,
    prepare, start_server, stored_events, wait_up,
};
use targetym_integrations::db::schema::{integration_sync_logs as logs, integrations as rows};

const INTEGRATIONS: usize = 20;
const TOKEN_TTL_SECS: i64 = 20;

fn main() {
    support::block_on(run());
}

/// A browser signed in at `base`.
async fn sign_in(base: &str) -> reqwest::Client {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    let html = page.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = &html[start..start + html[start..].find('"').unwrap()];
    let res = client
        .post(format!("{base}/login"))
        .form(&[("csrf_token", csrf), ("email", EMAIL), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "sign-in");
    client
}

fn rss_kib(server: &Server) -> u64 {
    rss_kib_of(server.0.id())
}

fn rss_kib_of(pid: u32) -> u64 {
    support::status_kib(pid, "VmRSS:")
}

/// Samples the resident memory of `pid` every 10 s until `until`: (seconds since `started`, KiB).
async fn sample_until(started: Instant, until: Instant, pid: u32, samples: &mut Vec<(u64, u64)>) {
    while Instant::now() + Duration::from_secs(10) <= until {
        tokio::time::sleep(Duration::from_secs(10)).await;
        samples.push((started.elapsed().as_secs(), rss_kib_of(pid)));
    }
}

/// What went wrong, by when (seconds since the start): 5xx answers and failed connections.
#[derive(Default)]
struct Failures(std::sync::Mutex<Vec<(f64, String)>>);

impl Failures {
    fn add(&self, started: Instant, what: String) {
        self.0
            .lock()
            .unwrap()
            .push((started.elapsed().as_secs_f64(), what));
    }
}

async fn run() {
    let seconds = env_number("SOAK_SECONDS", 600);
    let dir = tempfile::tempdir().unwrap();
    let (database_url, backend) = database(dir.path());
    let (mock, providers) = support::mock_provider(dir.path(), TOKEN_TTL_SECS).await;
    let vars = [
        ("PROVIDERS_FILE", providers.as_str()),
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
    ];
    let ctx = context(&database_url, dir.path(), &vars[..1]).await;
    let org = prepare(&ctx).await;
    support::connect_mock_integrations(&ctx, &mock, org, INTEGRATIONS, TOKEN_TTL_SECS).await;

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&database_url, dir.path(), port, &vars);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    wait_up(&client, &base).await;

    // Half of what it takes at full speed.
    let rate = match env_number("SOAK_RATE", 0) {
        0 => {
            let (c, b) = (client.clone(), base.clone());
            let (acked, _, _) = full_speed(64, Duration::from_secs(5), move |n| {
                let (c, b) = (c.clone(), b.clone());
                async move { post_event(&c, &b, n, "max").await }
            })
            .await;
            (acked / 5 / 2).max(1)
        }
        rate => rate,
    };
    let measured = stored_events(&ctx).await;
    println!(
        "soak — {backend}, {seconds} s, {rate} events/s, {INTEGRATIONS} integrations with {TOKEN_TTL_SECS} s tokens"
    );

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let acked = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Failures::default());

    // The events, paced every 10 ms, at most 256 in flight.
    let sender = {
        let (client, base, acked, failures) = (client.clone(), base.clone(), acked.clone(), failures.clone());
        tokio::spawn(async move {
            let in_flight = Arc::new(tokio::sync::Semaphore::new(256));
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut n = 0u64;
            while Instant::now() < deadline {
                tick.tick().await;
                let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
                while n < due {
                    let permit = in_flight.clone().acquire_owned().await.unwrap();
                    let (client, base, acked, failures) =
                        (client.clone(), base.clone(), acked.clone(), failures.clone());
                    let id = n;
                    tokio::spawn(async move {
                        match support::send_event(&client, &base, id, "soak").await {
                            Ok(reqwest::StatusCode::OK) => {
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(status) => failures.add(started, format!("event: HTTP {status}")),
                            Err(e) => failures.add(started, format!("event: {e}")),
                        }
                        drop(permit);
                    });
                    n += 1;
                }
            }
            n
        })
    };

    // The admin's page, twice a second.
    let pages = {
        let (base, failures) = (base.clone(), failures.clone());
        let admin = sign_in(&base).await;
        tokio::spawn(async move {
            let mut views = 0u64;
            while Instant::now() < deadline {
                match admin.get(format!("{base}/integrations")).send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::OK => views += 1,
                    Ok(r) if r.status() == reqwest::StatusCode::SEE_OTHER => {
                        failures.add(started, "page: signed out".into());
                    }
                    Ok(r) => failures.add(started, format!("page: HTTP {}", r.status())),
                    Err(e) => failures.add(started, format!("page: {e}")),
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            views
        })
    };

    // Resident memory every 10 s; the restart at a third, so the second process runs long
    // enough to show whether its memory settles.
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let restart_at = started + Duration::from_secs(seconds / 3);
    sample_until(started, restart_at, server.0.id(), &mut samples).await;
    tokio::time::sleep_until(restart_at.into()).await;
    let first_process = samples.clone();
    let stopping = started.elapsed().as_secs_f64();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let _ = server.0.wait();
    server = start_server(&database_url, dir.path(), port, &vars);
    wait_up(&client, &base).await;
    let up_again = started.elapsed().as_secs_f64();
    samples.clear();
    sample_until(started, deadline, server.0.id(), &mut samples).await;
    let sent = sender.await.unwrap();
    let views = pages.await.unwrap();
    // Let the last requests in flight finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    samples.push((started.elapsed().as_secs(), rss_kib(&server)));
    let second_process = samples.clone();
    drop(server);

    let acked = acked.load(Ordering::Relaxed);
    let stored = stored_events(&ctx).await - measured;
    let failures = failures.0.lock().unwrap().clone();
    let window = (stopping - 0.5)..(up_again + 2.0);
    let outside: Vec<&(f64, String)> = failures.iter().filter(|(at, _)| !window.contains(at)).collect();
    let (connected, failed_refreshes, refreshes) = ctx
        .db
        .run(|conn| {
            let connected: i64 = rows::table
                .filter(rows::provider_slug.eq("mock-oauth"))
                .filter(rows::status.eq("connected"))
                .count()
                .get_result(conn)?;
            let failed: i64 = logs::table
                .filter(logs::kind.eq("refresh"))
                .filter(logs::status.eq("failed"))
                .count()
                .get_result(conn)?;
            let refreshed: i64 = logs::table
                .filter(logs::kind.eq("refresh"))
                .filter(logs::status.eq("succeeded"))
                .count()
                .get_result(conn)?;
            Ok((connected, failed, refreshed))
        })
        .await
        .unwrap();
    let counters = mock.counters();
    // Warm (two minutes into the process, caches filled) against the end.
    let warm_and_end = |series: &[(u64, u64)], since: f64| {
        let warm = series
            .iter()
            .find(|(at, _)| *at as f64 >= since + 120.0)
            .or(series.first())
            .map_or(0, |s| s.1);
        (warm, series.last().map_or(0, |s| s.1))
    };
    let first_rss = warm_and_end(&first_process, 0.0);
    let second_rss = warm_and_end(&second_process, up_again);
    let growth = |(warm, at_end): (u64, u64)| at_end as f64 / warm.max(1) as f64;

    println!("  events      {sent} sent, {acked} acknowledged, {stored} stored");
    println!(
        "  failures    {} during the restart ({:.1}–{:.1} s), {} outside it",
        failures.len() - outside.len(),
        stopping,
        up_again,
        outside.len()
    );
    println!("  pages       {views} views of /integrations");
    println!(
        "  tokens      {refreshes} refreshes logged, {} at the provider, {failed_refreshes} failed, {} rotated tokens reused; {connected} of {INTEGRATIONS} connected",
        counters.refreshes, counters.refresh_token_reuses
    );
    let series = |samples: &[(u64, u64)]| {
        samples
            .iter()
            .map(|(at, kib)| format!("{at}s {}", kib / 1024))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  RSS (MiB)   first process: {}", series(&first_process));
    println!("              second process: {}", series(&second_process));
    println!(
        "  memory      second process warm {} → end {} KiB ({:.2}×); first {} → {} KiB ({:.2}×)",
        second_rss.0,
        second_rss.1,
        growth(second_rss),
        first_rss.0,
        first_rss.1,
        growth(first_rss)
    );
    for (at, what) in outside.iter().take(5) {
        println!("  outside the restart at {at:.1} s: {what}");
    }
    drop_database(&database_url);

    assert!(outside.is_empty(), "failures outside the restart window");
    assert!(stored >= acked, "an acknowledged event is missing");
    assert_eq!(connected as usize, INTEGRATIONS, "an integration was lost");
    assert_eq!(failed_refreshes, 0, "a refresh failed");
    assert_eq!(
        counters.refresh_token_reuses, 0,
        "a rotated refresh token was used again"
    );
    assert!(refreshes as u64 >= seconds / 20, "the tokens were refreshed");
    assert!(
        growth(second_rss) <= 1.2,
        "resident memory grew more than 20% once warm"
    );
}
