//! An app wired to the mock provider through PROVIDERS_FILE, and a browser that walks the
//! connect flow.

use mock_provider::{Behaviour, IssParam, MockConfig, MockProvider};
use reqwest::{Client, Response, StatusCode};

use crate::helpers::{self, TestApp, location};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, OrgId};

pub struct OAuthApp {
    pub app: TestApp,
    pub mock: MockProvider,
    pub admin: Client,
}

/// A providers file with an OpenID Connect provider (by discovery), a plain OAuth 2.0 one
/// (explicit endpoints, client_secret_post) and Slack overridden to the mock.
pub fn providers_file(mock: &MockProvider) -> String {
    let base = mock.base_url();
    format!(
        r#"
[[provider]]
slug = "mock-oidc"
name = "Mock OIDC"
kind = "oidc"
issuer = "{base}"
client_id = "mock-client"
client_secret = "mock-secret"
scopes = ["openid", "email", "profile", "offline_access"]
category = "Testing"
extra_auth_params = {{ prompt = "consent" }}

[[provider]]
slug = "mock-oauth"
name = "Mock OAuth"
kind = "oauth2"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
revoke_url = "{base}/revoke"
userinfo_url = "{base}/userinfo"
client_id = "mock-client"
client_secret = "mock-secret"
scopes = ["read", "write"]
token_auth_method = "client_secret_post"
category = "Testing"

[[provider]]
slug = "google"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
revoke_url = "{base}/revoke"
userinfo_url = "{base}/userinfo"
api_base_url = "{base}"
api_hosts = "{base}/hosts"
client_id = "mock-client"
client_secret = "mock-secret"

[[provider]]
slug = "slack"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
revoke_url = "{base}/revoke"
userinfo_url = "{base}/api/auth.test"
api_base_url = "{base}/api"
api_hosts = "{base}/hosts"
client_id = "mock-client"
client_secret = "mock-secret"
"#
    )
}

pub async fn oauth_app() -> OAuthApp {
    oauth_app_with(|b| b).await
}

pub async fn oauth_app_with(
    customize: impl FnOnce(helpers::TestAppBuilder) -> helpers::TestAppBuilder,
) -> OAuthApp {
    oauth_app_with_mock(MockConfig::default(), customize).await
}

/// The app and a mock provider started with `config`.
pub async fn oauth_app_with_mock(
    config: MockConfig,
    customize: impl FnOnce(helpers::TestAppBuilder) -> helpers::TestAppBuilder,
) -> OAuthApp {
    let mock = MockProvider::start(config).await.expect("mock provider starts");
    mock.set_behaviour(|b: &mut Behaviour| b.iss_param = IssParam::Correct);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(&path, providers_file(&mock)).unwrap();
    let app = customize(helpers::app().var("PROVIDERS_FILE", path.to_str().unwrap()))
        .spawn()
        .await;
    // The file is read at start.
    drop(dir);
    let admin = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    OAuthApp { app, mock, admin }
}

/// What the browser did on the way: the authorization URL and the callback's answer.
pub struct Flow {
    pub authorize_url: String,
    pub callback_url: String,
    pub callback: Response,
}

impl OAuthApp {
    /// Opens the dialog, consents, follows the provider's redirect back, and returns the
    /// callback page.
    pub async fn connect(&self, slug: &str) -> Flow {
        self.connect_as(&self.admin, slug, None).await
    }

    pub async fn connect_as(&self, client: &Client, slug: &str, reconnect: Option<&str>) -> Flow {
        let authorize_url = self.start(client, slug, reconnect).await;
        let callback_url = self.authorize(&authorize_url).await;
        let callback = client.get(&callback_url).send().await.unwrap();
        Flow {
            authorize_url,
            callback_url,
            callback,
        }
    }

    /// Consents and returns where the app sends the browser (the provider's authorize URL).
    pub async fn start(&self, client: &Client, slug: &str, reconnect: Option<&str>) -> String {
        let path = format!("/integrations/{slug}/connect");
        let csrf = self.app.csrf_with(client, &path).await;
        let mut form = vec![("csrf_token", csrf.as_str()), ("consent", "yes")];
        if let Some(id) = reconnect {
            form.push(("integration", id));
        }
        // Every feature ticked, as a new connection's dialog has them.
        let features: Vec<String> = targetym_integrations::providers::catalogue::endpoints::features_of(slug)
            .map(|f| format!("feature.{}", f.key))
            .collect();
        form.extend(features.iter().map(|name| (name.as_str(), "yes")));
        let res = self.app.post_form_with(client, &path, &form).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "connect {slug}: {}",
            res.text().await.unwrap_or_default()
        );
        location(&res).to_owned()
    }

    /// The provider's side: returns the redirect back to the app.
    pub async fn authorize(&self, authorize_url: &str) -> String {
        let res = helpers::browser().get(authorize_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "mock authorize");
        location(&res).to_owned()
    }
}

