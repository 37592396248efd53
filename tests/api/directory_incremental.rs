//! Incremental directory sync: Microsoft Graph's `/users/delta` (a full pass by next links that
//! ends with a delta link; later passes from it list only changes, removals included, and never
//! mark absences; a forgotten delta token starts a full pass again; links are followed only at
//! Graph's own host) and Google's People API, used when the Admin SDK is not granted or is
//! refused (sync tokens, deleted people, an expired token).

use mock_provider::MockProvider;
use reqwest::StatusCode;
use serde_json::{Value, json};
use targetym_integrations::db::directory::SyncRow;
use targetym_integrations::domain::{DirectorySource, IntegrationId, OrgId};
use targetym_integrations::integrations::directory::{SyncOutcome, sync_directory, sync_state};

use crate::helpers;
use crate::oauth_helpers::{OAuthApp, providers_file, requested_scopes, seed_granted, seed_integration};

/// The app with Slack, Google and Microsoft 365 on the mock, pages read without a pause.
async fn app() -> (OAuthApp, OrgId) {
    let mock = MockProvider::start(Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    let microsoft = format!(
        "\n[[provider]]\nslug = \"microsoft\"\napi_hosts = \"{}/hosts\"\nclient_id = \"mock-client\"\nclient_secret = \"mock-secret\"\n",
        mock.base_url()
    );
    std::fs::write(&path, providers_file(&mock) + &microsoft).unwrap();
    let app = helpers::app()
        .var("PROVIDERS_FILE", path.to_str().unwrap())
        .var("DIRECTORY_PAGE_INTERVAL_MS", "0")
        .spawn()
        .await;
    let admin = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await;
    (OAuthApp { app, mock, admin }, org)
}

async fn sync(t: &OAuthApp, org: OrgId, id: IntegrationId) -> SyncOutcome {
    sync_directory(&t.app.ctx, org, id).await.unwrap()
}

async fn state(t: &OAuthApp, org: OrgId, id: IntegrationId) -> SyncRow {
    sync_state(&t.app.ctx, org, id)
        .await
        .unwrap()
        .expect("a sync row")
}

/// (external id, email, state) of the integration's entries.
async fn stored(t: &OAuthApp, id: IntegrationId) -> Vec<(String, Option<String>, String)> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::directory_entries as e;
    t.app
        .ctx
        .db
        .run(move |conn| {
            Ok(e::table
                .filter(e::integration_id.eq(id))
                .order(e::external_id)
                .select((e::external_id, e::email, e::state))
                .load(conn)?)
        })
        .await
        .unwrap()
}

fn state_of(rows: &[(String, Option<String>, String)], id: &str) -> String {
    rows.iter()
        .find(|r| r.0 == id)
        .unwrap_or_else(|| panic!("{id} is stored"))
        .2
        .clone()
}

/// The query parameters of each call to `path`, decoded, oldest first.
fn calls(t: &OAuthApp, path: &str) -> Vec<Vec<(String, String)>> {
    t.mock
        .api_calls()
        .into_iter()
        .filter(|c| c.path == path)
        .map(|c| {
            url::form_urlencoded::parse(c.query.as_bytes())
                .into_owned()
                .collect()
        })
        .collect()
}

fn has(query: &[(String, String)], name: &str) -> bool {
    query.iter().any(|(n, _)| n == name)
}

