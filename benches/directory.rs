//! Directory sync benchmark: a mock Slack workspace of 100,000 members (users.list paged by
//! cursor, 200 a page, served by the mock in this process), synced by the release binary's
//! worker, on SQLite or PostgreSQL:
//!   1. the first full sync: users/s, and the app's peak RSS;
//!   2. a second sync with nothing changed: how many entries it wrote (0 expected);
//!   3. a sync after 1% of the members changed: how many it wrote (1% expected).
//!
//!   cargo bench --bench directory                                  # SQLite
//!   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench directory
//!
//! Knobs: BENCH_USERS (default 100000).

mod support;

use std::time::{Duration, Instant};

use diesel::prelude::*;
use mock_provider::{MockConfig, MockProvider};
use serde_json::{Value, json};
use targetym_integrations::context::AppContext;
use targetym_integrations::db::schema::{directory_changes as c, directory_syncs as s};
use targetym_integrations::domain::{IntegrationId, OrgId};
use targetym_integrations::integrations::directory::{SyncNow, sync_now};

use support::{context, database, drop_database, env_number, free_port, start_server, wait_up};

fn member(i: usize, generation: u32) -> Value {
    let name = match generation {
        0 => format!("Person {i}"),
        g => format!("Person {i} (renamed {g})"),
    };
    json!({ "id": format!("U{i:06}"), "name": format!("p{i}"), "real_name": name, "deleted": false,
            "is_bot": false, "profile": { "email": format!("p{i}@bench.example"), "real_name": name } })
}

/// A Slack integration of `org` holding tokens the mock issued.
async fn connect_slack(ctx: &AppContext, mock: &MockProvider, org: OrgId) -> IntegrationId {
    let scopes = ctx.catalogue.get("slack").unwrap().def.default_scopes.join(" ");
    let tokens = mock.issue_tokens(&scopes);
    support::connect(ctx, org, "slack", ("T-DIRECTORY", "Directory Bench"), tokens).await
}

/// Peak and current resident memory of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let mib = |key| support::status_kib(pid, key) as f64 / 1024.0;
    (mib("VmHWM:"), mib("VmRSS:"))
}

/// Queues a sync and waits for its pass to complete: (seconds, entries written by the pass,
/// changes added to the feed).
async fn sync(ctx: &AppContext, org: OrgId, id: IntegrationId) -> (f64, i64, i64) {
    let changes = || {
        ctx.db.run(move |conn| {
            Ok(c::table
                .filter(c::integration_id.eq(id))
                .count()
                .get_result::<i64>(conn)?)
        })
    };
    let completed = || {
        ctx.db.run(move |conn| {
            Ok(s::table
                .find(id)
                .select((
                    s::completed_at,
                    s::pass_id.is_null(),
                    s::entries_written,
                    s::last_error,
                ))
                .first::<(Option<chrono::NaiveDateTime>, bool, i32, Option<String>)>(conn)
                .optional()?)
        })
    };
    let before = completed().await.unwrap().and_then(|r| r.0);
    let changes_before = changes().await.unwrap();
    let started = Instant::now();
    assert_eq!(sync_now(ctx, org, id).await.unwrap(), SyncNow::Queued);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Some((at, ended, written, error)) = completed().await.unwrap() {
            if let Some(error) = error {
                panic!("the sync failed: {error}");
            }
            if ended && at.is_some() && at != before {
                let seconds = started.elapsed().as_secs_f64();
                return (seconds, written as i64, changes().await.unwrap() - changes_before);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sync did not complete"
        );
    }
}

fn main() {
    support::block_on(run());
}

async fn run() {
    let users = env_number("BENCH_USERS", 100_000) as usize;
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    mock.set_slack_members((0..users).map(|i| member(i, 0)).collect());
    let dir = tempfile::tempdir().unwrap();
    let base = mock.base_url();
    let providers = dir.path().join("providers.toml");
    std::fs::write(
        &providers,
        format!(
            "[[provider]]\nslug = \"slack\"\nauthorize_url = \"{base}/authorize\"\ntoken_url = \"{base}/token\"\n\
             revoke_url = \"{base}/revoke\"\nuserinfo_url = \"{base}/api/auth.test\"\napi_base_url = \"{base}/api\"\n\
             api_hosts = \"{base}/hosts\"\nclient_id = \"mock-client\"\nclient_secret = \"mock-secret\"\n"
        ),
    )
    .unwrap();
    let (database_url, backend) = database(dir.path());
    let ctx = context(&database_url, dir.path(), &[]).await;
    let org = support::prepare(&ctx).await;
    let id = connect_slack(&ctx, &mock, org).await;
    let port = free_port();
    let vars = [
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
        ("DIRECTORY_PAGE_INTERVAL_MS", "0"),
        ("PROVIDERS_FILE", providers.to_str().unwrap()),
    ];
    let server = start_server(&database_url, dir.path(), port, &vars);
    let pid = server.0.id();
    wait_up(&reqwest::Client::new(), &format!("http://127.0.0.1:{port}")).await;
    let (idle, _) = memory(pid);
    println!("directory sync benchmark — {backend}, {users} Slack members in pages of 200");

    let (seconds, written, changes) = sync(&ctx, org, id).await;
    let (peak, now) = memory(pid);
    println!(
        "  first full sync    {:>8.0} users/s  ({seconds:.1} s; {written} entries written, {changes} changes)",
        users as f64 / seconds
    );
    println!("  app memory         idle {idle:.1} MiB, peak {peak:.1} MiB, now {now:.1} MiB");

    let (seconds, written, changes) = sync(&ctx, org, id).await;
    println!(
        "  unchanged sync     {:>8.0} users/s  ({seconds:.1} s; {written} entries written, {changes} changes)",
        users as f64 / seconds
    );
    assert_eq!(
        (written, changes),
        (0, 0),
        "an unchanged directory writes nothing"
    );

    let changed = users / 100;
    mock.set_slack_members((0..users).map(|i| member(i, u32::from(i % 100 == 0))).collect());
    let (seconds, written, changes) = sync(&ctx, org, id).await;
    println!(
        "  1% changed         {:>8.0} users/s  ({seconds:.1} s; {written} entries written, {changes} changes, {:.2}% of {users})",
        users as f64 / seconds,
        written as f64 * 100.0 / users as f64
    );
    assert_eq!(
        (written, changes),
        (changed as i64, changed as i64),
        "only the changed entries are written"
    );
    let (peak, _) = memory(pid);
    println!("  app peak memory    {peak:.1} MiB");
    drop(server);
    drop_database(&database_url);
}
