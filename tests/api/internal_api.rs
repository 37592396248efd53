//! The internal API: service tokens, scoping, the proxy's boundaries, the OpenAPI document,
//! and the HTTP core's retries, forced refresh and typed errors (through the Slack client).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers;
use crate::oauth_helpers::{OAuthApp, first_integration, oauth_app};

/// Creates a service token from the API tokens page; returns it (shown once).
pub(crate) async fn service_token(t: &OAuthApp, client: &reqwest::Client, name: &str) -> String {
    let csrf = t.app.csrf_with(client, "/api-tokens").await;
    let res = t
        .app
        .post_form_with(client, "/api-tokens", &[("csrf_token", &csrf), ("name", name)])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let start = html.find("<code id=\"new-token\">").unwrap() + "<code id=\"new-token\">".len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

/// What `GET /api/v1/integrations` answers this token.
async fn list_integrations(t: &OAuthApp, token: &str) -> Value {
    api(t, Some(token), reqwest::Method::GET, "/api/v1/integrations", None)
        .await
        .json()
        .await
        .unwrap()
}

pub(crate) async fn api(
    t: &OAuthApp,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, t.app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn service_tokens_are_shown_once_scoped_and_revocable() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let token = service_token(&t, &t.admin, "payroll-service").await;
    assert!(token.starts_with("tgi_") && token.len() > 40);
    let page = t
        .app
        .get_with(&t.admin, "/api-tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("payroll-service") && !page.contains(&token),
        "shown once only"
    );
    assert!(page.contains(&token[..10]), "recognisable by its start");

    let res = api(
        &t,
        Some(&token),
        reqwest::Method::GET,
        "/api/v1/integrations",
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["integrations"][0]["provider"], "mock-oauth");
    assert_eq!(body["integrations"][0]["account_name"], "ada@mock.example");
    assert!(!body.to_string().contains("mock-at-"), "never a token");

    for bad in [None, Some("tgi_wrong"), Some("not-even-the-format")] {
        let res = api(&t, bad, reqwest::Method::GET, "/api/v1/integrations", None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert!(res.headers().contains_key("www-authenticate"));
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "unauthorized");
    }
    // Revoked: refused from then on.
    let page = t
        .app
        .get_with(&t.admin, "/api-tokens")
        .await
        .text()
        .await
        .unwrap();
    let id_start = page.find("data-token=\"").unwrap() + "data-token=\"".len();
    let id = &page[id_start..id_start + 36];
    let csrf = helpers::csrf_in(&page).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/api-tokens/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Created and revoked, by whom: in the audit trail (never the token itself).
    let recorded = t.app.audit_events_of("service_token").await;
    assert!(
        recorded.iter().all(|(actor, _, _)| actor == "ada@acme.example"),
        "{recorded:?}"
    );
    assert!(
        recorded.iter().any(|(_, _, d)| d.contains("created")),
        "{recorded:?}"
    );
    assert_eq!(
        recorded
            .iter()
            .filter(|(_, _, d)| *d == format!("Service token {id} revoked"))
            .count(),
        1,
        "{recorded:?}"
    );
    assert!(
        recorded.iter().all(|(_, _, d)| !d.contains(&token)),
        "{recorded:?}"
    );
    assert_eq!(
        api(
            &t,
            Some(&token),
            reqwest::Method::GET,
            "/api/v1/integrations",
            None
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );

    // Every call is on the record.
    let audit = t
        .app
        .get_with(&t.admin, "/activity?kind=api_call")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("<tr data-kind=\"api_call\" data-status=\"succeeded\"")
            && audit.contains("payroll-service"),
        "{audit}"
    );

    // A day on, the audit trail gets the token's use summary: its calls, by the token.
    let (calls, failed): (i64, i64) = t
        .app
        .ctx
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use targetym_integrations::db::schema::integration_sync_logs as l;
            let of_token = l::kind.eq("api_call").and(l::message.like("%payroll-service%"));
            Ok((
                l::table.filter(of_token).count().get_result(conn)?,
                l::table
                    .filter(of_token)
                    .filter(l::status.eq("failed"))
                    .count()
                    .get_result(conn)?,
            ))
        })
        .await
        .unwrap();
    assert!(calls > 0);
    let a_day_on = targetym_integrations::db::now() + chrono::Duration::hours(25);
    let summarize = || targetym_integrations::api_tokens::summarize_use(&t.app.ctx.db, a_day_on, 100);
    assert_eq!(summarize().await.unwrap(), 1);
    let summary = t
        .app
        .audit_events_of("service_token")
        .await
        .into_iter()
        .find(|(actor, _, _)| actor == "service token \"payroll-service\"")
        .expect("a use summary");
    assert!(
        summary.2.starts_with(&format!("Used {calls} time(s) since "))
            && summary.2.contains(&format!("({failed} failed)")),
        "{summary:?}"
    );
    assert_eq!(summarize().await.unwrap(), 0, "nothing new to summarize");
}

