//! Token refresh throughput: BENCH_INTEGRATIONS (default 20,000) integrations of the mock
//! provider, all due at once, worked through by BENCH_INSTANCES (default 2) release binaries
//! with their worker on, sharing one database. Then it checks that nothing was refreshed
//! twice or lost: the provider saw exactly one refresh per integration and no rotated-away
//! refresh token came back, and every integration holds a refresh token the provider still
//! honours.
//!
//!   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --bench refresh
//!   cargo bench --bench refresh          # one SQLite file shared by the instances
//!
//! PROVIDER_CONCURRENCY (64 here, 4 by default in the app: a provider's refreshes in flight,
//! and the size of the worker's chunks) and WORKER_BATCH_SIZE (512 here, 100 in the app) are
//! passed on. BENCH_INTEGRATIONS and BENCH_INSTANCES set the rest.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use secrecy::ExposeSecret;

use support::{context, database, drop_database, env_number, free_port, prepare, start_server, wait_up};
use targetym_integrations::db::schema::integrations as rows;
use targetym_integrations::domain::IntegrationStatus;

/// Long enough that no integration comes due a second time during the run.
const TOKEN_TTL_SECS: i64 = 3600;

fn main() {
    support::block_on(run());
}

async fn run() {
    let count = env_number("BENCH_INTEGRATIONS", 20_000) as usize;
    let instances = env_number("BENCH_INSTANCES", 2);
    let concurrency = env_number("PROVIDER_CONCURRENCY", 64).to_string();
    let batch = env_number("WORKER_BATCH_SIZE", 512).to_string();
    let dir = tempfile::tempdir().unwrap();
    let (database_url, backend) = database(dir.path());
    let (mock, providers) = support::mock_provider(dir.path(), TOKEN_TTL_SECS).await;
    let ctx = context(&database_url, dir.path(), &[("PROVIDERS_FILE", &providers)]).await;
    let org = prepare(&ctx).await;
    let ids = support::connect_mock_integrations(&ctx, &mock, org, count, TOKEN_TTL_SECS).await;
    let seeded = targetym_integrations::db::now();
    let before = mock.counters();
    println!(
        "refresh benchmark — {backend}, {count} integrations due at once, {instances} instances, \
         PROVIDER_CONCURRENCY={concurrency}, WORKER_BATCH_SIZE={batch}"
    );

    let vars = [
        ("PROVIDERS_FILE", providers.as_str()),
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
        ("PROVIDER_CONCURRENCY", concurrency.as_str()),
        ("WORKER_BATCH_SIZE", batch.as_str()),
    ];
    let started = Instant::now();
    let mut servers = Vec::new();
    for _ in 0..instances {
        let port = free_port();
        servers.push(start_server(&database_url, dir.path(), port, &vars));
        wait_up(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;
    }

    // The provider's count of refreshes, sampled until every integration's new tokens are
    // stored (or two minutes pass).
    let (mut at_tenth, mut at_nine_tenths) = (None, None);
    let deadline = started + Duration::from_secs(120);
    let done = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refreshed = (mock.counters().refreshes - before.refreshes) as usize;
        if refreshed >= count / 10 {
            at_tenth.get_or_insert((Instant::now(), refreshed));
        }
        if refreshed >= count * 9 / 10 {
            at_nine_tenths.get_or_insert((Instant::now(), refreshed));
        }
        if refreshed >= count && stored_fresh(&ctx, seeded).await >= count as i64 {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "{refreshed} of {count} refreshed in two minutes"
        );
    };
    let mut cpu_seconds = 0.0;
    let mut peaks = Vec::new();
    for server in &servers {
        cpu_seconds += support::cpu_seconds(server.pid());
        peaks.push(support::status_kib(server.pid(), "VmHWM:") as f64 / 1024.0);
    }
    drop(servers);

    let after = mock.counters();
    let refreshes = after.refreshes - before.refreshes;
    let (first, last) = (at_tenth.unwrap(), at_nine_tenths.unwrap());
    let steady = (last.1 - first.1) as f64 / (last.0 - first.0).as_secs_f64();
    println!(
        "  all {count} refreshed and stored in {:.2} s from the first start ({:.0} /s overall)",
        (done - started).as_secs_f64(),
        count as f64 / (done - started).as_secs_f64()
    );
    println!("  steady rate (10% -> 90%): {steady:.0} refreshes/s");
    println!(
        "  app CPU {:.0} µs per refresh (all instances); peak RSS {} MiB",
        cpu_seconds * 1e6 / count as f64,
        peaks
            .iter()
            .map(|p| format!("{p:.1}"))
            .collect::<Vec<_>>()
            .join(" / ")
    );

    // Exactly once: one refresh per integration, no token presented twice, nothing failed.
    println!(
        "  provider: {refreshes} refreshes, {} token requests, {} rotated tokens reused",
        after.token_requests - before.token_requests,
        after.refresh_token_reuses
    );
    assert_eq!(refreshes as usize, count, "one refresh per integration");
    assert_eq!(after.refresh_token_reuses, 0, "a refresh token was sent twice");
    assert_eq!(
        after.token_requests - before.token_requests,
        refreshes,
        "a token request failed"
    );
    // Nothing lost: each integration holds the refresh token the provider issued last.
    let valid: HashSet<String> = mock.issued_refresh_tokens().into_iter().collect();
    let keyring = ctx.keyring.clone();
    let held = ctx
        .db
        .run(move |conn| {
            let mut held = Vec::new();
            for id in ids {
                let stored = targetym_integrations::db::credentials::find(conn, id)?.expect("stored tokens");
                let tokens =
                    targetym_integrations::integrations::credentials::open(&keyring, &stored).unwrap();
                held.push(tokens.refresh_token.unwrap().expose_secret().to_owned());
            }
            Ok(held)
        })
        .await
        .unwrap();
    let stale = held.iter().filter(|token| !valid.contains(*token)).count();
    assert_eq!(
        stale, 0,
        "integrations holding a refresh token the provider no longer honours"
    );
    println!("  exactly once: checked ({count} integrations, each holding its live refresh token)");

    drop(ctx);
    drop_database(&database_url);
}

/// Integrations whose refreshed tokens are stored: connected again, nothing in flight, next
/// maintenance moved past the seeding.
async fn stored_fresh(
    ctx: &targetym_integrations::context::AppContext,
    seeded: chrono::NaiveDateTime,
) -> i64 {
    ctx.db
        .run(move |conn| {
            Ok(rows::table
                .filter(rows::status.eq(IntegrationStatus::Connected))
                .filter(rows::refresh_sent.is_null())
                .filter(rows::next_refresh_at.gt(seeded + chrono::Duration::minutes(30)))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}
