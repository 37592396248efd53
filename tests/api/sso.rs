//! Single sign-on for admins against the mock provider as the platform's identity provider:
//! a matching admin is signed in; everyone and everything else is refused with a clear page.

use mock_provider::{Behaviour, IdTokenPerson, IssParam, MockConfig, MockProvider};
use reqwest::{Client, StatusCode};

use crate::helpers::{self, PASSWORD, TestApp, location};

struct Sso {
    app: TestApp,
    mock: MockProvider,
}

/// The app with the mock as its admins' identity provider, Acme (external id acme-42) with
/// ada@acme.example, and Beta with bea@beta.example.
async fn sso_app(extra: &[(&str, &str)]) -> Sso {
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    mock.set_behaviour(|b: &mut Behaviour| b.iss_param = IssParam::Correct);
    let mut builder = helpers::app()
        .var("ADMIN_OIDC_ISSUER", &mock.base_url())
        .var("ADMIN_OIDC_CLIENT_ID", "mock-client")
        .var("ADMIN_OIDC_CLIENT_SECRET", "mock-secret")
        .var("ADMIN_OIDC_NAME", "Targetym ID");
    for (name, value) in extra {
        builder = builder.var(name, value);
    }
    let app = builder.spawn().await;
    for (org, email) in [("Acme HR", "ada@acme.example"), ("Beta Ltd", "bea@beta.example")] {
        let input =
            targetym_integrations::accounts::NewAdminInput::parse(org, email, PASSWORD.to_owned().into())
                .unwrap();
        targetym_integrations::accounts::create_admin(&app.ctx.db, input, true)
            .await
            .unwrap();
    }
    targetym_integrations::accounts::set_external_id(&app.ctx.db, "Acme HR", Some("acme-42"))
        .await
        .unwrap();
    Sso { app, mock }
}

/// The identity the mock's next ID tokens name.
fn person(email: &str, verified: bool, org: Option<&str>) -> IdTokenPerson {
    let mut claims = serde_json::Map::new();
    if let Some(org) = org {
        claims.insert("org".into(), org.into());
    }
    IdTokenPerson {
        subject: format!("sub-{email}"),
        email: email.into(),
        email_verified: verified,
        claims,
    }
}

impl Sso {
    fn as_person(&self, who: IdTokenPerson) {
        self.mock.set_behaviour(|b| b.id_token_person = Some(who));
    }

    /// A fresh browser walks the flow: the sign-in page's button, the identity provider, the
    /// callback. Returns the browser, the callback URL and its answer.
    async fn sign_in(&self) -> (Client, String, reqwest::Response) {
        let browser = helpers::browser();
        let page = self.app.get_with(&browser, "/login").await.text().await.unwrap();
        assert!(page.contains("Sign in with Targetym ID"), "{page}");
        let res = self.app.get_with(&browser, "/login/sso").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let authorize = location(&res).to_owned();
        let url = url::Url::parse(&authorize).unwrap();
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert!(authorize.starts_with(&self.mock.base_url()), "{authorize}");
        assert_eq!(query["code_challenge_method"], "S256");
        assert!(query["nonce"].len() >= 32 && query["state"].len() >= 32);
        assert_eq!(query["redirect_uri"], self.app.url("/login/sso/callback"));
        assert!(query["scope"].split(' ').any(|s| s == "openid"));
        let res = helpers::browser().get(&authorize).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "the identity provider answers");
        let callback = location(&res).to_owned();
        let res = browser.get(&callback).send().await.unwrap();
        (browser, callback, res)
    }

    /// Who the browser is signed in as, if anyone.
    async fn signed_in_as(&self, browser: &Client) -> Option<String> {
        let res = self.app.get_with(browser, "/account").await;
        if res.status() != StatusCode::OK {
            return None;
        }
        let page = res.text().await.unwrap();
        let start = page.find("class=\"who\"")?;
        let rest = &page[start..];
        let open = rest.find('>')? + 1;
        Some(rest[open..open + rest[open..].find('<')?].to_owned())
    }
}

