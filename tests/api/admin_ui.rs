//! The admin pages of the UI issue: health dashboard, audit log and CSV, activity, sync
//! schedule, GDPR; errors in place for htmx; a constant number of queries per page.

use diesel::prelude::*;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::helpers::{self, location};
use crate::oauth_helpers::{OAuthApp, first_integration, oauth_app};
use targetym_integrations::db::schema::{
    integration_consents as consents, integration_credentials as creds, integration_sync_logs as logs,
    integrations,
};
use targetym_integrations::db::{self, credentials as stored_credentials, sync_logs};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, LogKind, LogStatus, OrgId};
use targetym_integrations::integrations::credentials;
use targetym_integrations::oauth::TokenSet;
use targetym_integrations::worker::Worker;

async fn org_of(t: &OAuthApp) -> String {
    t.app.org_of("ada@acme.example").await.to_text()
}

/// `n` more connected integrations with a few log entries each.
async fn add_integrations(t: &OAuthApp, n: usize) {
    let org = org_of(t).await;
    let keyring = t.app.ctx.keyring.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            for k in 0..n {
                let id = uuid::Uuid::new_v4().to_string();
                let account = format!("bulk-{k}-{}", uuid::Uuid::new_v4().simple());
                db::integrations::insert(
                    conn,
                    &db::integrations::NewIntegration {
                        id: IntegrationId::parse(&id).unwrap(),
                        org_id: OrgId::parse(&org).unwrap(),
                        provider_slug: "mock-oauth",
                        status: if k % 3 == 0 {
                            IntegrationStatus::Degraded
                        } else {
                            IntegrationStatus::Connected
                        },
                        external_account_id: &account,
                        external_account_name: &account,
                        granted_scopes: "read",
                        connected_by: None,
                    },
                )?;
                let tokens = TokenSet {
                    access_token: SecretString::from(format!("bulk-at-{k}")),
                    refresh_token: None,
                    token_type: "Bearer".into(),
                    expires_in: Some(3600),
                    scope: None,
                    id_token: None,
                    extra: serde_json::Value::Null,
                };
                stored_credentials::upsert(
                    conn,
                    &credentials::seal(
                        &keyring,
                        IntegrationId::parse(&id).unwrap(),
                        &tokens,
                        None,
                        "read",
                        db::now(),
                    ),
                )?;
                use targetym_integrations::domain::{LogKind, LogStatus};
                for (kind, status) in [
                    (LogKind::Refresh, LogStatus::Succeeded),
                    (LogKind::Refresh, LogStatus::Failed),
                    (LogKind::WebhookEvent, LogStatus::Succeeded),
                ] {
                    sync_logs::append(
                        conn,
                        &sync_logs::NewSyncLog {
                            org_id: OrgId::parse(&org).unwrap(),
                            integration_id: Some(IntegrationId::parse(&id).unwrap()),
                            provider_slug: "mock-oauth",
                            kind,
                            status,
                            message: "bulk",
                            error: None,
                            actor_user_id: None,
                            duration_ms: Some(3),
                        },
                    )?;
                }
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn queries_for(t: &OAuthApp, path: &str) -> u64 {
    let before = t.app.ctx.db.query_count();
    let res = t.app.get_with(&t.admin, path).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap();
    t.app.ctx.db.query_count() - before
}

#[tokio::test]
async fn pages_need_the_same_few_queries_whatever_the_number_of_integrations() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let pages = [
        "/integrations".to_owned(),
        "/dashboard".into(),
        "/audit".into(),
        format!("/integrations/{id}"),
    ];
    add_integrations(&t, 2).await;
    let mut small = Vec::new();
    for page in &pages {
        small.push(queries_for(&t, page).await);
    }
    add_integrations(&t, 40).await;
    for (page, before) in pages.iter().zip(small) {
        let after = queries_for(&t, page).await;
        assert_eq!(
            after, before,
            "{page}: {before} queries with 3 integrations, {after} with 43"
        );
        assert!(after <= 12, "{page}: {after} queries");
    }
}

#[tokio::test]
async fn a_page_is_one_trip_to_the_database_thread_session_check_included() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    add_integrations(&t, 3).await;
    let id = first_integration(&t.app).await;
    for page in [
        "/integrations".to_owned(),
        "/integrations?category=HR&q=mock".into(),
        "/dashboard".into(),
        "/audit".into(),
        "/audit?kind=connect&actor=ada%40acme.example&page=1".into(),
        "/activity".into(),
        "/activity?kind=refresh&page=1".into(),
        format!("/integrations/{id}"),
    ] {
        let before = t.app.ctx.db.trip_count();
        let res = t.app.get_with(&t.admin, &page).await;
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        res.text().await.unwrap();
        assert_eq!(t.app.ctx.db.trip_count() - before, 1, "{page}");
    }
}

