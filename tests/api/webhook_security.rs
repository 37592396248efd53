//! Webhooks against a hostile world: routing that follows the live connection, stopped
//! channels and endpoints after a disconnect or erasure, no secret in what is stored, replays
//! of what was signed, first-use handshake windows, cheap forgeries, replay scoped to its
//! integration.

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::{self, location};
use crate::oauth_helpers::OAuthApp;
use crate::webhooks::{
    add_endpoint, app, deliver, google_notification, hex_mac, integration, now_secs, post_slack, slack_event,
    slack_signature, stored_events,
};
use targetym_integrations::db;
use targetym_integrations::db::schema::{
    audit_events as audit, integration_credentials as creds, integration_sync_logs as logs,
    integration_webhooks as hooks, integrations,
};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, LogKind, OrgId};
use targetym_integrations::worker::Worker;

const HELD_ELSEWHERE: &str = "This Slack workspace is already connected to another organization in \
                              Targetym; it must be disconnected there first.";

/// Sends a signed Slack event; returns the answer's status.
async fn send_slack(t: &OAuthApp, body: &str) -> StatusCode {
    let ts = now_secs();
    post_slack(t, body, &ts, &slack_signature(&ts, body), None)
        .await
        .status()
}

/// Stored webhook events as (organization, dedup key, integration).
async fn events_by_org(t: &OAuthApp) -> Vec<(String, Option<String>, Option<String>)> {
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .select((logs::org_id, logs::dedup_key, logs::integration_id))
                .load(conn)?)
        })
        .await
        .unwrap()
}

