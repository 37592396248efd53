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