#[tokio::test]
async fn the_health_dashboard_summarises_the_last_day() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    add_integrations(&t, 3).await;
    let html = t.app.get_with(&t.admin, "/dashboard").await.text().await.unwrap();
    assert!(html.contains("data-summary=\"total\">4<"), "{html}");
    assert!(html.contains("data-summary=\"connected\">3<"));
    assert!(html.contains("data-summary=\"failing\">1<"));
    assert!(
        html.contains("data-refresh-rate=\"50\""),
        "one of two refreshes succeeded"
    );
    assert!(html.contains("<svg class=\"spark\"") && html.contains("data-events=\"1\""));
    assert!(html.contains("closed"), "breaker state");
    assert!(!html.contains("style="), "no inline style (CSP)");
}

#[tokio::test]
async fn the_activity_log_filters_paginates_and_exports_csv() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    add_integrations(&t, 10).await;
    // 30 entries: 3 per bulk integration (the connect is the audit trail's).
    let html = t.app.get_with(&t.admin, "/activity").await.text().await.unwrap();
    assert!(
        html.contains("30 entries") && html.contains("Page 1 of 2"),
        "{html}"
    );
    let second = t
        .app
        .get_with(&t.admin, "/activity?page=2")
        .await
        .text()
        .await
        .unwrap();
    assert!(second.contains("Page 2 of 2"));
    assert_eq!(second.matches("<tr data-kind").count(), 5);
    let failed = t
        .app
        .htmx_get(&t.admin, "/activity?kind=refresh&status=failed")
        .await;
    assert!(failed.starts_with("<div id=\"log-rows\">") && !failed.contains("<html"));
    assert_eq!(
        failed
            .matches("<tr data-kind=\"refresh\" data-status=\"failed\"")
            .count(),
        10
    );
    assert_eq!(failed.matches("<tr data-kind").count(), 10);
    let future = t
        .app
        .get_with(&t.admin, "/activity?from=2999-01-01")
        .await
        .text()
        .await
        .unwrap();
    assert!(future.contains("No entry matches"));
    assert_eq!(
        t.app
            .get_with(&t.admin, "/activity?from=yesterday")
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );

    // CSV: a header row, one line per entry, formula-looking cells made inert.
    let org = org_of(&t).await;
    t.app
        .ctx
        .db
        .run(move |conn| {
            sync_logs::append(
                conn,
                &sync_logs::NewSyncLog {
                    org_id: OrgId::parse(&org).unwrap(),
                    integration_id: None,
                    provider_slug: "mock-oauth",
                    kind: LogKind::Watch,
                    status: LogStatus::Failed,
                    message: "=HYPERLINK(\"http://evil.example\",\"click\")",
                    error: Some("a, b"),
                    actor_user_id: None,
                    duration_ms: None,
                },
            )
        })
        .await
        .unwrap();
    let res = t.app.get_with(&t.admin, "/activity.csv?kind=watch").await;
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("activity-log.csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "id,time,provider,integration_id,kind,status,message,error,attempts,duration_ms"
    );
    assert_eq!(lines.len(), 2);
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"click\"\")\""),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("\"a, b\""));

    // Another organization sees none of it.
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let theirs = t
        .app
        .get_with(&other, "/activity.csv")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(theirs.lines().count(), 1);
}

