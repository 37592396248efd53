//! Admin sessions end on the server: against the real binary, two instances on one database.

use reqwest::StatusCode;

use crate::faults::{sign_in_attempt, start_binary_on, wait_ready};
use crate::helpers::{self, PASSWORD, spawn_app};

/// Signs in at the binary at `base`; returns the browser and the session cookie it was given.
async fn sign_in(base: &str, email: &str) -> (reqwest::Client, String) {
    let (client, res) = sign_in_attempt(base, email).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed in");
    let cookie = helpers::set_cookie(&res).expect("a session cookie at sign-in");
    (client, cookie.split(';').next().unwrap().to_owned())
}

/// What a copied cookie opens at `base`: 200 (signed in) or 303 (to the sign-in page).
async fn replay(base: &str, cookie: &str) -> StatusCode {
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    bare.get(format!("{base}/integrations"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_cookie_copied_before_sign_out_opens_nothing_on_any_instance() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let (mut first, a) = start_binary_on(&app, &app.database_url, &[]);
    let (mut second, b) = start_binary_on(&app, &app.database_url, &[]);
    wait_ready(&a).await;
    wait_ready(&b).await;

    let (browser, copied) = sign_in(&a, "ada@acme.example").await;
    assert_eq!(
        replay(&a, &copied).await,
        StatusCode::OK,
        "the copy works while signed in"
    );
    assert_eq!(replay(&b, &copied).await, StatusCode::OK, "on either instance");

    let page = browser.get(format!("{a}/integrations")).send().await.unwrap();
    let csrf = helpers::csrf_in(&page.text().await.unwrap()).unwrap();
    let res = browser
        .post(format!("{a}/logout"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed out");

    assert_eq!(
        replay(&a, &copied).await,
        StatusCode::SEE_OTHER,
        "ended on the instance that signed out"
    );
    assert_eq!(
        replay(&b, &copied).await,
        StatusCode::SEE_OTHER,
        "and on the other one"
    );
    first.kill().ok();
    second.kill().ok();
    first.wait().ok();
    second.wait().ok();
}

/// Ended sessions are deleted by the actor; open ones stay.
#[tokio::test]
async fn the_actor_purges_ended_sessions() {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::admin_sessions as s;
    use targetym_integrations::worker::Worker;
    let app = spawn_app().await;
    let first = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let _second = {
        let client = helpers::browser();
        app.login_with(&client, "ada@acme.example", PASSWORD).await;
        client
    };
    let csrf = app.csrf_with(&first, "/integrations").await;
    app.post_form_with(&first, "/logout", &[("csrf_token", &csrf)])
        .await;
    let count = |ended: bool| {
        let db = app.ctx.db.clone();
        async move {
            db.run(move |conn| {
                let query = s::table.into_boxed();
                let query = if ended {
                    query.filter(s::ended_at.is_not_null())
                } else {
                    query.filter(s::ended_at.is_null())
                };
                Ok(query.count().get_result::<i64>(conn)?)
            })
            .await
            .unwrap()
        }
    };
    assert_eq!((count(true).await, count(false).await), (1, 1));
    let report = Worker::new(app.ctx.clone())
        .run_due_work(targetym_integrations::db::now())
        .await
        .unwrap();
    assert_eq!(report.sessions_purged, 1);
    assert_eq!((count(true).await, count(false).await), (0, 1));
}

/// The handles (`data-session`) of the Account page's rows, and which one is this device's.
fn sessions_on(page: &str) -> (Vec<String>, Option<String>) {
    let mut handles = Vec::new();
    let mut current = None;
    for row in page.split("<tr data-session=\"").skip(1) {
        let handle = row.split('"').next().unwrap().to_owned();
        if row.split('>').next().unwrap().contains("data-current=\"true\"") {
            current = Some(handle.clone());
        }
        handles.push(handle);
    }
    (handles, current)
}

/// The Account page lists the admin's sessions; one can be signed out, or every other one,
/// and only one's own.
#[tokio::test]
async fn the_account_page_lists_and_ends_the_admins_own_sessions() {
    let app = spawn_app().await;
    let here = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let laptop = helpers::browser();
    app.login_with(&laptop, "ada@acme.example", PASSWORD).await;
    let other_org = app.signed_in_admin("Globex", "bob@globex.example").await;

    let page = app.get_with(&here, "/account").await.text().await.unwrap();
    let (handles, current) = sessions_on(&page);
    assert_eq!(handles.len(), 2, "ada's two sessions, not bob's: {page}");
    let current = current.expect("this device is marked");
    assert!(page.contains("(this device)"));
    let laptops = handles.iter().find(|h| **h != current).unwrap().clone();

    // Bob's session cannot be ended from Ada's account (nor can a made-up one).
    let bobs = sessions_on(&app.get_with(&other_org, "/account").await.text().await.unwrap()).1;
    let csrf = app.csrf_with(&here, "/account").await;
    for handle in [bobs.unwrap(), "ab".repeat(32), "not-a-session".into()] {
        let res = app
            .post_form_with(
                &here,
                &format!("/account/sessions/{handle}/end"),
                &[("csrf_token", &csrf)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{handle}");
    }
    assert_eq!(
        app.get_with(&other_org, "/integrations").await.status(),
        StatusCode::OK
    );

    // Signing the laptop out ends it there at once.
    let res = app
        .post_form_with(
            &here,
            &format!("/account/sessions/{laptops}/end"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(
        (res.status(), helpers::location(&res)),
        (StatusCode::SEE_OTHER, "/account")
    );
    assert_eq!(
        app.get_with(&laptop, "/integrations").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get_with(&here, "/integrations").await.status(),
        StatusCode::OK
    );

    // "Sign out everywhere else": two more devices go, this one stays.
    let (phone, tablet) = (helpers::browser(), helpers::browser());
    app.login_with(&phone, "ada@acme.example", PASSWORD).await;
    app.login_with(&tablet, "ada@acme.example", PASSWORD).await;
    let res = app
        .post_form_with(&here, "/account/sessions/end-others", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = app.get_with(&here, "/account").await.text().await.unwrap();
    assert!(page.contains("2 other sessions are signed out."), "{page}");
    assert_eq!(sessions_on(&page).0, vec![current]);
    for device in [&phone, &tablet] {
        assert_eq!(
            app.get_with(device, "/integrations").await.status(),
            StatusCode::SEE_OTHER
        );
    }
    assert_eq!(
        app.get_with(&other_org, "/integrations").await.status(),
        StatusCode::OK,
        "bob is untouched"
    );
    let audit = app
        .get_with(&here, "/audit?kind=account")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("ada@acme.example signed out one of their sessions"),
        "{audit}"
    );
    assert!(audit.contains("ada@acme.example signed out everywhere else (2 session(s))"));
    // By Ada, from her browser's address.
    let recorded = app.audit_events_of("account").await;
    assert!(!recorded.is_empty());
    for (actor, source, _) in &recorded {
        assert_eq!(
            (actor.as_str(), source.as_deref()),
            ("ada@acme.example", Some("127.0.0.1"))
        );
    }
    let bobs = app
        .get_with(&other_org, "/audit?kind=account")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !bobs.contains("data-kind=\"account\""),
        "Ada's actions are not in Bob's log"
    );
}

/// Changing the password needs the current one, and signs out every other session: the new
/// password opens, the old one no longer does.
#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let app = spawn_app().await;
    let here = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let elsewhere = helpers::browser();
    app.login_with(&elsewhere, "ada@acme.example", PASSWORD).await;
    let csrf = app.csrf_with(&here, "/account").await;
    let new = "a much longer passphrase now";
    let change = |current: &'static str, next: &'static str, again: &'static str| {
        let (app, here, csrf) = (&app, &here, csrf.clone());
        async move {
            let form = [
                ("csrf_token", csrf.as_str()),
                ("current_password", current),
                ("new_password", next),
                ("new_password_confirm", again),
            ];
            let res = app.post_form_with(here, "/account/password", &form).await;
            (res.status(), res.text().await.unwrap())
        }
    };

    for (current, next, again, why) in [
        ("not the password", new, new, "The current password is incorrect."),
        (
            PASSWORD,
            new,
            "something else entirely",
            "The two new passwords do not match.",
        ),
        (PASSWORD, "short", "short", "at least 12"),
    ] {
        let (status, page) = change(current, next, again).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert!(page.contains(why), "{why}: {page}");
        assert_eq!(
            app.get_with(&elsewhere, "/integrations").await.status(),
            StatusCode::OK,
            "nothing changed: {why}"
        );
    }

    let (status, _) = change(PASSWORD, new, new).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.get_with(&elsewhere, "/integrations").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.get_with(&here, "/integrations").await.status(),
        StatusCode::OK
    );
    let fresh = helpers::browser();
    assert_eq!(
        app.login_with(&fresh, "ada@acme.example", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_with(&fresh, "ada@acme.example", new).await.status(),
        StatusCode::SEE_OTHER
    );
    // In the audit log: who, what, when (the refused attempts changed nothing, so left none).
    let audit = app
        .get_with(&here, "/audit?kind=account")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(audit.matches("<tr data-kind=\"account\"").count(), 1, "{audit}");
    assert!(audit.contains("ada@acme.example changed their password; 1 other session(s) signed out"));
}