/// The organization's change feed, as the internal API serves it.
async fn feed(t: &OAuthApp, org: OrgId) -> Vec<Value> {
    let token = t.app.service_token(org, "hr-core").await;
    let res = reqwest::Client::new()
        .get(t.app.url("/api/v1/people/changes?since=0&limit=1000"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["changes"]
        .as_array()
        .unwrap()
        .clone()
}

const DELTA: &str = "/v1.0/users/delta";

fn graph_user(i: usize) -> Value {
    json!({
        "id": format!("g{i:04}"),
        "displayName": format!("User {i}"),
        // Some accounts have no mailbox: their sign-in name stands for the email.
        "mail": if i.is_multiple_of(2) { json!(format!("User{i}@Acme.example")) } else { Value::Null },
        "userPrincipalName": format!("upn{i}@acme.example"),
        "accountEnabled": i != 5,
    })
}

async fn microsoft(t: &OAuthApp) -> IntegrationId {
    IntegrationId::parse(&seed_integration(&t.app, &t.mock, "microsoft", "tenant:ada").await).unwrap()
}

#[tokio::test]
async fn graph_a_full_pass_ends_with_a_delta_link_and_later_passes_read_only_changes() {
    let (t, org) = app().await;
    let id = microsoft(&t).await;
    t.mock.set_graph_users((0..250).map(graph_user).collect());
    let first = sync(&t, org, id).await;
    assert_eq!(
        (first.pages, first.written, first.completed, first.incremental),
        (3, 250, true, false),
        "Graph's pages of 100: {first:?}"
    );
    assert_eq!(first.source, DirectorySource::GraphDelta);
    let queries = calls(&t, DELTA);
    assert_eq!(queries.len(), 3);
    assert!(has(&queries[0], "$select") && !has(&queries[0], "$skiptoken"));
    assert!(has(&queries[1], "$skiptoken") && has(&queries[2], "$skiptoken"));
    assert!(
        t.mock
            .api_calls()
            .iter()
            .filter(|c| c.path == DELTA)
            .all(|c| c.host.as_deref() == Some("graph.microsoft.com"))
    );
    let row = state(&t, org, id).await;
    assert_eq!(row.source, Some(DirectorySource::GraphDelta));
    let delta_link = row.resume_token.clone().expect("the delta link is kept");
    assert!(
        delta_link.starts_with("https://graph.microsoft.com/v1.0/users/delta?$deltatoken="),
        "{delta_link}"
    );
    let rows = stored(&t, id).await;
    assert_eq!(rows.len(), 250);
    assert_eq!(rows[0].1.as_deref(), Some("user0@acme.example"));
    assert_eq!(
        rows[1].1.as_deref(),
        Some("upn1@acme.example"),
        "no mail: the UPN"
    );
    assert_eq!(state_of(&rows, "g0005"), "deactivated", "accountEnabled: false");

    // At Graph: one renamed, one new, one soft-deleted (gone from the list), one deleted.
    let mut users: Vec<Value> = (0..251).map(graph_user).collect();
    users[7]["displayName"] = json!("User Seven");
    users.remove(9);
    t.mock.set_graph_users(users);
    assert!(t.mock.remove_graph_user("g0003", "deleted"));
    let feed_before = feed(&t, org).await.len();
    let second = sync(&t, org, id).await;
    assert_eq!(
        (second.pages, second.written, second.completed, second.incremental),
        (1, 4, true, true),
        "only the changes: {second:?}"
    );
    assert_eq!(second.deactivated, 0, "an incremental pass marks no absence");
    let queries = calls(&t, DELTA);
    assert_eq!(queries.len(), 4);
    let sent = queries[3].iter().find(|(n, _)| n == "$deltatoken");
    assert!(
        sent.is_some_and(|(_, token)| delta_link.ends_with(&format!("={token}"))),
        "the pass starts from the delta link: {:?}",
        queries[3]
    );
    let rows = stored(&t, id).await;
    assert_eq!(rows.len(), 251, "a removal is recorded, never dropped");
    assert_eq!(
        rows.iter().find(|r| r.0 == "g0003").unwrap(),
        &(
            "g0003".to_owned(),
            Some("upn3@acme.example".to_owned()),
            "deleted".to_owned()
        ),
        "deleted, with what was known of it"
    );
    assert_eq!(state_of(&rows, "g0009"), "deactivated", "@removed: changed");
    assert_eq!(state_of(&rows, "g0250"), "active");
    assert_eq!(
        rows.iter().filter(|r| r.2 == "active").count(),
        251 - 3,
        "every account the pass did not list stays as it was"
    );
    let changes = feed(&t, org).await;
    let new: Vec<(&str, &str)> = changes[feed_before..]
        .iter()
        .map(|c| (c["external_id"].as_str().unwrap(), c["change"].as_str().unwrap()))
        .collect();
    assert_eq!(new.len(), 4, "{new:?}");
    for expected in [
        ("g0003", "deleted"),
        ("g0009", "deactivated"),
        ("g0007", "updated"),
        ("g0250", "created"),
    ] {
        assert!(new.contains(&expected), "{expected:?} in {new:?}");
    }
    let deleted = changes.iter().find(|c| c["change"] == "deleted").unwrap();
    assert_eq!(deleted["email"], "upn3@acme.example");

    // Nothing changed: one call, nothing written, and the pass moves to the new delta link.
    let third = sync(&t, org, id).await;
    assert_eq!((third.pages, third.written, third.incremental), (1, 0, true));
}

#[tokio::test]
async fn graph_an_expired_delta_token_starts_a_full_pass_that_marks_absences() {
    let (t, org) = app().await;
    let id = microsoft(&t).await;
    t.mock.set_graph_users((0..30).map(graph_user).collect());
    sync(&t, org, id).await;
    let old_link = state(&t, org, id).await.resume_token.unwrap();
    // g0002 leaves, and Graph forgets every delta token before anyone asks.
    let mut users: Vec<Value> = (0..30).map(graph_user).collect();
    users.remove(2);
    t.mock.set_graph_users(users);
    t.mock.expire_graph_delta_tokens();
    let outcome = sync(&t, org, id).await;
    assert_eq!(
        (
            outcome.restarts,
            outcome.incremental,
            outcome.completed,
            outcome.deactivated
        ),
        (1, false, true, 1),
        "{outcome:?}"
    );
    let queries = calls(&t, DELTA);
    assert!(has(&queries[1], "$deltatoken"), "the delta link first");
    assert!(
        has(&queries[2], "$select") && !has(&queries[2], "$deltatoken"),
        "then a full pass"
    );
    assert_eq!(state_of(&stored(&t, id).await, "g0002"), "deactivated");
    let row = state(&t, org, id).await;
    let new_link = row.resume_token.expect("the full pass's delta link");
    assert_ne!(new_link, old_link);
    assert!(row.last_error.is_none());
}

#[tokio::test]
async fn graph_links_to_another_host_are_never_followed() {
    let (t, org) = app().await;
    let id = microsoft(&t).await;
    t.mock.set_graph_users((0..150).map(graph_user).collect());
    t.mock.set_graph_link_host("graph.microsoft.com.evil.example");
    let error = sync_directory(&t.app.ctx, org, id)
        .await
        .expect_err("a foreign link fails the page")
        .to_string();
    assert!(error.contains("not followed"), "{error}");
    assert!(!error.contains("skiptoken") && !error.contains("evil"), "{error}");
    assert_eq!(calls(&t, DELTA).len(), 1, "the link was not called");
    let row = state(&t, org, id).await;
    assert_eq!(row.next_cursor, None, "a foreign link is no checkpoint");
    assert_eq!(row.pages_read, 0);
    assert!(
        stored(&t, id).await.is_empty(),
        "the page that carried it is not stored"
    );
    assert!(row.last_error.is_some_and(|e| !e.contains("skiptoken")));

    // Graph's own links again: the pass goes through.
    t.mock.set_graph_link_host("graph.microsoft.com");
    let outcome = sync(&t, org, id).await;
    assert!(outcome.completed);
    assert_eq!(stored(&t, id).await.len(), 150);
}

fn person(i: usize) -> Value {
    json!({
        "resourceName": format!("people/2{i:05}"),
        "metadata": { "sources": [{ "type": "DOMAIN_PROFILE", "id": format!("2{i:05}") }] },
        "names": [{ "displayName": format!("Person {i}"), "metadata": { "primary": true } }],
        "emailAddresses": [
            { "value": format!("alias{i}@acme.example") },
            { "value": format!("Person{i}@Acme.example"), "metadata": { "primary": true } },
        ],
    })
}

const PEOPLE: &str = "/v1/people:listDirectoryPeople";
const ADMIN_USERS: &str = "/admin/directory/v1/users";

#[tokio::test]
async fn google_without_the_admin_directory_reads_the_people_directory_by_sync_token() {
    let (t, org) = app().await;
    let scopes = "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/directory.readonly";
    let id = seed_granted(
        &t.app,
        "google",
        "ada@acme.example",
        t.mock.issue_tokens(scopes),
        scopes,
    )
    .await;
    let id = IntegrationId::parse(&id).unwrap();
    t.mock.set_google_people((0..250).map(person).collect());
    let first = sync(&t, org, id).await;
    assert_eq!(
        (first.pages, first.written, first.completed, first.incremental),
        (2, 250, true, false),
        "{first:?}"
    );
    assert_eq!(first.source, DirectorySource::PeopleDirectory);
    assert!(calls(&t, ADMIN_USERS).is_empty(), "the Admin SDK is not granted");
    let queries = calls(&t, PEOPLE);
    assert!(queries[0].contains(&("requestSyncToken".into(), "true".into())));
    assert!(queries[0].contains(&("sources".into(), "DIRECTORY_SOURCE_TYPE_DOMAIN_PROFILE".into())));
    assert!(has(&queries[1], "pageToken") && !has(&queries[1], "syncToken"));
    let row = state(&t, org, id).await;
    assert_eq!(row.source, Some(DirectorySource::PeopleDirectory));
    let sync_token = row.resume_token.expect("the sync token is kept");
    let rows = stored(&t, id).await;
    assert_eq!(
        rows[0],
        (
            "200000".to_owned(),
            Some("person0@acme.example".to_owned()),
            "active".to_owned()
        ),
        "the Admin SDK's id, the primary email"
    );

    // One renamed, one deleted: the next pass, by sync token, lists only them.
    let mut people: Vec<Value> = (0..250).map(person).collect();
    people[4]["names"][0]["displayName"] = json!("Person Four");
    people.remove(6);
    t.mock.set_google_people(people);
    let second = sync(&t, org, id).await;
    assert_eq!(
        (
            second.pages,
            second.written,
            second.incremental,
            second.deactivated
        ),
        (1, 2, true, 0),
        "{second:?}"
    );
    let queries = calls(&t, PEOPLE);
    assert!(queries[2].contains(&("syncToken".into(), sync_token)));
    let rows = stored(&t, id).await;
    assert_eq!(
        rows.iter().find(|r| r.0 == "200006").unwrap().1.as_deref(),
        Some("person6@acme.example"),
        "kept"
    );
    assert_eq!(state_of(&rows, "200006"), "deleted");
    assert_eq!(rows.iter().filter(|r| r.2 == "active").count(), 249);
    let changes = feed(&t, org).await;
    assert!(
        changes
            .iter()
            .any(|c| c["external_id"] == "200006" && c["change"] == "deleted")
    );

    // Google forgets the sync token, and person 8 leaves meanwhile: a full pass marks it.
    let mut people: Vec<Value> = (0..250).map(person).collect();
    people.remove(8);
    people.remove(6);
    t.mock.set_google_people(people);
    t.mock.expire_google_sync_tokens();
    let third = sync(&t, org, id).await;
    assert_eq!(
        (
            third.restarts,
            third.incremental,
            third.completed,
            third.deactivated
        ),
        (1, false, true, 1),
        "{third:?}"
    );
    let rows = stored(&t, id).await;
    assert_eq!(state_of(&rows, "200008"), "deactivated");
    assert_eq!(
        state_of(&rows, "200006"),
        "deleted",
        "a deleted account stays deleted"
    );
    assert!(state(&t, org, id).await.resume_token.is_some());
}

#[tokio::test]
async fn google_a_refused_admin_directory_falls_back_to_the_people_directory() {
    let (t, org) = app().await;
    let scopes = requested_scopes(&t.app, "google");
    assert!(scopes.contains("admin.directory.user.readonly") && scopes.contains("directory.readonly"));
    let id = seed_granted(
        &t.app,
        "google",
        "bob@acme.example",
        t.mock.issue_tokens(&scopes),
        &scopes,
    )
    .await;
    let id = IntegrationId::parse(&id).unwrap();
    t.mock.set_google_people((0..3).map(person).collect());
    // The connected account is no Workspace administrator: the Admin SDK answers 403.
    t.mock.set_behaviour(|b| b.api_fail_next = vec![403]);
    let outcome = sync(&t, org, id).await;
    assert_eq!(
        (
            outcome.source,
            outcome.restarts,
            outcome.completed,
            outcome.written
        ),
        (DirectorySource::PeopleDirectory, 1, true, 3),
        "{outcome:?}"
    );
    assert_eq!(calls(&t, ADMIN_USERS).len(), 1, "asked once, refused");
    assert_eq!(
        state(&t, org, id).await.source,
        Some(DirectorySource::PeopleDirectory)
    );
}

#[tokio::test]
async fn graph_without_the_directory_feature_nothing_is_asked_of_graph() {
    let (t, org) = app().await;
    let scopes = "openid profile email offline_access User.Read Calendars.ReadWrite Mail.Send";
    assert!(
        requested_scopes(&t.app, "microsoft").contains("User.Read.All"),
        "asked for when chosen"
    );
    let id = seed_granted(
        &t.app,
        "microsoft",
        "tenant:bob",
        t.mock.issue_tokens(scopes),
        scopes,
    )
    .await;
    t.mock.set_graph_users((0..3).map(graph_user).collect());
    let refused = sync_directory(&t.app.ctx, org, IntegrationId::parse(&id).unwrap()).await;
    let error = refused.expect_err("refused before Graph").to_string();
    assert!(error.contains("User.Read.All"), "{error}");
    assert!(calls(&t, DELTA).is_empty());
}
