//! Directory sync (issue 15, first part: Slack): the scheduled sync reads every page of the
//! member list through the HTTP core, stores the accounts, rewrites only what changed, resumes
//! a pass from its checkpoint after a failed page, and marks absences only when a pass is
//! complete. The internal API serves the stored directory.

use reqwest::StatusCode;
use serde_json::{Value, json};
use targetym_integrations::db;
use targetym_integrations::domain::{IntegrationId, OrgId};
use targetym_integrations::integrations::directory::{SyncOutcome, sync_directory};
use targetym_integrations::worker::Worker;

use crate::oauth_helpers::{OAuthApp, api_get, oauth_app_with, seed_integration};

fn member(i: usize) -> Value {
    json!({
        "id": format!("U{i:05}"),
        "name": format!("person{i}"),
        "real_name": format!("Person {i}"),
        "profile": { "email": format!("Person{i}@Acme.example"), "real_name": format!("Person {i}") },
        "deleted": false,
        "is_bot": false,
    })
}

/// `n` people, a bot and a deactivated account.
fn workspace(n: usize) -> Vec<Value> {
    let mut members: Vec<Value> = (0..n).map(member).collect();
    members.push(json!({ "id": "B-BOT", "name": "hr-bot", "is_bot": true, "deleted": false }));
    let mut gone = member(99_999);
    gone["deleted"] = json!(true);
    members.push(gone);
    members
}

async fn slack_app() -> (OAuthApp, OrgId, IntegrationId) {
    let t = oauth_app_with(|b| b.var("DIRECTORY_PAGE_INTERVAL_MS", "0")).await;
    let id = seed_integration(&t.app, &t.mock, "slack", "T-ACME").await;
    let org = t.app.org_of("ada@acme.example").await;
    (t, org, IntegrationId::parse(&id).unwrap())
}

async fn sync(t: &OAuthApp, org: OrgId, id: IntegrationId) -> SyncOutcome {
    sync_directory(&t.app.ctx, org, id).await.unwrap()
}

/// (external id, email, state) of every stored entry.
async fn stored(t: &OAuthApp) -> Vec<(String, Option<String>, String)> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::directory_entries as e;
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(e::table
                .order(e::external_id)
                .select((e::external_id, e::email, e::state))
                .load(conn)?)
        })
        .await
        .unwrap()
}

fn users_list_calls(t: &OAuthApp) -> Vec<String> {
    t.mock
        .api_calls()
        .into_iter()
        .filter(|c| c.path == "/api/users.list")
        .map(|c| c.query)
        .collect()
}

#[tokio::test]
async fn a_full_pass_reads_every_page_and_rewrites_only_what_changed() {
    let (t, org, id) = slack_app().await;
    t.mock.set_slack_members(workspace(450));
    let first = sync(&t, org, id).await;
    // 452 listed (450 people, a bot skipped, one deactivated) in three pages of 200.
    assert_eq!(
        (first.pages, first.written, first.completed, first.deactivated),
        (3, 451, true, 0)
    );
    let calls = users_list_calls(&t);
    assert_eq!(calls.len(), 3);
    assert!(
        t.mock
            .api_calls()
            .iter()
            .all(|c| c.host.as_deref() == Some("slack.com"))
    );
    let rows = stored(&t).await;
    assert_eq!(rows.len(), 451, "the bot is not a person");
    assert_eq!(
        rows[0],
        (
            "U00000".into(),
            Some("person0@acme.example".into()),
            "active".into()
        )
    );
    assert_eq!(rows.last().unwrap().2, "deactivated", "deactivated at Slack");

    // Nothing changed: nothing is written.
    let second = sync(&t, org, id).await;
    assert_eq!((second.pages, second.written, second.completed), (3, 0, true));

    // Three changes: a new name, a new person, one gone from the list.
    let mut members = workspace(451);
    members[7]["profile"]["real_name"] = json!("Person Seven Renamed");
    members.remove(3);
    t.mock.set_slack_members(members);
    let third = sync(&t, org, id).await;
    assert_eq!((third.written, third.deactivated), (3, 1), "{third:?}");
    let rows = stored(&t).await;
    assert_eq!(rows.iter().find(|r| r.0 == "U00003").unwrap().2, "deactivated");
    assert!(rows.iter().any(|r| r.0 == "U00450"));
}

