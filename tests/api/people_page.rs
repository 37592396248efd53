//! The People page (issue 15): people grouped by email across the directories, the filters
//! "no account in X", "leaver with access" and search, each directory's counts and last error,
//! "Sync now" (queued once, CSRF-protected, org-scoped) and its progress; and a long directory
//! sync run in slices, so the worker keeps refreshing other integrations' tokens between them.

use reqwest::StatusCode;
use serde_json::{Value, json};
use targetym_integrations::db;
use targetym_integrations::domain::{IntegrationId, OrgId};
use targetym_integrations::integrations::directory::sync_directory;
use targetym_integrations::worker::Worker;

use crate::oauth_helpers::{OAuthApp, oauth_app_with, requested_scopes, seed_granted, seed_integration};

fn slack_member(id: &str, email: &str, name: &str) -> Value {
    json!({ "id": id, "name": name, "real_name": name, "profile": { "email": email }, "deleted": false, "is_bot": false })
}

fn google_user(id: &str, email: &str, name: &str) -> Value {
    json!({ "id": id, "primaryEmail": email, "name": { "fullName": name }, "suspended": false })
}

/// Slack lists Ada, Bob and Carol; Google Workspace lists Ada and Dave.
async fn two_directories() -> (OAuthApp, OrgId, IntegrationId, IntegrationId) {
    let t = oauth_app_with(|b| b.var("DIRECTORY_PAGE_INTERVAL_MS", "0")).await;
    let org = t.app.org_of("ada@acme.example").await;
    t.mock.set_slack_members(vec![
        slack_member("U1", "ada@acme.example", "Ada Lovelace"),
        slack_member("U2", "bob@acme.example", "Bob Martin"),
        slack_member("U3", "carol@acme.example", "Carol Shaw"),
    ]);
    t.mock.set_google_directory(vec![
        google_user("G1", "Ada@Acme.example", "Ada Lovelace"),
        google_user("G4", "dave@acme.example", "Dave Cutler"),
    ]);
    let slack = IntegrationId::parse(&seed_integration(&t.app, &t.mock, "slack", "T-ACME").await).unwrap();
    let scopes = requested_scopes(&t.app, "google");
    let google = seed_granted(
        &t.app,
        "google",
        "ada@acme.example",
        t.mock.issue_tokens(&scopes),
        &scopes,
    )
    .await;
    let google = IntegrationId::parse(&google).unwrap();
    sync_directory(&t.app.ctx, org, slack).await.unwrap();
    sync_directory(&t.app.ctx, org, google).await.unwrap();
    (t, org, slack, google)
}

