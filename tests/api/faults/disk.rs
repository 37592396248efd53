//! SQLite on a disk that fills up, or turns read-only: writes answer 503 with a clear (and
//! throttled) log line, reads keep working, and writes come back without a restart when the
//! disk does. Nothing acknowledged is lost.
//!
//! The database lives on a small tmpfs mounted in a user and mount namespace of its own
//! (`unshare`), so the test needs no privileges and touches no real disk.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};

use super::{BINARY, Load, assert_none_lost, sign_in, sign_in_attempt, unstored_in, wait_ready};
use crate::webhooks::{SIGNING_SECRET, app_with, integration};
use targetym_integrations::db::{DatabaseUrl, Db};

/// A shell in the namespace: mounts the tmpfs and copies the seed database onto it, then
/// obeys `start` (the binary, without the capabilities that let root ignore file modes),
/// `fill` and `free` (the disk), `lock` (the database file read-only) and `unlock` (it and the
/// write-ahead log files SQLite made meanwhile, with the same mode, writable),
/// and `stop` (which stops the binary and copies the database out).
const CONTROLLER: &str = r#"
set -e
mount -t tmpfs -o size=32m tmpfs "$DISK"
cp "$SEED" "$DISK/app.sqlite3"
echo ready
while read -r command; do
  case "$command" in
    start)
      DATABASE_URL="$DISK/app.sqlite3" setpriv --bounding-set=-dac_override,-dac_read_search,-fowner \
        --inh-caps=-all "$BIN" 2>"$OUT/app.log" &
      app=$! ;;
    fill) dd if=/dev/zero of="$DISK/filler" bs=64k 2>/dev/null || true ;;
    free) rm -f "$DISK/filler" ;;
    lock) chmod 0444 "$DISK"/app.sqlite3* ;;
    unlock) chmod 0644 "$DISK"/app.sqlite3* ;;
    stop) kill -TERM "$app"; wait "$app" || true; cp "$DISK"/app.sqlite3* "$OUT/" ;;
  esac
  echo "$command done"
done
"#;

struct Confined {
    controller: Child,
    commands: ChildStdin,
    replies: BufReader<ChildStdout>,
    base: String,
    out: tempfile::TempDir,
    /// Where the tmpfs is mounted inside the namespace (an empty folder outside it).
    _disk: tempfile::TempDir,
}

impl Confined {
    fn start(seed: &std::path::Path, data_dir: &std::path::Path) -> Confined {
        let out = tempfile::tempdir().unwrap();
        let disk = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut controller = Command::new("unshare")
            // A PID namespace of its own too: when the controller dies, whatever it started
            // dies with it (even when a failing test drops it without `stop`).
            .args(["--user", "--map-root-user", "--mount", "--propagation", "private"])
            .args(["--pid", "--fork", "--kill-child"])
            .args(["sh", "-c", CONTROLLER])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DISK", disk.path())
            .env("SEED", seed)
            .env("OUT", out.path())
            .env("BIN", BINARY)
            .env("DATA_DIR", data_dir)
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
            .env("WORKER_ENABLED", "false")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) runs");
        let commands = controller.stdin.take().unwrap();
        let mut replies = BufReader::new(controller.stdout.take().unwrap());
        let mut line = String::new();
        replies.read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "a user and mount namespace with a tmpfs (unshare -Urm) is needed"
        );
        Confined {
            controller,
            commands,
            replies,
            base: format!("http://127.0.0.1:{port}"),
            out,
            _disk: disk,
        }
    }

    fn command(&mut self, command: &str) {
        writeln!(self.commands, "{command}").unwrap();
        let mut line = String::new();
        self.replies.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), format!("{command} done"));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.out.path().join("app.log")).unwrap_or_default()
    }
}

impl Drop for Confined {
    fn drop(&mut self) {
        // SHOW_APP_LOG=1: the binary's log, to see what a failing run did.
        if std::env::var_os("SHOW_APP_LOG").is_some() {
            eprintln!("{}", self.log());
        }
        let _ = self.controller.kill();
        let _ = self.controller.wait();
    }
}

/// A form write from the page (a new service token), and its status.
async fn page_write(base: &str, admin: &Client) -> (StatusCode, String) {
    let page = admin.get(format!("{base}/api-tokens")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the page (a read) still answers");
    let csrf = crate::helpers::csrf_in(&page.text().await.unwrap()).unwrap();
    let res = admin
        .post(format!("{base}/api-tokens"))
        .form(&[("csrf_token", csrf.as_str()), ("name", "disk test")])
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

/// Reads answer while writes are refused: the list, an integration's page, readiness.
async fn reads_work(base: &str, admin: &Client, integration: &str) {
    for path in ["/integrations".to_owned(), format!("/integrations/{integration}")] {
        let res = admin.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "GET {path} while writes are refused"
        );
    }
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "/readyz: reads work");
}

