//! The cross-organization sweep: every route that takes an id, called by another
//! organization with this organization's ids, answers 404 and changes nothing. The routes
//! come from the app's own route table, so a new route cannot be forgotten: a placeholder
//! the sweep does not know fails the test until it is classified here.

use diesel::prelude::*;
use reqwest::{Client, Method, StatusCode};

use crate::helpers::TestApp;
use crate::oauth_helpers::{OAuthApp, seed_integration};
use crate::webhooks::{now_secs, post_slack, slack_signature};
use targetym_integrations::db::schema::{
    admin_invitations, admin_sessions, api_tokens, integration_consents as consents,
    integration_credentials as credentials, integration_oauth_states as states,
    integration_sync_logs as logs, integration_webhooks as hooks, integrations, organizations, users,
};
use targetym_integrations::web::{Route, all_routes};

/// Org A's ids that a route may take.
struct Ids {
    integration: String,
    event: String,
    api_token: String,
    webhook: String,
    /// Org A's admin's session (its handle: the hash of the session id).
    session: String,
    /// Org A's admin (a user id).
    admin: String,
    /// Org A's pending invitation.
    invitation: String,
    /// Org A's external (platform) id.
    org_key: String,
}

/// Placeholders that name no organization's data, and why.
const NOT_ORG_DATA: &[(&str, &str)] = &[
    (
        "{slug}",
        "a provider of the public catalogue (the reconnect id is swept as a query)",
    ),
    (
        "{tail:.*}",
        "a provider API path, behind the {id} of the same route",
    ),
    ("{file}", "a public static asset"),
    (
        "{email}",
        "a person's email: the token's organization is the scope (the same email elsewhere is another organization's person)",
    ),
    (
        "{file_id}",
        "a Drive file at the provider, behind the {id} of the same route",
    ),
];

/// Routes whose ids are not looked up per organization, and what guards them instead.
const GUARDED_OTHERWISE: &[(&str, &str)] = &[
    (
        "/api/webhooks/{provider}/{webhook_id}",
        "providers' deliveries: the webhook id is a capability checked with its signature",
    ),
    (
        "/invite/{token}",
        "an invitation link: the token is a 32-byte secret, looked up by its hash (tests/api/team.rs)",
    ),
];

/// The concrete path of `route` with org A's ids, or None when it takes no id.
fn with_ids(route: &Route, ids: &Ids) -> Option<String> {
    if GUARDED_OTHERWISE.iter().any(|(path, _)| *path == route.path) {
        return None;
    }
    let mut path = route.path.to_owned();
    let mut takes_id = false;
    while let Some(start) = path.find('{') {
        let end = start + path[start..].find('}').expect("closed placeholder") + 1;
        let placeholder = path[start..end].to_owned();
        let value = match placeholder.as_str() {
            "{id}" if route.path.starts_with("/api-tokens/") => ids.api_token.clone(),
            "{id}" => ids.integration.clone(),
            "{event}" => ids.event.clone(),
            "{webhook}" => ids.webhook.clone(),
            "{session}" => ids.session.clone(),
            "{admin}" => ids.admin.clone(),
            "{invitation}" => ids.invitation.clone(),
            "{org}" => ids.org_key.clone(),
            "{email}" => "ada@acme.example".to_owned(),
            "{slug}" => "slack".to_owned(),
            "{tail:.*}" => "me".to_owned(),
            "{file}" => "app.css".to_owned(),
            "{file_id}" => "file-1".to_owned(),
            other => panic!(
                "route {} {} takes {other}: classify it in tests/api/cross_org.rs",
                route.method, route.path
            ),
        };
        takes_id |= !NOT_ORG_DATA.iter().any(|(p, _)| *p == placeholder);
        path.replace_range(start..end, &value);
    }
    if route.path == "/integrations/{slug}/connect" {
        // Reconnecting names the integration in the query (GET) or the form (POST).
        return Some(format!("{path}?integration={}", ids.integration));
    }
    takes_id.then_some(path)
}

/// (id, status, schedule, last validated, updated) of an integration.
type IntegrationState = (
    String,
    String,
    Option<i32>,
    Option<chrono::NaiveDateTime>,
    chrono::NaiveDateTime,
);

