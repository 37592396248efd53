//! Faults against the real binary: what was acknowledged survives them.

mod directory;
mod disk;
mod provider;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::helpers::TestApp;
use crate::oauth_helpers::OAuthApp;
use crate::webhooks::{SIGNING_SECRET, integration, now_secs, slack_event, slack_signature};
use targetym_integrations::db::Db;
use targetym_integrations::db::schema::integration_sync_logs as logs;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_targetym-integrations");

/// The real binary serving the test app's database (and its keys) on a free port.
fn start_binary(t: &OAuthApp) -> (Child, String) {
    start_binary_on(&t.app, &t.app.database_url, &[])
}

/// The same, reaching the database at `database_url` (through a proxy, say), with `vars` on
/// top of the defaults.
pub(crate) fn start_binary_on(app: &TestApp, database_url: &str, vars: &[(&str, &str)]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BINARY)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("DATA_DIR", &app.data_dir)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("WORKER_ENABLED", "false")
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .current_dir(app.data_dir.parent().unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    (child, format!("http://127.0.0.1:{port}"))
}

pub(crate) async fn wait_ready(base: &str) {
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

/// A sign-in at the binary at `base`: the browser, and the answer.
pub(crate) async fn sign_in_attempt(base: &str, email: &str) -> (reqwest::Client, reqwest::Response) {
    let client = crate::helpers::browser();
    let page = client.get(format!("{base}/login")).send().await.unwrap();
    let csrf = crate::helpers::csrf_in(&page.text().await.unwrap()).unwrap();
    let res = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", email),
            ("password", crate::helpers::PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    (client, res)
}

/// A browser signed in to the binary at `base`.
pub(crate) async fn sign_in(base: &str, email: &str) -> reqwest::Client {
    let (client, res) = sign_in_attempt(base, email).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sign-in at the binary");
    client
}

/// The acknowledged event ids that are not in the test app's database.
async fn unstored(t: &OAuthApp, acked: &[String]) -> Vec<String> {
    unstored_in(&t.app.ctx.db, acked).await
}

/// The acknowledged event ids that are not in `db`.
pub(crate) async fn unstored_in(db: &Db, acked: &[String]) -> Vec<String> {
    let stored: HashSet<String> = db
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
        .collect();
    acked.iter().filter(|id| !stored.contains(*id)).cloned().collect()
}

fn assert_none_lost(acked: &[String], lost: &[String]) {
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
}

/// Sixteen senders of unique signed Slack events for workspace T-KILL, until stopped or the
/// server is gone; what was acknowledged and what was refused.
pub(crate) struct Load {
    acked: Arc<Mutex<Vec<String>>>,
    refused: Arc<Mutex<Vec<StatusCode>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    senders: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(base: &str, tag: &str) -> Load {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let senders = (0..16)
            .map(|sender| {
                let (base, acked, refused, stop) =
                    (base.to_owned(), acked.clone(), refused.clone(), stop.clone());
                let tag = tag.to_owned();
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    for n in 0.. {
                        if stop.load(std::sync::atomic::Ordering::SeqCst) {
                            return;
                        }
                        let id = format!("Ev{tag}{sender}x{n}");
                        let body = slack_event("T-KILL", &id, "member_joined_channel");
                        let ts = now_secs();
                        let sent = client
                            .post(format!("{base}/api/webhooks/slack"))
                            .header("X-Slack-Request-Timestamp", &ts)
                            .header("X-Slack-Signature", slack_signature(&ts, &body))
                            .body(body)
                            .timeout(Duration::from_secs(30))
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
        Load {
            acked,
            refused,
            stop,
            senders,
        }
    }

    pub(crate) fn acks(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// The events acknowledged so far.
    pub(crate) fn acked_so_far(&self) -> Vec<String> {
        self.acked.lock().unwrap().clone()
    }

    pub(crate) async fn wait_for_acks(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.acks() < n {
            assert!(
                Instant::now() < deadline,
                "only {} of {n} events acknowledged",
                self.acks()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub(crate) async fn finish(self) -> (Vec<String>, Vec<StatusCode>) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for sender in self.senders {
            sender.await.unwrap();
        }
        let acked = self.acked.lock().unwrap().clone();
        let refused = self.refused.lock().unwrap().clone();
        (acked, refused)
    }
}

#[tokio::test]
async fn every_event_acknowledged_before_a_kill_9_is_stored() {
    let t = crate::webhooks::app().await;
    integration(&t, "slack", "T-KILL").await;
    let (mut child, base) = start_binary(&t);
    wait_ready(&base).await;

    let load = Load::start(&base, "Kill");
    load.wait_for_acks(300).await;
    child.kill().expect("kill -9");
    child.wait().unwrap();
    let (acked, refused) = load.finish().await;
    assert_eq!(
        refused,
        Vec::<StatusCode>::new(),
        "a healthy database refuses nothing under load"
    );

    // Restarted on the same database, it serves, and every acknowledged event is there.
    let (mut again, base) = start_binary(&t);
    wait_ready(&base).await;
    let lost = unstored(&t, &acked).await;
    again.kill().unwrap();
    again.wait().unwrap();
    assert_none_lost(&acked, &lost);
}

/// A TCP proxy to PostgreSQL that can cut every connection and refuse new ones: the database
/// "goes away" for the app without stopping the server other tests use.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    up: Arc<std::sync::atomic::AtomicBool>,
    open: Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    pub(crate) fn start(target: String) -> Proxy {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (accepting, tracked) = (up.clone(), open.clone());
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                if !accepting.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ = inbound.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(&target) else {
                    continue;
                };
                let pipe = |mut from: TcpStream, mut to: TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Both);
                    })
                };
                let mut tracked = tracked.lock().unwrap();
                tracked.extend([inbound.try_clone().unwrap(), outbound.try_clone().unwrap()]);
                pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                pipe(outbound, inbound);
            }
        });
        Proxy { port, up, open }
    }

    /// Every open connection is cut, and new ones are refused until `restore`.
    pub(crate) fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    pub(crate) fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How long the database is away in the outage test (the 20 s run: `OUTAGE_SECS=20`).
fn outage() -> Duration {
    Duration::from_secs(
        std::env::var("OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    )
}

/// A proxy to the PostgreSQL server of `url`, and the same URL through it.
pub(crate) fn proxied(url: &str) -> (Proxy, String) {
    let host_start = url.find('@').expect("a user in TEST_DATABASE_URL") + 1;
    let host_end = host_start + url[host_start..].find('/').unwrap();
    let proxy = Proxy::start(url[host_start..host_end].to_owned());
    let via = format!(
        "{}127.0.0.1:{}{}",
        &url[..host_start],
        proxy.port,
        &url[host_end..]
    );
    (proxy, via)
}

#[tokio::test]
async fn a_database_outage_during_webhook_load_loses_nothing_and_heals_without_restart() {
    let t = crate::webhooks::app().await;
    integration(&t, "slack", "T-KILL").await;
    // PostgreSQL: every connection cut and refused. SQLite (a file, no network): another
    // process holds the write lock.
    let proxy = t.app.ctx.db.is_postgres().then(|| proxied(&t.app.database_url));
    let url = proxy
        .as_ref()
        .map_or(t.app.database_url.clone(), |(_, via)| via.clone());
    let (mut child, base) = start_binary_on(&t.app, &url, &[]);
    wait_ready(&base).await;

    let load = Load::start(&base, "Outage");
    load.wait_for_acks(300).await;
    let during = match &proxy {
        Some((proxy, _)) => {
            proxy.cut();
            tokio::time::sleep(outage()).await;
            proxy.restore();
            None
        }
        None => {
            let path = t.app.database_url.clone();
            let held = outage();
            Some(std::thread::spawn(move || {
                use diesel::connection::SimpleConnection;
                let mut conn = diesel::SqliteConnection::establish(&path).unwrap();
                // Taking the lock waits for the app's writers like any other writer.
                conn.batch_execute("PRAGMA busy_timeout = 10000; BEGIN EXCLUSIVE")
                    .unwrap();
                std::thread::sleep(held);
                conn.batch_execute("COMMIT").unwrap();
            }))
        }
    };
    if let Some(lock) = during {
        tokio::task::spawn_blocking(move || lock.join().unwrap())
            .await
            .unwrap();
    }
    // It heals by itself: acknowledgements resume without a restart.
    let after_outage = load.acks();
    load.wait_for_acks(after_outage + 300).await;
    let (acked, refused) = load.finish().await;
    assert!(
        refused
            .iter()
            .all(|status| *status == StatusCode::SERVICE_UNAVAILABLE),
        "only 503 (retry later) while the database was away: {refused:?}"
    );
    let lost = unstored(&t, &acked).await;
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap().status();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_none_lost(&acked, &lost);
    assert_eq!(ready, StatusCode::OK);
}
