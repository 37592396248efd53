//! Outbound calls to providers go through the proxy the standard variables name (`HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY`), and straight to the hosts `NO_PROXY` lists, as the README
//! says: a directory sync run by the real binary is seen by a proxy the test starts.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use targetym_integrations::db::schema::directory_syncs as s;
use targetym_integrations::domain::{IntegrationId, OrgId};
use targetym_integrations::integrations::directory::{SyncNow, sync_now};

use crate::faults::{start_binary_on, wait_ready};
use crate::oauth_helpers::{OAuthApp, oauth_app_with, providers_file, seed_integration};

/// A forward HTTP proxy that records each request's first line and relays it to `target`.
struct RecordingProxy {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RecordingProxy {
    fn start(target: String) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let (seen, target) = (seen.clone(), target.clone());
                std::thread::spawn(move || relay(inbound, &target, &seen));
            }
        });
        RecordingProxy { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// One connection, relayed byte for byte; each request line is recorded as it passes
/// (keep-alive carries several, bodies may end without a newline).
fn relay(mut inbound: TcpStream, target: &str, seen: &Mutex<Vec<String>>) {
    let Ok(mut outbound) = TcpStream::connect(target) else {
        return;
    };
    let (mut back_from, mut back_to) = (outbound.try_clone().unwrap(), inbound.try_clone().unwrap());
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut back_from, &mut back_to);
        let _ = back_to.shutdown(Shutdown::Both);
    });
    let (mut buf, mut pending) = ([0u8; 8192], Vec::new());
    while let Ok(n) = inbound.read(&mut buf) {
        if n == 0 || outbound.write_all(&buf[..n]).is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            let words: Vec<&str> = line.split(' ').collect();
            if words.len() == 3 && words[2].starts_with("HTTP/") {
                seen.lock().unwrap().push(line);
            }
        }
    }
    let _ = outbound.shutdown(Shutdown::Both);
}

/// Runs one directory sync of `slack` on the real binary with `vars`, until it completes.
async fn sync_with(t: &OAuthApp, org: OrgId, slack: IntegrationId, vars: &[(&str, &str)]) {
    assert_eq!(sync_now(&t.app.ctx, org, slack).await.unwrap(), SyncNow::Queued);
    let completed_before = completed_at(t, slack).await;
    let (mut child, base) = start_binary_on(&t.app, &t.app.database_url, vars);
    wait_ready(&base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while completed_at(t, slack).await == completed_before {
        assert!(Instant::now() < deadline, "the sync did not complete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

async fn completed_at(t: &OAuthApp, slack: IntegrationId) -> Option<chrono::NaiveDateTime> {
    t.app
        .ctx
        .db
        .run(move |conn| {
            Ok(s::table
                .find(slack)
                .select(s::completed_at)
                .first::<Option<chrono::NaiveDateTime>>(conn)
                .optional()?
                .flatten())
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn provider_calls_go_through_the_proxy_the_environment_names_except_to_no_proxy_hosts() {
    let t = oauth_app_with(|b| b).await;
    let org = t.app.org_of("ada@acme.example").await;
    t.mock.set_slack_members(vec![
        json!({ "id": "U1", "name": "ada", "deleted": false, "is_bot": false,
                "profile": { "email": "ada@acme.example" } }),
    ]);
    let slack = IntegrationId::parse(&seed_integration(&t.app, &t.mock, "slack", "T-ACME").await).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.toml");
    std::fs::write(&providers, providers_file(&t.mock)).unwrap();
    let mock = t.mock.base_url();
    let proxy = RecordingProxy::start(mock.trim_start_matches("http://").to_owned());
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let mut vars = vec![
        ("WORKER_ENABLED", "true"),
        ("WORKER_TICK_SECS", "1"),
        ("DIRECTORY_PAGE_INTERVAL_MS", "0"),
        ("PROVIDERS_FILE", providers.to_str().unwrap()),
        ("HTTP_PROXY", proxy_url.as_str()),
    ];

    sync_with(&t, org, slack, &vars).await;
    let through = proxy.requests();
    let absolute = format!("GET {mock}/");
    assert!(
        through
            .iter()
            .any(|line| line.starts_with(&absolute) && line.contains("/api/users.list?")),
        "the provider call went through the proxy, in absolute form: {through:?}"
    );

    vars.push(("NO_PROXY", "127.0.0.1"));
    sync_with(&t, org, slack, &vars).await;
    assert_eq!(proxy.requests(), through, "NO_PROXY's hosts are reached directly");
}