async fn integrations_of(t: &OAuthApp, org: &str) -> Vec<(String, String)> {
    let org = org.to_owned();
    t.app
        .ctx
        .db
        .run(move |conn| {
            Ok(integrations::table
                .filter(integrations::org_id.eq(org))
                .select((integrations::id, integrations::status))
                .load(conn)?)
        })
        .await
        .unwrap()
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

async fn metrics(t: &OAuthApp) -> String {
    t.app.get("/metrics").await.text().await.unwrap()
}

async fn run_worker(t: &OAuthApp) {
    Worker::new(t.app.ctx.clone())
        .run_due_work(db::now())
        .await
        .unwrap();
}

#[tokio::test]
async fn slack_events_follow_the_workspace_from_one_organization_to_the_next() {
    let t = app().await;
    let acme = t.app.org_of("ada@acme.example").await.to_text();
    assert_eq!(t.connect("slack").await.callback.status(), StatusCode::OK);
    let (acme_slack, _) = integrations_of(&t, &acme).await.remove(0);
    assert_eq!(
        send_slack(&t, &slack_event("T-MOCK", "EvAcme1", "message")).await,
        StatusCode::OK
    );
    assert_eq!(events_by_org(&t).await.len(), 1);

    let res = post_with_csrf(&t, &t.admin, &format!("/integrations/{acme_slack}/disconnect")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // After the disconnect: acknowledged (Slack stops retrying), counted, not stored.
    assert_eq!(
        send_slack(&t, &slack_event("T-MOCK", "EvAfterDisconnect", "user_change")).await,
        StatusCode::OK
    );
    assert_eq!(
        events_by_org(&t).await.len(),
        1,
        "nothing stored for the old organization"
    );
    assert!(
        metrics(&t)
            .await
            .contains("webhook_deliveries_total{outcome=\"disconnected\",provider=\"slack\"} 1")
    );
    run_worker(&t).await;
    assert!(
        page(&t, &acme_slack).await.contains("data-dropped=\"1\""),
        "counted on the route"
    );

    // Another organization connects the workspace: its events are theirs from now on.
    let beta = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let beta_org = t.app.org_of("bob@beta.example").await.to_text();
    let flow = t.connect_as(&beta, "slack", None).await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    let (beta_slack, _) = integrations_of(&t, &beta_org).await.remove(0);
    assert_eq!(
        send_slack(&t, &slack_event("T-MOCK", "EvBeta1", "user_change")).await,
        StatusCode::OK
    );
    let events = events_by_org(&t).await;
    let beta_event = events
        .iter()
        .find(|(_, key, _)| key.as_deref().is_some_and(|k| k.ends_with("EvBeta1")))
        .expect("stored");
    assert_eq!(beta_event.0, beta_org);
    assert_eq!(beta_event.2.as_deref(), Some(beta_slack.as_str()));
    assert!(
        !export_of(&t, &t.admin).await.contains("EvBeta1"),
        "not in the old organization's export"
    );
    assert!(export_of(&t, &beta).await.contains("EvBeta1"));
}

#[tokio::test]
async fn a_workspace_another_organization_holds_cannot_be_connected_twice() {
    let t = app().await;
    let acme = t.app.org_of("ada@acme.example").await.to_text();
    assert_eq!(t.connect("slack").await.callback.status(), StatusCode::OK);
    let beta = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let beta_org = t.app.org_of("bob@beta.example").await.to_text();

    let refused = t.connect_as(&beta, "slack", None).await.callback;
    assert_eq!(refused.status(), StatusCode::CONFLICT);
    let html = refused.text().await.unwrap();
    assert!(html.contains(HELD_ELSEWHERE), "{html}");
    assert!(integrations_of(&t, &beta_org).await.is_empty(), "nothing stored");
    let credentials: i64 = t
        .app
        .ctx
        .db
        .run(|conn| Ok(creds::table.count().get_result(conn)?))
        .await
        .unwrap();
    assert_eq!(credentials, 1, "only the first organization's tokens");
    assert_eq!(
        t.mock.counters().revocations,
        0,
        "the shared bot token is not revoked"
    );
    let recorded: Vec<(String, String)> = t
        .app
        .ctx
        .db
        .run(move |conn| {
            Ok(audit::table
                .filter(audit::org_id.eq(beta_org))
                .filter(audit::kind.eq("connect"))
                .select((audit::outcome, audit::detail))
                .load::<(String, String)>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "failed");
    assert!(recorded[0].1.ends_with(HELD_ELSEWHERE), "{}", recorded[0].1);

    // The holder reconnecting its own workspace is fine, and it keeps the events.
    assert_eq!(t.connect("slack").await.callback.status(), StatusCode::OK);
    assert_eq!(
        send_slack(&t, &slack_event("T-MOCK", "EvStill", "message")).await,
        StatusCode::OK
    );
    let events = events_by_org(&t).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, acme);
}

#[tokio::test]
async fn a_route_cached_before_another_instance_changed_it_never_delivers_to_the_old_integration() {
    let t = app().await;
    let acme_slack = integration(&t, "slack", "T123").await;
    assert_eq!(
        send_slack(&t, &slack_event("T123", "EvWarm", "message")).await,
        StatusCode::OK,
        "this instance now caches the route"
    );
    // Another instance disconnects it: the database changes, this instance's cache does not.
    let id = acme_slack.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            db::integrations::mark_disconnected(conn, IntegrationId::parse(&id).unwrap(), db::now())?;
            db::webhooks::stop_for_integration(conn, IntegrationId::parse(&id).unwrap(), db::now())?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        send_slack(&t, &slack_event("T123", "EvStale", "message")).await,
        StatusCode::OK
    );
    assert_eq!(
        events_by_org(&t).await.len(),
        1,
        "not stored for the disconnected integration"
    );
    // And another organization connects the workspace there.
    t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let beta_org = t.app.org_of("bob@beta.example").await.to_text();
    let (org, beta_slack) = (beta_org.clone(), uuid::Uuid::new_v4().to_string());
    let id = beta_slack.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            db::integrations::insert(
                conn,
                &db::integrations::NewIntegration {
                    id: IntegrationId::parse(&id).unwrap(),
                    org_id: OrgId::parse(&org).unwrap(),
                    provider_slug: "slack",
                    status: IntegrationStatus::Connected,
                    external_account_id: "T123",
                    external_account_name: "Workspace",
                    granted_scopes: "read",
                    connected_by: None,
                },
            )?;
            db::webhooks::bind_slack_route(
                conn,
                &db::webhooks::SlackRoute {
                    org_id: OrgId::parse(&org).unwrap(),
                    integration_id: IntegrationId::parse(&id).unwrap(),
                    team_id: "T123",
                    rate_limit_per_minute: 100,
                    at: db::now(),
                },
            )
        })
        .await
        .unwrap();
    assert_eq!(
        send_slack(&t, &slack_event("T123", "EvBeta", "message")).await,
        StatusCode::OK
    );
    let events = events_by_org(&t).await;
    assert_eq!(events.len(), 2);
    let beta_event = events
        .iter()
        .find(|(_, key, _)| key.as_deref().is_some_and(|k| k.ends_with("EvBeta")))
        .expect("stored at once, whatever the cache said");
    assert_eq!(
        (&beta_event.0, beta_event.2.as_deref()),
        (&beta_org, Some(beta_slack.as_str()))
    );
}