/// Everything of org A that a request could change, and the mock provider's call count.
async fn fingerprint(t: &OAuthApp, org: &str) -> String {
    let org = org.to_owned();
    let rows = t
        .app
        .ctx
        .db
        .run(move |conn| {
            let integration_rows: Vec<IntegrationState> = integrations::table
                .filter(integrations::org_id.eq(&org))
                .select((
                    integrations::id,
                    integrations::status,
                    integrations::sync_interval_minutes,
                    integrations::last_validated_at,
                    integrations::updated_at,
                ))
                .order(integrations::id)
                .load(conn)?;
            let ids: Vec<String> = integration_rows.iter().map(|r| r.0.clone()).collect();
            let credential_rows: Vec<(String, Vec<u8>, chrono::NaiveDateTime)> = credentials::table
                .filter(credentials::integration_id.eq_any(&ids))
                .select((
                    credentials::integration_id,
                    credentials::access_token,
                    credentials::updated_at,
                ))
                .order(credentials::integration_id)
                .load(conn)?;
            let hook_rows: Vec<(String, String, Option<Vec<u8>>, chrono::NaiveDateTime)> = hooks::table
                .filter(hooks::org_id.eq(&org))
                .select((hooks::id, hooks::status, hooks::secret, hooks::updated_at))
                .order(hooks::id)
                .load(conn)?;
            let log_rows: Vec<(String, String, i32)> = logs::table
                .filter(logs::org_id.eq(&org))
                .select((logs::id, logs::status, logs::attempts))
                .order(logs::id)
                .load(conn)?;
            let consent_rows: Vec<(String, Option<chrono::NaiveDateTime>)> = consents::table
                .filter(consents::org_id.eq(&org))
                .select((consents::id, consents::withdrawn_at))
                .order(consents::id)
                .load(conn)?;
            let token_rows: Vec<(String, Option<chrono::NaiveDateTime>)> = api_tokens::table
                .filter(api_tokens::org_id.eq(&org))
                .select((api_tokens::id, api_tokens::revoked_at))
                .order(api_tokens::id)
                .load(conn)?;
            let state_count: i64 = states::table
                .filter(states::org_id.eq(&org))
                .count()
                .get_result(conn)?;
            let session_rows: Vec<(String, Option<chrono::NaiveDateTime>)> = admin_sessions::table
                .filter(admin_sessions::org_id.eq(&org))
                .select((admin_sessions::id, admin_sessions::ended_at))
                .order(admin_sessions::id)
                .load(conn)?;
            let user_rows: Vec<(String, String, Option<chrono::NaiveDateTime>)> = users::table
                .filter(users::org_id.eq(&org))
                .select((users::id, users::password_hash, users::removed_at))
                .order(users::id)
                .load(conn)?;
            let invitation_rows: Vec<(
                String,
                Option<chrono::NaiveDateTime>,
                Option<chrono::NaiveDateTime>,
            )> = admin_invitations::table
                .filter(admin_invitations::org_id.eq(&org))
                .select((
                    admin_invitations::id,
                    admin_invitations::accepted_at,
                    admin_invitations::revoked_at,
                ))
                .order(admin_invitations::id)
                .load(conn)?;
            let org_row: (String, Option<String>) = organizations::table
                .find(&org)
                .select((organizations::name, organizations::external_id))
                .first(conn)?;
            Ok(format!(
                "{integration_rows:?}\n{credential_rows:?}\n{hook_rows:?}\n{log_rows:?}\n\
                 {consent_rows:?}\n{token_rows:?}\n{state_count}\n{session_rows:?}\n\
                 {user_rows:?}\n{invitation_rows:?}\n{org_row:?}"
            ))
        })
        .await
        .unwrap();
    format!(
        "{rows}\nprovider: {:?} {:?} {}",
        t.mock.counters(),
        t.mock.api_calls().len(),
        t.mock.watch_channels().len()
    )
}

