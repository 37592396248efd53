//! Webhooks against a hostile world: routing that follows the live connection, stopped
//! channels and endpoints after a disconnect or erasure, no secret in what is stored, replays
//! of what was signed, first-use handshake windows, cheap forgeries, replay scoped to its
//! integration.

use reqwest::StatusCode;

use crate::oauth_helpers::OAuthApp;
use crate::webhooks::{app, integration, now_secs, post_slack, slack_event, slack_signature, stored_events};
use targetym_integrations::db;

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

async fn run_worker(t: &OAuthApp) {
    Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
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
