//! File modes, `healthcheck`, `config check`, `_FILE` secrets, MIGRATE_ON_START and the exit
//! codes, each against the real binary.

use std::process::{Child, Command, Stdio};

use diesel::RunQueryDsl;

use super::{free_port, mode, run, run_blocking, text};
use crate::faults::{BINARY, wait_ready};
use crate::helpers::spawn_app;

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `serve` with only `vars`, on a free port.
fn serve(dir: &std::path::Path, vars: &[(&str, &str)]) -> (Child, String) {
    let port = free_port();
    let child = Command::new(BINARY)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("WORKER_ENABLED", "false")
        .env("RUST_LOG", "warn")
        .envs(vars.iter().copied())
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    (child, format!("http://127.0.0.1:{port}"))
}

fn stop(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn the_database_its_log_files_and_the_keys_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let vars = [("DATA_DIR", data.to_str().unwrap())];
    let (child, base) = serve(dir.path(), &vars);
    wait_ready(&base).await;
    let db = data.join("targetym.sqlite3");
    let files = [
        "targetym.sqlite3",
        "targetym.sqlite3-wal",
        "targetym.sqlite3-shm",
        "targetym.sqlite3.lock",
        "integration-encryption.key",
        "session.key",
    ];
    for file in files {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&data), 0o700, "the data folder");
    stop(child);

    // A database an older version left readable by others is made private at start.
    for file in &files[..3] {
        let path = data.join(file);
        if path.exists() {
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        }
    }
    let (child, base) = serve(dir.path(), &vars);
    wait_ready(&base).await;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&data.join("targetym.sqlite3-wal")), 0o600);
    stop(child);
}

