use reqwest::StatusCode;

use crate::helpers::{self, PASSWORD, location, spawn_app};
use targetym_integrations::accounts;

#[tokio::test]
async fn first_visit_leads_to_setup_which_signs_the_admin_in() {
    let app = spawn_app().await;
    let res = app.get("/").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/setup");
    assert_eq!(location(&app.get("/login").await), "/setup");

    let res = app.setup("Acme HR", "ada@acme.example").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/integrations");
    let page = app.get("/integrations").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Acme HR") && html.contains("ada@acme.example"));
}

#[tokio::test]
async fn setup_is_gone_for_good_also_after_a_restart() {
    let app = spawn_app().await;
    app.setup("Acme HR", "ada@acme.example").await;
    assert_eq!(app.get("/setup").await.status(), StatusCode::NOT_FOUND);

    // A second attempt, with a valid CSRF token from the login page, changes nothing.
    let intruder = helpers::browser();
    let csrf = app.csrf_with(&intruder, "/login").await;
    let res = app
        .post_form_with(
            &intruder,
            "/setup",
            &[
                ("csrf_token", &csrf),
                ("org_name", "Evil Corp"),
                ("email", "eve@evil.example"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let eve = app.login_with(&intruder, "eve@evil.example", PASSWORD).await;
    assert_eq!(eve.status(), StatusCode::UNAUTHORIZED);

    // A restart: a new instance on the same database.
    let restarted = helpers::app()
        .var("DATABASE_URL", &app.database_url)
        .spawn()
        .await;
    assert_eq!(restarted.get("/setup").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(location(&restarted.get("/").await), "/integrations");
}

#[tokio::test]
async fn invalid_setup_forms_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let csrf = app.csrf_with(&app.client, "/setup").await;
    let cases: [(&str, &str, &str, &str, &str); 4] = [
        (
            "Acme",
            "ada@acme.example",
            PASSWORD,
            "something else entirely",
            "do not match",
        ),
        ("Acme", "not-an-email", PASSWORD, PASSWORD, "valid email"),
        ("", "ada@acme.example", PASSWORD, PASSWORD, "organization name"),
        ("Acme", "ada@acme.example", "short", "short", "at least 12"),
    ];
    for (org, email, password, confirm, message) in cases {
        let res = app
            .post_form(
                "/setup",
                &[
                    ("csrf_token", &csrf),
                    ("org_name", org),
                    ("email", email),
                    ("password", password),
                    ("password_confirm", confirm),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{message:?} missing");
        assert!(!html.contains(PASSWORD), "a password was echoed back");
    }
    // A malformed form (a field missing) is a 400.
    let res = app
        .post_form("/setup", &[("csrf_token", &csrf), ("org_name", "Acme")])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(!accounts::setup_completed(&app.ctx.db).await.unwrap());
    assert_eq!(app.get("/setup").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn concurrent_setups_create_exactly_one_organization() {
    let app = spawn_app().await;
    // Every browser opens the setup page first, then all submit at once.
    let mut browsers = Vec::new();
    for _ in 0..4 {
        let client = helpers::browser();
        let csrf = app.csrf_with(&client, "/setup").await;
        browsers.push((client, csrf));
    }
    let mut attempts = Vec::new();
    for (n, (client, csrf)) in browsers.into_iter().enumerate() {
        let url = app.url("/setup");
        attempts.push(tokio::spawn(async move {
            let email = format!("admin{n}@acme.example");
            client
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("org_name", &format!("Org {n}")),
                    ("email", &email),
                    ("password", PASSWORD),
                    ("password_confirm", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::SEE_OTHER).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::NOT_FOUND).count(),
        3,
        "{statuses:?}"
    );
}

/// A production app without an admin yet: the cookie is `Secure` (https), so these requests
/// carry it by hand over the test's plain http.
async fn production_setup(app: &crate::helpers::TestApp, token: Option<&str>) -> (StatusCode, String) {
    let page = app.get("/setup").await;
    let cookie = crate::helpers::set_cookie(&page).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("name=\"setup_token\""),
        "the page asks for the token: {html}"
    );
    let csrf = crate::helpers::csrf_in(&html).unwrap();
    let mut form = vec![
        ("csrf_token", csrf.as_str()),
        ("org_name", "Acme HR"),
        ("email", "ada@acme.example"),
        ("password", crate::helpers::PASSWORD),
        ("password_confirm", crate::helpers::PASSWORD),
    ];
    if let Some(token) = token {
        form.push(("setup_token", token));
    }
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/setup"))
        .header("cookie", cookie)
        .header("origin", "https://hub.example.com")
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.text().await.unwrap())
}

fn production() -> crate::helpers::TestAppBuilder {
    crate::helpers::app()
        .var("APP_ENV", "production")
        .var("PUBLIC_URL", "https://hub.example.com")
        .var("INTEGRATION_ENCRYPTION_KEY", &"ab".repeat(32))
        .var("SESSION_KEY", &"cd".repeat(64))
}

/// In production the first visitor of /setup does not own the instance: setup asks for the
/// setup token (SETUP_TOKEN, or the one the app logs at start while no admin exists).
#[tokio::test]
async fn in_production_setup_requires_the_setup_token() {
    let app = production()
        .var("SETUP_TOKEN", "the operator's own setup token")
        .spawn()
        .await;
    for wrong in [None, Some(""), Some("a guess of the setup token")] {
        let (status, page) = production_setup(&app, wrong).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{wrong:?}: {page}");
        assert!(
            page.contains("setup token"),
            "the page says what is missing: {page}"
        );
        assert!(
            !targetym_integrations::accounts::setup_completed(&app.ctx.db)
                .await
                .unwrap(),
            "nothing was created"
        );
    }
    let (status, _) = production_setup(&app, Some("the operator's own setup token")).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        targetym_integrations::accounts::setup_completed(&app.ctx.db)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn without_setup_token_set_production_logs_one_at_start() {
    let app = production().spawn().await;
    let logs = crate::helpers::captured_logs();
    let token = logs
        .lines()
        .filter_map(|line| line.split("setup token ").nth(1))
        .map(|rest| {
            rest.split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap()
                .to_owned()
        })
        .find(|t| t.len() >= 32)
        .expect("the setup token in the log at start");
    assert_eq!(
        production_setup(&app, Some("not it")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        production_setup(&app, Some(&token)).await.0,
        StatusCode::SEE_OTHER
    );
}
