use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{self, PASSWORD, browser, location, set_cookie, spawn_app};

#[tokio::test]
async fn sign_in_and_out() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    assert_eq!(
        app.get_with(&client, "/integrations").await.status(),
        StatusCode::OK
    );

    let csrf = app.csrf_with(&client, "/integrations").await;
    let res = app
        .post_form_with(&client, "/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    let after = app.get_with(&client, "/integrations").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/login");
    // Both in the audit trail, with the admin and the address.
    let ada = |detail: &str| {
        (
            "ada@acme.example".to_owned(),
            Some("127.0.0.1".to_owned()),
            detail.to_owned(),
        )
    };
    assert_eq!(
        app.audit_events_of("session").await,
        vec![ada("Signed in"), ada("Signed out")]
    );
}

#[tokio::test]
async fn wrong_credentials_get_one_generic_message() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let wrong_password = app
        .login_with(&browser(), "ada@acme.example", "not the password")
        .await;
    let unknown_user = app.login_with(&browser(), "nobody@acme.example", PASSWORD).await;
    for res in [wrong_password, unknown_user] {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let html = res.text().await.unwrap();
        assert!(html.contains("The email or password is incorrect."));
        assert!(!html.contains("not the password") && !html.contains(PASSWORD));
    }
}

#[tokio::test]
async fn repeated_failures_on_an_account_are_limited() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let attacker = browser();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            app.login_with(&attacker, "ada@acme.example", "guess")
                .await
                .status(),
        );
    }
    assert_eq!(&statuses[..4], &[StatusCode::UNAUTHORIZED; 4], "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Now even the right password waits: the limit is on attempts, not on the answer.
    let res = app.login_with(&browser(), "ada@acme.example", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.text().await.unwrap().contains("Too many sign-in attempts"));
    // An unknown account is limited the same way, so the limit tells nothing.
    let mut last = StatusCode::OK;
    for _ in 0..6 {
        last = app
            .login_with(&attacker, "ghost@acme.example", "guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("login_failures_total{reason=\"rate_limited\"}"));
}

#[tokio::test]
async fn repeated_failures_from_one_address_are_limited() {
    let app = spawn_app().await;
    let attacker = browser();
    let mut last = StatusCode::OK;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    for n in 0..22 {
        last = app
            .login_with(&attacker, &format!("user{n}@acme.example"), "guess")
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn session_cookie_is_private_and_renewed_at_sign_in() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let client = browser();
    let login_page = app.get_with(&client, "/login").await;
    let anonymous_cookie = set_cookie(&login_page).expect("session cookie on the login page");
    assert!(anonymous_cookie.contains("HttpOnly"));
    assert!(anonymous_cookie.contains("SameSite=Lax"));
    assert!(!anonymous_cookie.contains("Secure"), "plain-http local use");
    let csrf = helpers::csrf_in(&login_page.text().await.unwrap()).unwrap();

    let res = app
        .post_form_with(
            &client,
            "/login",
            &[
                ("csrf_token", &csrf),
                ("email", "ada@acme.example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    let signed_in_cookie = set_cookie(&res).expect("a new cookie at sign-in");
    assert_ne!(cookie_value(&anonymous_cookie), cookie_value(&signed_in_cookie));
    // The CSRF token changed too: the one from before sign-in no longer works.
    let res = app
        .post_form_with(&client, "/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The pre-sign-in cookie does not carry the sign-in.
    let replay = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = replay
        .get(app.url("/integrations"))
        .header("cookie", cookie_value(&anonymous_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Whereas the new one does.
    let res = replay
        .get(app.url("/integrations"))
        .header("cookie", cookie_value(&signed_in_cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tampered_session_cookie_is_an_anonymous_session() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let res = app.login_with(&browser(), "ada@acme.example", PASSWORD).await;
    let value = cookie_value(&set_cookie(&res).expect("cookie at sign-in"));
    let mut tampered = value.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let res = browser()
        .get(app.url("/integrations"))
        .header("cookie", String::from_utf8(tampered).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn cookies_are_secure_and_hsts_is_sent_when_public_url_is_https() {
    let app = helpers::app()
        .var("PUBLIC_URL", "https://hub.acme.example")
        .spawn()
        .await;
    let res = app.get("/setup").await;
    assert!(set_cookie(&res).unwrap().contains("Secure"));
    assert!(
        res.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = helpers::app().idle_timeout(Duration::from_secs(1)).spawn().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    assert_eq!(
        app.get_with(&client, "/integrations").await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = app.get_with(&client, "/integrations").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
}

#[tokio::test]
async fn pages_require_a_session() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let res = app.get_with(&browser(), "/integrations").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
    // htmx requests are told to load the sign-in page.
    let res = browser()
        .get(app.url("/integrations?q=sl"))
        .header("HX-Request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["hx-redirect"], "/login");
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}
