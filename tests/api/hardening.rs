//! Hostile input and protocol corners of the web layer: panics, out-of-range numbers and
//! dates, HEAD, caching, the session cookie on https, /metrics and sign-in throttling.

use reqwest::StatusCode;

use crate::helpers::{app, captured_logs};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, LogKind, LogStatus, OrgId};

async fn panics() -> actix_web::HttpResponse {
    panic!("a handler bug for the test");
}

#[tokio::test]
async fn a_panicking_handler_answers_a_logged_500_page() {
    let app = app()
        .extra_routes(|cfg| {
            cfg.route("/test-panic", actix_web::web::get().to(panics))
                .route("/api/test-panic", actix_web::web::get().to(panics));
        })
        .spawn()
        .await;
    let res = app.get("/test-panic").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(res.headers().contains_key("content-security-policy"));
    let page = res.text().await.unwrap();
    assert!(page.contains("An unexpected error occurred"), "{page}");
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains(&request_id) && l.contains("a handler bug for the test")),
        "the panic is logged with the request id"
    );

    let res = app.get("/api/test-panic").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "internal");

    let fragment = app.htmx_get(&app.client, "/test-panic").await;
    assert!(fragment.starts_with("<p class=\"alert error\""), "{fragment}");

    // The worker survived: the next request is served as usual.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn out_of_range_dates_and_page_numbers_are_a_400_with_a_sentence() {
    let app = crate::helpers::spawn_app().await;
    app.setup("Acme HR", "ada@acme.example").await;
    let logs = format!("/integrations/{}/logs", uuid::Uuid::new_v4());
    let refused = [
        ("/audit?to=%2B262142-12-31", "between 1970-01-01 and 9999-12-31"),
        ("/audit?from=-262143-01-01", "between 1970-01-01 and 9999-12-31"),
        ("/audit?to=2026-02-30", "between 1970-01-01 and 9999-12-31"),
        (
            "/audit.csv?to=%2B262142-12-31",
            "between 1970-01-01 and 9999-12-31",
        ),
        (
            "/audit?page=9223372036854775807",
            "page number must be from 1 to 100000",
        ),
        ("/audit?page=0", "page number must be from 1 to 100000"),
        ("/audit?page=-3", "page number must be from 1 to 100000"),
        ("/audit?page=99999999999999999999", "does not understand"),
        ("/audit?page=two", "does not understand"),
    ];
    for (path, sentence) in refused {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let page = res.text().await.unwrap();
        assert!(page.contains(sentence), "{path}: {page}");
    }
    // An integration's activity is an htmx partial (without htmx it redirects to the page).
    let htmx_only = [
        (
            format!("{logs}?page=9223372036854775807"),
            "page number must be from 1",
        ),
        (format!("{logs}?to=%2B262142-12-31"), "between 1970-01-01"),
    ];
    let refused = refused.iter().map(|(p, s)| (p.to_string(), *s));
    for (path, sentence) in refused.chain(htmx_only) {
        let res = app
            .client
            .get(app.url(&path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path} (htmx)");
        let fragment = res.text().await.unwrap();
        assert!(
            fragment.starts_with("<p class=\"alert error\"") && fragment.contains(sentence),
            "{path}: {fragment}"
        );
    }
    for path in [
        "/audit?from=1970-01-01&to=9999-12-31&page=100000",
        "/audit.csv?from=2026-01-01&to=9999-12-31",
    ] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn head_is_answered_wherever_get_is_with_the_get_headers_and_no_body() {
    let app = crate::helpers::spawn_app().await;
    let setup = app.head("/setup").await;
    assert_eq!(setup.status(), StatusCode::OK);
    app.setup("Acme HR", "ada@acme.example").await;
    let page = app.get("/integrations").await.text().await.unwrap();
    let css = page
        .split('"')
        .find(|s| s.starts_with("/static/app.css?v="))
        .expect("fingerprinted stylesheet")
        .to_owned();
    let anonymous = crate::helpers::browser();
    for (client, path) in [
        (&app.client, "/healthz"),
        (&app.client, "/readyz"),
        (&app.client, css.as_str()),
        (&anonymous, "/login"),
        (&app.client, "/integrations"),
        (&app.client, "/dashboard"),
        (&anonymous, "/integrations"),
    ] {
        let get = client.get(app.url(path)).send().await.unwrap();
        let head = client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), get.status(), "HEAD {path}");
        for name in [
            "content-type",
            "cache-control",
            "location",
            "content-security-policy",
        ] {
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "HEAD {path}: {name}"
            );
        }
        let length = |r: &reqwest::Response| r.headers().get("content-length").cloned();
        if !path.starts_with("/integrations") && !path.starts_with("/dashboard") {
            // Pages carry a fresh CSRF token per session, so only fixed bodies compare.
            assert_eq!(length(&head), length(&get), "HEAD {path}: content-length");
        }
        assert!(head.bytes().await.unwrap().is_empty(), "HEAD {path} has no body");
    }
}