/// Sends until the load has seen a refusal, or fails after 30 s.
async fn wait_for_refusals(load: &Load) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while load.refused.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no write was refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A seeded SQLite database (an admin, a Slack workspace's integration) on the confined disk
/// (SQLite whatever the suite's database: this is SQLite's own disk), and the integration.
async fn confined() -> (Confined, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url: &'static str = dir.path().join("seed-app.sqlite3").display().to_string().leak();
    // Refused deliveries count against a workspace's rate; the load sends as fast as it can.
    let t = app_with(&[
        ("DATABASE_URL", url),
        ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "1000000"),
    ])
    .await;
    let id = integration(&t, "slack", "T-KILL").await;
    let seed = dir.path().join("seed.sqlite3");
    let into = format!("VACUUM INTO '{}'", seed.display());
    t.app
        .ctx
        .db
        .run(move |conn| {
            use diesel::connection::SimpleConnection;
            Ok(conn.batch_execute(&into)?)
        })
        .await
        .unwrap();
    // The keys stay where the binary finds them.
    let data = dir.path().join("data");
    copy_dir(&t.app.data_dir, &data);
    (Confined::start(&seed, &data), id, dir)
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// After the fault: nothing acknowledged is missing, and the log told of it in a few lines.
async fn check_after(mut disk: Confined, acked: &[String], cause: &str) {
    disk.command("stop");
    let log = disk.log();
    let copy = disk.out.path().join("app.sqlite3");
    let stored = Db::connect(&DatabaseUrl::parse(copy.to_str().unwrap()).unwrap(), 1).unwrap();
    let lost = unstored_in(&stored, acked).await;
    assert_none_lost(acked, &lost);
    let refusal_lines = log.lines().filter(|l| l.contains("refuses writes")).count();
    assert!(log.contains(cause), "the log names the cause: {log}");
    assert!(
        (1..=4).contains(&refusal_lines),
        "{refusal_lines} lines for a short refusal (at most one a minute): {log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("accepts writes again")).count(),
        1,
        "one line as it ends: {log}"
    );
}

/// Rides out a fault that refuses writes under `load`: writes answer 503 (a page's says why),
/// reads keep working; after `heal` writes come back by themselves, and nothing acknowledged
/// is lost. `cause` is what the log must name.
async fn ride_out(mut disk: Confined, id: &str, admin: &Client, load: Load, heal: &str, cause: &str) {
    let base = disk.base.clone();
    wait_for_refusals(&load).await;
    reads_work(&base, admin, id).await;
    let (status, page) = page_write(&base, admin).await;
    disk.command(heal);
    let acks = load.acks();
    load.wait_for_acks(acks + 100).await;
    // (Refusals end in the log once writes have gone through for a second.)
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        page_write(&base, admin).await.0,
        StatusCode::CREATED,
        "after the fault"
    );
    let (acked, refused) = load.finish().await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a page's write: {page}");
    assert!(page.contains("cannot save changes"), "the page says why: {page}");
    assert!(
        refused.iter().all(|s| *s == StatusCode::SERVICE_UNAVAILABLE),
        "only 503 while writes were refused: {refused:?}"
    );
    check_after(disk, &acked, cause).await;
}

#[tokio::test]
async fn a_full_disk_refuses_writes_with_503_keeps_reads_and_heals_without_restart() {
    let (mut disk, id, _dir) = confined().await;
    disk.command("start");
    let base = disk.base.clone();
    wait_ready(&base).await;
    let admin = sign_in(&base, "ada@acme.example").await;
    let load = Load::start(&base, "Full");
    load.wait_for_acks(100).await;
    disk.command("fill");
    ride_out(disk, &id, &admin, load, "free", "database or disk is full").await;
}

/// SQLite opens a file it may not write read-only, and creates its write-ahead log files with
/// the same mode: the operator fixes the mode of all three, and writes come back by themselves.
/// A session opened before stays open (it is read, not written); a new sign-in is a write (the
/// session is kept on the server), refused like the others until the file is writable.
#[tokio::test]
async fn a_read_only_database_file_refuses_writes_with_503_keeps_reads_and_heals_without_restart() {
    let (mut disk, id, _dir) = confined().await;
    let base = disk.base.clone();
    disk.command("start");
    wait_ready(&base).await;
    let admin = sign_in(&base, "ada@acme.example").await;
    disk.command("stop");
    // The instance restarts on a database file it may only read (a restore with the wrong
    // mode, say).
    disk.command("lock");
    disk.command("start");
    wait_ready(&base).await;
    let (_, res) = sign_in_attempt(&base, "ada@acme.example").await;
    let (status, page) = (res.status(), res.text().await.unwrap());
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a new sign-in: {page}");
    assert!(page.contains("cannot save changes"), "the page says why: {page}");
    let load = Load::start(&base, "ReadOnly");
    // "unlock": the operator makes the database and the log files SQLite made meanwhile
    // writable.
    ride_out(
        disk,
        &id,
        &admin,
        load,
        "unlock",
        "attempt to write a readonly database",
    )
    .await;
}
