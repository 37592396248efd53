//! OpenTelemetry: with OTEL_EXPORTER_OTLP_ENDPOINT set, a request's SERVER span and the
//! CLIENT spans of the provider calls it makes reach an OTLP/HTTP receiver that the test runs,
//! as one trace continued from the caller's `traceparent`, which goes on to the provider.
//! Spans name routes, hosts and statuses only: no token, code, state or query string.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use mock_provider::MockConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::faults::{start_binary_on, wait_ready};
use crate::helpers::captured_logs;
use crate::internal_api::service_token;
use crate::oauth_helpers::{
    OAuthApp, first_integration, oauth_app_with, oauth_app_with_mock, providers_file,
};
use crate::operations::logs::stop;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const COLLECTOR_KEY: &str = "collector-secret-8841";
const CODE: &str = "code-value-5531";
const STATE: &str = "state-value-7720";

/// An OTLP/HTTP receiver on 127.0.0.1: keeps every body posted to /v1/traces, and the
/// headers that came with it.
struct Receiver {
    base: String,
    posts: Posts,
}

/// Each body posted, with the request's headers.
type Posts = Arc<Mutex<Vec<(Value, Vec<(String, String)>)>>>;

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let posts: Posts = Arc::default();
        let kept = web::Data::new(posts.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(kept.clone())
                .route("/v1/traces", web::post().to(collect))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Receiver { base, posts }
    }

    fn bodies(&self) -> Vec<Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .map(|(b, _)| b.clone())
            .collect()
    }

    fn spans(&self) -> Vec<Value> {
        spans_of(&self.bodies())
    }

    /// Waits (up to 15 s) for a span that `wanted` picks.
    async fn span(&self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(span) = self.spans().into_iter().find(|s| wanted(s)) {
                return span;
            }
            assert!(Instant::now() < deadline, "no {what} among {:#?}", self.spans());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn collect(req: HttpRequest, body: web::Bytes, posts: web::Data<Posts>) -> HttpResponse {
    let Ok(parsed) = serde_json::from_slice::<Value>(&body) else {
        return HttpResponse::BadRequest().finish();
    };
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    posts.lock().unwrap().push((parsed, headers));
    HttpResponse::Ok().json(json!({}))
}

fn spans_of(bodies: &[Value]) -> Vec<Value> {
    bodies
        .iter()
        .flat_map(|b| b["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A span's attribute, as the JSON mapping carries it (`intValue`s are strings).
fn attribute(span: &Value, key: &str) -> Option<String> {
    let value = &span["attributes"].as_array()?.iter().find(|a| a["key"] == key)?["value"];
    value["stringValue"]
        .as_str()
        .or(value["intValue"].as_str())
        .map(str::to_owned)
}

fn is_proxy_request(span: &Value) -> bool {
    span["kind"] == 2 && attribute(span, "http.route").is_some_and(|r| r.contains("/proxy/"))
}

/// The mock's connected integration and a service token, with traces exported to `receiver`.
async fn traced_app(receiver: &Receiver) -> (OAuthApp, String, String) {
    let t = oauth_app_with(|b| {
        b.var("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.base)
            .var("OTEL_SERVICE_NAME", "hub-under-test")
            .var(
                "OTEL_EXPORTER_OTLP_HEADERS",
                &format!("x-collector-key={COLLECTOR_KEY}"),
            )
    })
    .await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let token = service_token(&t, &t.admin, "svc").await;
    (t, id, token)
}

/// A proxied call to the mock's /userinfo, sent with `traceparent`; its query carries a code
/// and a state that no span may repeat.
async fn proxied_call(t: &OAuthApp, id: &str, token: &str, traceparent: &str) {
    let res = reqwest::Client::new()
        .get(t.app.url(&format!(
            "/api/v1/integrations/{id}/proxy/userinfo?fields=email&code={CODE}&state={STATE}"
        )))
        .bearer_auth(token)
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_request_and_its_provider_calls_are_one_trace_continued_from_the_callers_traceparent() {
    let receiver = Receiver::start();
    let (t, id, token) = traced_app(&receiver).await;
    proxied_call(&t, &id, &token, &format!("00-{TRACE_ID}-{CALLER_SPAN}-01")).await;

    let request = receiver
        .span("the proxy request's span", |s| {
            is_proxy_request(s) && s["traceId"] == TRACE_ID
        })
        .await;
    assert_eq!(request["parentSpanId"], CALLER_SPAN, "{request:#}");
    assert_eq!(attribute(&request, "http.request.method").as_deref(), Some("GET"));
    assert_eq!(
        attribute(&request, "http.response.status_code").as_deref(),
        Some("200")
    );
    let route = attribute(&request, "http.route").unwrap();
    assert!(
        route.contains('{') && !route.contains(&id),
        "a pattern, not the path: {route}"
    );
    let request_span = request["spanId"].as_str().unwrap().to_owned();

    let call = receiver
        .span("the provider call's span", |s| {
            s["kind"] == 3 && s["parentSpanId"] == request_span.as_str()
        })
        .await;
    assert_eq!(call["traceId"], TRACE_ID, "{call:#}");
    assert_eq!(
        attribute(&call, "targetym.provider").as_deref(),
        Some("mock-oauth")
    );
    assert_eq!(attribute(&call, "server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        attribute(&call, "http.response.status_code").as_deref(),
        Some("200")
    );
    let sent = format!("00-{TRACE_ID}-{}-01", call["spanId"].as_str().unwrap());
    assert!(
        t.mock
            .traceparents()
            .contains(&("/userinfo".to_owned(), sent.clone())),
        "the provider got {sent}: {:?}",
        t.mock.traceparents()
    );

    // The connect's callback (its query held a code and a state) and its token exchange.
    let callback = receiver
        .span("the callback's span", |s| {
            attribute(s, "http.route").as_deref() == Some("/integrations/callback")
        })
        .await;
    receiver
        .span("the code exchange's span", |s| {
            s["kind"] == 3 && s["parentSpanId"] == callback["spanId"] && s["traceId"] == callback["traceId"]
        })
        .await;

    let posts = receiver.posts.lock().unwrap().clone();
    let (first, headers) = &posts[0];
    assert!(headers.contains(&("x-collector-key".into(), COLLECTOR_KEY.into())));
    assert!(headers.contains(&("content-type".into(), "application/json".into())));
    let service = &first["resourceSpans"][0]["resource"]["attributes"];
    assert!(
        service
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == "hub-under-test"),
        "{service}"
    );
    let exported = serde_json::to_string(&receiver.bodies()).unwrap();
    let mut secrets = vec![
        token.clone(),
        CODE.into(),
        STATE.into(),
        "code=".into(),
        "state=".into(),
    ];
    secrets.extend(t.mock.issued_access_tokens());
    secrets.extend(t.mock.issued_refresh_tokens());
    for secret in &secrets {
        assert!(
            !exported.contains(secret.as_str()),
            "{secret} exported: {exported}"
        );
    }
    for span in receiver.spans() {
        for a in span["attributes"].as_array().unwrap() {
            let value = a["value"]["stringValue"].as_str().unwrap_or_default();
            assert!(!value.contains('?') && !value.contains("://"), "{a} in {span:#}");
        }
    }
    assert!(
        !captured_logs().contains(COLLECTOR_KEY),
        "the collector's key was logged"
    );
}

#[tokio::test]
async fn a_malformed_traceparent_starts_a_new_trace() {
    let receiver = Receiver::start();
    let (t, id, token) = traced_app(&receiver).await;
    // Upper-case hex is not W3C trace context: a lax reader would continue this trace.
    let malformed = format!("00-{}-{}-01", TRACE_ID.to_uppercase(), CALLER_SPAN.to_uppercase());
    proxied_call(&t, &id, &token, &malformed).await;

    let request = receiver.span("the proxy request's span", is_proxy_request).await;
    let trace = request["traceId"].as_str().unwrap().to_owned();
    assert_ne!(trace, TRACE_ID);
    assert_eq!(trace.len(), 32);
    assert!(request.get("parentSpanId").is_none(), "a root: {request:#}");
    let call = receiver
        .span("the provider call's span", |s| {
            s["kind"] == 3 && s["parentSpanId"] == request["spanId"]
        })
        .await;
    assert_eq!(call["traceId"], trace.as_str());
    let sent = format!("00-{trace}-{}-01", call["spanId"].as_str().unwrap());
    let got = t.mock.traceparents();
    assert!(got.contains(&("/userinfo".to_owned(), sent)), "{got:?}");
    assert!(
        !got.iter()
            .any(|(_, value)| value.to_lowercase().contains(TRACE_ID)),
        "the malformed trace went on: {got:?}"
    );
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_or_propagated() {
    let t = oauth_app_with(|b| {
        b.var("OTEL_SERVICE_NAME", "hub-under-test")
            .var("OTEL_EXPORTER_OTLP_HEADERS", "x-collector-key=k")
    })
    .await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let token = service_token(&t, &t.admin, "svc").await;
    proxied_call(&t, &id, &token, &format!("00-{TRACE_ID}-{CALLER_SPAN}-01")).await;
    assert!(t.app.ctx.tracer.is_none());
    assert_eq!(t.mock.traceparents(), Vec::<(String, String)>::new());
}

#[tokio::test]
async fn the_workers_calls_start_their_own_traces_and_a_graceful_stop_flushes_the_queue() {
    let receiver = Receiver::start();
    // Tokens that live 4 s: the actor refreshes the connect's token about 2 s after it.
    let short = MockConfig {
        access_token_ttl_secs: 4,
        ..MockConfig::default()
    };
    let t = oauth_app_with_mock(short, |b| b).await;
    t.connect("mock-oauth").await;
    let refreshes = t.mock.counters().refreshes;
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, providers_file(&t.mock)).unwrap();
    // A schedule far longer than the test: only the flush at shutdown can deliver the spans.
    let (child, base) = start_binary_on(
        &t.app,
        &t.app.database_url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.base.as_str()),
            ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
            ("PROVIDERS_FILE", providers.to_str().unwrap()),
            ("WORKER_ENABLED", "true"),
            ("WORKER_TICK_SECS", "1"),
        ],
    );
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while t.mock.counters().refreshes == refreshes {
        assert!(Instant::now() < deadline, "the worker did not refresh");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let res = reqwest::Client::new()
        .get(format!("{base}/healthz"))
        .header("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(receiver.bodies().is_empty(), "exported before the schedule");
    stop(child).await;

    let spans = receiver.spans();
    let health = spans
        .iter()
        .find(|s| s["traceId"] == TRACE_ID)
        .unwrap_or_else(|| panic!("the request's span was not flushed: {spans:#?}"));
    assert_eq!(attribute(health, "http.route").as_deref(), Some("/healthz"));
    let (_, sent) = t
        .mock
        .traceparents()
        .into_iter()
        .find(|(path, _)| path == "/token")
        .expect("the refresh carried a traceparent");
    let refresh = spans
        .iter()
        .find(|s| sent.contains(s["spanId"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no span for the refresh {sent}: {spans:#?}"));
    assert_eq!(refresh["kind"], 3);
    assert!(refresh.get("parentSpanId").is_none(), "a root: {refresh:#}");
    assert!(sent.contains(refresh["traceId"].as_str().unwrap()));
    assert_ne!(refresh["traceId"], TRACE_ID);
}

#[tokio::test]
async fn a_collector_that_is_down_or_hangs_neither_slows_requests_nor_floods_the_log() {
    // Refuses every connection: posts fail at once, every 10 ms while spans come.
    let refused = format!("http://127.0.0.1:{}", crate::operations::free_port());
    // Accepts connections and never answers: each post waits for its 10 s timeout.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_url = format!("http://{}", hanging.local_addr().unwrap());
    for endpoint in [&refused, &hanging_url] {
        let app = crate::helpers::app()
            .var("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .var("OTEL_BSP_SCHEDULE_DELAY", "10")
            .spawn()
            .await;
        let started = Instant::now();
        for _ in 0..30 {
            let res = app.get("/healthz").await;
            assert_eq!(res.status(), StatusCode::OK);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // 30 requests and pauses take about 0.6 s; waiting on a post would take 10 s.
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{endpoint}: {:?}",
            started.elapsed()
        );
    }
    let reported = captured_logs()
        .lines()
        .filter(|l| l.contains("trace export lost spans") && l.contains(refused.as_str()))
        .count();
    assert_eq!(reported, 1, "one line a minute for many failed posts");
}