#[tokio::test]
async fn pages_partials_and_exports_are_never_cached() {
    let app = crate::helpers::spawn_app().await;
    let anonymous = crate::helpers::browser();
    let no_store = |res: &reqwest::Response, what: &str| {
        assert_eq!(
            res.headers().get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{what}"
        );
    };
    no_store(&app.get_with(&anonymous, "/setup").await, "/setup");
    app.setup("Acme HR", "ada@acme.example").await;
    no_store(&app.get_with(&anonymous, "/login").await, "/login");
    for path in [
        "/integrations",
        "/integrations?category=Communication&q=sl",
        "/integrations/slack/connect",
        "/dashboard",
        "/audit",
        "/audit.csv",
        "/gdpr",
        "/gdpr/export.json",
        "/api-tokens",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        no_store(&res, path);
        let partial = app
            .client
            .get(app.url(path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        no_store(&partial, &format!("{path} (htmx)"));
    }
}

#[tokio::test]
async fn on_https_the_session_cookie_is_host_prefixed() {
    // The test talks plain http to an app that believes it is served on https.
    let app = app().var("PUBLIC_URL", "https://hub.example.com").spawn().await;
    let res = app.get("/setup").await;
    let cookie = crate::helpers::set_cookie(&res).expect("a session cookie");
    assert!(cookie.starts_with("__Host-targetym_session="), "{cookie}");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes.contains(&"Secure"), "{cookie}");
    assert!(attributes.contains(&"Path=/"), "{cookie}");
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
    assert!(!cookie.to_ascii_lowercase().contains("domain="), "{cookie}");

    let plain = crate::helpers::spawn_app().await;
    let cookie = crate::helpers::set_cookie(&plain.get("/setup").await).expect("a session cookie");
    assert!(cookie.starts_with("targetym_session="), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn invented_http_methods_share_one_metrics_label() {
    let app = crate::helpers::spawn_app().await;
    for i in 0..200 {
        let method = reqwest::Method::from_bytes(format!("INVENTED{i}").as_bytes()).unwrap();
        let res = app
            .client
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error());
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(!metrics.contains("INVENTED"), "invented methods are not labels");
    assert!(
        metrics.contains("http_requests_total{method=\"other\",route=\"/healthz\",status=\"403\"} 200"),
        "{metrics}"
    );
}

#[tokio::test]
async fn metrics_need_the_token_when_one_is_set() {
    let token = "metrics-token-for-the-test";
    let app = app().var("METRICS_TOKEN", token).spawn().await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let with = |value: String| {
        app.client
            .get(app.url("/metrics"))
            .header("Authorization", value)
            .send()
    };
    let wrong = with("Bearer metrics-token-for-the-tesT".into()).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
    let right = with(format!("Bearer {token}")).await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
    assert!(right.text().await.unwrap().contains("http_requests_total"));
}

#[tokio::test]
async fn in_production_without_a_setting_metrics_are_served_to_nobody() {
    let app = app()
        .var("APP_ENV", "production")
        .var("PUBLIC_URL", "https://hub.example.com")
        .var("INTEGRATION_ENCRYPTION_KEY", &"ab".repeat(32))
        .var("SESSION_KEY", &"cd".repeat(64))
        .spawn()
        .await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_metrics_listener_serves_only_metrics_and_probes() {
    let app = app().var("METRICS_BIND_ADDR", "127.0.0.1:0").spawn().await;
    let operator = app.metrics_address.clone().expect("a metrics listener");
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let get = |path: &str| reqwest::get(format!("{operator}{path}"));
    let metrics = get("/metrics").await.unwrap();
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(metrics.text().await.unwrap().contains("http_requests_total"));
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);
    for path in ["/login", "/setup", "/integrations", "/api/v1/integrations"] {
        assert_eq!(get(path).await.unwrap().status(), StatusCode::NOT_FOUND, "{path}");
    }
}

/// A sign-in from a browser behind our proxy: `forwarded` are the X-Forwarded-For lines.
async fn sign_in_via_proxy(app: &crate::helpers::TestApp, forwarded: &[&str], password: &str) -> StatusCode {
    let client = crate::helpers::browser();
    let csrf = app.csrf_with(&client, "/login").await;
    let mut request = client.post(app.url("/login")).form(&[
        ("csrf_token", csrf.as_str()),
        ("email", "ada@acme.example"),
        ("password", password),
    ]);
    for line in forwarded {
        request = request.header("X-Forwarded-For", *line);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn an_attackers_failures_do_not_lock_the_owner_out() {
    use crate::helpers::PASSWORD;
    let app = app()
        .var("TRUST_FORWARDED_FOR", "1")
        .var("TRUSTED_PROXY_HOPS", "1")
        .spawn()
        .await;
    app.setup("Acme HR", "ada@acme.example").await;
    // The attacker forges a first header line; our proxy appended the real address last.
    let attacker = ["198.51.100.2", "10.9.9.9, 203.0.113.7"];
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(sign_in_via_proxy(&app, &attacker, "wrong password").await);
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5], "{statuses:?}");
    assert_eq!(
        &statuses[5..],
        &[StatusCode::TOO_MANY_REQUESTS; 5],
        "{statuses:?}"
    );
    // Still limited from the attacker's address, even with the right password (else the
    // limit would answer which guess was right).
    assert_eq!(
        sign_in_via_proxy(&app, &attacker, PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The owner, from the address the attacker forged in the first line, signs in.
    assert_eq!(
        sign_in_via_proxy(&app, &["198.51.100.2"], PASSWORD).await,
        StatusCode::SEE_OTHER
    );
    // Successes spend nothing: the owner can sign in again and again.
    for _ in 0..6 {
        assert_eq!(
            sign_in_via_proxy(&app, &["198.51.100.2"], PASSWORD).await,
            StatusCode::SEE_OTHER
        );
    }
}

/// Appends `count` finished entries of `kind` to the organization's log (failed ones first).
async fn append_log_entries(
    app: &crate::helpers::TestApp,
    org: &str,
    integration: Option<&str>,
    kind: LogKind,
    count: usize,
    failed: usize,
) {
    use targetym_integrations::db::{self, sync_logs};
    let (org, integration) = (org.to_owned(), integration.map(str::to_owned));
    app.ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                for n in 0..count {
                    sync_logs::append(
                        conn,
                        &sync_logs::NewSyncLog {
                            org_id: OrgId::parse(&org).unwrap(),
                            integration_id: integration
                                .as_deref()
                                .map(|id| IntegrationId::parse(id).unwrap()),
                            provider_slug: "slack",
                            kind,
                            status: if n < failed {
                                LogStatus::Failed
                            } else {
                                LogStatus::Succeeded
                            },
                            message: "an entry",
                            error: None,
                            actor_user_id: None,
                            duration_ms: Some(1),
                        },
                    )?;
                }
                Ok(())
            })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_gdpr_export_caps_the_log_and_says_so() {
    use targetym_integrations::integrations::oversight::EXPORT_MAX_LOG_ENTRIES;
    let app = crate::helpers::spawn_app().await;
    app.setup("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await.to_text();
    let export = |app: &crate::helpers::TestApp| {
        let url = app.url("/gdpr/export.json");
        let client = app.client.clone();
        async move {
            let res = client.get(url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<serde_json::Value>().await.unwrap()
        }
    };
    append_log_entries(&app, &org, None, LogKind::Sync, 10, 0).await;
    let small = export(&app).await;
    assert_eq!(small["truncated"], false);
    assert_eq!(small["log"].as_array().unwrap().len(), 10);
    assert_eq!(small["limits"]["log_entries"], EXPORT_MAX_LOG_ENTRIES);

    append_log_entries(&app, &org, None, LogKind::Sync, EXPORT_MAX_LOG_ENTRIES, 0).await;
    let capped = export(&app).await;
    assert_eq!(capped["truncated"], true);
    assert_eq!(capped["log"].as_array().unwrap().len(), EXPORT_MAX_LOG_ENTRIES);
    let ids: std::collections::HashSet<&str> = capped["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), EXPORT_MAX_LOG_ENTRIES, "no entry twice");
}

#[tokio::test]
async fn the_dashboard_counts_entries_by_group_not_by_row() {
    use targetym_integrations::db::{self, sync_logs};
    let app = crate::helpers::spawn_app().await;
    app.setup("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await.to_text();
    let integration = uuid::Uuid::new_v4().to_string();
    let (id, org_id) = (integration.clone(), org.clone());
    app.ctx
        .db
        .run(move |conn| {
            db::integrations::insert(
                conn,
                &db::integrations::NewIntegration {
                    id: IntegrationId::parse(&id).unwrap(),
                    org_id: OrgId::parse(&org_id).unwrap(),
                    provider_slug: "slack",
                    status: IntegrationStatus::Connected,
                    external_account_id: "T1",
                    external_account_name: "Acme",
                    granted_scopes: "chat:write",
                    connected_by: None,
                },
            )
        })
        .await
        .unwrap();
    append_log_entries(&app, &org, Some(&integration), LogKind::WebhookEvent, 400, 100).await;
    append_log_entries(&app, &org, Some(&integration), LogKind::Refresh, 4, 1).await;
    let page = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        page.contains("data-events=\"400\" data-failures=\"100\""),
        "{page}"
    );
    assert!(page.contains("data-refresh-rate=\"75\""), "{page}");
    // One event of five and a half hours ago, in its hour.
    append_log_entries(&app, &org, Some(&integration), LogKind::WebhookEvent, 1, 0).await;
    {
        use diesel::prelude::*;
        use targetym_integrations::db::schema::integration_sync_logs as l;
        let earlier = db::now() - chrono::Duration::minutes(330);
        app.ctx
            .db
            .run(move |conn| {
                // Any succeeded webhook event will do (timestamps of a batch may be equal).
                let newest: String = l::table
                    .filter(l::kind.eq("webhook_event").and(l::status.eq("succeeded")))
                    .order(l::created_at.desc())
                    .select(l::id)
                    .first(conn)?;
                diesel::update(l::table.find(newest))
                    .set(l::created_at.eq(earlier))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .unwrap();
    }
    let page = app.get("/dashboard").await.text().await.unwrap();
    assert!(
        page.contains("data-events=\"401\" data-failures=\"100\""),
        "{page}"
    );
    // What the dashboard reads: one row per (integration, kind, status, hour).
    let now = db::now();
    let counts = app
        .ctx
        .db
        .run(move |conn| {
            sync_logs::hourly_activity(
                conn,
                OrgId::parse(&org).unwrap(),
                now - chrono::Duration::hours(24),
                now,
            )
        })
        .await
        .unwrap();
    assert_eq!(counts.len(), 5, "{counts:?}");
    let earlier: Vec<_> = counts.iter().filter(|c| c.hour != 23).collect();
    assert_eq!(earlier.len(), 1, "{counts:?}");
    assert_eq!((earlier[0].hour, earlier[0].entries), (18, 1));
}

/// PostgreSQL refuses text with a NUL character; SQLite takes it. Either way a NUL from a
/// request is refused as bad input before it reaches the database, never a 500.
#[tokio::test]
async fn a_nul_character_in_a_query_form_or_webhook_is_a_400_on_every_database() {
    let t = crate::webhooks::app().await;
    for path in ["/audit?provider=%00", "/audit?kind=a%00b", "/integrations?q=%00"] {
        let res = t.app.get_with(&t.admin, path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
    }
    let anonymous = crate::helpers::browser();
    let csrf = t.app.csrf_with(&anonymous, "/login").await;
    let res = t
        .app
        .post_form_with(
            &anonymous,
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "ada\0@acme.example"),
                ("password", "x"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a form field");

    crate::oauth_helpers::seed_integration(&t.app, &t.mock, "slack", "T1").await;
    let ts = crate::webhooks::now_secs();
    for (team, event) in [("T\u{0}1", "Ev1"), ("T1", "Ev\u{0}2")] {
        let body = serde_json::json!({
            "type": "event_callback", "team_id": team, "event_id": event,
            "event": { "type": "message" },
        })
        .to_string();
        let signature = crate::webhooks::slack_signature(&ts, &body);
        let res = crate::webhooks::post_slack(&t, &body, &ts, &signature, None).await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "team {team:?} event {event:?}"
        );
    }
}
