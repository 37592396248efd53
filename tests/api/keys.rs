use std::process::Command;

use diesel::prelude::*;
use reqwest::StatusCode;

use crate::oauth_helpers::oauth_app;
use targetym_integrations::config::Settings;
use targetym_integrations::context::AppContext;
use targetym_integrations::crypto::keyring::{Aad, KeyringError};
use targetym_integrations::db::schema::integration_credentials as creds;
use targetym_integrations::integrations::key_rotation::rotate_keys;

const BINARY: &str = env!("CARGO_BIN_EXE_targetym-integrations");

fn aad<'a>(column: &'a str, row: &'a str) -> Aad<'a> {
    Aad {
        table: "integration_credentials",
        column,
        row_id: row,
    }
}

async fn context(
    database_url: &str,
    data_dir: &std::path::Path,
    current: &str,
    previous: Option<&str>,
) -> AppContext {
    let mut vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), database_url.to_owned()),
        ("DATA_DIR".to_owned(), data_dir.display().to_string()),
        ("INTEGRATION_ENCRYPTION_KEY".to_owned(), current.to_owned()),
    ]);
    if let Some(previous) = previous {
        vars.insert("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS".into(), previous.into());
    }
    AppContext::load(Settings::from_vars(&vars).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn rotation_moves_every_ciphertext_to_the_new_key_and_is_resumable() {
    let old_key = "11".repeat(32);
    let new_key = "22".repeat(32);
    let t = crate::oauth_helpers::oauth_app_with(|b| b.var("INTEGRATION_ENCRYPTION_KEY", &old_key)).await;
    t.connect("mock-oauth").await;
    t.connect("mock-oidc").await;
    // A started but unfinished flow: its PKCE verifier is sealed too.
    t.start(&t.admin, "mock-oauth", None).await;

    let rotated = context(&t.app.database_url, &t.app.data_dir, &new_key, Some(&old_key)).await;
    let report = rotate_keys(&rotated).await.unwrap();
    assert_eq!(
        report.moved,
        2 + 3,
        "two credential rows and three PKCE verifiers"
    );
    assert_eq!(report.unreadable, 0);
    // Run again (resume after an interruption): nothing left to move.
    assert_eq!(rotate_keys(&rotated).await.unwrap().moved, 0);

    // The new key alone now opens every credential.
    let only_new = context(&t.app.database_url, &t.app.data_dir, &new_key, None).await;
    let rows = only_new
        .db
        .run(|conn| {
            Ok(creds::table
                .select((creds::integration_id, creds::access_token, creds::key_id))
                .load::<(String, Vec<u8>, String)>(conn)?)
        })
        .await
        .unwrap();
    for (id, sealed, key_id) in &rows {
        assert_eq!(key_id, &only_new.keyring.current_key_id());
        let token = only_new.keyring.open(sealed, &aad("access_token", id)).unwrap();
        assert!(
            t.mock
                .issued_access_tokens()
                .contains(&String::from_utf8(secrecy::ExposeSecret::expose_secret(&token).clone()).unwrap())
        );
    }
    // The running app (old key only) cannot read them any more: the old key must stay in
    // INTEGRATION_ENCRYPTION_PREVIOUS_KEYS of a running app until it restarts with the new one.
    assert!(matches!(
        t.app
            .ctx
            .keyring
            .open(&rows[0].1, &aad("access_token", &rows[0].0)),
        Err(KeyringError::UnknownKey(_))
    ));
}

#[tokio::test]
async fn a_ciphertext_copied_into_another_row_does_not_decrypt() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    t.connect("mock-oidc").await;
    let rows = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(creds::table
                .select((creds::integration_id, creds::access_token, creds::refresh_token))
                .load::<(String, Vec<u8>, Option<Vec<u8>>)>(conn)?)
        })
        .await
        .unwrap();
    let (a, b) = (&rows[0], &rows[1]);
    let keyring = &t.app.ctx.keyring;
    assert!(keyring.open(&a.1, &aad("access_token", &a.0)).is_ok());
    assert_eq!(
        keyring.open(&a.1, &aad("access_token", &b.0)).unwrap_err(),
        KeyringError::Rejected
    );
    assert_eq!(
        keyring.open(&a.1, &aad("refresh_token", &a.0)).unwrap_err(),
        KeyringError::Rejected
    );

    // Swap the blob in the database: the app refuses to use it (the disconnect records that
    // the token could not be read) instead of sending another integration's token.
    let (victim, stolen) = (b.0.clone(), a.1.clone());
    t.app
        .ctx
        .db
        .run(move |conn| {
            diesel::update(creds::table.find(&victim))
                .set(creds::access_token.eq(stolen))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let before = t.mock.counters().revocations;
    let csrf = t.app.csrf_with(&t.admin, "/integrations").await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{}/disconnect", b.0),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.mock.counters().revocations, before, "no token was sent");
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Revoking access at"), "{page}");
}

#[tokio::test]
async fn keys_rotate_from_the_command_line_reports_what_it_moved() {
    let old_key = "33".repeat(32);
    let new_key = "44".repeat(32);
    let t = crate::oauth_helpers::oauth_app_with(|b| b.var("INTEGRATION_ENCRYPTION_KEY", &old_key)).await;
    t.connect("mock-oauth").await;
    let providers = t.app.data_dir.parent().unwrap().join("providers.toml");
    std::fs::write(&providers, crate::oauth_helpers::providers_file(&t.mock)).unwrap();
    let run = |previous: Option<&str>| {
        let mut command = Command::new(BINARY);
        command
            .args(["keys", "rotate"])
            .env_clear()
            .env("DATABASE_URL", &t.app.database_url)
            .env("DATA_DIR", &t.app.data_dir)
            .env("PROVIDERS_FILE", &providers)
            .env("INTEGRATION_ENCRYPTION_KEY", &new_key)
            .current_dir(t.app.data_dir.parent().unwrap());
        if let Some(previous) = previous {
            command.env("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS", previous);
        }
        command.output().unwrap()
    };
    // Without the old key the rows cannot be read: a clear failure, nothing changed.
    let failed = run(None);
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("could not be opened"));
    let done = run(Some(&old_key));
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("re-encrypted 2 rows"),
        "{}",
        String::from_utf8_lossy(&done.stdout)
    );
}

