//! Access by feature: a call whose feature the connection was not granted is refused before
//! the provider is called (403 `missing_scope` with the scopes that would allow it), and a
//! provider's own scope refusal (Slack `missing_scope`, Google `insufficientPermissions`) is
//! answered the same way and never retried.

use reqwest::StatusCode;
use serde_json::Value;

use crate::oauth_helpers::{OAuthApp, oauth_app, requested_scopes, seed_granted};

const PROFILE: &str = "openid https://www.googleapis.com/auth/userinfo.email";

async fn get(t: &OAuthApp, path: &str) -> (StatusCode, Value) {
    let org = t.app.org_of("ada@acme.example").await;
    let (_, token) = targetym_integrations::api_tokens::create(&t.app.ctx.db, org, "hr-core", None, &[])
        .await
        .unwrap();
    let res = reqwest::Client::new()
        .get(t.app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

fn scopes(body: &Value) -> Vec<&str> {
    body["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_call_whose_feature_was_not_granted_is_refused_before_the_provider() {
    let t = oauth_app().await;
    let google = seed_granted(
        &t.app,
        "google",
        "ada@acme.example",
        t.mock.issue_tokens(PROFILE),
        PROFILE,
    )
    .await;
    let slack_granted = "chat:write,im:write";
    let slack = seed_granted(
        &t.app,
        "slack",
        "T-ACME",
        t.mock.issue_tokens(slack_granted),
        slack_granted,
    )
    .await;
    let before = t.mock.api_calls().len();

    let (status, body) = get(&t, &format!("/api/v1/integrations/{google}/calendar/calendars")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "missing_scope");
    assert_eq!(
        scopes(&body),
        [
            "https://www.googleapis.com/auth/calendar.events",
            "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
        ]
    );
    let (status, body) = get(&t, &format!("/api/v1/integrations/{slack}/slack/team")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(scopes(&body), ["team:read"]);
    let (status, body) = get(&t, &format!("/api/v1/integrations/{slack}/slack/users")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(scopes(&body), ["users:read", "users:read.email"]);
    assert_eq!(t.mock.api_calls().len(), before, "the provider was not called");
}

#[tokio::test]
async fn a_providers_scope_refusal_is_typed_and_never_retried() {
    let t = oauth_app().await;
    // The hub believes it has every scope; the tokens the provider issued have fewer.
    let google_scopes = requested_scopes(&t.app, "google");
    let google = seed_granted(
        &t.app,
        "google",
        "ada@acme.example",
        t.mock.issue_tokens(PROFILE),
        &google_scopes,
    )
    .await;
    let slack_scopes = requested_scopes(&t.app, "slack");
    let slack = seed_granted(
        &t.app,
        "slack",
        "T-ACME",
        t.mock.issue_tokens("chat:write"),
        &slack_scopes,
    )
    .await;

    let before = t.mock.api_calls().len();
    let (status, body) = get(&t, &format!("/api/v1/integrations/{slack}/slack/team")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "missing_scope");
    assert_eq!(scopes(&body), ["team:read"], "Slack's `needed`");
    assert_eq!(t.mock.api_calls().len(), before + 1, "asked once, not retried");

    let (status, body) = get(&t, &format!("/api/v1/integrations/{google}/calendar/calendars")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "missing_scope");
    assert!(scopes(&body).contains(&"https://www.googleapis.com/auth/calendar.calendarlist.readonly"));
    assert_eq!(t.mock.api_calls().len(), before + 2, "asked once, not retried");
}
