//! Admin sessions end on the server: against the real binary, two instances on one database.

use reqwest::StatusCode;

use crate::faults::{start_binary_on, wait_ready};
use crate::helpers::{self, PASSWORD, spawn_app};

/// Signs in at the binary at `base`; returns the browser and the session cookie it was given.
async fn sign_in(base: &str, email: &str) -> (reqwest::Client, String) {
    let client = helpers::browser();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    let csrf = helpers::csrf_in(&page.text().await.unwrap()).unwrap();
    let res = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
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
