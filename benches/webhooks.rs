//! Webhook ingestion benchmark: starts the release binary on 127.0.0.1 with a fresh database
//! and a connected Slack workspace, then measures in one run
//!   1. GET /healthz at full speed,
//!   2. Slack events at full speed (unique event ids, each signed, verified, durably stored
//!      before the 200),
//!   3. Slack events at a fixed rate, half the maximum of 2., for the latency there;
//!
//! then checks that every acknowledged event is in the database.
//!
//!   cargo bench --bench webhooks                                  # SQLite
//!   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench webhooks
//!
//! The app runs pinned to core 0 (`taskset -c 0`) and this load generator to core 1, side by
//! side; besides rates, the app's CPU time per request (from /proc/<pid>/stat), which the
//! load generator's own speed does not bound.
//!
//! Knobs: BENCH_SECONDS (per phase, default 8), BENCH_CONCURRENCY (default 64), BENCH_BINARY
//! (another build of the app to drive instead, e.g. an older commit's release binary).

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{
    context, database, drop_database, env_number, free_port, full_speed, percentile, pin_this_process,
    post_event, prepare, start_server_on, stored_events, wait_up,
};

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
    support::block_on(run());
}

async fn run() {
    let seconds = Duration::from_secs(env_number("BENCH_SECONDS", 8));
    let concurrency = env_number("BENCH_CONCURRENCY", 64);
    let dir = tempfile::tempdir().unwrap();
    let (database_url, backend) = database(dir.path());
    let ctx = context(&database_url, dir.path(), &[]).await;
    prepare(&ctx).await;
    let port = free_port();
    let server = start_server_on(Some("0"), &database_url, dir.path(), port, &[]);
    pin_this_process("1");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    wait_up(&client, &base).await;

    println!(
        "webhook ingestion benchmark — {backend}, {concurrency} connections, {}s per phase",
        seconds.as_secs()
    );
    let (c, url) = (client.clone(), format!("{base}/healthz"));
    let cpu = support::cpu_seconds(server.pid());
    let (healthz, latencies, _) = full_speed(concurrency, seconds, move |_| {
        let (c, url) = (c.clone(), url.clone());
        async move { c.get(&url).send().await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    let healthz_cpu = (support::cpu_seconds(server.pid()) - cpu) / healthz as f64 * 1e6;
    let healthz_rate = healthz as f64 / seconds.as_secs_f64();
    println!(
        "  /healthz           {healthz_rate:>9.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   {healthz_cpu:>5.0} µs CPU/req",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    let post = |run: &'static str| {
        let (c, base) = (client.clone(), base.clone());
        move |n: u64| {
            let (c, base) = (c.clone(), base.clone());
            async move { post_event(&c, &base, n, run).await }
        }
    };
    let cpu = support::cpu_seconds(server.pid());
    let (acked, latencies, failed) = full_speed(concurrency, seconds, post("A")).await;
    let events_cpu = (support::cpu_seconds(server.pid()) - cpu) / acked.max(1) as f64 * 1e6;
    let events_rate = acked as f64 / seconds.as_secs_f64();
    println!(
        "  Slack events       {events_rate:>9.0} ev/s    p50 {:>6.2} ms   p99 {:>6.2} ms   {events_cpu:>5.0} µs CPU/event   ({failed} not acknowledged)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    println!(
        "  events / healthz   {:>9.2} by rate, {:.2} by CPU per request",
        events_rate / healthz_rate,
        healthz_cpu / events_cpu
    );

    // The latency the issue bounds: at half the maximum just measured.
    let half = (events_rate / 2.0).max(1.0) as u64;
    let (latencies, failed_fixed) = fixed_rate(half, seconds, post("B")).await;
    println!(
        "  at half, {half:>5} ev/s {:>8} sent    p50 {:>6.2} ms   p99 {:>6.2} ms   ({failed_fixed} not acknowledged)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );

    // Every acknowledged event is stored.
    let stored = stored_events(&ctx).await;
    let acknowledged = acked + latencies.len() as u64;
    println!("  stored {stored} of {acknowledged} acknowledged events");
    assert!(stored >= acknowledged, "an acknowledged event is missing");
    drop_database(&database_url);
}
