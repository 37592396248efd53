//! A provider that hangs, trickles its body, answers garbage, answers 200 with an HTML page, or
//! cuts its body short: every call fails typed within its time budget, the provider's breaker
//! opens (no more calls reach it), and the pages of the same instance do not slow down.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::Value;

use super::{sign_in, start_binary_on, wait_ready};
use crate::helpers::{self, csrf_in};
use crate::oauth_helpers::seed_with_tokens;

/// The ways it misbehaves; each is a provider of its own (`bad-<way>`), under `/<way>/`.
const WAYS: [&str; 5] = ["hang", "trickle", "garbage", "html", "cut"];

/// A raw TCP server that answers every request by the way its path names, and counts the
/// connections each way got.
struct BadProvider {
    base: String,
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl BadProvider {
    fn start() -> BadProvider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let calls: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let counted = calls.clone();
        std::thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                let counted = counted.clone();
                std::thread::spawn(move || misbehave(socket, &counted));
            }
        });
        BadProvider { base, calls }
    }

    fn calls(&self, way: &str) -> usize {
        self.calls.lock().unwrap().get(way).copied().unwrap_or(0)
    }

    /// Five providers, one per way, for a PROVIDERS_FILE.
    fn providers_file(&self) -> String {
        WAYS.iter()
            .map(|way| {
                let base = format!("{}/{way}", self.base);
                format!(
                    r#"
[[provider]]
slug = "bad-{way}"
name = "Bad {way}"
kind = "oauth2"
authorize_url = "{base}/authorize"
token_url = "{base}/token"
userinfo_url = "{base}/userinfo"
api_base_url = "{base}/api"
client_id = "client"
client_secret = "secret"
scopes = ["read"]
category = "Testing"
"#
                )
            })
            .collect()
    }
}

fn misbehave(mut socket: TcpStream, calls: &Mutex<HashMap<String, usize>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let way = text
        .split_whitespace()
        .nth(1)
        .and_then(|path| path.split('/').nth(1))
        .unwrap_or_default()
        .to_owned();
    *calls.lock().unwrap().entry(way.clone()).or_default() += 1;
    let json_head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n";
    let _ = match way.as_str() {
        // Accepts, reads, never answers (until the test process ends).
        "hang" => {
            std::thread::sleep(Duration::from_secs(600));
            Ok(())
        }
        // A byte every 200 ms: 200 s for the promised body.
        "trickle" => socket.write_all(json_head.as_bytes()).and_then(|()| {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                socket.write_all(b" ")?;
            }
        }),
        "garbage" => socket.write_all(b"\x00\x17\xffSSH-2.0-not-http\r\n\r\n\x01\x02"),
        "html" => {
            let page = "<!doctype html><html><body><h1>Sign in to the Wi-Fi</h1></body></html>";
            socket.write_all(
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n{page}",
                    page.len()
                )
                .as_bytes(),
            )
        }
        // Promises 1000 bytes, sends 8, closes.
        "cut" => socket.write_all(format!("{json_head}{{\"ok\":tr").as_bytes()),
        _ => socket.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
    };
}

/// Latencies of one page, fetched back to back until stopped.
struct Prober {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<Vec<Duration>>,
}

impl Prober {
    fn start(client: Client, url: String) -> Prober {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::SeqCst) {
                let started = Instant::now();
                let res = client.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK, "{url}");
                res.bytes().await.unwrap();
                latencies.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            latencies
        });
        Prober { stop, task }
    }

    async fn finish(self) -> Vec<Duration> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