#[tokio::test]
async fn single_sign_on_signs_in_the_matching_admin() {
    let t = sso_app(&[]).await;
    t.as_person(person("Ada@Acme.example", true, Some("acme-42")));
    let (browser, callback, res) = t.sign_in().await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/integrations");
    assert_eq!(
        t.signed_in_as(&browser).await.as_deref(),
        Some("ada@acme.example")
    );
    assert_eq!(t.mock.counters().code_exchanges, 1);

    // The callback serves once: replayed in the same browser or another, it signs in nobody.
    for replay in [browser.clone(), helpers::browser()] {
        let res = replay.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("Start again"));
    }
    assert_eq!(t.mock.counters().code_exchanges, 1, "no second exchange");
    // Password sign-in stays on unless turned off.
    let res = t
        .app
        .login_with(&helpers::browser(), "ada@acme.example", PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn single_sign_on_refuses_everyone_else_with_a_clear_page() {
    let t = sso_app(&[]).await;
    let cases = [
        (
            person("ada@acme.example", false, Some("acme-42")),
            "did not confirm your email",
        ),
        (
            person("ada@acme.example", true, None),
            "did not say which organization",
        ),
        (person("ada@acme.example", true, Some("nope-1")), "is not set up"),
        (
            person("bea@beta.example", true, Some("acme-42")),
            "not an admin of your organization",
        ),
        (
            person("carl@acme.example", true, Some("acme-42")),
            "not an admin of your organization",
        ),
    ];
    for (who, why) in cases {
        let email = who.email.clone();
        t.as_person(who);
        let (browser, _, res) = t.sign_in().await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{email}: {why}");
        let page = res.text().await.unwrap();
        assert!(page.contains(why), "{why}: {page}");
        assert_eq!(t.signed_in_as(&browser).await, None, "{email}");
    }

    // A forged or broken answer from the provider's side.
    t.as_person(person("ada@acme.example", true, Some("acme-42")));
    type Spoil = fn(&mut Behaviour);
    let spoilers: [(Spoil, StatusCode); 5] = [
        (|b| b.id_token_wrong_nonce = true, StatusCode::BAD_GATEWAY),
        (|b| b.id_token_wrong_issuer = true, StatusCode::BAD_GATEWAY),
        (|b| b.id_token_bad_signature = true, StatusCode::BAD_GATEWAY),
        (|b| b.iss_param = IssParam::Wrong, StatusCode::BAD_GATEWAY),
        (|b| b.deny_authorization = true, StatusCode::FORBIDDEN),
    ];
    for (spoil, status) in spoilers {
        t.mock.set_behaviour(|b| {
            *b = Behaviour {
                iss_param: IssParam::Correct,
                id_token_person: b.id_token_person.clone(),
                ..Behaviour::default()
            };
            spoil(b);
        });
        let (browser, _, res) = t.sign_in().await;
        assert_eq!(res.status(), status);
        assert_eq!(t.signed_in_as(&browser).await, None);
    }

    // A callback whose state is not this browser's.
    t.mock.set_behaviour(|b| {
        *b = Behaviour {
            iss_param: IssParam::Correct,
            id_token_person: b.id_token_person.clone(),
            ..Behaviour::default()
        }
    });
    let browser = helpers::browser();
    let res = t.app.get_with(&browser, "/login/sso").await;
    let authorize = location(&res).to_owned();
    let res = helpers::browser().get(&authorize).send().await.unwrap();
    let callback = location(&res).replace("state=", "state=x");
    let res = browser.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(t.signed_in_as(&browser).await, None);
}

#[tokio::test]
async fn auto_provisioning_adds_admins_to_known_organizations_only() {
    let t = sso_app(&[("ADMIN_OIDC_AUTO_PROVISION", "true")]).await;
    t.as_person(person("carl@acme.example", true, Some("acme-42")));
    let (carl, _, res) = t.sign_in().await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.signed_in_as(&carl).await.as_deref(), Some("carl@acme.example"));
    let team = t.app.get_with(&carl, "/team").await.text().await.unwrap();
    assert!(
        team.contains("data-admin=\"ada@acme.example\"") && team.contains("data-admin=\"carl@acme.example\"")
    );
    let log = t
        .app
        .get_with(&carl, "/audit?kind=account")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        log.contains("carl@acme.example joined the admins by single sign-on"),
        "{log}"
    );

    // Never an organization, and never a removed admin back.
    t.as_person(person("dan@nowhere.example", true, Some("nope-1")));
    let (_, _, res) = t.sign_in().await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let ada = helpers::browser();
    t.app.login_with(&ada, "ada@acme.example", PASSWORD).await;
    let carl_id = t.app.user_id_of("carl@acme.example").await;
    let csrf = t.app.csrf_with(&ada, "/team").await;
    let res = t
        .app
        .post_form_with(
            &ada,
            &format!("/team/admins/{carl_id}/remove"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.signed_in_as(&carl).await, None, "removed: signed out");
    t.as_person(person("carl@acme.example", true, Some("acme-42")));
    let (_, _, res) = t.sign_in().await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a removed admin comes back by invitation only"
    );
}

#[tokio::test]
async fn password_sign_in_can_be_turned_off_when_single_sign_on_is_on() {
    let t = sso_app(&[("PASSWORD_LOGIN", "false")]).await;
    let page = t
        .app
        .get_with(&helpers::browser(), "/login")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with Targetym ID"));
    assert!(!page.contains("type=\"password\""), "{page}");
    // The right password, posted with a valid CSRF token (the page's htmx header carries it).
    let browser = helpers::browser();
    let page = t.app.get_with(&browser, "/login").await.text().await.unwrap();
    let marker = "\"X-CSRF-Token\": \"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let form = [
        ("csrf_token", csrf),
        ("email", "ada@acme.example"),
        ("password", PASSWORD),
    ];
    let res = t.app.post_form_with(&browser, "/login", &form).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.signed_in_as(&browser).await, None);
    t.as_person(person("ada@acme.example", true, Some("acme-42")));
    let (browser, _, res) = t.sign_in().await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        t.signed_in_as(&browser).await.as_deref(),
        Some("ada@acme.example")
    );
}

#[tokio::test]
async fn without_configuration_there_is_no_single_sign_on() {
    let app = helpers::spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let page = app
        .get_with(&helpers::browser(), "/login")
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("/login/sso"));
    assert_eq!(app.get("/login/sso").await.status(), StatusCode::NOT_FOUND);
    for vars in [
        vec![("PASSWORD_LOGIN", "false")],
        vec![("ADMIN_OIDC_ISSUER", "https://id.example")],
        vec![
            ("ADMIN_OIDC_ISSUER", "http://id.example"),
            ("ADMIN_OIDC_CLIENT_ID", "x"),
            ("ADMIN_OIDC_CLIENT_SECRET", "y"),
        ],
    ] {
        let vars: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let error = targetym_integrations::config::Settings::from_vars(&vars).unwrap_err();
        assert!(
            error.to_string().contains("ADMIN_OIDC") || error.to_string().contains("PASSWORD_LOGIN"),
            "{error}"
        );
    }
}