/// The id of the only (or first) integration.
pub async fn first_integration(app: &TestApp) -> String {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integrations;
    app.ctx
        .db
        .run(|conn| {
            Ok(integrations::table
                .select(integrations::id)
                .first::<String>(conn)?)
        })
        .await
        .unwrap()
}

/// A connected integration of `provider` for ada@acme.example's organization, granted the
/// scopes the catalogue asks for, with a token pair the mock issued for them (valid for an
/// hour).
pub async fn seed_integration(
    app: &TestApp,
    mock: &MockProvider,
    provider: &'static str,
    account: &'static str,
) -> String {
    let scopes = requested_scopes(app, provider);
    seed_granted(app, provider, account, mock.issue_tokens(&scopes), &scopes).await
}

/// What the catalogue asks `provider` for, space-separated.
pub fn requested_scopes(app: &TestApp, provider: &str) -> String {
    app.ctx
        .catalogue
        .get(provider)
        .map(|p| p.def.default_scopes.join(" "))
        .unwrap_or_default()
}

/// The same with a token pair of the caller's (for a provider that is not the mock).
pub async fn seed_with_tokens(
    app: &TestApp,
    provider: &'static str,
    account: &'static str,
    tokens: (String, String),
) -> String {
    let scopes = requested_scopes(app, provider);
    seed_granted(app, provider, account, tokens, &scopes).await
}

/// An integration granted `scopes`, holding these tokens.
pub async fn seed_granted(
    app: &TestApp,
    provider: &'static str,
    account: &'static str,
    (access, refresh): (String, String),
    scopes: &str,
) -> String {
    let scopes = scopes.to_owned();
    use secrecy::SecretString;
    use targetym_integrations::db::{self, credentials as stored};
    use targetym_integrations::integrations::credentials;
    let org = app.org_of("ada@acme.example").await.to_text();
    let keyring = app.ctx.keyring.clone();
    let rate = app.ctx.settings.webhook_rate_limit_per_minute;
    app.ctx
        .db
        .run(move |conn| {
            let id = uuid::Uuid::new_v4().to_string();
            db::integrations::insert(
                conn,
                &db::integrations::NewIntegration {
                    id: IntegrationId::parse(&id).unwrap(),
                    org_id: OrgId::parse(&org).unwrap(),
                    provider_slug: provider,
                    status: IntegrationStatus::Connected,
                    external_account_id: account,
                    external_account_name: account,
                    granted_scopes: &scopes,
                    connected_by: None,
                },
            )?;
            let tokens = targetym_integrations::oauth::TokenSet {
                access_token: SecretString::from(access),
                refresh_token: Some(SecretString::from(refresh)),
                token_type: "Bearer".into(),
                expires_in: Some(3600),
                scope: None,
                id_token: None,
                extra: serde_json::Value::Null,
            };
            stored::upsert(
                conn,
                &credentials::seal(
                    &keyring,
                    IntegrationId::parse(&id).unwrap(),
                    &tokens,
                    None,
                    "read write",
                    db::now(),
                ),
            )?;
            if provider == "slack" {
                // What the callback does: the workspace's events go to this integration.
                db::webhooks::bind_slack_route(
                    conn,
                    &db::webhooks::SlackRoute {
                        org_id: OrgId::parse(&org).unwrap(),
                        integration_id: IntegrationId::parse(&id).unwrap(),
                        team_id: account,
                        rate_limit_per_minute: rate,
                        at: db::now(),
                    },
                )?;
            }
            Ok(id)
        })
        .await
        .unwrap()
}

/// How many integrations there are, of any organization and state.
pub async fn integration_count(app: &TestApp) -> i64 {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integrations;
    app.ctx
        .db
        .run(|conn| Ok(integrations::table.count().get_result(conn)?))
        .await
        .unwrap()
}

/// GET `path` of the internal API with a service token: its status and JSON body.
pub async fn api_get(t: &OAuthApp, token: &str, path: &str) -> (StatusCode, serde_json::Value) {
    let res = reqwest::Client::new()
        .get(t.app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.json::<serde_json::Value>().await.unwrap())
}