fn percentile(latencies: &[Duration], p: f64) -> Duration {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One internal API call through the proxy: its status, error code, Retry-After and time.
async fn proxy_call(base: &str, token: &str, id: &str) -> (StatusCode, String, Option<String>, Duration) {
    let started = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("{base}/api/v1/integrations/{id}/proxy/people"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let code = body["error"].as_str().unwrap_or_default().to_owned();
    (status, code, retry_after, started.elapsed())
}

#[tokio::test]
async fn a_misbehaving_provider_fails_typed_opens_its_breaker_and_slows_no_page() {
    const TIMEOUT_SECS: u64 = 1;
    const THRESHOLD: usize = 3;
    let bad = BadProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.toml");
    std::fs::write(&file, bad.providers_file()).unwrap();
    let t = helpers::app()
        .var("PROVIDERS_FILE", file.to_str().unwrap())
        .spawn()
        .await;
    t.signed_in_admin("Acme HR", "ada@acme.example").await;
    let mut ids = Vec::new();
    for way in WAYS {
        let slug: &'static str = format!("bad-{way}").leak();
        let tokens = ("access-token".to_owned(), "refresh-token".to_owned());
        ids.push(seed_with_tokens(&t, slug, "acct", tokens).await);
    }
    let org = t.org_of("ada@acme.example").await;
    let token = t.service_token(org, "faults").await;
    let vars = [
        ("PROVIDERS_FILE", file.to_str().unwrap()),
        ("PROVIDER_TIMEOUT_SECS", "1"),
        ("BREAKER_THRESHOLD", "3"),
        ("BREAKER_COOLDOWN_SECS", "600"),
    ];
    let (mut child, base) = start_binary_on(&t, &t.database_url, &vars);
    wait_ready(&base).await;
    let admin = sign_in(&base, "ada@acme.example").await;

    // A caller that asks for another type than JSON gets the page as it came.
    let html = reqwest::Client::new()
        .get(format!("{base}/api/v1/integrations/{}/proxy/portal", ids[3]))
        .bearer_auth(&token)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::OK);
    assert!(html.text().await.unwrap().contains("Wi-Fi"));

    // The page and the health check, measured before and during the fault.
    let page = Prober::start(admin.clone(), format!("{base}/integrations"));
    let health = Prober::start(reqwest::Client::new(), format!("{base}/healthz"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (page_before, health_before) = (page.finish().await, health.finish().await);

    let page = Prober::start(admin.clone(), format!("{base}/integrations"));
    let health = Prober::start(reqwest::Client::new(), format!("{base}/healthz"));
    // Four callers per provider, each calling until it is refused without a call.
    let budget = Duration::from_secs(2 * TIMEOUT_SECS);
    let callers: Vec<_> = WAYS
        .iter()
        .zip(&ids)
        .flat_map(|(way, id)| {
            (0..4).map(|_| {
                let (base, token, id, way) = (base.clone(), token.clone(), id.clone(), *way);
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    loop {
                        let answer = proxy_call(&base, &token, &id).await;
                        let paused = answer.2.is_some();
                        answers.push(answer);
                        if paused || answers.len() > 20 {
                            return (way, answers);
                        }
                    }
                })
            })
        })
        .collect();
    let mut answers: HashMap<&str, Vec<_>> = HashMap::new();
    for caller in callers {
        let (way, got) = caller.await.unwrap();
        answers.entry(way).or_default().extend(got);
    }
    // The breaker is open: a test from the page answers at once, without calling.
    let before_test: Vec<usize> = WAYS.iter().map(|way| bad.calls(way)).collect();
    let detail = format!("{base}/integrations/{}", ids[0]);
    let csrf = csrf_in(&admin.get(&detail).send().await.unwrap().text().await.unwrap()).unwrap();
    let started = Instant::now();
    let tested = admin
        .post(format!("{detail}/test"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    let test_took = started.elapsed();
    let test_page = tested.text().await.unwrap();
    for (way, id) in WAYS.iter().zip(&ids) {
        let (status, code, retry_after, _) = proxy_call(&base, &token, id).await;
        assert_eq!(
            (status, code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable"),
            "{way}: paused"
        );
        assert!(retry_after.is_some(), "{way}: says when to come back");
    }
    let after_test: Vec<usize> = WAYS.iter().map(|way| bad.calls(way)).collect();
    let (page_during, health_during) = (page.finish().await, health.finish().await);
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    for way in WAYS {
        let got = &answers[way];
        for (status, code, _, took) in got {
            assert_eq!(
                (*status, code.as_str()),
                (StatusCode::SERVICE_UNAVAILABLE, "provider_unavailable"),
                "{way}: a typed failure"
            );
            assert!(
                *took < budget + Duration::from_millis(1500),
                "{way}: answered in {took:?}, over its budget of {budget:?}"
            );
        }
        assert!(
            got.iter().any(|answer| answer.2.is_none()),
            "{way}: some calls reached the provider"
        );
        assert!(
            metrics.contains(&format!(
                "provider_circuit_breaker_state{{provider=\"bad-{way}\"}} 1"
            )),
            "{way}: the breaker gauge says open"
        );
        let calls = bad.calls(way);
        assert!(
            calls < 4 * (THRESHOLD + 2),
            "{way}: {calls} calls reached the provider; the breaker stops them after {THRESHOLD} failures"
        );
    }
    assert_eq!(
        before_test, after_test,
        "no call reaches a provider while its breaker is open"
    );
    assert!(
        test_page.contains("paused") && test_took < Duration::from_secs(TIMEOUT_SECS),
        "the page's test answers at once while the breaker is open ({test_took:?}): {test_page}"
    );

    let report = |name: &str, before: &[Duration], during: &[Duration]| {
        let (p99_before, p99_during) = (percentile(before, 0.99), percentile(during, 0.99));
        println!(
            "{name}: p50 {:?} -> {:?}, p99 {p99_before:?} -> {p99_during:?} ({} and {} requests)",
            percentile(before, 0.5),
            percentile(during, 0.5),
            before.len(),
            during.len()
        );
        p99_during
    };
    let page_p99 = report("GET /integrations", &page_before, &page_during);
    let health_p99 = report("GET /healthz", &health_before, &health_during);
    // A page that waited on the provider would take its timeout (1 s) or more, every time; a
    // loaded 2-core machine stalls everything now and then by half a second (/healthz too).
    for (name, p99) in [("the page", page_p99), ("/healthz", health_p99)] {
        assert!(
            p99 < Duration::from_secs(TIMEOUT_SECS),
            "{name}'s p99 was {p99:?} while providers misbehaved"
        );
    }
}