#[tokio::test]
async fn healthcheck_exits_0_when_ready_and_1_otherwise() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let url = app.url("/readyz");
    let out = run_blocking(dir.path(), &["healthcheck", "--url", &url], &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Without --url: /readyz on BIND_ADDR's port (an unspecified address is asked on loopback).
    let port = app.address.rsplit(':').next().unwrap();
    let bind = format!("0.0.0.0:{port}");
    let data = dir.path().join("data");
    let vars = [("BIND_ADDR", bind.as_str()), ("DATA_DIR", data.to_str().unwrap())];
    let out = run_blocking(dir.path(), &["healthcheck"], &vars).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let down = format!("http://127.0.0.1:{}/readyz", free_port());
    let out = run_blocking(dir.path(), &["healthcheck", "--url", &down], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let not_found = app.url("/no-such-page");
    let out = run_blocking(dir.path(), &["healthcheck", "--url", &not_found], &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("404"), "{}", text(&out));
}

#[tokio::test]
async fn config_check_prints_what_would_be_used_without_any_secret() {
    let dir = tempfile::tempdir().unwrap();
    let session = "cd".repeat(64);
    let providers = dir.path().join("providers.toml");
    std::fs::write(
        &providers,
        "[[provider]]\nslug = \"google\"\nclient_id = \"google-client\"\nclient_secret = \"file-secret-2938\"\n",
    )
    .unwrap();
    let secrets = [
        (
            "DATABASE_URL",
            "postgres://ops:pg-pass-4471@127.0.0.1:5432/targetym",
        ),
        ("INTEGRATION_ENCRYPTION_KEY", KEY),
        ("SESSION_KEY", session.as_str()),
        ("SLACK_CLIENT_SECRET", "slack-secret-8812"),
        ("SLACK_SIGNING_SECRET", "signing-secret-5521"),
        ("METRICS_TOKEN", "metrics-token-0000-1111"),
        ("SETUP_TOKEN", "setup-token-7345"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=otel-key-6610"),
    ];
    let mut vars = secrets.to_vec();
    vars.extend([
        ("SLACK_CLIENT_ID", "slack-client"),
        ("PROVIDERS_FILE", providers.to_str().unwrap()),
        ("DATA_DIR", dir.path().to_str().unwrap()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.internal:4318"),
    ]);
    let out = run(dir.path(), &["config", "check"], &vars);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    for (name, value) in secrets.iter().chain([&("client_secret", "file-secret-2938")]) {
        let shown = if *name == "DATABASE_URL" {
            "pg-pass-4471"
        } else {
            value
        };
        assert!(!said.contains(shown), "{name} printed: {said}");
    }
    let key_id = targetym_integrations::crypto::EncryptionKey::from_hex(KEY)
        .unwrap()
        .id_hex();
    for expected in [
        "DATABASE_URL: postgres://ops:REDACTED@127.0.0.1:5432/targetym",
        &format!("INTEGRATION_ENCRYPTION_KEY: set (key id {key_id})"),
        "slack (Slack): client id slack-client, secret set",
        "google (Google Workspace): client id google-client, secret set",
        "SLACK_SIGNING_SECRET: set",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: http://collector.internal:4318/v1/traces (OTLP/HTTP JSON)",
        "OTEL_EXPORTER_OTLP_HEADERS: api-key (value set)",
        "configuration OK",
    ] {
        assert!(said.contains(expected), "{expected:?} missing: {said}");
    }

    // A providers file with a mistake: exit 78 (EX_CONFIG), naming the file and the field.
    std::fs::write(&providers, "[[provider]]\nslug = \"acme\"\nkind = \"oauth2\"\n").unwrap();
    let out = run(dir.path(), &["config", "check"], &vars);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("providers.toml"), "{}", text(&out));
    // So does an invalid variable.
    let out = run(dir.path(), &["config", "check"], &[("APP_ENV", "staging")]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("APP_ENV"), "{}", text(&out));
}

#[tokio::test]
async fn secrets_are_read_from_name_file_and_both_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{KEY}\n")).unwrap();
    let secret_file = dir.path().join("slack-secret");
    std::fs::write(&secret_file, "slack-secret-from-file\r\n").unwrap();
    let data = dir.path().join("data");
    let vars = [
        ("DATA_DIR", data.to_str().unwrap()),
        ("INTEGRATION_ENCRYPTION_KEY_FILE", key_file.to_str().unwrap()),
        ("SLACK_CLIENT_ID", "slack-client"),
        ("SLACK_CLIENT_SECRET_FILE", secret_file.to_str().unwrap()),
    ];
    let out = run(dir.path(), &["config", "check"], &vars);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let key_id = targetym_integrations::crypto::EncryptionKey::from_hex(KEY)
        .unwrap()
        .id_hex();
    assert!(said.contains(&format!("key id {key_id}")), "{said}");
    assert!(
        said.contains("slack (Slack): client id slack-client, secret set"),
        "{said}"
    );
    assert!(!said.contains("slack-secret-from-file"), "{said}");
    // The key came from the file: none was generated.
    assert!(!data.join("integration-encryption.key").exists());

    let mut both = vars.to_vec();
    both.push(("INTEGRATION_ENCRYPTION_KEY", KEY));
    let out = run(dir.path(), &["config", "check"], &both);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("set INTEGRATION_ENCRYPTION_KEY or INTEGRATION_ENCRYPTION_KEY_FILE, not both"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(KEY));
    let missing = [("SESSION_KEY_FILE", "/nonexistent/session-key")];
    let out = run(dir.path(), &["config", "check"], &missing);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("SESSION_KEY_FILE"), "{}", text(&out));
}

#[tokio::test]
async fn without_migrate_on_start_an_older_schema_is_refused_with_exit_75() {
    let app = spawn_app().await;
    let dir = app.data_dir.parent().unwrap().to_owned();
    let vars = [
        ("DATABASE_URL", app.database_url.as_str()),
        ("DATA_DIR", app.data_dir.to_str().unwrap()),
        ("MIGRATE_ON_START", "false"),
    ];
    // Up to date: it serves.
    let (child, base) = serve(&dir, &vars);
    wait_ready(&base).await;
    stop(child);

    // One migration behind (its row gone, as before `migrate` ran it): refused, and told why.
    app.ctx
        .db
        .run(|conn| {
            Ok(diesel::sql_query(
                "DELETE FROM __diesel_schema_migrations WHERE version = (SELECT MAX(version) FROM __diesel_schema_migrations)",
            )
            .execute(conn)?)
        })
        .await
        .unwrap();
    let mut bind = vars.to_vec();
    let addr = format!("127.0.0.1:{}", free_port());
    bind.push(("BIND_ADDR", addr.as_str()));
    let out = run(&dir, &["serve"], &bind);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        text(&out).contains("run `targetym-integrations migrate`"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn an_unreachable_database_exits_69() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [
        ("DATABASE_URL", "/proc/no-such-folder/app.sqlite3"),
        ("DATA_DIR", dir.path().to_str().unwrap()),
    ];
    let out = run(dir.path(), &["migrate"], &vars);
    assert_eq!(out.status.code(), Some(69), "{}", text(&out));
}
