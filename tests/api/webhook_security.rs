//! Webhooks against a hostile world: routing that follows the live connection, stopped
//! channels and endpoints after a disconnect or erasure, no secret in what is stored, replays
//! of what was signed, first-use handshake windows, cheap forgeries, replay scoped to its
//! integration.

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::oauth_helpers::OAuthApp;
use crate::webhooks::{
    add_endpoint, app, deliver, hex_mac, integration, now_secs, post_slack, slack_event, slack_signature,
    stored_events,
};
use targetym_integrations::db;
use targetym_integrations::db::schema::{integration_sync_logs as logs, integration_webhooks as hooks};
use targetym_integrations::worker::Worker;

/// Sends a signed Slack event; returns the answer's status.
async fn send_slack(t: &OAuthApp, body: &str) -> StatusCode {
    let ts = now_secs();
    post_slack(t, body, &ts, &slack_signature(&ts, body), None)
        .await
        .status()
}

async fn post_with_csrf(t: &OAuthApp, client: &reqwest::Client, path: &str) -> reqwest::Response {
    let csrf = t.app.csrf_with(client, "/integrations").await;
    t.app
        .post_form_with(client, path, &[("csrf_token", csrf.as_str())])
        .await
}

async fn export_of(t: &OAuthApp, client: &reqwest::Client) -> String {
    t.app
        .get_with(client, "/gdpr/export.json")
        .await
        .text()
        .await
        .unwrap()
}

async fn page(t: &OAuthApp, id: &str) -> String {
    t.app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap()
}