#[tokio::test]
async fn a_failed_page_leaves_a_checkpoint_and_absences_wait_for_a_complete_pass() {
    let (t, org, id) = slack_app().await;
    t.mock.set_slack_members(workspace(450));
    sync(&t, org, id).await;
    // U00003 leaves; the next pass fails on its second page (the core tries a read 3 times).
    let mut members = workspace(450);
    members.remove(3);
    t.mock.set_slack_members(members);
    t.mock.set_behaviour(|b| {
        b.api_fail_after = 1;
        b.api_fail_next = vec![500, 500, 500];
    });
    assert!(
        sync_directory(&t.app.ctx, org, id).await.is_err(),
        "a failing page fails the sync"
    );
    let checkpoint = t
        .app
        .ctx
        .db
        .run(move |conn| Ok(db::directory::find_sync(conn, id)?.unwrap()))
        .await
        .unwrap();
    assert_eq!(checkpoint.pages_read, 1, "the first page was stored");
    let cursor = checkpoint.next_cursor.clone().expect("a checkpoint");
    assert!(checkpoint.last_error.is_some());
    let state_of = |rows: &[(String, Option<String>, String)], id: &str| {
        rows.iter().find(|r| r.0 == id).unwrap().2.clone()
    };
    assert_eq!(
        state_of(&stored(&t).await, "U00003"),
        "active",
        "an incomplete pass marks no absence"
    );

    // The next sync (on any instance: the checkpoint is in the database) resumes there.
    t.mock.set_behaviour(|b| {
        b.api_fail_after = 0;
        b.api_fail_next.clear();
    });
    let calls_before = users_list_calls(&t).len();
    let resumed = sync(&t, org, id).await;
    assert!(resumed.completed);
    assert_eq!(resumed.pages, 2, "pages 2 and 3 only");
    let calls = users_list_calls(&t);
    assert_eq!(calls[calls_before], format!("limit=200&cursor={cursor}"));
    assert_eq!(
        state_of(&stored(&t).await, "U00003"),
        "deactivated",
        "the complete pass did"
    );
}