#[tokio::test]
async fn an_endpoint_left_active_on_a_disconnected_integration_stores_nothing() {
    let t = app().await;
    let github = integration(&t, "github", "octo").await;
    let (url, secret) = add_endpoint(&t, &github, None).await;
    // E.g. a channel a renewal registered while the integration was being disconnected.
    let id = github.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            db::integrations::mark_disconnected(conn, IntegrationId::parse(&id).unwrap(), db::now())
        })
        .await
        .unwrap();
    let body = r#"{"action":"opened"}"#;
    let signed = [(
        "X-Hub-Signature-256",
        format!("sha256={}", hex_mac(&secret.unwrap(), body)),
    )];
    assert_eq!(deliver(&url, &signed, body).await.status(), StatusCode::OK);
    assert!(stored_events(&t).await.is_empty());
    assert!(
        metrics(&t)
            .await
            .contains("webhook_deliveries_total{outcome=\"disconnected\",provider=\"github\"} 1")
    );
}

/// Registers the integration's Google watch channels (the job the callback queues).
async fn register_channels(t: &OAuthApp, id: &str) {
    let org = t.app.org_of("ada@acme.example").await.to_text();
    let integration = id.to_owned();
    t.app
        .ctx
        .db
        .run(move |conn| {
            db::sync_logs::enqueue(
                conn,
                &db::sync_logs::NewJob {
                    org_id: OrgId::parse(&org).unwrap(),
                    integration_id: Some(IntegrationId::parse(&integration).unwrap()),
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
    run_worker(t).await;
    assert_eq!(t.mock.watch_channels().len(), 2);
}

#[tokio::test]
async fn disconnect_stops_google_channels_at_their_own_api_and_disables_endpoints() {
    let t = app().await;
    let google = integration(&t, "google", "ada@acme.example").await;
    register_channels(&t, &google).await;
    let github = integration(&t, "github", "octo").await;
    let (url, secret) = add_endpoint(&t, &github, None).await;
    let secret = secret.unwrap();

    for id in [&google, &github] {
        let res = post_with_csrf(&t, &t.admin, &format!("/integrations/{id}/disconnect")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
    let channels = t.mock.watch_channels();
    for channel in &channels {
        assert!(channel.stopped, "{channel:?}");
        assert_eq!(
            channel.stopped_at.as_deref(),
            Some(channel.resource.as_str()),
            "stopped at its own API"
        );
    }
    let calendar = channels.iter().find(|c| c.resource == "calendar").unwrap();
    assert_eq!(
        google_notification(&t, &calendar.id, &calendar.token, "exists", "7")
            .await
            .status(),
        StatusCode::OK
    );
    let body = r#"{"action":"opened"}"#;
    let signed = [
        (
            "X-Hub-Signature-256",
            format!("sha256={}", hex_mac(&secret, body)),
        ),
        ("X-GitHub-Delivery", "late-1".to_owned()),
    ];
    assert_eq!(deliver(&url, &signed, body).await.status(), StatusCode::OK);
    assert!(
        stored_events(&t).await.is_empty(),
        "nothing stored after a disconnect"
    );
    let text = metrics(&t).await;
    assert!(text.contains("webhook_deliveries_total{outcome=\"disconnected\",provider=\"google\"} 1"));
    assert!(text.contains("webhook_deliveries_total{outcome=\"disconnected\",provider=\"github\"} 1"));
    run_worker(&t).await;
    let github_page = page(&t, &github).await;
    assert!(github_page.contains("data-dropped=\"1\""), "{github_page}");
    assert!(github_page.contains("<td>stopped</td>"));
    assert!(page(&t, &google).await.contains("data-dropped=\"1\""));
}

#[tokio::test]
async fn erasure_stops_google_channels_and_nothing_is_stored_afterwards() {
    let t = app().await;
    let google = integration(&t, "google", "ada@acme.example").await;
    register_channels(&t, &google).await;
    let confirm = t
        .app
        .get_with(&t.admin, &format!("/integrations/{google}/erase"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = helpers::csrf_in(&confirm).unwrap();
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{google}/erase"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let channels = t.mock.watch_channels();
    assert!(
        channels
            .iter()
            .all(|c| c.stopped_at.as_deref() == Some(c.resource.as_str())),
        "{channels:?}"
    );
    let drive = channels.iter().find(|c| c.resource == "drive").unwrap();
    assert_eq!(
        google_notification(&t, &drive.id, &drive.token, "exists", "3")
            .await
            .status(),
        StatusCode::OK
    );
    assert!(stored_events(&t).await.is_empty());
    assert!(
        metrics(&t)
            .await
            .contains("webhook_deliveries_total{outcome=\"disconnected\",provider=\"google\"} 1")
    );
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

    let stored: Vec<(String, Option<Vec<u8>>)> = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .select((logs::id, logs::payload))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    // Sealed at rest, for its own row.
    let keyring = &t.app.ctx.keyring;
    let payloads: Vec<Option<Vec<u8>>> = stored
        .iter()
        .map(|(id, body)| {
            body.as_ref().map(|body| {
                assert!(
                    !String::from_utf8_lossy(body).contains("event"),
                    "a body in clear"
                );
                targetym_integrations::db::sealed::open_payload(keyring, id, body).unwrap()
            })
        })
        .collect();
    let (first, second) = (&stored[0], &stored[1]);
    if let (Some(body), true) = (&first.1, second.1.is_some()) {
        assert!(
            targetym_integrations::db::sealed::open_payload(keyring, &second.0, body).is_err(),
            "a body copied to another row does not open"
        );
    }
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

/// Moves an endpoint's handshake window (and creation) this far into the past.
async fn age_endpoint(t: &OAuthApp, webhook_id: &str, minutes: i64) {
    let (id, at) = (
        webhook_id.to_owned(),
        db::now() - chrono::Duration::minutes(minutes),
    );
    t.app
        .ctx
        .db
        .run(move |conn| {
            diesel::update(hooks::table.find(id))
                .set((hooks::created_at.eq(at), hooks::handshake_opened_at.eq(at)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn webhook_secret_is_set(t: &OAuthApp, webhook_id: &str) -> bool {
    let id = webhook_id.to_owned();
    let secret: Option<Vec<u8>> = t
        .app
        .ctx
        .db
        .run(move |conn| Ok(hooks::table.find(id).select(hooks::secret).first(conn)?))
        .await
        .unwrap();
    secret.is_some()
}

#[tokio::test]
async fn first_use_handshakes_are_accepted_only_within_ten_minutes_until_an_admin_resets_them() {
    let t = app().await;
    let asana = integration(&t, "asana", "1200").await;
    let (asana_url, _) = add_endpoint(&t, &asana, None).await;
    let asana_hook = asana_url.rsplit('/').next().unwrap().to_owned();
    let notion = integration(&t, "notion", "ws-1").await;
    let (notion_url, _) = add_endpoint(&t, &notion, None).await;
    let notion_hook = notion_url.rsplit('/').next().unwrap().to_owned();
    age_endpoint(&t, &asana_hook, 11).await;
    age_endpoint(&t, &notion_hook, 11).await;

    let late = deliver(&asana_url, &[("X-Hook-Secret", "late-secret".into())], "").await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
    assert!(!late.headers().contains_key("x-hook-secret"));
    let verification = r#"{"verification_token":"secret_late_notion_token"}"#;
    assert_eq!(
        deliver(&notion_url, &[], verification).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(!webhook_secret_is_set(&t, &asana_hook).await);
    assert!(!webhook_secret_is_set(&t, &notion_hook).await);
    run_worker(&t).await;
    assert!(page(&t, &asana).await.contains("data-rejected=\"1\""), "counted");

    // Another organization cannot reset it.
    let beta = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let reset_path = format!("/integrations/{asana}/webhooks/{asana_hook}/handshake");
    assert_eq!(
        post_with_csrf(&t, &beta, &reset_path).await.status(),
        StatusCode::NOT_FOUND
    );
    let crossed_path = format!("/integrations/{notion}/webhooks/{asana_hook}/handshake");
    assert_eq!(
        post_with_csrf(&t, &t.admin, &crossed_path).await.status(),
        StatusCode::NOT_FOUND,
        "a webhook of another integration"
    );
    // Without a CSRF token: refused.
    assert_eq!(
        t.app.post_form_with(&t.admin, &reset_path, &[]).await.status(),
        StatusCode::FORBIDDEN
    );

    // The admin resets it from the page: a new ten-minute window.
    let asana_page = page(&t, &asana).await;
    assert!(
        asana_page.contains(&format!("action=\"{reset_path}\"")),
        "{asana_page}"
    );
    let res = post_with_csrf(&t, &t.admin, &reset_path).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), format!("/integrations/{asana}"));
    let res = deliver(&asana_url, &[("X-Hook-Secret", "fresh-secret".into())], "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-hook-secret"], "fresh-secret");
    let events = r#"{"events":[]}"#;
    assert_eq!(
        deliver(
            &asana_url,
            &[("X-Hook-Signature", hex_mac("fresh-secret", events))],
            events
        )
        .await
        .status(),
        StatusCode::OK
    );
    let logged: Vec<String> = t
        .app
        .ctx
        .db
        .run(move |conn| {
            Ok(audit::table
                .filter(audit::integration_id.eq(asana))
                .filter(audit::kind.eq("webhook_reset"))
                .select(audit::detail)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(logged.len(), 1, "the reset is in the audit trail");
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
