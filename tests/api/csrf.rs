use reqwest::StatusCode;

use crate::helpers::{browser, location, spawn_app};

#[tokio::test]
async fn a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;

    let missing = app.post_form_with(&client, "/logout", &[]).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.text().await.unwrap().contains("Reload the page"));
    let wrong = app
        .post_form_with(&client, "/logout", &[("csrf_token", "forged")])
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let wrong_header = client
        .post(app.url("/logout"))
        .header("X-CSRF-Token", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_header.status(), StatusCode::FORBIDDEN);
    // Still signed in: nothing changed.
    assert_eq!(
        app.get_with(&client, "/integrations").await.status(),
        StatusCode::OK
    );

    // Another session's token is not this session's token.
    let other = app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let others_token = app.csrf_with(&other, "/integrations").await;
    let res = app
        .post_form_with(&client, "/logout", &[("csrf_token", &others_token)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The htmx header form of the right token works.
    let token = app.csrf_with(&client, "/integrations").await;
    let res = client
        .post(app.url("/logout"))
        .header("X-CSRF-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login");
}

#[tokio::test]
async fn a_cross_origin_post_is_refused_even_with_the_token() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let token = app.csrf_with(&client, "/integrations").await;
    for (header, value) in [
        ("Origin", "https://evil.example"),
        ("Referer", "https://evil.example/page"),
    ] {
        let res = client
            .post(app.url("/logout"))
            .header(header, value)
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{header}");
    }
    assert_eq!(
        app.get_with(&client, "/integrations").await.status(),
        StatusCode::OK
    );
    // The same-origin request passes.
    let res = client
        .post(app.url("/logout"))
        .header("Origin", &app.address)
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn setup_without_a_csrf_token_is_refused() {
    let app = spawn_app().await;
    let res = app
        .post_form_with(
            &browser(),
            "/setup",
            &[
                ("org_name", "Acme"),
                ("email", "ada@acme.example"),
                ("password", crate::helpers::PASSWORD),
                ("password_confirm", crate::helpers::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        !targetym_integrations::accounts::setup_completed(&app.ctx.db)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn an_oversized_form_is_refused_without_effect() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let token = app.csrf_with(&client, "/integrations").await;
    let padding = "x".repeat(200 * 1024);
    let res = app
        .post_form_with(
            &client,
            "/logout",
            &[("padding", &padding), ("csrf_token", &token)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.get_with(&client, "/integrations").await.status(),
        StatusCode::OK
    );
}
