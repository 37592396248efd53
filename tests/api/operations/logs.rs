//! The production log of the real binary: JSON lines only on stdout, the first naming the
//! version and commit, and a database outage told in a few lines, not one per tick.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::faults::{Proxy, wait_ready};
use crate::helpers::PgSchema;

const BINARY: &str = env!("CARGO_BIN_EXE_targetym-integrations");

/// The binary serving `database_url` in production (worker on, a round a second), and the
/// lines of its stdout as they come.
fn start_production(database_url: &str, dir: &std::path::Path) -> (Child, String, Arc<Mutex<Vec<String>>>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BINARY)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_ENV", "production")
        .env("PUBLIC_URL", "https://hub.acme.example")
        .env("INTEGRATION_ENCRYPTION_KEY", "ab".repeat(32))
        .env("SESSION_KEY", "cd".repeat(64))
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", dir)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("WORKER_TICK_SECS", "1")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let (stdout, read) = (child.stdout.take().unwrap(), lines.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            read.lock().unwrap().push(line);
        }
    });
    (child, format!("http://127.0.0.1:{port}"), lines)
}

/// SIGTERM, a graceful exit, and what the binary wrote.
pub(crate) async fn stop(child: Child) -> std::process::Output {
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "graceful exit, got {:?}", out.status);
    out
}

/// Every line parsed: each must be a JSON object.
fn parsed(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| panic!("not a JSON line on stdout: {l}"))
        })
        .collect()
}

#[tokio::test]
async fn production_serve_writes_only_json_lines_on_stdout_the_first_naming_version_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (database_url, _schema) = crate::helpers::fresh_database(&dir);
    let (child, base, lines) = start_production(&database_url, dir.path());
    wait_ready(&base).await;
    // A page, an unknown path, a refused webhook: request lines of every kind.
    for path in ["/login", "/no-such-page", "/setup"] {
        reqwest::get(format!("{base}{path}")).await.unwrap();
    }
    let refused = reqwest::Client::new()
        .post(format!("{base}/api/webhooks/slack"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stderr = String::from_utf8_lossy(&stop(child).await.stderr).into_owned();

    let lines = lines.lock().unwrap().clone();
    let logged = parsed(&lines);
    assert!(logged.len() >= 4, "{lines:?}");
    let first = &logged[0];
    assert_eq!(first["message"], "targetym-integrations starting", "{lines:?}");
    assert_eq!(first["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(first["commit"], targetym_integrations::telemetry::COMMIT);
    assert_eq!(logged.last().unwrap()["message"], "stopped");
    assert_eq!(stderr, "", "nothing on stderr either");
}

/// A database of its own that the binary reaches through a proxy the test can cut.
fn proxied_database() -> (PgSchema, Proxy, String) {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = crate::helpers::fresh_database(&dir);
    let (proxy, via) = crate::faults::proxied(&url);
    (schema.expect("a PostgreSQL schema"), proxy, via)
}

/// Lines that speak of the database being away, and those that say it is back.
fn outage_lines(logged: &[Value]) -> (Vec<String>, Vec<String>) {
    let text = |v: &Value| v.to_string();
    let away = logged
        .iter()
        .filter(|l| l["level"] == "ERROR" || l["level"] == "WARN")
        .filter(|l| text(l).contains("database") && !text(l).contains("again"))
        .map(text)
        .collect();
    let back = logged
        .iter()
        .filter(|l| text(l).contains("again"))
        .map(text)
        .collect();
    (away, back)
}

#[tokio::test]
async fn a_database_outage_is_logged_at_its_start_and_end_not_at_every_tick() {
    if std::env::var("TEST_DATABASE_URL").unwrap_or_default().is_empty() {
        // SQLite is a file: it cannot become unreachable (tests/api/faults/disk.rs fills it).
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (_schema, proxy, via) = proxied_database();
    let (child, base, lines) = start_production(&via, dir.path());
    wait_ready(&base).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    proxy.cut();
    // Rounds tick every second; each waits out the pool's 10 s timeout once: three or more
    // failed rounds, and the readiness probe of a load balancer every second.
    let outage_end = Instant::now() + Duration::from_secs(35);
    while Instant::now() < outage_end {
        let _ = reqwest::get(format!("{base}/readyz")).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    proxy.restore();
    wait_ready(&base).await;
    // The next round succeeds and says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("background rounds succeed again"))
    {
        assert!(
            Instant::now() < deadline,
            "no recovery line: {:?}",
            lines.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(child).await;

    let lines = lines.lock().unwrap().clone();
    let logged = parsed(&lines);
    let failed_rounds: u64 = logged
        .iter()
        .filter(|l| l["message"] == "background rounds succeed again")
        .filter_map(|l| l["failed_rounds"].as_u64())
        .sum();
    assert!(failed_rounds >= 3, "several rounds failed: {failed_rounds}");
    let (away, back) = outage_lines(&logged);
    assert!(!away.is_empty(), "the outage is logged: {lines:?}");
    assert!(
        away.len() <= 4,
        "{} lines for {failed_rounds} failed rounds, at most a few expected: {away:#?}",
        away.len()
    );
    assert!(
        back.iter().any(|l| l.contains("the database answers again")),
        "{back:?}"
    );
}