#[tokio::test]
async fn an_integrations_activity_is_filtered_and_paginated_in_place() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let org = org_of(&t).await;
    let integration = IntegrationId::parse(&id).unwrap();
    t.app
        .ctx
        .db
        .run(move |conn| {
            for _ in 0..12 {
                sync_logs::append(
                    conn,
                    &sync_logs::NewSyncLog {
                        org_id: OrgId::parse(&org).unwrap(),
                        integration_id: Some(integration),
                        provider_slug: "mock-oauth",
                        kind: LogKind::Refresh,
                        status: LogStatus::Succeeded,
                        message: "Token refreshed",
                        error: None,
                        actor_user_id: None,
                        duration_ms: Some(3),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Page 1 of 2 (12 entries)"), "{page}");
    let older = t
        .app
        .htmx_get(&t.admin, &format!("/integrations/{id}/logs?kind=refresh&page=2"))
        .await;
    assert!(older.starts_with("<div id=\"activity\">"));
    assert_eq!(older.matches("<tr data-kind=\"refresh\"").count(), 2);
    let none = t
        .app
        .htmx_get(&t.admin, &format!("/integrations/{id}/logs?status=failed"))
        .await;
    assert!(none.contains("Nothing here yet"));
    // Without JavaScript the filter reloads the integration page with it.
    let res = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}/logs?kind=refresh"))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let full = t
        .app
        .get_with(&t.admin, location(&res))
        .await
        .text()
        .await
        .unwrap();
    assert!(full.contains("<option value=\"refresh\" selected>"));
    // Another organization's admin gets nothing of it.
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let theirs = other
        .get(t.app.url(&format!("/integrations/{id}/logs")))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), reqwest::StatusCode::NOT_FOUND);
    assert!(!theirs.text().await.unwrap().contains("data-kind="));
}

#[tokio::test]
async fn the_sync_schedule_is_followed_by_the_actor() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
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
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<option value=\"hourly\" selected>") && page.contains("Sync schedule: Hourly."));
    let recorded = t.app.audit_events_of("schedule").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].0, "ada@acme.example");
    assert!(recorded[0].2.starts_with("Sync schedule set to "), "{recorded:?}");
    assert!(
        page.contains("data-kind=\"schedule\""),
        "in the integration's history"
    );
    let worker = Worker::new(t.app.ctx.clone());
    assert_eq!(
        worker
            .run_due_work(db::now() + chrono::Duration::minutes(30))
            .await
            .unwrap()
            .syncs_enqueued,
        0
    );
    let report = worker
        .run_due_work(db::now() + chrono::Duration::minutes(61))
        .await
        .unwrap();
    assert_eq!(
        (report.syncs_enqueued, report.jobs_succeeded),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(
        worker
            .run_due_work(db::now() + chrono::Duration::minutes(62))
            .await
            .unwrap()
            .syncs_enqueued,
        0,
        "once an hour"
    );
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Last sync: never"));

    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/schedule"),
            &[("csrf_token", &csrf), ("schedule", "off")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        worker
            .run_due_work(db::now() + chrono::Duration::hours(5))
            .await
            .unwrap()
            .syncs_enqueued,
        0
    );
    let bad = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/schedule"),
            &[("csrf_token", &csrf), ("schedule", "weekly")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let csrf = t.app.csrf_with(&other, "/integrations").await;
    let res = t
        .app
        .post_form_with(
            &other,
            &format!("/integrations/{id}/schedule"),
            &[("csrf_token", &csrf), ("schedule", "daily")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn gdpr_ledger_export_and_erasure() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let ledger = t.app.get_with(&t.admin, "/gdpr").await.text().await.unwrap();
    assert!(
        ledger.contains("Mock OAuth") && ledger.contains("ada@acme.example") && ledger.contains("127.0.0.1")
    );

    let export = t
        .app
        .get_with(&t.admin, "/gdpr/export.json")
        .await
        .text()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&export).unwrap();
    assert_eq!(json["integrations"][0]["account_name"], "ada@mock.example");
    assert_eq!(json["consents"][0]["scopes"], "read write");
    assert_eq!(json["audit"][0]["kind"], "connect");
    assert_eq!(json["audit"][0]["actor"], "ada@acme.example");
    for token in t
        .mock
        .issued_access_tokens()
        .iter()
        .chain(&t.mock.issued_refresh_tokens())
    {
        assert!(!export.contains(token.as_str()), "a token in the export");
    }
    assert!(!export.contains("mock-secret"));

    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    assert_eq!(
        t.app
            .get_with(&other, &format!("/integrations/{id}/erase"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let theirs: serde_json::Value = serde_json::from_str(
        &t.app
            .get_with(&other, "/gdpr/export.json")
            .await
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(theirs["integrations"].as_array().unwrap().is_empty());

    let confirm = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}/erase"))
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("cannot be undone"));
    let csrf = helpers::csrf_in(&confirm).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/erase"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.mock.counters().revocations, 1, "revoked at the provider");
    let erased = id.clone();
    let (row, credentials_left, messages, consent) = t
        .app
        .ctx
        .db
        .run(move |conn| {
            let row: (String, String, String) = integrations::table
                .find(&erased)
                .select((
                    integrations::status,
                    integrations::external_account_name,
                    integrations::external_account_id,
                ))
                .first(conn)?;
            let credentials_left: i64 = creds::table.count().get_result(conn)?;
            let messages: Vec<(String, String)> = logs::table
                .filter(logs::integration_id.eq(&erased))
                .select((logs::kind, logs::message))
                .load(conn)?;
            let consent: (Option<String>, Option<chrono::NaiveDateTime>) = consents::table
                .select((consents::ip_address, consents::withdrawn_at))
                .first(conn)?;
            Ok((row, credentials_left, messages, consent))
        })
        .await
        .unwrap();
    assert_eq!(row.0, "disconnected");
    assert_eq!(row.1, "[erased]");
    assert!(!row.2.contains("mock-user"));
    assert_eq!(credentials_left, 0);
    assert!(
        messages.iter().all(|(_, message)| message == "[erased]"),
        "{messages:?}"
    );
    let erased = id.clone();
    let erasures: Vec<(String, String)> = t
        .app
        .ctx
        .db
        .run(move |conn| {
            use targetym_integrations::db::schema::audit_events as audit;
            Ok(audit::table
                .filter(audit::integration_id.eq(&erased))
                .filter(audit::kind.eq("erasure"))
                .select((audit::actor, audit::detail))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(erasures.len(), 1, "the minimal record, in the audit trail");
    assert_eq!(erasures[0].0, "ada@acme.example");
    assert_eq!(consent.0, None);
    assert!(consent.1.is_some());
    let export = t
        .app
        .get_with(&t.admin, "/gdpr/export.json")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !export.contains("ada@mock.example"),
        "no personal data of the erased account left"
    );
    assert_eq!(
        t.app
            .post_form_with(
                &t.admin,
                &format!("/integrations/{id}/erase"),
                &[("csrf_token", &csrf)]
            )
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn htmx_errors_come_back_as_a_sentence_in_place() {
    let t = oauth_app().await;
    let csrf = t.app.csrf_with(&t.admin, "/integrations").await;
    let res = t
        .admin
        .post(t.app.url(&format!("/integrations/{}/test", uuid::Uuid::new_v4())))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.headers()["hx-retarget"], "#errors");
    let body = res.text().await.unwrap();
    assert!(
        body.starts_with("<p class=\"alert error\" role=\"alert\">There is nothing here"),
        "{body}"
    );
    // A refused CSRF token too.
    let res = t
        .admin
        .post(t.app.url("/logout"))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("Reload the page"));
    // Without htmx: the whole error page.
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{}", uuid::Uuid::new_v4()))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html"));
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<div id=\"errors\" aria-live=\"assertive\"></div>"));
}