#[tokio::test]
async fn another_organizations_integration_is_not_found() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let theirs = service_token(&t, &other, "beta-service").await;
    let listed: Value = list_integrations(&t, &theirs).await;
    assert_eq!(listed["integrations"], json!([]));
    let res = api(
        &t,
        Some(&theirs),
        reqwest::Method::GET,
        &format!("/api/v1/integrations/{id}/proxy/userinfo"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = api(
        &t,
        Some(&theirs),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/slack/messages"),
        Some(json!({"channel": "C1", "text": "hi"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        t.mock.counters().userinfo_calls,
        1,
        "only the connect's identity call"
    );
}

#[tokio::test]
async fn the_proxy_forwards_with_a_fresh_token_and_stays_inside_the_providers_api() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let token = service_token(&t, &t.admin, "svc").await;
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::GET,
        &format!("/api/v1/integrations/{id}/proxy/userinfo?fields=email"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["email"], "ada@mock.example");
    // A provider error is passed back as the provider's 4xx, typed.
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::GET,
        &format!("/api/v1/integrations/{id}/proxy/no-such-endpoint"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "provider_not_found");

    for tail in [
        "../admin",
        "a/../../etc",
        "%2e%2e/secret",
        "%2E%2E%2Fsecret",
        "x%2f..%2fy",
        "//evil.example/steal",
        "http://evil.example/",
        "@evil.example",
        "a\\..\\b",
        "%252e%252e/",
    ] {
        let path = format!("/api/v1/integrations/{id}/proxy/{tail}");
        let res = reqwest::Client::new()
            .get(format!("{}{}", t.app.address, path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert!(
            res.status() == StatusCode::BAD_REQUEST || res.status() == StatusCode::NOT_FOUND,
            "{tail}: {}",
            res.status()
        );
    }
    assert_eq!(
        t.mock.counters().userinfo_calls,
        2,
        "nothing else reached the provider"
    );
}

#[test]
fn proxy_urls_are_confined_to_the_api_base() {
    use targetym_integrations::web::api::proxy_url;
    assert_eq!(
        proxy_url("https://slack.com/api", "chat.postMessage").as_deref(),
        Some("https://slack.com/api/chat.postMessage")
    );
    assert_eq!(
        proxy_url("https://api.github.com", "user/repos").as_deref(),
        Some("https://api.github.com/user/repos")
    );
    for tail in [
        "",
        "../x",
        "a/../../b",
        "%2e%2e/x",
        "%2F",
        "//evil.example",
        "https://evil.example",
        "@evil",
        "a\\b",
        "x:y",
        "%00",
    ] {
        assert_eq!(proxy_url("https://slack.com/api", tail), None, "{tail:?}");
    }
}

#[tokio::test]
async fn the_openapi_document_parses_and_lists_every_route() {
    let t = oauth_app().await;
    let res = reqwest::get(t.app.url("/api/v1/openapi.json")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/integrations",
            "/integrations/{id}/calendar/calendars",
            "/integrations/{id}/calendar/events",
            "/integrations/{id}/directory",
            "/integrations/{id}/drive/files",
            "/integrations/{id}/drive/files/{file_id}/permissions",
            "/integrations/{id}/drive/folders",
            "/integrations/{id}/email",
            "/integrations/{id}/proxy/{path}",
            "/integrations/{id}/slack/channels",
            "/integrations/{id}/slack/messages",
            "/integrations/{id}/slack/team",
            "/integrations/{id}/slack/users",
            "/integrations/{id}/slack/users/lookup",
            "/openapi.json",
            "/organization",
            "/organizations/{org}/integrations",
            "/people",
            "/people/changes",
            "/people/{email}/employment"
        ]
    );
    // Every action is documented with its method.
    for (method, action, _, _) in provider_actions() {
        let documented = action.split('?').next().unwrap().replace("file-1", "{file_id}");
        let operation =
            &doc["paths"][format!("/integrations/{{id}}/{documented}")][method.as_str().to_lowercase()];
        assert!(operation["summary"].is_string(), "{method} {action}");
    }
    // Every documented operation answers (not 404 from the router) on the real server.
    let token = service_token(&t, &t.admin, "svc").await;
    let some_id = uuid::Uuid::new_v4();
    let mut calls = vec![
        (reqwest::Method::GET, "/api/v1/integrations".to_owned(), None),
        (
            reqwest::Method::GET,
            format!("/api/v1/integrations/{some_id}/proxy/x"),
            None,
        ),
    ];
    calls.extend(
        provider_actions().into_iter().map(|(method, action, body, _)| {
            (method, format!("/api/v1/integrations/{some_id}/{action}"), body)
        }),
    );
    for (method, path, body) in calls {
        let res = api(&t, Some(&token), method, &path, body).await;
        let body: Value = res.json().await.unwrap();
        assert!(
            body.get("error").is_none_or(|e| e == "not_found"),
            "{path}: {body}"
        );
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(doc["components"]["schemas"].get(name).is_some(), "{name}");
    }
}

async fn slack_setup() -> (OAuthApp, String, String) {
    slack_setup_with_breaker("5").await
}

async fn slack_setup_with_breaker(threshold: &'static str) -> (OAuthApp, String, String) {
    let t = crate::oauth_helpers::oauth_app_with(|b| {
        b.var("BREAKER_THRESHOLD", threshold)
            .var("BREAKER_COOLDOWN_SECS", "1")
    })
    .await;
    let flow = t.connect("slack").await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    let id = first_integration(&t.app).await;
    let token = service_token(&t, &t.admin, "hr-service").await;
    (t, id, token)
}

#[tokio::test]
async fn slack_messages_to_a_channel_a_person_and_later() {
    let (t, id, token) = slack_setup().await;
    let path = format!("/api/v1/integrations/{id}/slack/messages");
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &path,
        Some(json!({"channel": "C-HR", "text": "Welcome Ada!"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent: Value = res.json().await.unwrap();
    assert_eq!(sent["channel"], "C-HR");
    assert!(sent["ts"].as_str().unwrap().contains('.'));
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/api/chat.postMessage")
    );
    let body: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(body, json!({"channel": "C-HR", "text": "Welcome Ada!"}));
    assert!(call.authorization.unwrap().starts_with("Bearer mock-at-"));

    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &path,
        Some(json!({"user": "U-ADA", "text": "Your first day is Monday"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let calls = t.mock.api_calls();
    let paths: Vec<&str> = calls.iter().rev().take(2).map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/api/chat.postMessage", "/api/conversations.open"]);

    let later = chrono::Utc::now().timestamp() + 3600;
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &path,
        Some(json!({"channel": "C-HR", "text": "Reminder", "post_at": later})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.json::<Value>().await.unwrap()["scheduled_message_id"]
            .as_str()
            .is_some()
    );

    for bad in [
        json!({"text": "no target"}),
        json!({"channel": "C", "user": "U", "text": "both"}),
        json!({"channel": "C", "text": ""}),
        json!({"channel": "C", "text": "x", "extra": 1}),
        // post_at: in the past, past Slack's 120 days, or at the ends of i64.
        json!({"channel": "C", "text": "x", "post_at": chrono::Utc::now().timestamp() - 60}),
        json!({"channel": "C", "text": "x", "post_at": chrono::Utc::now().timestamp() + 121 * 86_400}),
        json!({"channel": "C", "text": "x", "post_at": i64::MAX}),
        json!({"channel": "C", "text": "x", "post_at": i64::MIN}),
    ] {
        let res = api(&t, Some(&token), reqwest::Method::POST, &path, Some(bad.clone())).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    // Slack's own refusal comes back typed.
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &path,
        Some(json!({"channel": "", "text": "x"})),
    )
    .await;
    assert!(res.status().is_client_error());
}

#[tokio::test]
async fn rate_limits_are_retried_after_the_providers_delay() {
    let (t, id, token) = slack_setup().await;
    t.mock.set_behaviour(|b| {
        b.api_fail_next = vec![429];
        b.api_retry_after_secs = 1;
    });
    let started = std::time::Instant::now();
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/slack/messages"),
        Some(json!({"channel": "C-HR", "text": "hi"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(t.mock.counters().api_calls, 2);
    // A long Retry-After is passed on instead of waited for.
    t.mock.set_behaviour(|b| {
        b.api_fail_next = vec![429];
        b.api_retry_after_secs = 120;
    });
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/slack/messages"),
        Some(json!({"channel": "C-HR", "text": "hi"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "120");
}

#[tokio::test]
async fn a_post_is_not_repeated_after_a_server_error_but_a_read_is() {
    let (t, id, token) = slack_setup().await;
    t.mock.set_behaviour(|b| b.api_fail_next = vec![503]);
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/slack/messages"),
        Some(json!({"channel": "C-HR", "text": "once"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "provider_unavailable"
    );
    assert_eq!(
        t.mock.counters().api_calls,
        1,
        "not repeated: it might have been posted"
    );
    t.mock.set_behaviour(|b| b.api_fail_next = vec![502]);
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::GET,
        &format!("/api/v1/integrations/{id}/proxy/team.info"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "a GET is retried");
    assert_eq!(t.mock.counters().api_calls, 3);
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_retried() {
    let (t, id, token) = slack_setup().await;
    let refreshes = t.mock.counters().refreshes;
    t.mock.set_behaviour(|b| b.api_unauthorized_next = 1);
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::GET,
        &format!("/api/v1/integrations/{id}/proxy/team.info"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(t.mock.counters().refreshes, refreshes + 1, "one forced refresh");
    let calls = t.mock.api_calls();
    assert_ne!(
        calls[0].authorization, calls[1].authorization,
        "the retry carries the new token"
    );
    // Refused twice: the caller is told, not looped.
    t.mock.set_behaviour(|b| b.api_unauthorized_next = 2);
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::GET,
        &format!("/api/v1/integrations/{id}/proxy/team.info"),
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "provider_auth");
}

#[tokio::test]
async fn the_breaker_opens_after_repeated_failures() {
    let (t, id, token) = slack_setup_with_breaker("2").await;
    let path = format!("/api/v1/integrations/{id}/slack/messages");
    t.mock.set_behaviour(|b| b.api_fail_next = vec![500, 500, 500]);
    for _ in 0..2 {
        let res = api(
            &t,
            Some(&token),
            reqwest::Method::POST,
            &path,
            Some(json!({"channel": "C", "text": "x"})),
        )
        .await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
    let calls = t.mock.counters().api_calls;
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &path,
        Some(json!({"channel": "C", "text": "x"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        res.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("circuit open")
    );
    assert_eq!(
        t.mock.counters().api_calls,
        calls,
        "no call while the breaker is open"
    );
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("provider_circuit_breaker_state{provider=\"slack\"} 1"));
    // After the cool-down a probe goes out; it succeeds and the breaker closes.
    t.mock.set_behaviour(|b| b.api_fail_next.clear());
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &path,
        Some(json!({"channel": "C", "text": "x"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        t.app.ctx.breakers.state("slack"),
        targetym_integrations::providers::breaker::BreakerState::Closed
    );
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("provider_circuit_breaker_state{provider=\"slack\"} 0"),
        "the gauge follows the breaker back to closed"
    );
}

#[tokio::test]
async fn a_probe_answered_429_does_not_leave_the_breaker_refusing_until_restart() {
    let (t, id, token) = slack_setup_with_breaker("1").await;
    let path = format!("/api/v1/integrations/{id}/slack/messages");
    let send = || {
        api(
            &t,
            Some(&token),
            reqwest::Method::POST,
            &path,
            Some(json!({"channel": "C", "text": "x"})),
        )
    };
    t.mock.set_behaviour(|b| b.api_fail_next = vec![500]);
    assert_eq!(send().await.status(), StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // The probe meets a rate limit longer than we wait: it ends without an outcome.
    t.mock.set_behaviour(|b| {
        b.api_fail_next = vec![429];
        b.api_retry_after_secs = 120;
    });
    assert_eq!(send().await.status(), StatusCode::TOO_MANY_REQUESTS);
    // The next call probes again, succeeds, and the breaker closes.
    let res = send().await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    assert_eq!(
        t.app.ctx.breakers.state("slack"),
        targetym_integrations::providers::breaker::BreakerState::Closed
    );
}

#[tokio::test]
async fn the_proxy_passes_method_body_status_and_content_type_and_tokens_show_their_last_use() {
    let (t, id, token) = slack_setup().await;
    let page = t
        .app
        .get_with(&t.admin, "/api-tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<td>never</td>"));
    let res = reqwest::Client::new()
        .post(t.app.url(&format!(
            "/api/v1/integrations/{id}/proxy/chat.postMessage?unfurl_links=false"
        )))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"channel":"C-HR","text":"through the proxy"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"]["text"],
        "through the proxy"
    );
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(
        (call.method.as_str(), call.path.as_str(), call.query.as_str()),
        ("POST", "/api/chat.postMessage", "unfurl_links=false")
    );
    assert_eq!(call.body, r#"{"channel":"C-HR","text":"through the proxy"}"#);
    let page = t
        .app
        .get_with(&t.admin, "/api-tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("<td>never</td>"), "the last use is shown");
}

/// GET `path` with `token`: (status, JSON body).
async fn get_json(t: &OAuthApp, token: &str, path: &str) -> (StatusCode, Value) {
    let res = api(t, Some(token), reqwest::Method::GET, path, None).await;
    (res.status(), res.json().await.unwrap())
}

/// The messages of the audit log's API calls, oldest first.
async fn api_call_entries(t: &OAuthApp) -> Vec<String> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integration_sync_logs as logs;
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("api_call"))
                .order((logs::created_at, logs::id))
                .select(logs::message)
                .load::<String>(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn slack_channels_users_and_the_team_through_the_api() {
    let (t, id, token) = slack_setup().await;
    let base = format!("/api/v1/integrations/{id}/slack");

    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("{base}/channels"),
        Some(json!({"name": "onboarding-2026"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let created: Value = res.json().await.unwrap();
    assert_eq!(
        created,
        json!({"id": "C-1", "name": "onboarding-2026", "is_private": false})
    );
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("POST", "/api/conversations.create")
    );
    let (status, channels) = get_json(&t, &token, &format!("{base}/channels")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        channels,
        json!({"channels": [
            {"id": "C-GENERAL", "name": "general", "is_private": false},
            {"id": "C-HR", "name": "hr", "is_private": false},
            created,
        ], "next_cursor": null})
    );
    // Slack's refusal (a taken name) comes back typed; a malformed body is ours to refuse.
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("{base}/channels"),
        Some(json!({"name": "onboarding-2026"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"error": "provider_rejected", "message": "name_taken"})
    );
    for bad in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x".repeat(81)}),
        json!({"name": "x", "topic": "t"}),
    ] {
        let res = api(
            &t,
            Some(&token),
            reqwest::Method::POST,
            &format!("{base}/channels"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    let (status, users) = get_json(&t, &token, &format!("{base}/users")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        users,
        json!({"users": [
            {"id": "U-ADA", "name": "ada", "real_name": "Ada Lovelace", "email": "ada@acme.example"},
            {"id": "U-BOB", "name": "bob", "real_name": "Bob Martin", "email": "bob@acme.example"},
        ], "next_cursor": null})
    );
    // One page at a time, the way Slack pages: its cursor passed through.
    let (_, first) = get_json(&t, &token, &format!("{base}/users?limit=1")).await;
    assert_eq!(first["users"], json!([users["users"][0]]));
    let cursor = first["next_cursor"].as_str().expect("a next page").to_owned();
    let (_, second) = get_json(&t, &token, &format!("{base}/users?limit=1&cursor={cursor}")).await;
    assert_eq!(second, json!({"users": [users["users"][1]], "next_cursor": null}));
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(call.query, format!("limit=1&cursor={cursor}"));
    for bad in ["limit=0", "limit=1001", "limit=x"] {
        let (status, _) = get_json(&t, &token, &format!("{base}/users?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, bob) = get_json(
        &t,
        &token,
        &format!("{base}/users/lookup?email=Bob%40Acme.example"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bob, users["users"][1]);
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(
        (call.path.as_str(), call.query.as_str()),
        ("/api/users.lookupByEmail", "email=bob%40acme.example")
    );
    let (status, nobody) = get_json(
        &t,
        &token,
        &format!("{base}/users/lookup?email=nobody@acme.example"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(nobody["error"], "provider_not_found", "{nobody}");
    let calls = t.mock.api_calls().len();
    for query in ["", "?email=", "?email=not-an-address", "?mail=ada@acme.example"] {
        let (status, body) = get_json(&t, &token, &format!("{base}/users/lookup{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"], "bad_request");
    }
    assert_eq!(t.mock.api_calls().len(), calls, "refused before Slack");

    let (status, team) = get_json(&t, &token, &format!("{base}/team")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(team, json!({"id": "T-MOCK", "name": "Mock Workspace"}));

    // Every call is on the record, failures included.
    let entries = api_call_entries(&t).await;
    for what in [
        "Slack channel (",
        "Slack channels (",
        "Slack users (",
        "Slack user lookup (",
        "Slack team (",
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e.starts_with(what) && e.contains("\"hr-service\"")),
            "{what}: {entries:?}"
        );
    }
    // The bad limits were refused before any call: not in the log. The two pages are.
    assert_eq!(entries.len(), 9, "{entries:?}");
}

pub(crate) async fn google_integration(t: &OAuthApp) -> String {
    crate::oauth_helpers::seed_integration(&t.app, &t.mock, "google", "ada@mock.example").await
}

#[tokio::test]
async fn calendar_events_and_emails_through_google() {
    let t = oauth_app().await;
    let id = google_integration(&t).await;
    let token = service_token(&t, &t.admin, "recruiting").await;
    let event = json!({
        "summary": "Interview: Ada Lovelace",
        "description": "Round 1",
        "start": "2026-12-01T10:00:00Z",
        "end": "2026-12-01T11:00:00Z",
        "attendees": ["ada@acme.example", "bob@acme.example"],
    });
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/calendar/events"),
        Some(event),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let created: Value = res.json().await.unwrap();
    assert!(created["id"].as_str().unwrap().starts_with("evt-"));
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(call.path, "/calendar/v3/calendars/primary/events");
    assert!(call.query.contains("sendUpdates=all"));
    let sent: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(
        sent["attendees"],
        json!([{"email": "ada@acme.example"}, {"email": "bob@acme.example"}])
    );
    assert_eq!(sent["start"]["dateTime"], "2026-12-01T10:00:00Z");
    let bad = json!({"summary": "x", "start": "tomorrow", "end": "2026-12-01T11:00:00Z"});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/calendar/events"),
        Some(bad),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let backwards = json!({"summary": "x", "start": "2026-12-01T11:00:00Z", "end": "2026-12-01T10:00:00Z"});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/calendar/events"),
        Some(backwards),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "Google's refusal, typed"
    );

    let mail =
        json!({"to": "ada@acme.example", "subject": "Bienvenue, Zoë", "body": "Votre premier jour : lundi."});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/email"),
        Some(mail),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .starts_with("msg-")
    );
    let sent = t.mock.sent_emails().pop().unwrap();
    assert!(sent.contains("To: ada@acme.example") && sent.contains("Subject: =?UTF-8?B?"));
    let injected = json!({"to": "ada@acme.example\r\nBcc: eve@evil.example", "subject": "s", "body": "b"});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{id}/email"),
        Some(injected),
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(t.mock.sent_emails().len(), 1);

    // A Slack integration is not a calendar.
    let flow = t.connect("slack").await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    let listed: Value = list_integrations(&t, &token).await;
    let slack_id = listed["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider"] == "slack")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("/api/v1/integrations/{slack_id}/email"),
        Some(json!({"to": "a@b.example", "subject": "s", "body": "b"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn calendars_events_files_and_folders_through_the_api() {
    let t = oauth_app().await;
    let id = google_integration(&t).await;
    let token = service_token(&t, &t.admin, "onboarding").await;
    let base = format!("/api/v1/integrations/{id}");

    let (status, calendars) = get_json(&t, &token, &format!("{base}/calendar/calendars")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        calendars,
        json!({"calendars": [
            {"id": "primary-id@mock", "summary": "Ada", "primary": true},
            {"id": "hr@mock", "summary": "HR", "primary": false},
        ], "next_cursor": null})
    );

    let event =
        json!({"summary": "Onboarding", "start": "2026-12-02T09:00:00Z", "end": "2026-12-02T10:00:00Z"});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("{base}/calendar/events"),
        Some(event),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let created: Value = res.json().await.unwrap();
    let window = |from: &str, to: &str| format!("{base}/calendar/events?from={from}&to={to}");
    let (status, events) = get_json(
        &t,
        &token,
        &window("2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events, json!({"events": [created], "next_cursor": null}));
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(call.path, "/calendar/v3/calendars/primary/events");
    assert!(call.query.contains("singleEvents=true") && call.query.contains("orderBy=startTime"));
    let (_, later) = get_json(
        &t,
        &token,
        &window("2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z"),
    )
    .await;
    assert_eq!(later, json!({"events": [], "next_cursor": null}));
    let (status, other) = get_json(
        &t,
        &token,
        &format!(
            "{base}/calendar/events?calendar_id=hr%40mock&from=2026-12-02T00:00:00Z&to=2026-12-03T00:00:00Z"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        other,
        json!({"events": [], "next_cursor": null}),
        "another calendar's events"
    );
    let calls = t.mock.api_calls().len();
    for query in [
        "",
        "?from=2026-12-02T00:00:00Z",
        "?from=tomorrow&to=2026-12-03T00:00:00Z",
        "?from=2026-12-03T00:00:00Z&to=2026-12-02T00:00:00Z",
        "?calendar_id=&from=2026-12-02T00:00:00Z&to=2026-12-03T00:00:00Z",
    ] {
        let (status, body) = get_json(&t, &token, &format!("{base}/calendar/events{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    assert_eq!(t.mock.api_calls().len(), calls, "refused before Google");

    let (status, files) = get_json(&t, &token, &format!("{base}/drive/files")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(files, json!({"files": [], "next_cursor": null}));
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("{base}/drive/folders"),
        Some(json!({"name": "Onboarding — Ada"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let folder: Value = res.json().await.unwrap();
    assert_eq!(
        folder,
        json!({"id": "file-1", "name": "Onboarding — Ada", "mime_type": "application/vnd.google-apps.folder"})
    );
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &format!("{base}/drive/folders"),
        Some(json!({"name": "Contracts", "parent": "file-1"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let sent: Value = serde_json::from_str(&t.mock.api_calls().pop().unwrap().body).unwrap();
    assert_eq!(sent["parents"], json!(["file-1"]));
    let (_, files) = get_json(&t, &token, &format!("{base}/drive/files")).await;
    let names: Vec<&str> = files["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Onboarding — Ada", "Contracts"]);
    for bad in [
        json!({}),
        json!({"name": " "}),
        json!({"name": "x", "parent": ""}),
        json!({"name": "x", "color": "red"}),
    ] {
        let res = api(
            &t,
            Some(&token),
            reqwest::Method::POST,
            &format!("{base}/drive/folders"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    let permissions = |file: &str| format!("{base}/drive/files/{file}/permissions");
    let share = json!({"email": "ada@acme.example", "role": "writer"});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &permissions("file-1"),
        Some(share),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"id": "perm-1"}));
    let call = t.mock.api_calls().pop().unwrap();
    assert_eq!(call.path, "/drive/v3/files/file-1/permissions");
    let sent: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(
        sent,
        json!({"type": "user", "role": "writer", "emailAddress": "ada@acme.example"})
    );
    let share = json!({"email": "ada@acme.example", "role": "reader"});
    let res = api(
        &t,
        Some(&token),
        reqwest::Method::POST,
        &permissions("no-such-file"),
        Some(share),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "provider_not_found");
    for bad in [
        json!({"email": "ada@acme.example", "role": "owner"}),
        json!({"email": "not-an-address", "role": "reader"}),
        json!({"email": "ada@acme.example"}),
    ] {
        let res = api(
            &t,
            Some(&token),
            reqwest::Method::POST,
            &permissions("file-1"),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    let entries = api_call_entries(&t).await;
    for what in [
        "Calendars (",
        "Calendar events (",
        "Drive files (",
        "Drive folder (",
        "Drive sharing (",
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e.starts_with(what) && e.contains("\"onboarding\"")),
            "{what}: {entries:?}"
        );
    }
}

/// Every action on an integration's provider, with a valid query or body: (method, path
/// after the integration's id, body, the provider it needs).
pub(crate) fn provider_actions() -> Vec<(reqwest::Method, &'static str, Option<Value>, &'static str)> {
    use reqwest::Method;
    vec![
        (
            Method::POST,
            "slack/messages",
            Some(json!({"channel": "C-HR", "text": "hi"})),
            "slack",
        ),
        (Method::GET, "slack/channels", None, "slack"),
        (
            Method::POST,
            "slack/channels",
            Some(json!({"name": "intruders"})),
            "slack",
        ),
        (Method::GET, "slack/users", None, "slack"),
        (
            Method::GET,
            "slack/users/lookup?email=ada@acme.example",
            None,
            "slack",
        ),
        (Method::GET, "slack/team", None, "slack"),
        (Method::GET, "calendar/calendars", None, "google"),
        (
            Method::GET,
            "calendar/events?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z",
            None,
            "google",
        ),
        (
            Method::POST,
            "calendar/events",
            Some(json!({"summary": "s", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T11:00:00Z"})),
            "google",
        ),
        (Method::GET, "drive/files", None, "google"),
        (
            Method::POST,
            "drive/folders",
            Some(json!({"name": "Intruders"})),
            "google",
        ),
        (
            Method::POST,
            "drive/files/file-1/permissions",
            Some(json!({"email": "eve@evil.example", "role": "writer"})),
            "google",
        ),
        (
            Method::POST,
            "email",
            Some(json!({"to": "a@b.example", "subject": "s", "body": "b"})),
            "google",
        ),
    ]
}

#[tokio::test]
async fn provider_actions_refuse_other_organizations_malformed_ids_and_the_wrong_provider() {
    let (t, slack_id, token) = slack_setup().await;
    let google_id = google_integration(&t).await;
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let theirs = service_token(&t, &other, "beta-service").await;
    let calls = t.mock.api_calls().len();
    let not_found = json!({"error": "not_found", "message": "no such integration"});
    for (method, action, body, provider) in provider_actions() {
        let (own, wrong, expected) = match provider {
            "slack" => (&slack_id, &google_id, "this integration is not Slack"),
            _ => (&google_id, &slack_id, "this integration is not Google Workspace"),
        };
        let path = |id: &str| format!("/api/v1/integrations/{id}/{action}");
        let res = api(&t, Some(&theirs), method.clone(), &path(own), body.clone()).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "{action} as another organization"
        );
        assert_eq!(res.json::<Value>().await.unwrap(), not_found, "{action}");
        for malformed in ["not-an-id", "1234"] {
            let res = api(&t, Some(&token), method.clone(), &path(malformed), body.clone()).await;
            assert_eq!(
                res.status(),
                StatusCode::NOT_FOUND,
                "{action} with id {malformed}"
            );
            assert_eq!(res.json::<Value>().await.unwrap(), not_found, "{action}");
        }
        let res = api(&t, Some(&token), method.clone(), &path(wrong), body.clone()).await;
        assert_eq!(
            res.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{action} on the wrong provider"
        );
        assert_eq!(
            res.json::<Value>().await.unwrap(),
            json!({"error": "wrong_provider", "message": expected}),
            "{action}"
        );
    }
    assert_eq!(t.mock.api_calls().len(), calls, "nothing reached a provider");
}

#[tokio::test]
async fn test_connection_runs_each_providers_identity_call_through_the_core() {
    let (t, id, _) = slack_setup().await;
    let csrf = t.app.csrf_with(&t.admin, &format!("/integrations/{id}")).await;
    let page = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/test"),
            &[("csrf_token", &csrf)],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("OK — Slack answered for Mock Workspace"), "{page}");
    assert!(t.mock.counters().identity_calls >= 1);
    // Notion and GitHub calls carry the headers their APIs require.
    let api_headers = |slug: &str| {
        targetym_integrations::providers::catalogue::builtin_providers()
            .into_iter()
            .find(|p| p.slug == slug)
            .unwrap()
            .api_headers
    };
    assert_eq!(
        api_headers("notion"),
        [("Notion-Version".to_owned(), "2022-06-28".to_owned())]
    );
    assert!(
        api_headers("github")
            .iter()
            .any(|(name, _)| name == "X-GitHub-Api-Version")
    );
}

#[tokio::test]
async fn each_providers_identity_call_answers_test_connection() {
    use mock_provider::{MockConfig, MockProvider};
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let base = mock.base_url();
    let overrides = [
        (
            "microsoft",
            format!("userinfo_url = \"{base}/v1.0/me\"\napi_base_url = \"{base}\""),
        ),
        (
            "asana",
            format!("userinfo_url = \"{base}/api/1.0/users/me\"\napi_base_url = \"{base}/api/1.0\""),
        ),
        (
            "notion",
            format!("userinfo_url = \"{base}/v1/users/me\"\napi_base_url = \"{base}/v1\""),
        ),
        ("jira", format!("api_base_url = \"{base}\"")),
        (
            "linear",
            format!("userinfo_url = \"{base}/graphql\"\napi_base_url = \"{base}\""),
        ),
        (
            "zoom",
            format!("userinfo_url = \"{base}/v2/users/me\"\napi_base_url = \"{base}/v2\""),
        ),
        (
            "dropbox",
            format!("userinfo_url = \"{base}/2/users/get_current_account\"\napi_base_url = \"{base}/2\""),
        ),
        (
            "github",
            format!("userinfo_url = \"{base}/user\"\napi_base_url = \"{base}\""),
        ),
    ];
    let file: String = overrides
        .iter()
        .map(|(slug, lines)| format!("[[provider]]\nslug = \"{slug}\"\n{lines}\n\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(&path, file).unwrap();
    let app = helpers::app()
        .var("PROVIDERS_FILE", path.to_str().unwrap())
        .spawn()
        .await;
    let admin = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let expected = [
        ("microsoft", "Microsoft 365 answered for"),
        ("asana", "Asana answered for Ada Asana"),
        ("notion", "Notion answered for"),
        ("jira", "Jira answered for Ada Jira"),
        ("linear", "Linear answered for Acme Linear"),
        ("zoom", "Zoom answered for ada@zoom.example"),
        ("dropbox", "Dropbox answered for Ada Dropbox"),
        ("github", "GitHub answered for ada-gh"),
    ];
    for (slug, answer) in expected {
        let id = crate::oauth_helpers::seed_integration(&app, &mock, slug, "seeded-account").await;
        let csrf = app.csrf_with(&admin, &format!("/integrations/{id}")).await;
        let page = app
            .post_form_with(
                &admin,
                &format!("/integrations/{id}/test"),
                &[("csrf_token", &csrf)],
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains(&format!("OK — {answer}")), "{slug}: {page}");
    }
    let paths: Vec<String> = mock
        .api_calls()
        .into_iter()
        .map(|c| format!("{} {}", c.method, c.path))
        .collect();
    for call in [
        "GET /oauth/token/accessible-resources",
        "GET /ex/jira/cloud-1/rest/api/3/myself",
        "POST /graphql",
        "POST /2/users/get_current_account",
    ] {
        assert!(paths.iter().any(|p| p == call), "{call} in {paths:?}");
    }
}

/// The token in the page a token-creating POST answered with.
fn created_token(html: &str) -> String {
    let start = html.find("<code id=\"new-token\">").unwrap() + "<code id=\"new-token\">".len();
    html[start..start + html[start..].find('<').unwrap()].to_owned()
}

async fn integration_ids(t: &OAuthApp) -> Vec<String> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integrations;
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(integrations::table
                .order(integrations::created_at)
                .select(integrations::id)
                .load(conn)?)
        })
        .await
        .unwrap()
}

async fn token_count(t: &OAuthApp) -> i64 {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::api_tokens;
    t.app
        .ctx
        .db
        .run(|conn| Ok(api_tokens::table.count().get_result(conn)?))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_token_limited_to_chosen_integrations_reaches_only_those() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    t.connect("mock-oidc").await;
    let ids = integration_ids(&t).await;
    let (chosen, other) = (&ids[0], &ids[1]);
    let page = t
        .app
        .get_with(&t.admin, "/api-tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("name=\"integration\" value=\"{chosen}\"")),
        "offered on the page"
    );
    let csrf = helpers::csrf_in(&page).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            "/api-tokens",
            &[
                ("csrf_token", &csrf),
                ("name", "limited"),
                ("integration", chosen),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let token = created_token(&res.text().await.unwrap());

    let listed: Value = list_integrations(&t, &token).await;
    let listed: Vec<&str> = listed["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![chosen.as_str()]);
    let proxy = |id: &str| format!("/api/v1/integrations/{id}/proxy/userinfo");
    let res = api(&t, Some(&token), reqwest::Method::GET, &proxy(chosen), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let calls = t.mock.counters().userinfo_calls;
    let res = api(&t, Some(&token), reqwest::Method::GET, &proxy(other), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        t.mock.counters().userinfo_calls,
        calls,
        "nothing sent for the other one"
    );

    // The list says what each token reaches.
    let page = t
        .app
        .get_with(&t.admin, "/api-tokens")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Mock OAuth — ada@mock.example</td>"), "{page}");

    // An unrestricted token of the same organization reaches both.
    let all = service_token(&t, &t.admin, "all").await;
    let res = api(&t, Some(&all), reqwest::Method::GET, &proxy(other), None).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_cannot_be_limited_to_another_organizations_integration_or_a_malformed_id() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let before = token_count(&t).await;
    let csrf = t.app.csrf_with(&other, "/api-tokens").await;
    for (value, status) in [
        (id.as_str(), StatusCode::NOT_FOUND),
        ("not-an-id", StatusCode::BAD_REQUEST),
    ] {
        let res = t
            .app
            .post_form_with(
                &other,
                "/api-tokens",
                &[("csrf_token", &csrf), ("name", "sneaky"), ("integration", value)],
            )
            .await;
        assert_eq!(res.status(), status, "{value}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("new-token"), "no token made");
    }
    assert_eq!(token_count(&t).await, before, "nothing stored");
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after_and_other_tokens_do_not() {
    let t = crate::oauth_helpers::oauth_app_with(|b| b.var("API_RATE_LIMIT_PER_MINUTE", "3")).await;
    let busy = service_token(&t, &t.admin, "busy").await;
    let calm = service_token(&t, &t.admin, "calm").await;
    for _ in 0..3 {
        let res = api(
            &t,
            Some(&busy),
            reqwest::Method::GET,
            "/api/v1/integrations",
            None,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = api(
        &t,
        Some(&busy),
        reqwest::Method::GET,
        "/api/v1/integrations",
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "rate_limited");
    let res = api(
        &t,
        Some(&calm),
        reqwest::Method::GET,
        "/api/v1/integrations",
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "another token has its own budget");
    // A wrong token is refused as such, not counted against anyone.
    let res = api(
        &t,
        Some("tgi_wrong"),
        reqwest::Method::GET,
        "/api/v1/integrations",
        None,
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
