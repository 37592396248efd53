use std::io::Write;
use std::process::{Command, Stdio};

use reqwest::StatusCode;

use crate::helpers::{PASSWORD, browser, spawn_app};

const BINARY: &str = env!("CARGO_BIN_EXE_targetym-integrations");

pub(crate) fn cli(app: &crate::helpers::TestApp, args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = Command::new(BINARY)
        .args(args)
        .env_clear()
        .env("DATABASE_URL", &app.database_url)
        .env("DATA_DIR", &app.data_dir)
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(app.data_dir.parent().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn admin_create_makes_an_admin_who_can_sign_in_and_ends_setup() {
    let app = spawn_app().await;
    let out = cli(
        &app,
        &[
            "admin",
            "create",
            "--org",
            "Acme HR",
            "--email",
            "Ops@Acme.example",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ops@acme.example"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));

    assert_eq!(app.get("/setup").await.status(), StatusCode::NOT_FOUND);
    let res = app.login_with(&browser(), "ops@acme.example", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // The same email again is refused with a clear message (joining the organization, which
    // exists now); a weak password too.
    let again = cli(
        &app,
        &[
            "admin",
            "create",
            "--org",
            "Acme HR",
            "--email",
            "ops@acme.example",
            "--join",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let weak = cli(
        &app,
        &[
            "admin",
            "create",
            "--org",
            "Acme HR",
            "--email",
            "new@acme.example",
        ],
        "short\n",
    );
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("at least 12"));
}

#[tokio::test]
async fn migrate_runs_alone_and_is_idempotent() {
    let app = spawn_app().await;
    let out = cli(&app, &["migrate"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "migrations applied: 0; catalogue rows changed: 0"
    );
}

#[test]
fn production_refuses_to_start_without_its_secrets_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let out = Command::new(BINARY)
            .arg("migrate")
            .env_clear()
            .env("DATA_DIR", dir.path())
            .envs(vars.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stderr) = run(&[
        ("APP_ENV", "production"),
        ("PUBLIC_URL", "https://hub.acme.example"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("INTEGRATION_ENCRYPTION_KEY"), "{stderr}");
    let key = "ab".repeat(32);
    let (ok, stderr) = run(&[
        ("APP_ENV", "production"),
        ("PUBLIC_URL", "https://hub.acme.example"),
        ("INTEGRATION_ENCRYPTION_KEY", &key),
    ]);
    assert!(!ok);
    assert!(stderr.contains("SESSION_KEY"), "{stderr}");
    let (ok, stderr) = run(&[
        ("APP_ENV", "production"),
        ("PUBLIC_URL", "http://hub.acme.example"),
    ]);
    assert!(!ok);
    assert!(stderr.contains("PUBLIC_URL"), "{stderr}");
    assert!(
        !dir.path().join("integration-encryption.key").exists(),
        "no key generated in production"
    );
}

#[tokio::test]
async fn production_logs_json_with_request_ids_and_shuts_down_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (database_url, _schema) = crate::helpers::fresh_database(&dir);
    let key = "ab".repeat(32);
    let session_key = "cd".repeat(64);
    let child = Command::new(BINARY)
        .env_clear()
        .env("APP_ENV", "production")
        .env("PUBLIC_URL", "https://hub.acme.example")
        .env("INTEGRATION_ENCRYPTION_KEY", &key)
        .env("SESSION_KEY", &session_key)
        .env("DATABASE_URL", &database_url)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = browser();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut up = false;
    for _ in 0..100 {
        if let Ok(res) = client.get(&url).header("X-Request-Id", "probe-42").send().await {
            up = res.status() == StatusCode::OK;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(up, "server came up");
    let out = crate::operations::logs::stop(child).await;
    // `serve` in production logs to stdout (tests/api/operations/logs.rs checks it holds
    // nothing else).
    let logs = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["span"]["request_id"] == "probe-42" && l["span"]["route"] == "/healthz"),
        "{logs}"
    );
    assert!(lines.last().unwrap()["message"] == "stopped", "{logs}");
    assert!(
        lines.iter().any(|l| l["message"] == "background actor stopped"),
        "the actor ran with the server and stopped cleanly: {logs}"
    );
    assert!(!logs.contains(&key) && !logs.contains(&session_key));
}

#[tokio::test]
async fn api_tokens_create_prints_a_token_that_the_api_accepts() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let out = cli(
        &app,
        &["api-tokens", "create", "--org", "Acme HR", "--name", "payroll"],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("tgi_"));
    let res = reqwest::Client::new()
        .get(app.url("/api/v1/integrations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let unknown = cli(
        &app,
        &["api-tokens", "create", "--org", "Nobody Inc", "--name", "x"],
        "",
    );
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no organization is named"));

    // Limited to an integration: only one of the organization's live ones is accepted.
    let stranger = uuid::Uuid::new_v4().to_string();
    let refused = cli(
        &app,
        &[
            "api-tokens",
            "create",
            "--org",
            "Acme HR",
            "--name",
            "x",
            "--integration",
            &stranger,
        ],
        "",
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a connected integration"));
    let mock = mock_provider::MockProvider::start(Default::default())
        .await
        .unwrap();
    let id = crate::oauth_helpers::seed_integration(&app, &mock, "slack", "T1").await;
    let out = cli(
        &app,
        &[
            "api-tokens",
            "create",
            "--org",
            "Acme HR",
            "--name",
            "slack-only",
            "--integration",
            &id,
        ],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let limited = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let listed: serde_json::Value = reqwest::Client::new()
        .get(app.url("/api/v1/integrations"))
        .bearer_auth(&limited)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["integrations"][0]["id"], id.as_str());
}

/// `admin create` joins an existing organization only with --join (and names its admins when
/// refusing); `admin list` shows them; `admin reset-password` sets a new password and signs
/// the admin out everywhere.
#[tokio::test]
async fn admin_commands_join_list_and_reset_passwords() {
    let app = spawn_app().await;
    let ada = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let create = |email: &str, join: bool| {
        let mut args = vec!["admin", "create", "--org", "Acme HR", "--email", email];
        if join {
            args.push("--join");
        }
        cli(&app, &args, &format!("{PASSWORD}\n"))
    };

    let refused = create("grace@acme.example", false);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("--join") && said.contains("ada@acme.example"),
        "{said}"
    );
    assert_eq!(
        app.login_with(&browser(), "grace@acme.example", PASSWORD)
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "nothing was created"
    );
    assert!(create("grace@acme.example", true).status.success());

    let list = cli(&app, &["admin", "list", "--org", "Acme HR"], "");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.contains("ada@acme.example") && listed.contains("grace@acme.example"));
    assert!(
        !cli(&app, &["admin", "list", "--org", "Nobody"], "")
            .status
            .success()
    );

    let new = "a brand new passphrase";
    let reset = cli(
        &app,
        &["admin", "reset-password", "--email", "ada@acme.example"],
        &format!("{new}\n"),
    );
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert!(String::from_utf8_lossy(&reset.stdout).contains("1 session(s) signed out"));
    assert_eq!(
        app.get_with(&ada, "/integrations").await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        app.login_with(&browser(), "ada@acme.example", new).await.status(),
        StatusCode::SEE_OTHER
    );
    let signed_in = browser();
    app.login_with(&signed_in, "ada@acme.example", new).await;
    let audit = app
        .get_with(&signed_in, "/audit?kind=account")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        audit.contains("The operator reset the password of ada@acme.example; 1 session(s) signed out"),
        "{audit}"
    );
    let unknown = cli(
        &app,
        &["admin", "reset-password", "--email", "nobody@acme.example"],
        &format!("{new}\n"),
    );
    assert!(!unknown.status.success());
}
