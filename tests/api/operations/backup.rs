//! `backup` during webhook load, `restore` of that backup, and a restored copy serving.

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::Text;
use reqwest::StatusCode;

use super::{mode, run, run_blocking, text};
use crate::faults::{Load, sign_in, start_binary_on, unstored_in, wait_ready};
use crate::webhooks::integration;
use targetym_integrations::db::Db;
use targetym_integrations::db::schema::integration_sync_logs as logs;
use targetym_integrations::domain::LogKind;

#[derive(QueryableByName)]
struct Check {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

fn integrity(path: &Path) -> Vec<String> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query("PRAGMA integrity_check")
        .load::<Check>(&mut conn)
        .unwrap()
        .into_iter()
        .map(|c| c.integrity_check)
        .collect()
}

/// The Slack event ids stored in the SQLite file at `path`.
fn event_ids(path: &Path) -> std::collections::HashSet<String> {
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    logs::table
        .filter(logs::kind.eq(LogKind::WebhookEvent))
        .select(logs::dedup_key)
        .load::<Option<String>>(&mut conn)
        .unwrap()
        .into_iter()
        .flatten()
        .filter_map(|key| key.rsplit(':').next().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_backup_taken_during_webhook_load_holds_every_acknowledged_event_and_a_restored_copy_serves() {
    let t = crate::webhooks::app().await;
    if t.app.ctx.db.is_postgres() {
        // PostgreSQL is backed up with pg_dump (`backup_on_postgresql_...`).
        return;
    }
    integration(&t, "slack", "T-KILL").await;
    let (mut child, base) = start_binary_on(&t.app, &t.app.database_url, &[]);
    wait_ready(&base).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.sqlite3");
    let data_dir = t.app.data_dir.to_str().unwrap().to_owned();
    let env = [
        ("DATABASE_URL", t.app.database_url.as_str()),
        ("DATA_DIR", data_dir.as_str()),
    ];

    let load = Load::start(&base, "Backup");
    load.wait_for_acks(300).await;
    let before = load.acked_so_far();
    let backup = run_blocking(dir.path(), &["backup", file.to_str().unwrap()], &env).await;
    let during = load.acks();
    load.wait_for_acks(during + 100).await;
    let (acked, refused) = load.finish().await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(backup.status.success(), "{}", text(&backup));
    assert_eq!(
        refused,
        Vec::<StatusCode>::new(),
        "the load went on while the backup ran"
    );
    assert!(
        acked.len() > during,
        "events were acknowledged during and after the backup"
    );

    // The backup opens, is sound, is private, and holds everything acknowledged before it.
    assert_eq!(integrity(&file), ["ok"]);
    assert_eq!(mode(&file), 0o600);
    let stored = event_ids(&file);
    let missing: Vec<_> = before.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events missing",
        missing.len(),
        before.len()
    );

    // A backup never overwrites.
    let again = run(dir.path(), &["backup", file.to_str().unwrap()], &env);
    assert!(!again.status.success());
    assert!(text(&again).contains("exists already"), "{}", text(&again));

    // Restored into a new place, it serves: the binary gets ready on it, its admin signs in,
    // and its events are there.
    let restored = dir.path().join("restored").join("app.sqlite3");
    let restored_url = restored.to_str().unwrap();
    let restore_env = [("DATABASE_URL", restored_url), ("DATA_DIR", data_dir.as_str())];
    let out = run(dir.path(), &["restore", file.to_str().unwrap()], &restore_env);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&restored), 0o600);
    let (mut served, base) = start_binary_on(&t.app, restored_url, &[]);
    wait_ready(&base).await;
    let admin = sign_in(&base, "ada@acme.example").await;
    let page = admin.get(format!("{base}/integrations")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let db = Db::connect(
        &targetym_integrations::config::DatabaseUrl::Sqlite(restored.clone()),
        1,
    )
    .unwrap();
    let lost = unstored_in(&db, &before).await;
    assert!(lost.is_empty(), "{} events lost in the restore", lost.len());
    drop(db);

    // While an instance has it open, restore refuses and leaves the database alone.
    let refused = run(dir.path(), &["restore", file.to_str().unwrap()], &restore_env);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("running instance"), "{}", text(&refused));
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap().status();
    served.kill().unwrap();
    served.wait().unwrap();
    assert_eq!(ready, StatusCode::OK);
    // Once it is stopped, restore goes ahead.
    let out = run(dir.path(), &["restore", file.to_str().unwrap()], &restore_env);
    assert!(out.status.success(), "{}", text(&out));
}

#[tokio::test]
async fn restore_refuses_what_is_not_a_sound_database_of_ours_and_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data").join("app.sqlite3");
    let db_url = db.to_str().unwrap();
    let data_dir = dir.path().join("data");
    let env = [("DATABASE_URL", db_url), ("DATA_DIR", data_dir.to_str().unwrap())];
    let out = run(dir.path(), &["migrate"], &env);
    assert!(out.status.success(), "{}", text(&out));
    let good = dir.path().join("good.sqlite3");
    let out = run(dir.path(), &["backup", good.to_str().unwrap()], &env);
    assert!(out.status.success(), "{}", text(&out));

    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "these are not the pages you are looking for").unwrap();
    let foreign = dir.path().join("foreign.sqlite3");
    SqliteConnection::establish(foreign.to_str().unwrap())
        .unwrap()
        .batch_execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);")
        .unwrap();
    let corrupt = dir.path().join("corrupt.sqlite3");
    let mut bytes = std::fs::read(&good).unwrap();
    let page = 4096;
    assert!(bytes.len() > 8 * page);
    for b in &mut bytes[3 * page..6 * page] {
        *b = 0xA5;
    }
    std::fs::write(&corrupt, bytes).unwrap();

    for (file, says) in [
        (&not_sqlite, "not a SQLite database"),
        (&foreign, "not a Targetym Integrations database"),
        (&corrupt, "integrity check"),
    ] {
        let out = run(dir.path(), &["restore", file.to_str().unwrap()], &env);
        assert!(!out.status.success(), "{} restored", file.display());
        assert!(text(&out).contains(says), "{}: {}", file.display(), text(&out));
    }
    // The database is the one it was, and sound.
    assert_eq!(integrity(&db), ["ok"]);
    let leftovers: Vec<_> = std::fs::read_dir(&data_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".restore-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[tokio::test]
async fn backup_on_postgresql_gives_the_pg_dump_command_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        (
            "DATABASE_URL",
            "postgres://ops:s3cr3t-pw@db.internal:5432/targetym?sslmode=require",
        ),
        ("DATA_DIR", dir.path().to_str().unwrap()),
    ];
    let out = run(dir.path(), &["backup", "/tmp/never-written.dump"], &env);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("pg_dump --format=custom --file=/tmp/never-written.dump"),
        "{said}"
    );
    assert!(
        said.contains("'postgres://ops@db.internal:5432/targetym?sslmode=require'"),
        "{said}"
    );
    assert!(!said.contains("s3cr3t-pw"), "{said}");
    assert!(!Path::new("/tmp/never-written.dump").exists());
    let out = run(dir.path(), &["restore", "/tmp/never-written.dump"], &env);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
