//! Access by feature: a call whose feature the connection was not granted is refused before
//! the provider is called (403 `missing_scope` with the scopes that would allow it), and a
//! provider's own scope refusal (Slack `missing_scope`, Google `insufficientPermissions`) is
//! answered the same way and never retried.

use reqwest::StatusCode;
use serde_json::Value;

use crate::oauth_helpers::{OAuthApp, api_get, oauth_app, requested_scopes, seed_granted};

const PROFILE: &str = "openid https://www.googleapis.com/auth/userinfo.email";

async fn get(t: &OAuthApp, path: &str) -> (StatusCode, Value) {
    let org = t.app.org_of("ada@acme.example").await;
    let token = t.app.service_token(org, "hr-core").await;
    api_get(t, &token, path).await
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

    // The page asks for more access, and the hub no longer calls for what it lacks.
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{slack}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Needs more access: Read the workspace&#39;s name"),
        "{page}"
    );
    assert!(
        page.contains("needs more access: Read the workspace&#39;s name"),
        "the last error: {page}"
    );
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{google}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Needs more access: Calendars and events"));
    let (status, _) = get(&t, &format!("/api/v1/integrations/{slack}/slack/team")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        t.mock.api_calls().len(),
        before + 2,
        "refused before the provider now"
    );
}

/// The consent row's scopes, newest first.
async fn consented_scopes(t: &OAuthApp) -> Vec<String> {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integration_consents as c;
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(c::table
                .order(c::granted_at.desc())
                .select(c::scopes)
                .load::<String>(conn)?)
        })
        .await
        .unwrap()
}

/// Posts the connect form with these features ticked; the provider's authorization URL.
async fn start_with(t: &OAuthApp, slug: &str, reconnect: Option<&str>, features: &[&str]) -> String {
    let path = format!("/integrations/{slug}/connect");
    let csrf = t.app.csrf_with(&t.admin, &path).await;
    let names: Vec<String> = features.iter().map(|f| format!("feature.{f}")).collect();
    let mut form = vec![("csrf_token", csrf.as_str()), ("consent", "yes")];
    form.extend(names.iter().map(|n| (n.as_str(), "yes")));
    if let Some(id) = reconnect {
        form.push(("integration", id));
    }
    let res = t.app.post_form_with(&t.admin, &path, &form).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    crate::helpers::location(&res).to_owned()
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

#[tokio::test]
async fn features_are_chosen_at_connect_and_access_is_added_later_on_the_same_connection() {
    let t = oauth_app().await;
    let dialog = t.app.htmx_get(&t.admin, "/integrations/slack/connect").await;
    for key in [
        "post-messages",
        "read-workspace",
        "read-members",
        "manage-channels",
    ] {
        assert!(
            dialog.contains(&format!("data-feature=\"{key}\"")),
            "{key}: {dialog}"
        );
    }
    assert!(dialog.contains("name=\"feature.post-messages\" value=\"yes\" checked disabled"));
    assert!(
        dialog.contains("name=\"feature.manage-channels\" value=\"yes\" checked>"),
        "optional, ticked"
    );

    // Connect with the required features and "read members" only.
    let authorize = start_with(&t, "slack", None, &["read-members"]).await;
    let asked = query_of(&authorize)["scope"].clone();
    assert_eq!(asked, "chat:write,im:write,team:read,users:read,users:read.email");
    assert_eq!(
        consented_scopes(&t).await[0],
        "chat:write im:write team:read users:read users:read.email"
    );
    let callback = t.authorize(&authorize).await;
    let res = t.admin.get(&callback).send().await.unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
    let id = crate::oauth_helpers::first_integration(&t.app).await;

    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Needs more access: List and create channels"),
        "{page}"
    );
    let add = format!("/integrations/slack/connect?integration={id}&amp;add=manage-channels");
    assert!(page.contains(&add), "an Add access button: {page}");
    assert!(!page.contains("Needs more access: Read members"));
    let (status, body) = get(&t, &format!("/api/v1/integrations/{id}/slack/channels")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("missing_scope"))
    );

    // Add access: the dialog ticks what is granted and what is asked for.
    let dialog = t
        .app
        .htmx_get(
            &t.admin,
            &format!("/integrations/slack/connect?integration={id}&add=manage-channels"),
        )
        .await;
    assert!(dialog.contains("name=\"feature.manage-channels\" value=\"yes\" checked>"));
    assert!(dialog.contains("name=\"feature.read-members\" value=\"yes\" checked>"));
    let authorize = start_with(&t, "slack", Some(&id), &["read-members", "manage-channels"]).await;
    assert!(query_of(&authorize)["scope"].contains("channels:manage"));
    let callback = t.authorize(&authorize).await;
    t.admin.get(&callback).send().await.unwrap();
    assert_eq!(
        crate::oauth_helpers::first_integration(&t.app).await,
        id,
        "the same connection"
    );
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("Needs more access"), "{page}");
    let (status, body) = get(&t, &format!("/api/v1/integrations/{id}/slack/channels")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Google keeps what was granted before when access is added (incremental authorization).
    let authorize = start_with(&t, "google", None, &["calendar"]).await;
    let query = query_of(&authorize);
    assert_eq!(query["include_granted_scopes"], "true");
    assert!(!query["scope"].contains("gmail.send"), "{}", query["scope"]);
}