async fn run_worker(t: &OAuthApp) {
    Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn verification_secrets_in_payloads_are_never_stored_shown_or_exported() {
    let t = app().await;
    let slack = integration(&t, "slack", "T123").await;
    let planted = "xoxv-planted-legacy-verification-token";
    let body = serde_json::json!({
        "token": planted,
        "team_id": "T123",
        "type": "event_callback",
        "event_id": "EvPlanted",
        "event": { "type": "member_joined_channel", "user": "U1", "channel": "C1" },
    })
    .to_string();
    assert_eq!(send_slack(&t, &body).await, StatusCode::OK);

    let microsoft = integration(&t, "microsoft", "tenant:user").await;
    let (url, client_state) = add_endpoint(&t, &microsoft, None).await;
    let client_state = client_state.unwrap();
    let notification = serde_json::json!({"value":[{"subscriptionId":"s-1","clientState":client_state,
        "changeType":"created","resource":"Users/u/Events/e"}]})
    .to_string();
    assert_eq!(deliver(&url, &[], &notification).await.status(), StatusCode::OK);
    run_worker(&t).await;

    let payloads: Vec<Option<Vec<u8>>> = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .select(logs::payload)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(payloads.len(), 2);
    for payload in payloads.iter().flatten() {
        let text = String::from_utf8_lossy(payload);
        assert!(!text.contains(planted) && !text.contains(&client_state), "{text}");
    }
    let slack_payload: serde_json::Value = serde_json::from_slice(
        payloads
            .iter()
            .flatten()
            .find(|p| String::from_utf8_lossy(p).contains("EvPlanted"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(slack_payload["event"]["user"], "U1", "the rest is kept");
    let export = export_of(&t, &t.admin).await;
    assert!(export.contains("EvPlanted"));
    for secret in [planted, client_state.as_str()] {
        assert!(!export.contains(secret), "a secret in the export");
        assert!(!page(&t, &slack).await.contains(secret));
        assert!(!page(&t, &microsoft).await.contains(secret));
    }
}

#[tokio::test]
async fn a_signed_delivery_resent_with_a_new_delivery_id_is_stored_once() {
    let t = app().await;
    let body = r#"{"action":"opened","webhookEvent":"jira:issue_created","type":"Issue"}"#;
    for (provider, header, delivery_header) in [
        ("github", "X-Hub-Signature-256", "X-GitHub-Delivery"),
        ("jira", "X-Hub-Signature", "X-Atlassian-Webhook-Identifier"),
    ] {
        let id = integration(&t, provider, "acct").await;
        let (url, secret) = add_endpoint(&t, &id, None).await;
        let signature = format!("sha256={}", hex_mac(&secret.unwrap(), body));
        for delivery in ["d-1", "d-2-replayed"] {
            let headers = [
                (header, signature.clone()),
                (delivery_header, delivery.to_owned()),
            ];
            assert_eq!(deliver(&url, &headers, body).await.status(), StatusCode::OK);
        }
    }
    let id = integration(&t, "linear", "org-1").await;
    let (url, _) = add_endpoint(&t, &id, Some("lin_wh_secret")).await;
    let fresh = serde_json::json!({"action":"create","type":"Issue",
        "webhookTimestamp": chrono::Utc::now().timestamp_millis()})
    .to_string();
    for delivery in ["l-1", "l-2-replayed"] {
        let headers = [
            ("Linear-Signature", hex_mac("lin_wh_secret", &fresh)),
            ("Linear-Delivery", delivery.to_owned()),
        ];
        assert_eq!(deliver(&url, &headers, &fresh).await.status(), StatusCode::OK);
    }
    assert_eq!(stored_events(&t).await.len(), 3, "one per signed body");
}

#[tokio::test]
async fn identical_dropbox_notifications_are_each_stored() {
    let t = app().await;
    let id = integration(&t, "dropbox", "dbid:1").await;
    let (url, _) = add_endpoint(&t, &id, Some("dropbox-app-secret")).await;
    let notice = r#"{"list_folder":{"accounts":["dbid:1"]},"delta":{"users":[1]}}"#;
    for _ in 0..2 {
        let headers = [("X-Dropbox-Signature", hex_mac("dropbox-app-secret", notice))];
        assert_eq!(deliver(&url, &headers, notice).await.status(), StatusCode::OK);
    }
    assert_eq!(stored_events(&t).await.len(), 2, "each change signal counts");
    assert!(page(&t, &id).await.contains("data-received=\"2\""));
}

async fn rejected_counts(t: &OAuthApp) -> i64 {
    let counts: Vec<i64> = t
        .app
        .ctx
        .db
        .run(|conn| Ok(hooks::table.select(hooks::rejected_count).load(conn)?))
        .await
        .unwrap();
    counts.iter().sum()
}

#[tokio::test]
async fn forged_deliveries_are_counted_in_memory_and_written_at_the_next_flush() {
    let t = app().await;
    let id = integration(&t, "github", "octo").await;
    let (url, _) = add_endpoint(&t, &id, None).await;
    let body = r#"{"action":"opened"}"#;
    for n in 0..7 {
        let forged = [(
            "X-Hub-Signature-256",
            format!("sha256={}", hex_mac(&format!("guess-{n}"), body)),
        )];
        assert_eq!(
            deliver(&url, &forged, body).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(rejected_counts(&t).await, 0, "no database write per forgery");
    run_worker(&t).await;
    assert_eq!(rejected_counts(&t).await, 7);
    run_worker(&t).await;
    assert_eq!(rejected_counts(&t).await, 7, "each counted once");
}

#[tokio::test]
async fn replay_refuses_an_event_of_another_integration() {
    let t = app().await;
    let slack = integration(&t, "slack", "T123").await;
    let github = integration(&t, "github", "octo").await;
    assert_eq!(
        send_slack(&t, &slack_event("T123", "EvOwn", "member_joined_channel")).await,
        StatusCode::OK
    );
    run_worker(&t).await;
    let (event, status, _) = stored_events(&t).await.remove(0);
    assert_eq!(status, "succeeded");
    let res = post_with_csrf(
        &t,
        &t.admin,
        &format!("/integrations/{github}/events/{event}/replay"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(stored_events(&t).await[0].1, "succeeded", "nothing queued");
    let res = post_with_csrf(
        &t,
        &t.admin,
        &format!("/integrations/{slack}/events/{event}/replay"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(stored_events(&t).await[0].1, "queued");
}
