//! Hostile input and protocol corners of the web layer: panics, out-of-range numbers and
//! dates, HEAD, caching, the session cookie on https, /metrics and sign-in throttling.

use reqwest::StatusCode;

use crate::helpers::{app, captured_logs};

async fn panics() -> actix_web::HttpResponse {
    panic!("a handler bug for the test");
}

#[tokio::test]
async fn a_panicking_handler_answers_a_logged_500_page() {
    let app = app()
        .extra_routes(|cfg| {
            cfg.route("/test-panic", actix_web::web::get().to(panics))
                .route("/api/test-panic", actix_web::web::get().to(panics));
        })
        .spawn()
        .await;
    let res = app.get("/test-panic").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(res.headers().contains_key("content-security-policy"));
    let page = res.text().await.unwrap();
    assert!(page.contains("An unexpected error occurred"), "{page}");
    let logs = captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains(&request_id) && l.contains("a handler bug for the test")),
        "the panic is logged with the request id"
    );

    let res = app.get("/api/test-panic").await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "internal");

    let fragment = app.htmx_get(&app.client, "/test-panic").await;
    assert!(fragment.starts_with("<p class=\"alert error\""), "{fragment}");

    // The worker survived: the next request is served as usual.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn out_of_range_dates_and_page_numbers_are_a_400_with_a_sentence() {
    let app = crate::helpers::spawn_app().await;
    app.setup("Acme HR", "ada@acme.example").await;
    let logs = format!("/integrations/{}/logs", uuid::Uuid::new_v4());
    let refused = [
        ("/audit?to=%2B262142-12-31", "between 1970-01-01 and 9999-12-31"),
        ("/audit?from=-262143-01-01", "between 1970-01-01 and 9999-12-31"),
        ("/audit?to=2026-02-30", "between 1970-01-01 and 9999-12-31"),
        (
            "/audit.csv?to=%2B262142-12-31",
            "between 1970-01-01 and 9999-12-31",
        ),
        (
            "/audit?page=9223372036854775807",
            "page number must be from 1 to 100000",
        ),
        ("/audit?page=0", "page number must be from 1 to 100000"),
        ("/audit?page=-3", "page number must be from 1 to 100000"),
        ("/audit?page=99999999999999999999", "does not understand"),
        ("/audit?page=two", "does not understand"),
    ];
    for (path, sentence) in refused {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path}");
        let page = res.text().await.unwrap();
        assert!(page.contains(sentence), "{path}: {page}");
    }
    // An integration's activity is an htmx partial (without htmx it redirects to the page).
    let htmx_only = [
        (
            format!("{logs}?page=9223372036854775807"),
            "page number must be from 1",
        ),
        (format!("{logs}?to=%2B262142-12-31"), "between 1970-01-01"),
    ];
    let refused = refused.iter().map(|(p, s)| (p.to_string(), *s));
    for (path, sentence) in refused.chain(htmx_only) {
        let res = app
            .client
            .get(app.url(&path))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{path} (htmx)");
        let fragment = res.text().await.unwrap();
        assert!(
            fragment.starts_with("<p class=\"alert error\"") && fragment.contains(sentence),
            "{path}: {fragment}"
        );
    }
    for path in [
        "/audit?from=1970-01-01&to=9999-12-31&page=100000",
        "/audit.csv?from=2026-01-01&to=9999-12-31",
    ] {
        assert_eq!(app.get(path).await.status(), StatusCode::OK, "{path}");
    }
}
