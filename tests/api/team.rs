//! The Team page: the organization's admins, invitations by one-time link, removal (never
//! oneself or the last admin; the removed admin's sessions end at once), every action in the
//! audit log; the organization's external id in the CLI, the page and the internal API.

use diesel::prelude::*;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use targetym_integrations::db::schema::admin_invitations as inv;

use crate::helpers::{self, PASSWORD, TestApp, spawn_app};

/// Ada invites `email` from the Team page; the answer's status and page.
async fn invite(app: &TestApp, ada: &Client, email: &str) -> (StatusCode, String) {
    let csrf = app.csrf_with(ada, "/team").await;
    let res = app
        .post_form_with(
            ada,
            "/team/invitations",
            &[("csrf_token", &csrf), ("email", email)],
        )
        .await;
    (res.status(), res.text().await.unwrap())
}

/// The invitation link shown once on the page.
fn link_in(page: &str) -> String {
    let start = page.find("data-invite-link").expect("an invitation link");
    let before = &page[..start];
    let value = before.rfind("value=\"").expect("the link's value") + "value=\"".len();
    before[value..value + before[value..].find('"').unwrap()].to_owned()
}

/// Opens the link in a fresh browser and sets a password; the answer.
async fn accept(app: &TestApp, link: &str, password: &str, again: &str) -> (Client, reqwest::Response) {
    let browser = helpers::browser();
    let path = link.trim_start_matches(&app.url(""));
    // The session's CSRF token from the sign-in page: a used link shows no form.
    let csrf = app.csrf_with(&browser, "/login").await;
    let res = app
        .post_form_with(
            &browser,
            path,
            &[
                ("csrf_token", &csrf),
                ("password", password),
                ("password_confirm", again),
            ],
        )
        .await;
    (browser, res)
}

async fn audit(app: &TestApp, client: &Client) -> String {
    app.get_with(client, "/audit?kind=account")
        .await
        .text()
        .await
        .unwrap()
}

async fn invitation_count(app: &TestApp) -> i64 {
    app.ctx
        .db
        .run(|conn| Ok(inv::table.count().get_result::<i64>(conn)?))
        .await
        .unwrap()
}

