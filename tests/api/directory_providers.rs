//! Directory sync of the other providers (issue 15): GitHub organization members (Link
//! pages), Asana workspace users (`next_page.offset`), Notion users (`next_cursor`), Jira users
//! (`startAt`), Linear users (GraphQL `pageInfo`), Zoom users (`next_page_token`, active then
//! inactive) and Dropbox team members (`list_v2` then `continue_v2`), each read through the
//! HTTP core against a mock shaped like the provider: every page is read and stored with the
//! right state and email, a pass without changes writes nothing, and an account a complete
//! pass no longer lists is deactivated. GitHub reads the organization an admin chose on the
//! integration's page, and nothing without one.

use mock_provider::{ApiCall, MockProvider};
use reqwest::StatusCode;
use serde_json::{Value, json};
use targetym_integrations::domain::{IntegrationId, OrgId};
use targetym_integrations::integrations::directory::{SyncOutcome, skip_reason, sync_directory};

use crate::helpers::{self, TestApp};
use crate::oauth_helpers::{providers_file, seed_integration};

struct App {
    app: TestApp,
    mock: MockProvider,
    admin: reqwest::Client,
}

/// The app with every provider's API at the mock (`api_hosts`), pages without pause.
async fn app() -> App {
    let mock = MockProvider::start(Default::default())
        .await
        .expect("mock provider starts");
    let base = mock.base_url();
    let mut file = providers_file(&mock);
    for slug in ["github", "asana", "notion", "jira", "linear", "zoom", "dropbox"] {
        file.push_str(&format!(
            "\n[[provider]]\nslug = \"{slug}\"\ntoken_url = \"{base}/token\"\nuserinfo_url = \"{base}/userinfo\"\napi_hosts = \"{base}/hosts\"\nclient_id = \"mock-client\"\nclient_secret = \"mock-secret\"\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(&path, file).unwrap();
    let app = helpers::app()
        .var("PROVIDERS_FILE", path.to_str().unwrap())
        .var("DIRECTORY_PAGE_INTERVAL_MS", "0")
        .spawn()
        .await;
    let admin = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    App { app, mock, admin }
}

async fn connect(t: &App, slug: &'static str) -> (OrgId, IntegrationId) {
    let id = seed_integration(&t.app, &t.mock, slug, "acme-account").await;
    let org = t.app.org_of("ada@acme.example").await;
    (org, IntegrationId::parse(&id).unwrap())
}

async fn sync(t: &App, org: OrgId, id: IntegrationId) -> SyncOutcome {
    sync_directory(&t.app.ctx, org, id).await.unwrap()
}

/// (external id, email, name, state) of every stored entry, by external id.
async fn stored(t: &App) -> Vec<(String, Option<String>, Option<String>, String)> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::directory_entries as e;
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(e::table
                .order(e::external_id)
                .select((e::external_id, e::email, e::name, e::state))
                .load(conn)?)
        })
        .await
        .unwrap()
}

fn entry<'r>(
    rows: &'r [(String, Option<String>, Option<String>, String)],
    id: &str,
) -> &'r (String, Option<String>, Option<String>, String) {
    rows.iter()
        .find(|r| r.0 == id)
        .unwrap_or_else(|| panic!("{id} is not stored"))
}

/// The member-list calls the mock received on `host`, under `path`.
fn calls(t: &App, host: &str, path: &str) -> Vec<ApiCall> {
    t.mock
        .api_calls()
        .into_iter()
        .filter(|c| c.host.as_deref() == Some(host) && c.path.contains(path))
        .collect()
}

