use reqwest::StatusCode;

use crate::helpers::{self, spawn_app};
use targetym_integrations::db::integrations::{NewIntegration, insert};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, OrgId};

/// (slug, state) of every card in a page or partial.
fn card_states(html: &str) -> Vec<(String, String)> {
    html.split("data-provider=\"")
        .skip(1)
        .map(|chunk| {
            let slug = chunk[..chunk.find('"').unwrap()].to_owned();
            let state_at = chunk.find("data-state=\"").unwrap() + "data-state=\"".len();
            let state = chunk[state_at..state_at + chunk[state_at..].find('"').unwrap()].to_owned();
            (slug, state)
        })
        .collect()
}

async fn org_of(app: &helpers::TestApp, email: &str) -> OrgId {
    app.org_of(email).await
}

async fn add_integration(
    app: &helpers::TestApp,
    org: OrgId,
    slug: &'static str,
    status: IntegrationStatus,
    name: &'static str,
) {
    app.ctx
        .db
        .run(move |conn| {
            insert(
                conn,
                &NewIntegration {
                    id: IntegrationId::new(),
                    org_id: org,
                    provider_slug: slug,
                    status,
                    external_account_id: name,
                    external_account_name: name,
                    granted_scopes: "",
                    connected_by: None,
                },
            )
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn every_provider_has_a_card_with_its_state() {
    let app = helpers::app()
        .var("SLACK_CLIENT_ID", "123.456")
        .var("SLACK_CLIENT_SECRET", "slack-secret-value")
        .var("ASANA_CLIENT_ID", "asana-id")
        .var("ASANA_CLIENT_SECRET", "asana-secret")
        .spawn()
        .await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let org = org_of(&app, "ada@acme.example").await;
    add_integration(
        &app,
        org,
        "google",
        IntegrationStatus::Connected,
        "ada@acme.example",
    )
    .await;
    add_integration(
        &app,
        org,
        "jira",
        IntegrationStatus::NeedsReauth,
        "acme.atlassian.net",
    )
    .await;
    add_integration(&app, org, "zoom", IntegrationStatus::Error, "Acme Zoom").await;
    add_integration(&app, org, "notion", IntegrationStatus::Disconnected, "Old Notion").await;

    let html = app.get_with(&client, "/integrations").await.text().await.unwrap();
    let states = card_states(&html);
    assert_eq!(states.len(), 10);
    let state = |slug: &str| states.iter().find(|(s, _)| s == slug).unwrap().1.as_str();
    assert_eq!(state("slack"), "available");
    assert_eq!(state("asana"), "available");
    assert_eq!(state("google"), "connected");
    assert_eq!(state("jira"), "needs-reconnect");
    assert_eq!(state("zoom"), "error");
    assert_eq!(state("notion"), "not-configured");
    assert_eq!(state("github"), "not-configured");
    assert!(html.contains("Connected as ada@acme.example"));
    assert!(html.contains("Needs reconnect"));
    assert!(html.contains("Google Workspace") && html.contains("Productivity"));
    assert!(!html.contains("slack-secret-value"));
    // Accessible: every control of the filter form has a label.
    for id in ["category", "q"] {
        assert!(html.contains(&format!("<label for=\"{id}\"")), "label for {id}");
    }
}

#[tokio::test]
async fn filter_by_category_and_search_by_name_with_and_without_htmx() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;

    // JavaScript off: the form reloads the whole page.
    let res = app
        .get_with(&client, "/integrations?category=Project+management&q=")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("<html"));
    let slugs: Vec<String> = card_states(&html).into_iter().map(|(s, _)| s).collect();
    assert_eq!(slugs, ["asana", "jira", "linear"]);
    assert!(html.contains("<option value=\"Project management\" selected>"));

    // htmx: only the cards come back.
    let res = client
        .get(app.url("/integrations?category=&q=SL"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["vary"], "HX-Request");
    let html = res.text().await.unwrap();
    assert!(!html.contains("<html") && html.contains("id=\"cards\""));
    let slugs: Vec<String> = card_states(&html).into_iter().map(|(s, _)| s).collect();
    assert_eq!(slugs, ["slack"]);

    let html = app
        .get_with(&client, "/integrations?q=nothing-like-this")
        .await
        .text()
        .await
        .unwrap();
    assert!(card_states(&html).is_empty());
    assert!(html.contains("No integration matches"));
}

#[tokio::test]
async fn two_organizations_cannot_see_each_others_integrations() {
    let app = spawn_app().await;
    let acme = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let beta = app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let acme_org = org_of(&app, "ada@acme.example").await;
    add_integration(
        &app,
        acme_org,
        "slack",
        IntegrationStatus::Connected,
        "Acme Workspace",
    )
    .await;

    let acme_html = app.get_with(&acme, "/integrations").await.text().await.unwrap();
    assert!(acme_html.contains("Connected as Acme Workspace"));
    assert!(acme_html.contains("Acme HR"));
    let beta_html = app.get_with(&beta, "/integrations").await.text().await.unwrap();
    assert!(!beta_html.contains("Acme Workspace"));
    assert!(!beta_html.contains("Acme HR"));
    assert!(beta_html.contains("Beta Ltd"));
}
