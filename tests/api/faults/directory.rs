//! A directory sync killed half-way (kill -9 of the instance running it) resumes from its
//! checkpoint on another instance: the pages already stored are not read again, every account
//! ends stored once (one `created` change each), and the pass marks no absence.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use targetym_integrations::db::schema::{
    directory_changes as c, directory_entries as e, directory_syncs as s,
};
use targetym_integrations::domain::IntegrationId;
use targetym_integrations::integrations::directory::{SyncNow, sync_now};

use super::{start_binary_on, wait_ready};
use crate::oauth_helpers::{oauth_app_with, providers_file, seed_integration};

const MEMBERS: usize = 2_000;

#[tokio::test]
async fn a_sync_killed_half_way_resumes_from_its_checkpoint_on_another_instance() {
    let t = oauth_app_with(|b| b).await;
    let org = t.app.org_of("ada@acme.example").await;
    t.mock.set_slack_members(
        (0..MEMBERS)
            .map(|i| {
                json!({ "id": format!("U{i:05}"), "name": format!("p{i}"), "deleted": false, "is_bot": false,
                        "profile": { "email": format!("p{i}@acme.example") } })
            })
            .collect(),
    );
    // Ten pages of 200, each answered in 150 ms: the sync lasts long enough to be killed.
    t.mock.set_behaviour(|b| b.api_delay_ms = 150);
    let slack = IntegrationId::parse(&seed_integration(&t.app, &t.mock, "slack", "T-ACME").await).unwrap();
    assert_eq!(sync_now(&t.app.ctx, org, slack).await.unwrap(), SyncNow::Queued);

    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, providers_file(&t.mock)).unwrap();
    let vars = [
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
        ("WORKER_LEASE_SECS", "3"),
        ("DIRECTORY_PAGE_INTERVAL_MS", "0"),
        ("PROVIDERS_FILE", providers.to_str().unwrap()),
    ];
    let progress = || {
        t.app.ctx.db.run(move |conn| {
            Ok(s::table
                .find(slack)
                .select((s::pages_read, s::pass_id.is_null(), s::completed_at.is_not_null()))
                .first::<(i32, bool, bool)>(conn)
                .optional()?)
        })
    };
    let wait_until = |what: &'static str, done: fn(Option<(i32, bool, bool)>) -> bool| async move {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if done(progress().await.unwrap()) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };

    let (mut first, base) = start_binary_on(&t.app, &t.app.database_url, &vars);
    wait_ready(&base).await;
    wait_until("three pages are stored", |p| {
        p.is_some_and(|(pages, _, _)| pages >= 3)
    })
    .await;
    first.kill().unwrap(); // SIGKILL: no shutdown, its claim on the job stays until the lease ends
    first.wait().unwrap();
    let (pages_at_kill, pass_ended, _) = progress().await.unwrap().unwrap();
    assert!(
        !pass_ended && pages_at_kill < 10,
        "killed half-way: {pages_at_kill} pages"
    );
    let first_pages_asked = |t: &crate::oauth_helpers::OAuthApp| {
        t.mock
            .api_calls()
            .iter()
            .filter(|c| c.path == "/api/users.list" && !c.query.contains("cursor="))
            .count()
    };
    assert_eq!(first_pages_asked(&t), 1);

    let (mut second, base) = start_binary_on(&t.app, &t.app.database_url, &vars);
    wait_ready(&base).await;
    wait_until("the pass completes", |p| {
        p.is_some_and(|(_, ended, completed)| ended && completed)
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();

    assert_eq!(
        first_pages_asked(&t),
        1,
        "the second instance resumed, it did not start over"
    );
    let (entries, active, created): (i64, i64, i64) = t
        .app
        .ctx
        .db
        .run(move |conn| {
            let entries = e::table
                .filter(e::integration_id.eq(slack))
                .count()
                .get_result(conn)?;
            let active = e::table
                .filter(e::integration_id.eq(slack))
                .filter(e::state.eq("active"))
                .count()
                .get_result(conn)?;
            let created = c::table
                .filter(c::integration_id.eq(slack))
                .filter(c::change.eq("created"))
                .count()
                .get_result(conn)?;
            Ok((entries, active, created))
        })
        .await
        .unwrap();
    assert_eq!(
        (entries, active, created),
        (MEMBERS as i64, MEMBERS as i64, MEMBERS as i64)
    );
}