/// The emails of the people rows on a page, in order.
fn people_on(html: &str) -> Vec<String> {
    html.split("data-person=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn people_are_grouped_by_email_and_filtered_by_service_leavers_and_search() {
    let (t, _org, slack, google) = two_directories().await;
    let page = t.admin.get(t.app.url("/people")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert_eq!(
        people_on(&html),
        [
            "ada@acme.example",
            "bob@acme.example",
            "carol@acme.example",
            "dave@acme.example"
        ],
        "Ada's two accounts are one person"
    );
    assert!(html.contains(&format!("data-directory=\"{slack}\"")) && html.contains("data-active=\"3\""));
    assert!(html.contains(&format!("data-directory=\"{google}\"")) && html.contains("data-active=\"2\""));
    assert!(html.contains(">Sync now<"), "no sync is running");
    assert!(
        html.contains("data-source=\"admin_directory\""),
        "the page says which Google list was read"
    );

    // Onboarding: who has no Slack account yet.
    let missing = t
        .app
        .htmx_get(&t.admin, &format!("/people?missing={slack}"))
        .await;
    assert_eq!(people_on(&missing), ["dave@acme.example"]);
    let missing = t
        .app
        .htmx_get(&t.admin, &format!("/people?missing={google}"))
        .await;
    assert_eq!(people_on(&missing), ["bob@acme.example", "carol@acme.example"]);

    // Offboarding: the platform says Bob and Erin left; Bob still has Slack, Erin nothing.
    let token = t.app.service_token(_org, "hr-core").await;
    for email in ["bob@acme.example", "erin@acme.example"] {
        let status = reqwest::Client::new()
            .put(t.app.url(&format!("/api/v1/people/{email}/employment")))
            .bearer_auth(&token)
            .json(&json!({ "status": "leaver", "since": "2026-11-30" }))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }
    let leavers = t.app.htmx_get(&t.admin, "/people?leavers=1").await;
    assert_eq!(
        people_on(&leavers),
        ["bob@acme.example"],
        "leavers with an active account"
    );
    assert!(leavers.contains("left 2026-11-30"));
    // Erin, named by the platform with no account anywhere, is listed (and has no Slack).
    let missing = t
        .app
        .htmx_get(&t.admin, &format!("/people?missing={slack}"))
        .await;
    assert_eq!(people_on(&missing), ["dave@acme.example", "erin@acme.example"]);

    // Search by name (any case) or email.
    assert_eq!(
        people_on(&t.app.htmx_get(&t.admin, "/people?q=SHAW").await),
        ["carol@acme.example"]
    );
    assert_eq!(
        people_on(&t.app.htmx_get(&t.admin, "/people?q=dave%40").await),
        ["dave@acme.example"]
    );
    assert!(
        people_on(&t.app.htmx_get(&t.admin, "/people?q=%25").await).is_empty(),
        "a wildcard is text"
    );

    // Another organization sees none of it, and cannot filter by this organization's ids.
    let eve = t.app.signed_in_admin("Other Org", "eve@other.example").await;
    let other = t.app.htmx_get(&eve, "/people").await;
    assert!(people_on(&other).is_empty() && !other.contains("data-directory="));
    let res = eve
        .get(t.app.url(&format!("/people?missing={slack}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = t
        .admin
        .get(t.app.url("/people?missing=not-an-id"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// The sync jobs of an integration: (status, message).
async fn sync_jobs(t: &OAuthApp, id: IntegrationId) -> Vec<(String, String)> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integration_sync_logs as l;
    t.app
        .ctx
        .db
        .run(move |conn| {
            Ok(l::table
                .filter(l::integration_id.eq(id))
                .filter(l::kind.eq("sync"))
                .select((l::status, l::message))
                .load(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn sync_now_queues_one_sync_shows_its_progress_and_is_org_scoped() {
    let (t, _org, slack, _google) = two_directories().await;
    let mut members: Vec<Value> = (0..5)
        .map(|i| slack_member(&format!("U9{i}"), &format!("new{i}@acme.example"), "New"))
        .collect();
    members.push(slack_member("U1", "ada@acme.example", "Ada Lovelace"));
    t.mock.set_slack_members(members);
    let csrf = t.app.csrf_with(&t.admin, "/people").await;
    let path = format!("/people/sync/{slack}");

    // Without the CSRF token: refused, nothing queued.
    let res = t.app.post_form_with(&t.admin, &path, &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(sync_jobs(&t, slack).await.is_empty());
    // Another organization's admin: not found, nothing queued.
    let eve = t.app.signed_in_admin("Other Org", "eve@other.example").await;
    let eve_csrf = t.app.csrf_with(&eve, "/people").await;
    let res = t
        .app
        .post_form_with(&eve, &path, &[("csrf_token", &eve_csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(sync_jobs(&t, slack).await.is_empty());

    // htmx: the body comes back polling, the directory queued.
    let body = t
        .admin
        .post(t.app.url(&path))
        .header("HX-Request", "true")
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("hx-trigger=\"every 2s\""), "{body}");
    assert!(body.contains("data-progress=\"queued\""));
    // A second press queues nothing more.
    let res = t
        .app
        .post_form_with(&t.admin, &path, &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = t
        .admin
        .get(t.app.url("/people"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("already queued or running"));
    assert_eq!(sync_jobs(&t, slack).await.len(), 1);

    let report = Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
    assert_eq!(report.jobs_succeeded, 1, "{report:?}");
    let after = t.app.htmx_get(&t.admin, "/people").await;
    assert!(!after.contains("every 2s"), "nothing runs: the polling stops");
    assert!(people_on(&after).contains(&"new4@acme.example".to_owned()));
    // Bob and Carol are no longer listed by Slack: deactivated, still shown.
    assert!(after.contains("data-inactive=\"2\""), "{after}");
}

#[tokio::test]
async fn a_failing_directory_shows_its_last_error() {
    let (t, org, slack, _google) = two_directories().await;
    t.mock.set_behaviour(|b| b.api_fail_next = vec![500, 500, 500]);
    assert!(sync_directory(&t.app.ctx, org, slack).await.is_err());
    let html = t.app.htmx_get(&t.admin, "/people").await;
    let row = &html[html.find(&format!("data-directory=\"{slack}\"")).unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("state-error"), "{row}");
}

#[tokio::test]
async fn a_long_directory_sync_runs_in_slices_between_which_other_tokens_are_refreshed() {
    // Slack's users.list is paced (a page every 50 ms here): a round reads one page and
    // hands back, so the worker's next round maintains the tokens that fell due meanwhile.
    let t = oauth_app_with(|b| b.var("DIRECTORY_PAGE_INTERVAL_MS", "50")).await;
    let org = t.app.org_of("ada@acme.example").await;
    t.mock.set_slack_members(
        (0..1_400)
            .map(|i| slack_member(&format!("U{i:05}"), &format!("p{i}@acme.example"), "P"))
            .collect(),
    );
    let slack = IntegrationId::parse(&seed_integration(&t.app, &t.mock, "slack", "T-ACME").await).unwrap();
    let other = seed_integration(&t.app, &t.mock, "google", "hr@acme.example").await;
    let other = IntegrationId::parse(&other).unwrap();
    assert_eq!(
        targetym_integrations::integrations::directory::sync_now(&t.app.ctx, org, slack)
            .await
            .unwrap(),
        targetym_integrations::integrations::directory::SyncNow::Queued
    );
    let worker = Worker::new(t.app.ctx.clone());
    let make_due = |id: IntegrationId| {
        use diesel::prelude::*;
        use targetym_integrations::db::schema::integrations as i;
        t.app.ctx.db.run(move |conn| {
            diesel::update(i::table.find(id))
                .set(i::next_refresh_at.eq(db::now() - chrono::Duration::minutes(1)))
                .execute(conn)?;
            Ok(())
        })
    };
    let mut rounds = 0;
    let mut refreshed_during_the_sync = 0;
    loop {
        make_due(other).await.unwrap();
        let report = worker.run_due_work(db::now()).await.unwrap();
        rounds += 1;
        if report.jobs_continued == 1 {
            assert_eq!(report.jobs_succeeded, 0, "{report:?}");
            refreshed_during_the_sync += report.refreshed;
        } else {
            assert_eq!(report.jobs_succeeded, 1, "{report:?}");
            break;
        }
        assert!(rounds < 20, "the sync never ends");
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
    // 1,400 accounts in pages of 200: seven rounds of one page each, more than the job's
    // five attempts (a slice is not an attempt); the other token refreshed in each of the
    // first six, while the directory was still being read.
    assert_eq!(rounds, 7);
    assert!(refreshed_during_the_sync >= 6, "{refreshed_during_the_sync}");
    // Paced, a pass reads no page ahead (without a pace it reads the next while it stores).
    let pages = t
        .mock
        .api_calls()
        .iter()
        .filter(|c| c.path == "/api/users.list")
        .count();
    assert_eq!(pages, 7, "one call per page");
    let jobs = sync_jobs(&t, slack).await;
    assert_eq!(jobs.len(), 1, "one job, continued: {jobs:?}");
    assert_eq!(jobs[0].0, "succeeded");
    assert!(jobs[0].1.contains("pass complete"), "{jobs:?}");
}
