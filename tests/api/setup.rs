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
