use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::{self, location};
use crate::oauth_helpers::{OAuthApp, oauth_app_with};
use targetym_integrations::db;
use targetym_integrations::db::schema::{integration_sync_logs as logs, integration_webhooks as hooks};
use targetym_integrations::domain::{IntegrationId, LogKind, OrgId};
use targetym_integrations::webhooks::verify::hmac_sha256;
use targetym_integrations::worker::Worker;

pub(crate) const SIGNING_SECRET: &str = "slack-signing-secret-for-tests";

pub(crate) async fn app() -> OAuthApp {
    app_with(&[]).await
}

pub(crate) async fn app_with(extra: &[(&'static str, &'static str)]) -> OAuthApp {
    oauth_app_with(|mut b| {
        b = b.var("SLACK_SIGNING_SECRET", SIGNING_SECRET);
        for (k, v) in extra {
            b = b.var(k, v);
        }
        b
    })
    .await
}

pub(crate) async fn integration(t: &OAuthApp, provider: &'static str, account: &'static str) -> String {
    crate::oauth_helpers::seed_integration(&t.app, &t.mock, provider, account).await
}

pub(crate) fn now_secs() -> String {
    chrono::Utc::now().timestamp().to_string()
}

pub(crate) fn slack_signature(ts: &str, body: &str) -> String {
    format!(
        "v0={}",
        hex::encode(hmac_sha256(
            SIGNING_SECRET.as_bytes(),
            &[b"v0:", ts.as_bytes(), b":", body.as_bytes()]
        ))
    )
}

pub(crate) async fn post_slack(
    t: &OAuthApp,
    body: &str,
    ts: &str,
    signature: &str,
    retry: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(t.app.url("/api/webhooks/slack"))
        .header("content-type", "application/json")
        .header("X-Slack-Request-Timestamp", ts)
        .header("X-Slack-Signature", signature)
        .body(body.to_owned());
    if let Some(n) = retry {
        request = request
            .header("X-Slack-Retry-Num", n)
            .header("X-Slack-Retry-Reason", "http_timeout");
    }
    request.send().await.unwrap()
}

pub(crate) fn slack_event(team: &str, event_id: &str, event_type: &str) -> String {
    serde_json::json!({
        "token": "verification-token",
        "team_id": team,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "event": { "type": event_type, "user": "U42", "channel": "C42" },
    })
    .to_string()
}