#[tokio::test]
async fn the_scheduled_sync_fills_the_directory_the_api_serves() {
    let (t, _, id) = slack_app().await;
    t.mock.set_slack_members(workspace(5));
    let csrf = t.app.csrf_with(&t.admin, &format!("/integrations/{id}")).await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/schedule"),
            &[("csrf_token", &csrf), ("schedule", "hourly")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let report = Worker::new(t.app.ctx.clone())
        .run_due_work(db::now() + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(
        (report.syncs_enqueued, report.jobs_succeeded),
        (1, 1),
        "{report:?}"
    );

    let org = t.app.org_of("ada@acme.example").await;
    let token = t.app.service_token(org, "hr-core").await;
    let get = |path: String| {
        let (t, token) = (&t, token.clone());
        async move { api_get(t, &token, &path).await }
    };
    let (status, first) = get(format!("/api/v1/integrations/{id}/directory?limit=4")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let entries = first["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0]["external_id"], "U00000");
    assert_eq!(entries[0]["email"], "person0@acme.example");
    assert_eq!(entries[0]["state"], "active");
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = get(format!(
        "/api/v1/integrations/{id}/directory?limit=4&cursor={cursor}"
    ))
    .await;
    let rest: Vec<&str> = second["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["U00004", "U99999"]);
    assert_eq!(second["next_cursor"], Value::Null);
    let (status, _) = get(format!("/api/v1/integrations/{id}/directory?cursor=%%%")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // The GDPR export holds the directory; erasure of the integration removes it.
    let export: Value = t
        .app
        .get_with(&t.admin, "/gdpr/export.json")
        .await
        .json()
        .await
        .unwrap();
    let exported = export["directory"].as_array().unwrap();
    assert_eq!(exported.len(), 6, "{export}");
    assert_eq!(exported[0]["email"], "person0@acme.example");
    let csrf = t
        .app
        .csrf_with(&t.admin, &format!("/integrations/{id}/erase"))
        .await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/erase"),
            &[("csrf_token", &csrf), ("confirm", "yes")],
        )
        .await;
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    assert!(stored(&t).await.is_empty(), "erased with the integration");
}

fn google_user(i: usize, suspended: bool) -> Value {
    json!({
        "id": format!("1{i:05}"),
        "primaryEmail": format!("user{i}@acme.example"),
        "name": { "fullName": format!("User {i}") },
        "suspended": suspended,
    })
}

#[tokio::test]
async fn a_google_workspace_directory_is_read_with_page_tokens_when_granted() {
    let t = oauth_app_with(|b| b.var("DIRECTORY_PAGE_INTERVAL_MS", "0")).await;
    let org = t.app.org_of("ada@acme.example").await;
    let users: Vec<Value> = (0..250).map(|i| google_user(i, i == 7)).collect();
    t.mock.set_google_directory(users);
    let granted = crate::oauth_helpers::requested_scopes(&t.app, "google");
    assert!(granted.contains("admin.directory.user.readonly"));
    let id = crate::oauth_helpers::seed_granted(
        &t.app,
        "google",
        "ada@acme.example",
        t.mock.issue_tokens(&granted),
        &granted,
    )
    .await;
    let id = IntegrationId::parse(&id).unwrap();
    let outcome = sync(&t, org, id).await;
    assert_eq!(
        (outcome.pages, outcome.written, outcome.completed),
        (2, 250, true)
    );
    let calls: Vec<_> = t
        .mock
        .api_calls()
        .into_iter()
        .filter(|c| c.path == "/admin/directory/v1/users")
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].host.as_deref(), Some("admin.googleapis.com"));
    assert!(
        calls[0].query.contains("customer=my_customer"),
        "{}",
        calls[0].query
    );
    assert!(calls[1].query.contains("pageToken="), "{}", calls[1].query);
    let rows = stored(&t).await;
    assert_eq!(
        rows.iter().filter(|r| r.2 == "deactivated").count(),
        1,
        "the suspended user"
    );

    // Without the directory feature (an administrator's grant), the sync asks nothing of it.
    let profile = "openid https://www.googleapis.com/auth/userinfo.email";
    let other = crate::oauth_helpers::seed_granted(
        &t.app,
        "google",
        "bob@acme.example",
        t.mock.issue_tokens(profile),
        profile,
    )
    .await;
    let before = t.mock.api_calls().len();
    let skipped = sync_directory(&t.app.ctx, org, IntegrationId::parse(&other).unwrap()).await;
    assert!(skipped.is_err(), "refused before the provider: missing_scope");
    assert_eq!(t.mock.api_calls().len(), before);
}

#[tokio::test]
async fn people_are_grouped_by_email_and_the_change_feed_skips_and_repeats_nothing() {
    let (t, org, slack) = slack_app().await;
    let org_token = t.app.service_token(org, "hr-core").await;
    let get = |path: String| {
        let (t, token) = (&t, org_token.clone());
        async move {
            let (status, body) = api_get(t, &token, &path).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            body
        }
    };
    // Person 0 has a Slack and a Google account.
    t.mock.set_slack_members(workspace(3));
    let mut google_users: Vec<Value> = (0..2).map(|i| google_user(i, false)).collect();
    google_users[0]["primaryEmail"] = json!("PERSON0@acme.example");
    t.mock.set_google_directory(google_users);
    let scopes = crate::oauth_helpers::requested_scopes(&t.app, "google");
    let google = crate::oauth_helpers::seed_granted(
        &t.app,
        "google",
        "ada@acme.example",
        t.mock.issue_tokens(&scopes),
        &scopes,
    )
    .await;
    sync(&t, org, slack).await;
    sync(&t, org, IntegrationId::parse(&google).unwrap()).await;
    let first = get("/api/v1/people?limit=2".into()).await;
    let person = &first["people"][0];
    assert_eq!(person["email"], "person0@acme.example");
    let providers: Vec<&str> = person["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["provider"].as_str().unwrap())
        .collect();
    assert_eq!(providers.len(), 2, "{person}");
    assert!(providers.contains(&"slack") && providers.contains(&"google"));
    assert_eq!(person["employment"], Value::Null, "nothing said yet");
    // The platform says person 0 left.
    let put = |email: &str, body: Value| {
        let (url, token) = (
            t.app.url(&format!("/api/v1/people/{email}/employment")),
            org_token.clone(),
        );
        async move {
            reqwest::Client::new()
                .put(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let left = json!({ "status": "leaver", "since": "2026-11-30" });
    assert_eq!(put("Person0@Acme.example", left).await, StatusCode::OK);
    for (email, bad) in [
        ("person0@acme.example", json!({ "status": "retired" })),
        (
            "person0@acme.example",
            json!({ "status": "leaver", "since": "30/11/2026" }),
        ),
        ("not-an-email", json!({ "status": "leaver" })),
        ("person0@acme.example", json!({ "status": "leaver", "extra": 1 })),
    ] {
        assert_eq!(
            put(email, bad.clone()).await,
            StatusCode::BAD_REQUEST,
            "{email} {bad}"
        );
    }
    let again = get("/api/v1/people?limit=1".into()).await;
    assert_eq!(
        again["people"][0]["employment"],
        json!({ "status": "leaver", "since": "2026-11-30" })
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = get(format!("/api/v1/people?limit=100&cursor={cursor}")).await;
    let emails: Vec<&str> = first["people"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["people"].as_array().unwrap())
        .map(|p| p["email"].as_str().unwrap())
        .collect();
    let mut sorted = emails.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(emails, sorted, "each person once, by email");

    // The feed, read page by page while two big syncs of the organization write at once.
    t.mock.set_slack_members(workspace(2_000));
    t.mock
        .set_google_directory((0..1_000).map(|i| google_user(i + 10, false)).collect());
    let ctx = t.app.ctx.clone();
    let google_id = IntegrationId::parse(&google).unwrap();
    let writer = tokio::spawn(async move {
        let (a, b) = tokio::join!(
            sync_directory(&ctx, org, slack),
            sync_directory(&ctx, org, google_id)
        );
        (a.unwrap(), b.unwrap())
    });
    let mut since = "0".to_owned();
    let mut seqs: Vec<i64> = Vec::new();
    loop {
        let done = writer.is_finished();
        let page = get(format!("/api/v1/people/changes?since={since}&limit=37")).await;
        let changes = page["changes"].as_array().unwrap();
        seqs.extend(changes.iter().map(|c| c["seq"].as_i64().unwrap()));
        since = page["next_cursor"].as_str().unwrap().to_owned();
        if done && changes.is_empty() {
            break;
        }
    }
    let (slack_outcome, google_outcome) = writer.await.unwrap();
    assert_eq!(
        slack_outcome.written, 1_997,
        "1,997 new people: {slack_outcome:?}"
    );
    // 1,000 listed: user10 and user11 are new, users 0 and 1 no longer listed.
    assert_eq!(google_outcome.written, 1_000 - 2 + 2 + 2, "{google_outcome:?}");
    let expected: Vec<i64> = (1..=seqs.len() as i64).collect();
    assert_eq!(seqs, expected, "every change once, in order, none skipped");
    let total = 3 + 1 + 2 + slack_outcome.written + google_outcome.written;
    assert_eq!(seqs.len(), total, "the first syncs' changes and these");
}

#[tokio::test]
async fn the_actor_purges_accounts_deactivated_longer_than_the_retention() {
    let (t, org, id) = slack_app().await;
    t.mock.set_slack_members(workspace(3));
    sync(&t, org, id).await;
    assert_eq!(
        stored(&t).await.len(),
        4,
        "three people and one deactivated account"
    );
    let worker = Worker::new(t.app.ctx.clone());
    let report = worker
        .run_due_work(db::now() + chrono::Duration::days(89))
        .await
        .unwrap();
    assert_eq!(
        report.directory_purged, 0,
        "kept for DIRECTORY_RETENTION_DAYS (90)"
    );
    let report = worker
        .run_due_work(db::now() + chrono::Duration::days(91))
        .await
        .unwrap();
    assert_eq!(report.directory_purged, 1);
    let rows = stored(&t).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.2 == "active"), "active accounts stay");
}

#[tokio::test]
async fn an_account_is_last_seen_by_the_last_complete_pass_that_listed_it() {
    let (t, org, id) = slack_app().await;
    let token = t.app.service_token(org, "hr-core").await;
    // (first seen, last seen) of an account, as the directory and the people API give them.
    let seen = |external_id: &'static str| {
        let (t, token) = (&t, token.clone());
        async move {
            let get = |path: String| {
                let token = token.clone();
                async move {
                    let (status, body) = api_get(t, &token, &path).await;
                    assert_eq!(status, StatusCode::OK);
                    body
                }
            };
            let entries = get(format!("/api/v1/integrations/{id}/directory?limit=100")).await;
            let entry = entries["entries"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["external_id"] == external_id)
                .unwrap()
                .clone();
            let people = get("/api/v1/people?limit=100".into()).await;
            let account = people["people"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|p| p["accounts"].as_array().unwrap().clone())
                .find(|a| a["external_id"] == external_id)
                .unwrap();
            assert_eq!(account["last_seen"], entry["last_seen"], "both APIs agree");
            let time = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
            (time(&entry["first_seen"]), time(&entry["last_seen"]))
        }
    };
    let completed = || async {
        let row = t
            .app
            .ctx
            .db
            .run(move |conn| Ok(db::directory::find_sync(conn, id)?.unwrap()))
            .await
            .unwrap();
        row.completed_at.unwrap().and_utc().fixed_offset()
    };
    t.mock.set_slack_members(workspace(5));
    sync(&t, org, id).await;
    let (first_seen, last_seen) = seen("U00000").await;
    assert!(last_seen <= completed().await);

    // Listed again, unchanged (nothing rewritten): last seen by this pass.
    assert_eq!(sync(&t, org, id).await.written, 0);
    let second_pass = completed().await;
    assert!(second_pass > last_seen);
    assert_eq!(seen("U00000").await, (first_seen, second_pass));

    // U00003 leaves: deactivated, last seen by the pass before, which listed it.
    let mut members = workspace(5);
    members.remove(3);
    t.mock.set_slack_members(members);
    assert_eq!(sync(&t, org, id).await.deactivated, 1);
    let third_pass = completed().await;
    assert_eq!(seen("U00003").await.1, second_pass);
    assert_eq!(seen("U00000").await, (first_seen, third_pass));
}