#[tokio::test]
async fn an_invitation_link_makes_an_admin_once() {
    let app = spawn_app().await;
    let ada = app.signed_in_admin("Acme HR", "ada@acme.example").await;

    let (status, page) = invite(&app, &ada, "Bob@Acme.example").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let link = link_in(&page);
    assert!(link.starts_with(&app.url("/invite/")), "{link}");
    let token = link.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 40, "a long random token: {token}");
    assert!(
        page.contains("href=\"mailto:bob%40acme.example?subject="),
        "a mailto: {page}"
    );
    assert!(page.contains(&token.replace('-', "%2D").replace('_', "%5F")) || page.contains(&token));
    // Stored as a hash: the token is nowhere in the database.
    let stored: Vec<(String, String)> = app
        .ctx
        .db
        .run(|conn| Ok(inv::table.select((inv::email, inv::token_hash)).load(conn)?))
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "bob@acme.example");
    assert_ne!(stored[0].1, token);
    // Pending on the Team page, without the link.
    let team = app.get_with(&ada, "/team").await.text().await.unwrap();
    assert!(team.contains("data-invitation=\"bob@acme.example\""), "{team}");
    assert!(!team.contains(&token), "the link is shown once");

    // The link names who is invited where.
    let anonymous = helpers::browser();
    let res = app.get_with(&anonymous, &format!("/invite/{token}")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("bob@acme.example") && page.contains("Acme HR"),
        "{page}"
    );

    // A bad password is refused and leaves the link usable.
    let (_, res) = accept(&app, &link, PASSWORD, "something else entirely").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (_, res) = accept(&app, &link, "short", "short").await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("at least 12"));

    // Accepted: Bob is an admin of Acme, signed in.
    let (bob, res) = accept(
        &app,
        &link,
        "bob's own long passphrase",
        "bob's own long passphrase",
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(helpers::location(&res), "/integrations");
    let page = app.get_with(&bob, "/team").await.text().await.unwrap();
    assert!(page.contains("bob@acme.example <strong>(you)</strong>"), "{page}");
    assert!(page.contains("data-admin=\"ada@acme.example\""));
    assert!(page.contains("No pending invitation."));
    assert_eq!(
        app.org_of("bob@acme.example").await,
        app.org_of("ada@acme.example").await
    );
    let res = app
        .login_with(
            &helpers::browser(),
            "bob@acme.example",
            "bob's own long passphrase",
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // Once only: the link opens nothing afterwards.
    assert_eq!(
        app.get_with(&helpers::browser(), &format!("/invite/{token}"))
            .await
            .status(),
        StatusCode::GONE
    );
    let (_, res) = accept(&app, &link, "another long passphrase", "another long passphrase").await;
    assert_eq!(res.status(), StatusCode::GONE);

    let log = audit(&app, &ada).await;
    assert!(
        log.contains("ada@acme.example invited bob@acme.example to become an admin (link valid 72 h)"),
        "{log}"
    );
    assert!(
        log.contains("bob@acme.example accepted the invitation from ada@acme.example and joined the admins")
    );
    assert_eq!(log.matches("<tr data-kind=\"account\"").count(), 2, "{log}");
}

#[tokio::test]
async fn invitations_refuse_what_they_must_and_change_nothing() {
    let app = spawn_app().await;
    let ada = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let other = app.signed_in_admin("Beta Ltd", "bea@beta.example").await;

    // A malformed email, and an email that has an account (here: in another organization).
    let (status, page) = invite(&app, &ada, "not an email").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let (status, page) = invite(&app, &ada, "bea@beta.example").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("This email already has an account."));
    assert_eq!(invitation_count(&app).await, 0);

    // Links that are not, or no longer, invitations.
    for token in ["x", "not-a-token-at-all-but-long-enough-to-look", "%00"] {
        let status = app
            .get_with(&helpers::browser(), &format!("/invite/{token}"))
            .await
            .status();
        assert!(
            status == StatusCode::GONE || status == StatusCode::BAD_REQUEST,
            "{token}: {status}"
        );
    }
    let (_, page) = invite(&app, &ada, "cy@acme.example").await;
    let revoked = link_in(&page);
    let id: String = app
        .ctx
        .db
        .run(|conn| Ok(inv::table.select(inv::id).first(conn)?))
        .await
        .unwrap();
    // Another organization's admin cannot revoke it.
    let csrf = app.csrf_with(&other, "/team").await;
    let res = app
        .post_form_with(
            &other,
            &format!("/team/invitations/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let csrf = app.csrf_with(&ada, "/team").await;
    let res = app
        .post_form_with(
            &ada,
            &format!("/team/invitations/{id}/revoke"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, res) = accept(&app, &revoked, PASSWORD, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::GONE, "a revoked link");

    // A new invitation of the same email replaces the older link.
    let (_, page) = invite(&app, &ada, "dee@acme.example").await;
    let older = link_in(&page);
    let (_, page) = invite(&app, &ada, "dee@acme.example").await;
    let newer = link_in(&page);
    let (_, res) = accept(&app, &older, PASSWORD, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::GONE, "the replaced link");

    // An expired link (older than 72 h).
    app.ctx
        .db
        .run(|conn| {
            diesel::update(inv::table)
                .set(inv::expires_at.eq(chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let (_, res) = accept(&app, &newer, PASSWORD, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::GONE, "an expired link");
    for email in ["cy@acme.example", "dee@acme.example"] {
        let res = app.login_with(&helpers::browser(), email, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{email} is no admin");
    }
    let log = audit(&app, &ada).await;
    assert!(
        log.contains("ada@acme.example revoked the invitation of cy@acme.example"),
        "{log}"
    );
    assert!(
        !audit(&app, &other).await.contains("acme.example"),
        "Acme's entries stay Acme's"
    );
}

#[tokio::test]
async fn a_removed_admin_is_signed_out_everywhere_at_once() {
    let app = spawn_app().await;
    let ada = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let bob = app.signed_in_admin("Acme HR", "bob@acme.example").await;
    let bob_elsewhere = helpers::browser();
    app.login_with(&bob_elsewhere, "bob@acme.example", PASSWORD).await;
    let intruder = app.signed_in_admin("Beta Ltd", "bea@beta.example").await;
    let (ada_id, bob_id) = (
        app.user_id_of("ada@acme.example").await,
        app.user_id_of("bob@acme.example").await,
    );

    let remove = |client: &Client, id: String| {
        let (app, client) = (&app, client.clone());
        async move {
            let csrf = app.csrf_with(&client, "/team").await;
            app.post_form_with(
                &client,
                &format!("/team/admins/{id}/remove"),
                &[("csrf_token", &csrf)],
            )
            .await
        }
    };
    // Not from another organization, and not oneself.
    assert_eq!(
        remove(&intruder, bob_id.to_text()).await.status(),
        StatusCode::NOT_FOUND
    );
    let res = remove(&ada, ada_id.to_text()).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("You cannot remove yourself"));
    assert_eq!(
        remove(&ada, "not-an-id".into()).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get_with(&bob, "/integrations").await.status(), StatusCode::OK);

    let res = remove(&ada, bob_id.to_text()).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    for (client, which) in [(&bob, "this browser"), (&bob_elsewhere, "the other one")] {
        let res = app.get_with(client, "/integrations").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{which}");
        assert_eq!(helpers::location(&res), "/login");
    }
    let res = app
        .login_with(&helpers::browser(), "bob@acme.example", PASSWORD)
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "a removed admin cannot sign in"
    );
    let page = app.get_with(&ada, "/team").await.text().await.unwrap();
    assert!(!page.contains("data-admin=\"bob@acme.example\""));
    assert!(
        !page.contains("/remove"),
        "the last admin has no remove button: {page}"
    );
    let log = audit(&app, &ada).await;
    assert!(
        log.contains("ada@acme.example removed bob@acme.example from the admins; 2 session(s) signed out"),
        "{log}"
    );

    // Invited back, Bob is an admin again with a new password.
    let (_, page) = invite(&app, &ada, "bob@acme.example").await;
    let (back, res) = accept(
        &app,
        &link_in(&page),
        "bob's second passphrase",
        "bob's second passphrase",
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_with(&back, "/integrations").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.user_id_of("bob@acme.example").await,
        bob_id,
        "the same account"
    );
}

/// Two admins removing each other at the same moment: one of them stays.
#[tokio::test]
async fn the_last_admin_cannot_be_removed_even_by_a_race() {
    let app = spawn_app().await;
    let ada = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let bob = app.signed_in_admin("Acme HR", "bob@acme.example").await;
    let (ada_id, bob_id) = (
        app.user_id_of("ada@acme.example").await,
        app.user_id_of("bob@acme.example").await,
    );
    let org = app.org_of("ada@acme.example").await;
    let ada_csrf = app.csrf_with(&ada, "/team").await;
    let bob_csrf = app.csrf_with(&bob, "/team").await;
    let (to_bob, to_ada) = (
        format!("/team/admins/{bob_id}/remove"),
        format!("/team/admins/{ada_id}/remove"),
    );
    let (ada_form, bob_form) = (
        [("csrf_token", ada_csrf.as_str())],
        [("csrf_token", bob_csrf.as_str())],
    );
    let (a, b) = tokio::join!(
        app.post_form_with(&ada, &to_bob, &ada_form),
        app.post_form_with(&bob, &to_ada, &bob_form),
    );
    let removed = [&a, &b]
        .iter()
        .filter(|r| r.status() == StatusCode::SEE_OTHER && helpers::location(r) == "/team")
        .count();
    assert_eq!(removed, 1, "{} {}", a.status(), b.status());
    let left: i64 = app
        .ctx
        .db
        .run(move |conn| {
            use targetym_integrations::db::schema::users;
            Ok(users::table
                .filter(users::org_id.eq(org))
                .filter(users::removed_at.is_null())
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn the_external_id_names_the_organization_in_the_api() {
    let app = spawn_app().await;
    let ada = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    app.signed_in_admin("Beta Ltd", "bea@beta.example").await;
    let out = crate::cli::cli(
        &app,
        &["org", "set-external-id", "--org", "Acme HR", "acme-42"],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (args, why) in [
        (
            vec!["org", "set-external-id", "--org", "Beta Ltd", "acme-42"],
            "another organization's",
        ),
        (
            vec!["org", "set-external-id", "--org", "Beta Ltd", "has space"],
            "not an id",
        ),
        (
            vec!["org", "set-external-id", "--org", "Nobody", "x-1"],
            "no such organization",
        ),
    ] {
        let out = crate::cli::cli(&app, &args, "");
        assert!(!out.status.success(), "{why}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).is_empty(),
            "{why}: a message"
        );
    }
    let page = app.get_with(&ada, "/team").await.text().await.unwrap();
    assert!(page.contains("<code data-external-id>acme-42</code>"), "{page}");

    let token = |email: &'static str| {
        let app = &app;
        async move {
            let org = app.org_of(email).await;
            app.service_token(org, "hr-core").await
        }
    };
    let (acme, beta) = (token("ada@acme.example").await, token("bea@beta.example").await);
    let get = |token: String, path: &'static str| {
        let url = app.url(path);
        async move {
            let res = Client::new().get(url).bearer_auth(token).send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = get(acme.clone(), "/api/v1/organizations/acme-42/integrations").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["integrations"].is_array());
    let (status, body) = get(acme.clone(), "/api/v1/organization").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["external_id"], "acme-42");
    assert_eq!(body["name"], "Acme HR");
    for (token, path) in [
        (beta.clone(), "/api/v1/organizations/acme-42/integrations"),
        (acme.clone(), "/api/v1/organizations/unknown-1/integrations"),
    ] {
        let (status, body) = get(token, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "not_found");
    }
    let out = crate::cli::cli(
        &app,
        &["org", "set-external-id", "--org", "Acme HR", "--clear"],
        "",
    );
    assert!(out.status.success());
    let (status, _) = get(acme, "/api/v1/organizations/acme-42/integrations").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "cleared");
    let log = audit(&app, &ada).await;
    assert!(
        log.contains("The operator set the organization&#39;s external id to acme-42"),
        "{log}"
    );
    assert!(log.contains("The operator cleared the organization&#39;s external id"));
}
