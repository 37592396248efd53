use reqwest::StatusCode;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = spawn_app().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "ready");
    app.get("/setup").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("http_requests_total{method=\"GET\",route=\"/setup\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/readyz\""));
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    for path in ["/setup", "/login", "/no-such-page", "/static/app.css", "/healthz"] {
        let res = app.get(path).await;
        let headers = res.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert!(
            !headers.contains_key("strict-transport-security"),
            "no HSTS on plain http"
        );
        assert_eq!(headers["x-request-id"].len(), 32, "{path}");
    }
}

#[tokio::test]
async fn pages_have_no_inline_script_or_style() {
    let app = spawn_app().await;
    for path in ["/setup"] {
        let html = app.get(path).await.text().await.unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("style=") && !html.contains("<style"),
            "{path}"
        );
        assert!(html.contains("<script src=\"/static/htmx-"), "{path}");
    }
    app.setup("Acme HR", "ada@acme.example").await;
    let html = app.get("/integrations").await.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style=") && !html.contains("<style"));
}

#[tokio::test]
async fn static_assets_are_fingerprinted_and_cached() {
    let app = spawn_app().await;
    let html = app.get("/setup").await.text().await.unwrap();
    let start = html.find("/static/app.css?v=").unwrap();
    let url = &html[start..start + html[start..].find('"').unwrap()];
    let res = app.get(url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    let res = app
        .client
        .get(app.url("/static/app.css"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        app.get("/static/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/static/nope.js").await.status(), StatusCode::NOT_FOUND);
}
