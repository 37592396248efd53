//! Faults against the real binary: what was acknowledged survives them.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::oauth_helpers::OAuthApp;
use crate::webhooks::{SIGNING_SECRET, integration, now_secs, slack_event, slack_signature};
use targetym_integrations::db::schema::integration_sync_logs as logs;

const BINARY: &str = env!("CARGO_BIN_EXE_targetym-integrations");

/// The real binary serving the test app's database (and its keys) on a free port.
fn start_binary(t: &OAuthApp) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BINARY)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &t.app.database_url)
        .env("DATA_DIR", &t.app.data_dir)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("WORKER_ENABLED", "false")
        .env("RUST_LOG", "warn")
        .current_dir(t.app.data_dir.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    (child, format!("http://127.0.0.1:{port}"))
}

async fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ready = reqwest::get(format!("{base}/readyz"))
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK);
        if ready {
            return;
        }
        assert!(Instant::now() < deadline, "the binary did not get ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored_event_ids(t: &OAuthApp) -> HashSet<String> {
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .select(logs::dedup_key)
                .load::<Option<String>>(conn)?)
        })
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .filter_map(|key| key.rsplit(':').next().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn every_event_acknowledged_before_a_kill_9_is_stored() {
    let t = crate::webhooks::app().await;
    integration(&t, "slack", "T-KILL").await;
    let (mut child, base) = start_binary(&t);
    wait_ready(&base).await;

    // 16 senders of unique signed events, until the process is gone.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let (base, acked, refused) = (base.clone(), acked.clone(), refused.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for n in 0.. {
                    let id = format!("EvKill{sender}x{n}");
                    let body = slack_event("T-KILL", &id, "member_joined_channel");
                    let ts = now_secs();
                    let sent = client
                        .post(format!("{base}/api/webhooks/slack"))
                        .header("X-Slack-Request-Timestamp", &ts)
                        .header("X-Slack-Signature", slack_signature(&ts, &body))
                        .body(body)
                        .timeout(Duration::from_secs(5))
                        .send()
                        .await;
                    match sent {
                        Ok(res) if res.status() == StatusCode::OK => acked.lock().unwrap().push(id),
                        Ok(res) => refused.lock().unwrap().push(res.status()),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("kill -9");
    child.wait().unwrap();
    for sender in senders {
        sender.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert_eq!(
        *refused.lock().unwrap(),
        Vec::<StatusCode>::new(),
        "a healthy database refuses nothing under load"
    );

    // Restarted on the same database, it serves, and every acknowledged event is there.
    let (mut again, base) = start_binary(&t);
    wait_ready(&base).await;
    let stored = stored_event_ids(&t).await;
    let lost: Vec<&String> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    again.kill().unwrap();
    again.wait().unwrap();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
}