async fn request(
    t: &OAuthApp,
    client: &Client,
    bearer: &str,
    route: &Route,
    path: &str,
) -> reqwest::Response {
    let method = match route.method {
        "ANY" | "GET" => Method::GET,
        "POST" => Method::POST,
        other => panic!("method {other}"),
    };
    let url = t.app.url(path);
    if route.path.starts_with("/api/v1/") {
        // A valid query and body for each call, so that only the id can refuse it.
        let query = match (route.method, route.path.rsplit('/').next()) {
            ("GET", Some("lookup")) => "?email=ada@acme.example",
            ("GET", Some("events")) => "?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
            _ => "",
        };
        let body = match route.path.rsplit('/').next() {
            Some("messages") => r#"{"channel":"C1","text":"hi"}"#,
            Some("events") => {
                r#"{"summary":"s","start":"2026-01-01T10:00:00Z","end":"2026-01-01T11:00:00Z"}"#
            }
            Some("email") => r#"{"to":"x@example.com","subject":"s","body":"b"}"#,
            Some("channels" | "folders") => r#"{"name":"intruders"}"#,
            Some("permissions") => r#"{"email":"eve@evil.example","role":"writer"}"#,
            _ => "",
        };
        return Client::new()
            .request(method, format!("{url}{query}"))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
    }
    if method == Method::GET {
        return client.get(url).send().await.unwrap();
    }
    let csrf = t.app.csrf_with(client, "/integrations").await;
    let reconnect = path.split_once("?integration=").map_or("", |(_, id)| id);
    // Every field any of our forms takes, valid, so that only the id can refuse the request.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("schedule", "hourly"),
        ("name", "intruder"),
        ("secret", "intruder-secret"),
        ("consent", "yes"),
        ("integration", reconnect),
        ("organization", "acme"),
    ];
    client.post(url).form(&form).send().await.unwrap()
}

async fn service_token(app: &TestApp, email: &str) -> (String, String) {
    let org = app.org_of(email).await;
    let (row, token) = targetym_integrations::api_tokens::create(
        &app.ctx.db,
        org,
        "sweep",
        &targetym_integrations::domain::Actor::system(),
        &[],
    )
    .await
    .unwrap();
    (row.id, token)
}

/// Org A: a Slack integration with a stored event, a GitHub integration with a webhook
/// endpoint, consents, and a service token.
async fn org_a(t: &OAuthApp) -> Ids {
    let integration = seed_integration(&t.app, &t.mock, "slack", "T-SWEEP").await;
    let github = seed_integration(&t.app, &t.mock, "github", "acme-gh").await;
    let csrf = t
        .app
        .csrf_with(&t.admin, &format!("/integrations/{github}"))
        .await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{github}/webhooks"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert!(
        res.status().is_success() || res.status().is_redirection(),
        "{}",
        res.status()
    );
    t.connect("mock-oauth").await;

    let ts = now_secs();
    let body = serde_json::json!({
        "team_id": "T-SWEEP", "type": "event_callback", "event_id": "EvSweep",
        "event": { "type": "member_joined_channel", "user": "U1", "channel": "C1" },
    })
    .to_string();
    let res = post_slack(t, &body, &ts, &slack_signature(&ts, &body), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let event = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .select(logs::id)
                .first::<String>(conn)?)
        })
        .await
        .unwrap();
    let (api_token, _) = service_token(&t.app, "ada@acme.example").await;
    let webhook = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(hooks::table
                .filter(hooks::provider_slug.eq("github"))
                .select(hooks::id)
                .first::<String>(conn)?)
        })
        .await
        .unwrap();
    let session = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(admin_sessions::table
                .filter(admin_sessions::ended_at.is_null())
                .select(admin_sessions::id)
                .first::<String>(conn)?)
        })
        .await
        .unwrap();
    // A second admin (the first is the one signed in: removing them would be refused for
    // another reason), a pending invitation and the platform's id.
    let second = t.app.signed_in_admin("Acme HR", "cy@acme.example").await;
    drop(second);
    let admin = t.app.user_id_of("cy@acme.example").await.to_text();
    let csrf = t.app.csrf_with(&t.admin, "/team").await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            "/team/invitations",
            &[("csrf_token", &csrf), ("email", "dee@acme.example")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let invitation = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(admin_invitations::table
                .select(admin_invitations::id)
                .first::<String>(conn)?)
        })
        .await
        .unwrap();
    targetym_integrations::accounts::set_external_id(&t.app.ctx.db, "Acme HR", Some("acme-42"))
        .await
        .unwrap();
    Ids {
        integration,
        event,
        api_token,
        webhook,
        session,
        admin,
        invitation,
        org_key: "acme-42".to_owned(),
    }
}