/// A provider's case: its members (people 0..n, in its shape), what a first pass must read,
/// and the account that leaves afterwards.
struct Case {
    slug: &'static str,
    members: Vec<Value>,
    /// Entries stored by the first pass and pages read.
    stored: usize,
    pages: usize,
    /// (external id, email, state) of some entries after the first pass.
    expect: Vec<(&'static str, Option<&'static str>, &'static str)>,
    /// The external id and the index in `members` of the account that leaves.
    leaves: (&'static str, usize),
}

/// First pass, a pass without changes, then a pass without one account.
async fn passes(t: &App, case: Case) {
    let (org, id) = connect(t, case.slug).await;
    t.mock.set_directory(case.slug, case.members.clone());
    let first = sync(t, org, id).await;
    assert_eq!(
        (first.pages, first.written, first.completed),
        (case.pages, case.stored, true),
        "{}: {first:?}",
        case.slug
    );
    let rows = stored(t).await;
    assert_eq!(rows.len(), case.stored, "{}", case.slug);
    for (external, email, state) in &case.expect {
        let row = entry(&rows, external);
        assert_eq!(
            (row.1.as_deref(), row.3.as_str()),
            (*email, *state),
            "{} {external}",
            case.slug
        );
    }
    let second = sync(t, org, id).await;
    assert_eq!(
        (second.pages, second.written, second.completed),
        (case.pages, 0, true),
        "{}: nothing changed, nothing is written",
        case.slug
    );
    let mut members = case.members;
    members.remove(case.leaves.1);
    t.mock.set_directory(case.slug, members);
    let third = sync(t, org, id).await;
    assert_eq!(
        (third.written, third.deactivated),
        (1, 1),
        "{}: {third:?}",
        case.slug
    );
    assert_eq!(
        entry(&stored(t).await, case.leaves.0).3,
        "deactivated",
        "{}",
        case.slug
    );
}

fn queries(calls: &[ApiCall]) -> Vec<&str> {
    calls.iter().map(|c| c.query.as_str()).collect()
}

#[tokio::test]
async fn github_members_are_read_from_the_chosen_organization_by_link_pages() {
    let t = app().await;
    let (org, id) = connect(&t, "github").await;
    t.mock.set_directory(
        "github",
        (0..250)
            .map(|i| json!({ "login": format!("Dev{i}"), "id": 9000 + i, "type": "User" }))
            .collect(),
    );
    // No organization chosen: the directory is skipped, and says so; nothing is asked.
    let skipped = skip_reason(&t.app.ctx, id, "github").await.unwrap();
    assert!(skipped.unwrap().contains("no GitHub organization is chosen"));
    let error = sync_directory(&t.app.ctx, org, id).await.unwrap_err();
    assert!(error.to_string().contains("no GitHub organization"), "{error}");
    assert!(calls(&t, "api.github.com", "/members").is_empty());

    choose(&t, id, "acme").await;
    assert_eq!(skip_reason(&t.app.ctx, id, "github").await.unwrap(), None);
    let first = sync(&t, org, id).await;
    assert_eq!((first.pages, first.written, first.completed), (3, 250, true));
    let pages = calls(&t, "api.github.com", "/members");
    assert_eq!(
        pages
            .iter()
            .map(|c| (c.path.as_str(), c.query.as_str()))
            .collect::<Vec<_>>(),
        [
            ("/orgs/acme/members", "per_page=100"),
            ("/organizations/1001/members", "per_page=100&page=2"),
            ("/organizations/1001/members", "per_page=100&page=3"),
        ],
        "the Link header's next pages, as sent"
    );
    let rows = stored(&t).await;
    assert_eq!(
        entry(&rows, "9007"),
        &("9007".into(), None, Some("Dev7".into()), "active".into()),
        "no email in the list: the login is the name"
    );
    let second = sync(&t, org, id).await;
    assert_eq!((second.written, second.completed), (0, true));
    let mut members: Vec<Value> = (0..250)
        .map(|i| json!({ "login": format!("Dev{i}"), "id": 9000 + i, "type": "User" }))
        .collect();
    members.remove(42);
    t.mock.set_directory("github", members);
    let third = sync(&t, org, id).await;
    assert_eq!((third.written, third.deactivated), (1, 1));
    assert_eq!(entry(&stored(&t).await, "9042").3, "deactivated");
}

#[tokio::test]
async fn a_github_link_to_another_host_is_not_followed() {
    let t = app().await;
    let (org, id) = connect(&t, "github").await;
    choose(&t, id, "acme").await;
    t.mock.set_directory(
        "github",
        (0..150)
            .map(|i| json!({ "login": format!("dev{i}"), "id": i }))
            .collect(),
    );
    // The same mock under another host name: a followed link would reach it with the token.
    let elsewhere = format!("http://localhost:{}/hosts/api.github.com", t.mock.port());
    t.mock.set_link_base(Some(elsewhere));
    let error = sync_directory(&t.app.ctx, org, id).await.unwrap_err();
    assert!(error.to_string().contains("not on its API host"), "{error}");
    let pages = calls(&t, "api.github.com", "/members");
    assert_eq!(pages.len(), 1, "only the first page: {pages:?}");
    let sync_row = t
        .app
        .ctx
        .db
        .run(move |conn| Ok(targetym_integrations::db::directory::find_sync(conn, id)?.unwrap()))
        .await
        .unwrap();
    assert!(sync_row.completed_at.is_none(), "the pass is not complete");
    assert!(sync_row.last_error.is_some());
    assert!(stored(&t).await.is_empty(), "the refused page is not stored");

    // Links on GitHub's host again: the next sync reads the whole organization.
    t.mock.set_link_base(None);
    let resumed = sync(&t, org, id).await;
    assert_eq!(
        (resumed.pages, resumed.written, resumed.completed),
        (2, 150, true)
    );
}

#[tokio::test]
async fn a_scheduled_github_sync_without_an_organization_skips_the_directory_and_says_so() {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integration_sync_logs as logs;
    let t = app().await;
    let (_, id) = connect(&t, "github").await;
    t.mock
        .set_directory("github", vec![json!({ "login": "dev", "id": 1 })]);
    let page = format!("/integrations/{id}");
    let csrf = t.app.csrf_with(&t.admin, &page).await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("{page}/schedule"),
            &[("csrf_token", &csrf), ("schedule", "hourly")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let report = targetym_integrations::worker::Worker::new(t.app.ctx.clone())
        .run_due_work(targetym_integrations::db::now() + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(
        (report.syncs_enqueued, report.jobs_succeeded),
        (1, 1),
        "{report:?}"
    );
    assert!(calls(&t, "api.github.com", "/members").is_empty(), "nothing read");
    let messages: Vec<String> = t
        .app
        .ctx
        .db
        .run(|conn| Ok(logs::table.select(logs::message).load(conn)?))
        .await
        .unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("directory skipped: no GitHub organization is chosen")),
        "{messages:?}"
    );
}

/// Chooses the GitHub organization on the integration's page.
async fn choose(t: &App, id: IntegrationId, org: &str) {
    let page = format!("/integrations/{id}");
    let csrf = t.app.csrf_with(&t.admin, &page).await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("{page}/directory/organization"),
            &[("csrf_token", &csrf), ("organization", org)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn the_github_organization_is_chosen_on_the_integration_page() {
    let t = app().await;
    let (_, id) = connect(&t, "github").await;
    let page = format!("/integrations/{id}");
    let html = t.app.get_with(&t.admin, &page).await.text().await.unwrap();
    assert!(
        html.contains("No organization is chosen"),
        "says the directory is skipped"
    );
    assert!(html.contains(r#"<option value="acme">"#) && html.contains(r#"<option value="acme-labs">"#));
    let action = format!("{page}/directory/organization");

    // Without the CSRF token: refused, nothing stored.
    let res = t
        .app
        .post_form_with(&t.admin, &action, &[("organization", "acme")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(chosen(&t, id).await, None);

    // Not one of the connected account's organizations: refused with a message.
    let csrf = t.app.csrf_with(&t.admin, &page).await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &action,
            &[("csrf_token", &csrf), ("organization", "evil-corp")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(chosen(&t, id).await, None);

    assert!(
        t.app.audit_events_of("settings").await.is_empty(),
        "refusals change nothing"
    );
    choose(&t, id, "acme-labs").await;
    assert_eq!(chosen(&t, id).await.as_deref(), Some("acme-labs"));
    let recorded = t.app.audit_events_of("settings").await;
    assert_eq!(
        recorded
            .iter()
            .map(|(actor, _, detail)| format!("{actor}: {detail}"))
            .collect::<Vec<_>>(),
        vec!["ada@acme.example: The directory reads the members of the GitHub organization acme-labs"]
    );
    let html = t.app.get_with(&t.admin, &page).await.text().await.unwrap();
    assert!(html.contains(r#"<option value="acme-labs" selected>"#), "{html}");

    // Another organization's admin: the integration does not exist for them.
    let intruder = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let csrf = t.app.csrf_with(&intruder, "/integrations").await;
    let res = t
        .app
        .post_form_with(
            &intruder,
            &action,
            &[("csrf_token", &csrf), ("organization", "acme")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(chosen(&t, id).await.as_deref(), Some("acme-labs"));

    // Erasing the integration's data forgets the choice with the rest.
    let erase = format!("/integrations/{id}/erase");
    let csrf = t.app.csrf_with(&t.admin, &erase).await;
    let res = t
        .app
        .post_form_with(&t.admin, &erase, &[("csrf_token", &csrf), ("confirm", "yes")])
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(chosen(&t, id).await, None);
}

async fn chosen(t: &App, id: IntegrationId) -> Option<String> {
    t.app
        .ctx
        .db
        .run(move |conn| targetym_integrations::db::directory_targets::find(conn, id))
        .await
        .unwrap()
}

#[tokio::test]
async fn asana_workspace_users_are_read_by_offset() {
    let t = app().await;
    let members = (0..250)
        .map(|i| json!({ "gid": format!("u{i:03}"), "name": format!("User {i}"), "email": format!(" User{i}@Acme.example "), "resource_type": "user" }))
        .collect();
    passes(
        &t,
        Case {
            slug: "asana",
            members,
            stored: 250,
            pages: 3,
            expect: vec![("u007", Some("user7@acme.example"), "active")],
            leaves: ("u003", 3),
        },
    )
    .await;
    let pages = calls(&t, "app.asana.com", "/users");
    let ws = "/api/1.0/workspaces/1200000000000001/users";
    assert_eq!(
        pages[0].path, "/api/1.0/users/me",
        "the workspace comes from users/me"
    );
    assert_eq!(
        pages[1..4]
            .iter()
            .map(|c| (c.path.as_str(), c.query.as_str()))
            .collect::<Vec<_>>(),
        [
            (ws, "opt_fields=name%2Cemail&limit=100"),
            (ws, "opt_fields=name%2Cemail&limit=100&offset=eyJvZmZzZXQiOi100"),
            (ws, "opt_fields=name%2Cemail&limit=100&offset=eyJvZmZzZXQiOi200"),
        ]
    );
}

#[tokio::test]
async fn notion_people_are_read_by_cursor_and_bots_skipped() {
    let t = app().await;
    let mut members: Vec<Value> = (0..150)
        .map(|i| json!({ "object": "user", "id": format!("n{i:03}"), "type": "person", "name": format!("Person {i}"), "person": { "email": format!("Person{i}@Acme.example") } }))
        .collect();
    members.insert(
        5,
        json!({ "object": "user", "id": "bot-1", "type": "bot", "name": "Targetym", "bot": {} }),
    );
    passes(
        &t,
        Case {
            slug: "notion",
            members,
            stored: 150,
            pages: 2,
            expect: vec![("n149", Some("person149@acme.example"), "active")],
            leaves: ("n003", 3),
        },
    )
    .await;
    assert!(
        !stored(&t).await.iter().any(|r| r.0 == "bot-1"),
        "a bot is not a person"
    );
    assert_eq!(
        queries(&calls(&t, "api.notion.com", "/v1/users"))[..2],
        ["page_size=100", "page_size=100&start_cursor=1f0c2b7a-100"]
    );
}

#[tokio::test]
async fn jira_users_are_read_by_offset_until_a_short_page() {
    let t = app().await;
    let mut members: Vec<Value> = (0..199)
        .map(|i| json!({ "accountId": format!("j{i:03}"), "accountType": "atlassian", "displayName": format!("User {i}"), "emailAddress": format!("User{i}@Acme.example"), "active": true }))
        .collect();
    members[10]["active"] = json!(false);
    members[11].as_object_mut().unwrap().remove("emailAddress");
    members.insert(
        0,
        json!({ "accountId": "app-1", "accountType": "app", "displayName": "Automation", "active": true }),
    );
    passes(
        &t,
        Case {
            slug: "jira",
            members,
            stored: 199,
            // 200 listed: two full pages of 100, then an empty one.
            pages: 3,
            expect: vec![
                ("j000", Some("user0@acme.example"), "active"),
                ("j010", Some("user10@acme.example"), "deactivated"),
                ("j011", None, "active"),
            ],
            leaves: ("j003", 4),
        },
    )
    .await;
    assert!(!stored(&t).await.iter().any(|r| r.0 == "app-1"), "only people");
    let search = "/rest/api/3/users/search";
    let pages = calls(&t, "api.atlassian.com", search);
    assert!(
        pages
            .iter()
            .all(|c| c.path == format!("/ex/jira/cloud-1{search}")),
        "the first site's"
    );
    assert_eq!(
        queries(&pages)[..3],
        [
            "startAt=0&maxResults=100",
            "startAt=100&maxResults=100",
            "startAt=200&maxResults=100"
        ]
    );
    // The third pass (199 listed) ends on its short second page.
    assert_eq!(queries(&pages).len(), 3 + 3 + 2);
}

#[tokio::test]
async fn linear_users_are_read_by_graphql_cursor_with_the_disabled_ones() {
    let t = app().await;
    let mut members: Vec<Value> = (0..150)
        .map(|i| json!({ "id": format!("l{i:03}"), "name": format!("User {i}"), "email": format!("User{i}@Acme.example"), "active": true }))
        .collect();
    members[9]["active"] = json!(false);
    passes(
        &t,
        Case {
            slug: "linear",
            members,
            stored: 150,
            pages: 2,
            expect: vec![
                ("l008", Some("user8@acme.example"), "active"),
                ("l009", Some("user9@acme.example"), "deactivated"),
            ],
            leaves: ("l003", 3),
        },
    )
    .await;
    let bodies: Vec<Value> = calls(&t, "api.linear.app", "/graphql")
        .iter()
        .map(|c| serde_json::from_str(&c.body).unwrap())
        .collect();
    assert_eq!(bodies[0]["variables"], json!({ "first": 100, "after": null }));
    assert_eq!(
        bodies[1]["variables"],
        json!({ "first": 100, "after": "lin_100" })
    );
    assert!(
        bodies[0]["query"]
            .as_str()
            .unwrap()
            .contains("includeDisabled: true")
    );
}

#[tokio::test]
async fn zoom_users_are_read_active_then_inactive_by_page_token() {
    let t = app().await;
    let user = |i: usize, status: &str| json!({ "id": format!("z{i:03}"), "email": format!("User{i}@Acme.example"), "display_name": format!("User {i}"), "status": status });
    let mut members: Vec<Value> = (0..400).map(|i| user(i, "active")).collect();
    members.extend((400..405).map(|i| user(i, "inactive")));
    passes(
        &t,
        Case {
            slug: "zoom",
            members,
            stored: 405,
            pages: 3,
            expect: vec![
                ("z399", Some("user399@acme.example"), "active"),
                ("z402", Some("user402@acme.example"), "deactivated"),
            ],
            leaves: ("z003", 3),
        },
    )
    .await;
    assert_eq!(
        queries(&calls(&t, "api.zoom.us", "/v2/users"))[..3],
        [
            "status=active&page_size=300",
            "status=active&page_size=300&next_page_token=zmactive300",
            "status=inactive&page_size=300",
        ]
    );
}

#[tokio::test]
async fn dropbox_team_members_are_read_by_list_then_continue() {
    let t = app().await;
    let member = |i: usize, tag: &str| json!({ "profile": { "team_member_id": format!("dbmid:{i:03}"), "account_id": format!("dbid:{i}"), "email": format!("User{i}@Acme.example"), "name": { "display_name": format!("User {i}") }, "status": { ".tag": tag } }, "roles": [] });
    let mut members: Vec<Value> = (0..150).map(|i| member(i, "active")).collect();
    members[20] = member(20, "suspended");
    members[21] = member(21, "removed");
    passes(
        &t,
        Case {
            slug: "dropbox",
            members,
            stored: 150,
            pages: 2,
            expect: vec![
                ("dbmid:019", Some("user19@acme.example"), "active"),
                ("dbmid:020", Some("user20@acme.example"), "deactivated"),
                ("dbmid:021", Some("user21@acme.example"), "deactivated"),
            ],
            leaves: ("dbmid:003", 3),
        },
    )
    .await;
    let pages = calls(&t, "api.dropboxapi.com", "/2/team/members/");
    assert_eq!(
        pages[..2]
            .iter()
            .map(|c| (c.path.as_str(), c.body.as_str()))
            .collect::<Vec<_>>(),
        [
            ("/2/team/members/list_v2", r#"{"limit":100}"#),
            ("/2/team/members/list/continue_v2", r#"{"cursor":"AAF100-100"}"#),
        ]
    );
}