/// Runs `keys <command>` with these keys against the test's database.
fn keys_cli(
    t: &crate::oauth_helpers::OAuthApp,
    providers: &std::path::Path,
    command: &str,
    current: &str,
    previous: Option<&str>,
) -> std::process::Output {
    let mut cli = Command::new(BINARY);
    cli.args(["keys", command])
        .env_clear()
        .env("DATABASE_URL", &t.app.database_url)
        .env("DATA_DIR", &t.app.data_dir)
        .env("PROVIDERS_FILE", providers)
        .env("INTEGRATION_ENCRYPTION_KEY", current)
        .current_dir(t.app.data_dir.parent().unwrap());
    if let Some(previous) = previous {
        cli.env("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS", previous);
    }
    cli.output().unwrap()
}

/// The same database and providers as `t`, under these keys: the app restarted.
async fn restart(
    t: &crate::oauth_helpers::OAuthApp,
    providers: &std::path::Path,
    current: &str,
    previous: Option<&str>,
) -> crate::helpers::TestApp {
    let mut builder = crate::helpers::app()
        .var("DATABASE_URL", &t.app.database_url)
        .var("PROVIDERS_FILE", providers.to_str().unwrap())
        .var("INTEGRATION_ENCRYPTION_KEY", current);
    if let Some(previous) = previous {
        builder = builder.var("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS", previous);
    }
    builder.spawn().await
}