#[tokio::test]
async fn every_route_with_an_id_refuses_another_organizations_ids_and_changes_nothing() {
    let t = crate::webhooks::app().await;
    let ids = org_a(&t).await;
    let org = t.app.org_of("ada@acme.example").await.to_text();
    let intruder = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let (_, intruder_token) = service_token(&t.app, "bob@beta.example").await;
    let (_, own_token) = service_token(&t.app, "ada@acme.example").await;

    let routes: Vec<(&Route, String)> = all_routes()
        .filter_map(|route| with_ids(route, &ids).map(|path| (route, path)))
        .collect();
    assert!(
        routes.len() >= 15,
        "the sweep found only {} routes with ids",
        routes.len()
    );

    let before = fingerprint(&t, &org).await;
    for (route, path) in &routes {
        let res = request(&t, &intruder, &intruder_token, route, path).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{} {path} as another organization",
            route.method
        );
        if route.method == "GET" && !route.path.starts_with("/api/") {
            // htmx asks for the partials the same routes render.
            let res = intruder
                .get(t.app.url(path))
                .header("HX-Request", "true")
                .send()
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "htmx GET {path} as another organization"
            );
        }
        assert_eq!(
            fingerprint(&t, &org).await,
            before,
            "{} {path} as another organization changed organization A's data",
            route.method
        );
    }

    // The same reads as organization A find what the intruder could not: the ids are right.
    for (route, path) in routes.iter().filter(|(r, _)| r.method == "GET") {
        let res = request(&t, &t.admin, &own_token, route, path).await;
        assert_ne!(
            res.status(),
            StatusCode::NOT_FOUND,
            "GET {path} as its own organization"
        );
    }
    let res = request(
        &t,
        &t.admin,
        &own_token,
        &Route {
            method: "GET",
            path: "/api/v1/integrations/{id}/proxy/{tail:.*}",
        },
        &format!("/api/v1/integrations/{}/proxy/auth.test", ids.integration),
    )
    .await;
    assert_ne!(
        res.status(),
        StatusCode::NOT_FOUND,
        "the proxy as its own organization"
    );
}

#[test]
fn every_placeholder_of_the_router_is_classified() {
    let ids = Ids {
        integration: "i".into(),
        event: "e".into(),
        api_token: "t".into(),
        webhook: "w".into(),
        session: "s".into(),
        admin: "a".into(),
        invitation: "v".into(),
        org_key: "o".into(),
    };
    assert!(all_routes().filter_map(|route| with_ids(route, &ids)).count() > 0);
}

#[tokio::test]
async fn a_malformed_id_is_not_found_in_each_surfaces_shape() {
    let t = crate::webhooks::app().await;
    let (_, token) = service_token(&t.app, "ada@acme.example").await;
    let malformed = Ids {
        integration: "not-an-id".into(),
        event: "not-an-id".into(),
        api_token: "not-an-id".into(),
        webhook: "not-an-id".into(),
        session: "not-an-id".into(),
        admin: "not-an-id".into(),
        invitation: "not-an-id".into(),
        org_key: "not-an-id".into(),
    };
    for route in all_routes() {
        let Some(path) = with_ids(route, &malformed) else {
            continue;
        };
        let res = request(&t, &t.admin, &token, route, &path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{} {path}", route.method);
        if route.path.starts_with("/api/") {
            let what = if route.path.contains("{org}") {
                "organization"
            } else {
                "integration"
            };
            assert_eq!(
                res.json::<serde_json::Value>().await.unwrap(),
                serde_json::json!({"error": "not_found", "message": format!("no such {what}")}),
                "{path}"
            );
            continue;
        }
        assert!(
            res.text().await.unwrap().contains("<h1>Page not found</h1>"),
            "{} {path}: the not-found page",
            route.method
        );
        if route.method == "GET" {
            let res = t
                .admin
                .get(t.app.url(&path))
                .header("HX-Request", "true")
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "htmx GET {path}");
            assert_eq!(res.headers()["hx-retarget"], "#errors", "htmx GET {path}");
            let fragment = res.text().await.unwrap();
            assert!(
                fragment.starts_with("<p class=\"alert error\" role=\"alert\">There is nothing here"),
                "htmx GET {path}: {fragment}"
            );
        }
    }
}