pub(crate) async fn stored_events(t: &OAuthApp) -> Vec<(String, String, Option<String>)> {
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .select((logs::id, logs::status, logs::dedup_key))
                .load(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_the_challenge() {
    let t = app().await;
    let body = r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let ts = now_secs();
    let res = post_slack(&t, body, &ts, &slack_signature(&ts, body), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        res.text().await.unwrap(),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn a_slack_event_is_stored_once_even_when_retried_and_then_processed() {
    let t = app().await;
    let integration_id = integration(&t, "slack", "T123").await;
    let body = slack_event("T123", "Ev0001", "member_joined_channel");
    let ts = now_secs();
    let signature = slack_signature(&ts, &body);
    assert_eq!(
        post_slack(&t, &body, &ts, &signature, None).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        post_slack(&t, &body, &ts, &signature, Some("1")).await.status(),
        StatusCode::OK
    );
    let events = stored_events(&t).await;
    assert_eq!(events.len(), 1, "a retried delivery is stored once");
    assert_eq!(events[0].1, "queued");
    let report = Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
    assert_eq!(report.jobs_succeeded, 1);
    let detail = t
        .app
        .get_with(&t.admin, &format!("/integrations/{integration_id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains("U42 joined channel C42"), "{detail}");
    assert!(detail.contains("data-received=\"2\""), "deliveries counted");
    assert!(detail.contains("/api/webhooks/slack"));
}

#[tokio::test]
async fn events_for_an_unknown_workspace_are_acknowledged_and_counted_not_stored() {
    let t = app().await;
    let body = slack_event("T-UNKNOWN", "Ev0002", "message");
    let ts = now_secs();
    assert_eq!(
        post_slack(&t, &body, &ts, &slack_signature(&ts, &body), None)
            .await
            .status(),
        StatusCode::OK
    );
    assert!(stored_events(&t).await.is_empty());
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("webhook_deliveries_total{outcome=\"unknown_team\",provider=\"slack\"} 1"));
}

#[tokio::test]
async fn forged_stale_oversized_and_malformed_deliveries_are_refused_and_change_nothing() {
    let t = app().await;
    integration(&t, "slack", "T123").await;
    let body = slack_event("T123", "Ev0003", "message");
    let ts = now_secs();
    let forged = post_slack(
        &t,
        &body,
        &ts,
        "v0=0000000000000000000000000000000000000000000000000000000000000000",
        None,
    )
    .await;
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let missing = reqwest::Client::new()
        .post(t.app.url("/api/webhooks/slack"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let stale_ts = (chrono::Utc::now().timestamp() - 301).to_string();
    let stale = post_slack(&t, &body, &stale_ts, &slack_signature(&stale_ts, &body), None).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let huge = format!("{{\"pad\":\"{}\"}}", "x".repeat(1024 * 1024 + 10));
    let oversized = post_slack(&t, &huge, &ts, &slack_signature(&ts, &huge), None).await;
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let malformed = "{not json";
    let bad = post_slack(&t, malformed, &ts, &slack_signature(&ts, malformed), None).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(stored_events(&t).await.is_empty());
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("webhook_deliveries_total{outcome=\"rejected\",provider=\"slack\"} 3"),
        "{metrics}"
    );
    // One log line for the burst of rejections, not one each.
    assert!(
        helpers::captured_logs()
            .matches("webhook delivery rejected")
            .count()
            >= 1
    );
}

#[tokio::test]
async fn a_flood_is_rate_limited_per_webhook() {
    let t = app_with(&[("WEBHOOK_RATE_LIMIT_PER_MINUTE", "2")]).await;
    integration(&t, "slack", "T123").await;
    let mut statuses = Vec::new();
    for n in 0..3 {
        let body = slack_event("T123", &format!("EvFlood{n}"), "message");
        let ts = now_secs();
        let res = post_slack(&t, &body, &ts, &slack_signature(&ts, &body), None).await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(res.headers().contains_key("retry-after"));
        }
        statuses.push(res.status());
    }
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]
    );
    assert_eq!(stored_events(&t).await.len(), 2);
}

#[tokio::test]
async fn with_the_database_failing_the_answer_is_503_and_nothing_is_acknowledged() {
    let t = app().await;
    integration(&t, "slack", "T123").await;
    // Warm the routing (the webhook row) first, then take the events table away.
    let warm = slack_event("T123", "EvWarm", "message");
    let ts = now_secs();
    assert_eq!(
        post_slack(&t, &warm, &ts, &slack_signature(&ts, &warm), None)
            .await
            .status(),
        StatusCode::OK
    );
    let db = t.app.ctx.db.clone();
    let rename = |from: &'static str, to: &'static str| {
        let db = db.clone();
        async move {
            db.run(move |conn| {
                diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}")).execute(conn)?;
                Ok(())
            })
            .await
            .unwrap()
        }
    };
    rename("integration_sync_logs", "integration_sync_logs_away").await;
    let body = slack_event("T123", "EvDown", "message");
    let res = post_slack(&t, &body, &ts, &slack_signature(&ts, &body), None).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    rename("integration_sync_logs_away", "integration_sync_logs").await;
    // Slack retries: now it is stored, once.
    let res = post_slack(&t, &body, &ts, &slack_signature(&ts, &body), Some("1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let keys: Vec<Option<String>> = stored_events(&t).await.into_iter().map(|e| e.2).collect();
    assert_eq!(
        keys.iter()
            .filter(|k| k.as_deref() == Some("T123:EvDown"))
            .count(),
        1
    );
}

#[tokio::test]
async fn slack_reporting_an_uninstall_marks_the_integration_for_reconnect() {
    let t = app().await;
    let id = integration(&t, "slack", "T123").await;
    let body = slack_event("T123", "EvGone", "app_uninstalled");
    let ts = now_secs();
    post_slack(&t, &body, &ts, &slack_signature(&ts, &body), None).await;
    Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
    assert_eq!(t.app.integration_status(&id).await, "needs_reauth");
}

#[tokio::test]
async fn a_stored_event_can_be_replayed_from_the_page_and_the_cli_without_a_duplicate() {
    let t = app().await;
    let id = integration(&t, "slack", "T123").await;
    let body = slack_event("T123", "EvReplay", "member_joined_channel");
    let ts = now_secs();
    post_slack(&t, &body, &ts, &slack_signature(&ts, &body), None).await;
    let worker = Worker::new(t.app.ctx.clone());
    worker.run_due_work(db::now()).await.unwrap();
    let (event_id, status, _) = stored_events(&t).await.remove(0);
    assert_eq!(status, "succeeded");
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/integrations/{id}/events/{event_id}/replay")));
    let csrf = helpers::csrf_in(&page).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/events/{event_id}/replay"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/integrations/{id}"));
    let events = stored_events(&t).await;
    assert_eq!(events.len(), 1, "queued again, not copied");
    assert_eq!(events[0].1, "queued");
    assert_eq!(worker.run_due_work(db::now()).await.unwrap().jobs_succeeded, 1);

    // Another organization cannot replay it.
    let intruder = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let csrf = t.app.csrf_with(&intruder, "/integrations").await;
    let res = t
        .app
        .post_form_with(
            &intruder,
            &format!("/integrations/{id}/events/{event_id}/replay"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // The operator's command does the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_targetym-integrations"))
        .args(["webhooks", "replay", &event_id])
        .env_clear()
        .env("DATABASE_URL", &t.app.database_url)
        .env("DATA_DIR", &t.app.data_dir)
        .current_dir(t.app.data_dir.parent().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stored_events(&t).await,
        vec![(
            event_id.clone(),
            "queued".to_owned(),
            Some("T123:EvReplay".to_owned())
        )]
    );
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_targetym-integrations"))
        .args(["webhooks", "replay", &uuid::Uuid::new_v4().to_string()])
        .env_clear()
        .env("DATABASE_URL", &t.app.database_url)
        .env("DATA_DIR", &t.app.data_dir)
        .current_dir(t.app.data_dir.parent().unwrap())
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

pub(crate) async fn google_notification(
    t: &OAuthApp,
    channel: &str,
    token: &str,
    state: &str,
    number: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(t.app.url("/api/webhooks/google"))
        .header("X-Goog-Channel-ID", channel)
        .header("X-Goog-Channel-Token", token)
        .header("X-Goog-Resource-State", state)
        .header("X-Goog-Message-Number", number)
        .header("X-Goog-Resource-ID", "res-1")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn google_channels_are_registered_verified_deduplicated_and_renewed() {
    let t = app().await;
    let id = integration(&t, "google", "ada@acme.example").await;
    let job_org = t.app.org_of("ada@acme.example").await.to_text();
    let job_integration = id.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            db::sync_logs::enqueue(
                conn,
                &db::sync_logs::NewJob {
                    org_id: OrgId::parse(&job_org).unwrap(),
                    integration_id: Some(IntegrationId::parse(&job_integration).unwrap()),
                    provider_slug: "google",
                    kind: LogKind::Watch,
                    message: "Register the calendar watch channel",
                    dedup_key: None,
                    payload: None,
                    max_attempts: 3,
                },
                db::now(),
            )
        })
        .await
        .unwrap();
    let worker = Worker::new(t.app.ctx.clone());
    worker.run_due_work(db::now()).await.unwrap();
    let channels = t.mock.watch_channels();
    let resources: Vec<&str> = channels.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(resources, ["calendar", "drive"], "a Calendar and a Drive channel");
    let channel = channels[0].clone();
    assert_eq!(channel.address, format!("{}/api/webhooks/google", t.app.address));
    assert!(channel.token.len() >= 32, "a random channel token");
    // Stored encrypted: the token is not in the row in clear.
    let sealed: Option<Vec<u8>> = t
        .app
        .ctx
        .db
        .run({
            let id = channel.id.clone();
            move |conn| {
                Ok(hooks::table
                    .filter(hooks::external_id.eq(id))
                    .select(hooks::secret)
                    .first(conn)?)
            }
        })
        .await
        .unwrap();
    assert!(
        !sealed
            .unwrap()
            .windows(channel.token.len())
            .any(|w| w == channel.token.as_bytes())
    );

    assert_eq!(
        google_notification(&t, &channel.id, &channel.token, "sync", "1")
            .await
            .status(),
        StatusCode::OK
    );
    assert!(
        stored_events(&t).await.is_empty(),
        "the sync handshake is not an event"
    );
    assert_eq!(
        google_notification(&t, &channel.id, &channel.token, "exists", "2")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        google_notification(&t, &channel.id, &channel.token, "exists", "2")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        google_notification(&t, &channel.id, &channel.token, "not_exists", "3")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        stored_events(&t).await.len(),
        2,
        "deduplicated by channel + message number"
    );
    assert_eq!(
        google_notification(&t, &channel.id, "wrong-token", "exists", "4")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        google_notification(&t, "no-such-channel", &channel.token, "exists", "5")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(stored_events(&t).await.len(), 2);
    // A changed calendar gets a sync.
    let report = worker.run_due_work(db::now()).await.unwrap();
    assert!(report.jobs_succeeded >= 2, "{report:?}");
    let detail = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains("The calendar changed; a sync is queued"));
    assert!(detail.contains("data-rejected=\"1\""));

    // Renewal a day before expiry: a new channel first, then the old one stopped.
    let report = worker
        .run_due_work(db::now() + chrono::Duration::days(6) + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(report.channels_renewed, 2);
    let channels = t.mock.watch_channels();
    assert_eq!(channels.len(), 4);
    assert!(channels[0].stopped && channels[1].stopped && !channels[2].stopped && !channels[3].stopped);
    let renewed: Vec<&str> = channels[2..].iter().map(|c| c.resource.as_str()).collect();
    assert!(
        renewed.contains(&"calendar") && renewed.contains(&"drive"),
        "each renewed as what it watched"
    );
    let new_calendar = channels[2..]
        .iter()
        .find(|c| c.resource == "calendar")
        .unwrap()
        .clone();
    assert_ne!(new_calendar.id, channel.id);
    assert_eq!(t.mock.counters().channel_stops, 2);
    // A late notification on the replaced channel: acknowledged, not stored.
    let stored_before = stored_events(&t).await.len();
    assert_eq!(
        google_notification(&t, &channel.id, &channel.token, "exists", "9")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(stored_events(&t).await.len(), stored_before);
    assert_eq!(
        google_notification(&t, &new_calendar.id, &new_calendar.token, "exists", "1")
            .await
            .status(),
        StatusCode::OK
    );
}

/// Adds an endpoint from the integration's page; returns (url, secret shown once).
pub(crate) async fn add_endpoint(
    t: &OAuthApp,
    integration: &str,
    pasted: Option<&str>,
) -> (String, Option<String>) {
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{integration}"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = helpers::csrf_in(&page).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{integration}/webhooks"),
            &[("csrf_token", csrf.as_str()), ("secret", pasted.unwrap_or(""))],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let codes: Vec<String> = html
        .split("<code>")
        .skip(1)
        .map(|c| c[..c.find("</code>").unwrap()].to_owned())
        .collect();
    (codes[0].clone(), codes.get(1).cloned())
}

pub(crate) async fn deliver(url: &str, headers: &[(&str, String)], body: &str) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    request.send().await.unwrap()
}

pub(crate) fn hex_mac(secret: &str, body: &str) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[body.as_bytes()]))
}

#[tokio::test]
async fn github_jira_linear_and_dropbox_signatures() {
    let t = app().await;
    let body = r#"{"action":"opened","webhookEvent":"jira:issue_created","type":"Issue"}"#;
    // GitHub and Jira: we make the secret; "sha256=" + hex HMAC of the raw body.
    for (provider, header, delivery_header) in [
        ("github", "X-Hub-Signature-256", "X-GitHub-Delivery"),
        ("jira", "X-Hub-Signature", "X-Atlassian-Webhook-Identifier"),
    ] {
        let id = integration(&t, provider, "acct").await;
        let (url, secret) = add_endpoint(&t, &id, None).await;
        let secret = secret.expect("the secret is shown once");
        assert!(url.starts_with(&format!("{}/api/webhooks/{provider}/", t.app.address)));
        // Who added it, how: in the audit trail, never the secret.
        let added = t.app.audit_events_of("webhook_endpoint").await;
        let last = added.last().expect("an audit event for the new endpoint");
        assert_eq!(last.0, "ada@acme.example");
        assert!(
            last.2.ends_with("added, with a generated signing secret"),
            "{last:?}"
        );
        assert!(added.iter().all(|(_, _, d)| !d.contains(&secret)));
        let good = format!("sha256={}", hex_mac(&secret, body));
        let res = deliver(
            &url,
            &[(header, good.clone()), (delivery_header, "d-1".into())],
            body,
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{provider}");
        let again = deliver(&url, &[(header, good), (delivery_header, "d-1".into())], body).await;
        assert_eq!(again.status(), StatusCode::OK, "{provider} redelivery");
        let forged = deliver(
            &url,
            &[(header, format!("sha256={}", hex_mac("guess", body)))],
            body,
        )
        .await;
        assert_eq!(forged.status(), StatusCode::UNAUTHORIZED, "{provider}");
        // The secret never shows on the page again.
        let page = t
            .app
            .get_with(&t.admin, &format!("/integrations/{id}"))
            .await
            .text()
            .await
            .unwrap();
        assert!(!page.contains(&secret));
    }
    assert_eq!(stored_events(&t).await.len(), 2);

    // Linear: the provider's signing secret is pasted; bare hex; webhookTimestamp within a minute.
    let id = integration(&t, "linear", "org-1").await;
    let (url, shown) = add_endpoint(&t, &id, Some("lin_wh_secret")).await;
    assert!(shown.is_none(), "a pasted secret is not shown back");
    let fresh = serde_json::json!({"action":"create","type":"Issue","webhookTimestamp": chrono::Utc::now().timestamp_millis()}).to_string();
    assert_eq!(
        deliver(
            &url,
            &[("Linear-Signature", hex_mac("lin_wh_secret", &fresh))],
            &fresh
        )
        .await
        .status(),
        StatusCode::OK
    );
    let old = serde_json::json!({"action":"create","type":"Issue","webhookTimestamp": chrono::Utc::now().timestamp_millis() - 120_000}).to_string();
    assert_eq!(
        deliver(
            &url,
            &[("Linear-Signature", hex_mac("lin_wh_secret", &old))],
            &old
        )
        .await
        .status(),
        StatusCode::UNAUTHORIZED
    );

    // Dropbox: the GET challenge echo, then X-Dropbox-Signature with the app secret.
    let id = integration(&t, "dropbox", "dbid:1").await;
    let (url, _) = add_endpoint(&t, &id, Some("dropbox-app-secret")).await;
    let res = reqwest::get(format!("{url}?challenge=abc123")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.text().await.unwrap(), "abc123");
    let notice = r#"{"list_folder":{"accounts":["dbid:1"]},"delta":{"users":[1]}}"#;
    assert_eq!(
        deliver(
            &url,
            &[("X-Dropbox-Signature", hex_mac("dropbox-app-secret", notice))],
            notice
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        deliver(&url, &[("X-Dropbox-Signature", hex_mac("nope", notice))], notice)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // A webhook id of another provider, or none at all, is 404.
    let wrong_provider = url.replace("/dropbox/", "/github/");
    assert_eq!(
        deliver(&wrong_provider, &[], notice).await.status(),
        StatusCode::NOT_FOUND
    );
    let unknown = format!("{}/api/webhooks/dropbox/{}", t.app.address, uuid::Uuid::new_v4());
    assert_eq!(
        deliver(&unknown, &[], notice).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(stored_events(&t).await.len(), 4);
}

#[tokio::test]
async fn microsoft_asana_notion_and_zoom_handshakes_and_signatures() {
    let t = app().await;
    // Microsoft Graph: echo validationToken; notifications carry our clientState.
    let id = integration(&t, "microsoft", "tenant:user").await;
    let (url, secret) = add_endpoint(&t, &id, None).await;
    let client_state = secret.unwrap();
    let res = deliver(
        &format!("{url}?validationToken=Validation%3A%20Testing%20client%20application%20reachability"),
        &[],
        "",
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        res.text().await.unwrap(),
        "Validation: Testing client application reachability"
    );
    let notification = |state: &str| {
        serde_json::json!({"value":[{"subscriptionId":"s-1","clientState":state,"changeType":"created","resource":"Users/u/Events/e"}]}).to_string()
    };
    assert_eq!(
        deliver(&url, &[], &notification(&client_state)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        deliver(&url, &[], &notification("forged")).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Asana: X-Hook-Secret handshake echoed (Asana's published example value), then signed events.
    let id = integration(&t, "asana", "1200").await;
    let (url, shown) = add_endpoint(&t, &id, None).await;
    assert!(shown.is_none());
    let hook_secret = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81";
    let res = deliver(&url, &[("X-Hook-Secret", hook_secret.into())], "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-hook-secret"], hook_secret);
    let events = r#"{"events":[{"action":"changed","resource":{"gid":"1","resource_type":"task"}}]}"#;
    assert_eq!(
        deliver(
            &url,
            &[("X-Hook-Signature", hex_mac(hook_secret, events))],
            events
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        deliver(&url, &[("X-Hook-Signature", hex_mac("other", events))], events)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let takeover = deliver(&url, &[("X-Hook-Secret", "attacker-secret".into())], "").await;
    assert_eq!(
        takeover.status(),
        StatusCode::UNAUTHORIZED,
        "a second handshake cannot replace the secret"
    );

    // Notion: the verification token arrives first and signs everything after.
    let id = integration(&t, "notion", "ws-1").await;
    let (url, _) = add_endpoint(&t, &id, None).await;
    let verification = r#"{"verification_token":"secret_notion_verification_token"}"#;
    assert_eq!(deliver(&url, &[], verification).await.status(), StatusCode::OK);
    let event = r#"{"id":"evt-1","type":"page.created","workspace_id":"ws-1"}"#;
    let signature = format!("sha256={}", hex_mac("secret_notion_verification_token", event));
    assert_eq!(
        deliver(&url, &[("X-Notion-Signature", signature)], event)
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(deliver(&url, &[], event).await.status(), StatusCode::UNAUTHORIZED);

    // Zoom: endpoint.url_validation answered with HMAC(secret token, plainToken); signed events.
    let id = integration(&t, "zoom", "zoom-user").await;
    let (url, _) = add_endpoint(&t, &id, Some("zoom-secret-token")).await;
    let zoom_headers = |body: &str| {
        let ts = now_secs();
        let mac = hex::encode(hmac_sha256(
            b"zoom-secret-token",
            &[b"v0:", ts.as_bytes(), b":", body.as_bytes()],
        ));
        vec![
            ("x-zm-request-timestamp", ts),
            ("x-zm-signature", format!("v0={mac}")),
        ]
    };
    let validation = r#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let res = deliver(&url, &zoom_headers(validation), validation).await;
    assert_eq!(res.status(), StatusCode::OK);
    let answer: serde_json::Value = res.json().await.unwrap();
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        hex_mac("zoom-secret-token", "qgg8vlvZRS6UYooatFL8Aw")
    );
    let meeting = r#"{"event":"meeting.started","payload":{"object":{"id":"1"}}}"#;
    assert_eq!(
        deliver(&url, &zoom_headers(meeting), meeting).await.status(),
        StatusCode::OK
    );
    let unsigned = deliver(&url, &[("x-zm-request-timestamp", now_secs())], meeting).await;
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(stored_events(&t).await.len(), 4);
    // Rejections are counted in memory and written by the worker's round.
    Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
    let rejected: Vec<i64> = t
        .app
        .ctx
        .db
        .run(|conn| Ok(hooks::table.select(hooks::rejected_count).load(conn)?))
        .await
        .unwrap();
    assert_eq!(
        rejected.iter().sum::<i64>(),
        5,
        "rejections counted on their webhook"
    );
}

#[tokio::test]
async fn providers_whose_webhooks_are_automatic_offer_no_endpoint_form() {
    let t = app().await;
    let id = integration(&t, "slack", "T9").await;
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Add a webhook endpoint"));
    let csrf = helpers::csrf_in(&page).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/webhooks"),
            &[("csrf_token", &csrf)],
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
    assert!(page.contains("set up automatically"));
}