/// One maintenance round `hours` ahead, when every token (of an hour) is due for a refresh.
async fn refresh_all(app: &crate::helpers::TestApp, hours: i64) {
    let later = targetym_integrations::db::now() + chrono::Duration::hours(hours);
    targetym_integrations::worker::Worker::new(app.ctx.clone())
        .run_due_work(later)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refresh_token_the_provider_does_not_rotate_survives_a_key_rotation() {
    let (old_key, new_key) = ("55".repeat(32), "66".repeat(32));
    let t = crate::oauth_helpers::oauth_app_with(|b| b.var("INTEGRATION_ENCRYPTION_KEY", &old_key)).await;
    t.connect("mock-oauth").await;
    // From now on refreshes answer without a new refresh token (Google, Dropbox, Asana).
    t.mock.set_behaviour(|b| b.omit_refresh_token = true);
    let id = crate::oauth_helpers::first_integration(&t.app).await;
    let refresh_token = t.mock.issued_refresh_tokens().remove(0);
    let providers = t.app.data_dir.parent().unwrap().join("providers.toml");
    std::fs::write(&providers, crate::oauth_helpers::providers_file(&t.mock)).unwrap();

    // README step 1: the new key, the old one still readable. The app refreshes meanwhile;
    // the provider answers without a new refresh token.
    let step1 = restart(&t, &providers, &new_key, Some(&old_key)).await;
    refresh_all(&step1, 2).await;
    assert_eq!(t.mock.counters().refreshes, 1);
    // Step 2: keys rotate; keys check then finds nothing left under the old key.
    let rotated = keys_cli(&t, &providers, "rotate", &new_key, Some(&old_key));
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    // The organization's audit trail says so (the key's id, never the key).
    let recorded = t.app.audit_events_of("key_rotation").await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].0, "system");
    assert!(
        recorded[0].2.starts_with("Encryption keys rotated"),
        "{recorded:?}"
    );
    assert!(!recorded[0].2.contains(&new_key) && !recorded[0].2.contains(&old_key));
    let checked = keys_cli(&t, &providers, "check", &new_key, None);
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    // Step 3: the old key is gone; after a restart, refresh and revoke-on-disconnect work.
    let step3 = restart(&t, &providers, &new_key, None).await;
    refresh_all(&step3, 5).await;
    assert_eq!(t.mock.counters().refreshes, 2, "refreshed with the kept token");
    assert_eq!(step3.integration_status(&id).await, "connected");
    let admin = crate::helpers::browser();
    step3
        .login_with(&admin, "ada@acme.example", crate::helpers::PASSWORD)
        .await;
    let csrf = step3.csrf_with(&admin, &format!("/integrations/{id}")).await;
    let res = step3
        .post_form_with(
            &admin,
            &format!("/integrations/{id}/disconnect"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(t.mock.is_revoked(&refresh_token), "revoked at the provider");
}

#[tokio::test]
async fn keys_check_names_every_value_the_configured_keys_cannot_open() {
    let (old_key, new_key) = ("77".repeat(32), "88".repeat(32));
    let t = crate::oauth_helpers::oauth_app_with(|b| b.var("INTEGRATION_ENCRYPTION_KEY", &old_key)).await;
    t.connect("mock-oauth").await;
    let id = crate::oauth_helpers::first_integration(&t.app).await;
    let providers = t.app.data_dir.parent().unwrap().join("providers.toml");
    std::fs::write(&providers, crate::oauth_helpers::providers_file(&t.mock)).unwrap();

    let readable = keys_cli(&t, &providers, "check", &new_key, Some(&old_key));
    assert!(readable.status.success());
    let out = String::from_utf8_lossy(&readable.stdout);
    assert!(
        out.contains("0 under the current key") && out.contains(", 0 unreadable"),
        "{out}"
    );

    // The old key removed before rotating: both tokens are named, exit code 1.
    let lost = keys_cli(&t, &providers, "check", &new_key, None);
    assert_eq!(lost.status.code(), Some(1));
    let out = String::from_utf8_lossy(&lost.stdout);
    assert!(
        out.contains(&format!("integration_credentials.access_token of row {id}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("integration_credentials.refresh_token of row {id}")),
        "{out}"
    );
    let tokens = t.mock.issued_refresh_tokens();
    assert!(
        !out.contains(&tokens[0]) && !out.contains(&old_key),
        "no secret printed"
    );
}
