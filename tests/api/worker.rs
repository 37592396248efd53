use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::oauth_helpers::{OAuthApp, oauth_app, oauth_app_with};
use targetym_integrations::config::Settings;
use targetym_integrations::context::AppContext;
use targetym_integrations::db::schema::{
    integration_oauth_states as states, integration_sync_logs as logs, integrations,
};
use targetym_integrations::db::{self, credentials as stored_credentials, sync_logs};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, LogKind, OrgId};
use targetym_integrations::integrations::credentials;
use targetym_integrations::integrations::tokens::fresh_access_token;
use targetym_integrations::oauth::TokenSet;
use targetym_integrations::worker::Worker;

const KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn now() -> NaiveDateTime {
    db::now()
}

fn minutes(n: i64) -> chrono::Duration {
    chrono::Duration::minutes(n)
}

async fn org_id(t: &OAuthApp) -> OrgId {
    t.app.org_of("ada@acme.example").await
}

/// `n` connected integrations of the mock OAuth provider with mock-issued tokens expiring
/// in `expires_in` (None: no expiry) and maintenance due at `due_at`.
async fn seed(
    t: &OAuthApp,
    n: usize,
    expires_in: Option<i64>,
    with_refresh: bool,
    due_at: NaiveDateTime,
) -> Vec<String> {
    let org = org_id(t).await.to_text();
    let grants: Vec<(String, String)> = (0..n).map(|_| t.mock.issue_tokens("read write")).collect();
    let keyring = t.app.ctx.keyring.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                let mut ids = Vec::new();
                for (n, (access, refresh)) in grants.into_iter().enumerate() {
                    let id = uuid::Uuid::new_v4().to_string();
                    let account = format!("account-{n}");
                    db::integrations::insert(
                        conn,
                        &db::integrations::NewIntegration {
                            id: IntegrationId::parse(&id).unwrap(),
                            org_id: OrgId::parse(&org).unwrap(),
                            provider_slug: "mock-oauth",
                            status: IntegrationStatus::Connected,
                            external_account_id: &account,
                            external_account_name: &account,
                            granted_scopes: "read write",
                            connected_by: None,
                        },
                    )?;
                    diesel::update(integrations::table.find(&id))
                        .set(integrations::next_refresh_at.eq(due_at))
                        .execute(conn)?;
                    let tokens = TokenSet {
                        access_token: SecretString::from(access),
                        refresh_token: with_refresh.then(|| SecretString::from(refresh)),
                        token_type: "Bearer".into(),
                        expires_in,
                        scope: Some("read write".into()),
                        id_token: None,
                        extra: serde_json::Value::Null,
                    };
                    let row = credentials::seal(
                        &keyring,
                        IntegrationId::parse(&id).unwrap(),
                        &tokens,
                        None,
                        "read write",
                        db::now(),
                    );
                    stored_credentials::upsert(conn, &row)?;
                    ids.push(id);
                }
                Ok(ids)
            })
        })
        .await
        .unwrap()
}

async fn stored_tokens(ctx: &AppContext, id: &str) -> (String, Option<String>) {
    let id_c = id.to_owned();
    let row = ctx
        .db
        .run(move |conn| stored_credentials::find(conn, IntegrationId::parse(&id_c).unwrap()))
        .await
        .unwrap()
        .unwrap();
    let open = credentials::open(&ctx.keyring, &row).unwrap();
    (
        open.access_token.expose_secret().to_owned(),
        open.refresh_token.map(|t| t.expose_secret().to_owned()),
    )
}

async fn status_of(ctx: &AppContext, id: &str) -> (String, Option<String>, Option<NaiveDateTime>, i32) {
    let id = id.to_owned();
    ctx.db
        .run(move |conn| {
            Ok(integrations::table
                .find(&id)
                .select((
                    integrations::status,
                    integrations::last_error,
                    integrations::next_refresh_at,
                    integrations::refresh_failures,
                ))
                .first(conn)?)
        })
        .await
        .unwrap()
}

/// Another instance of the app on the same database (its own instance id, breakers, locks).
async fn second_instance(t: &OAuthApp, extra: &[(&str, &str)]) -> AppContext {
    let providers = t.app.data_dir.parent().unwrap().join("providers-b.toml");
    std::fs::write(&providers, crate::oauth_helpers::providers_file(&t.mock)).unwrap();
    let mut vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), t.app.database_url.clone()),
        ("DATA_DIR".to_owned(), t.app.data_dir.display().to_string()),
        ("INTEGRATION_ENCRYPTION_KEY".to_owned(), KEY.to_owned()),
        ("PROVIDERS_FILE".to_owned(), providers.display().to_string()),
        ("DB_POOL_SIZE".to_owned(), "4".to_owned()),
    ]);
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    AppContext::load(Settings::from_vars(&vars).unwrap())
        .await
        .unwrap()
}

async fn keyed_app(extra: &[(&'static str, &'static str)]) -> OAuthApp {
    oauth_app_with(|mut b| {
        b = b.var("INTEGRATION_ENCRYPTION_KEY", KEY);
        for (k, v) in extra {
            b = b.var(k, v);
        }
        b
    })
    .await
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire_and_the_rotated_token_is_stored() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = crate::oauth_helpers::first_integration(&t.app).await;
    let (old_access, old_refresh) = stored_tokens(&t.app.ctx, &id).await;
    let worker = Worker::new(t.app.ctx.clone());
    // The mock's tokens live an hour; the refresh window is 10 minutes (spread over 5 more).
    let report = worker.run_due_work(now() + minutes(40)).await.unwrap();
    assert_eq!(report.refreshed, 0, "not due 20 minutes before expiry");
    assert_eq!(t.mock.counters().refreshes, 0);
    let report = worker.run_due_work(now() + minutes(51)).await.unwrap();
    assert_eq!(report.refreshed, 1);
    assert_eq!(t.mock.counters().refreshes, 1);
    let (access, refresh) = stored_tokens(&t.app.ctx, &id).await;
    assert_ne!(access, old_access);
    let refresh = refresh.unwrap();
    assert_ne!(
        Some(&refresh),
        old_refresh.as_ref(),
        "the rotated refresh token is stored"
    );
    assert!(
        t.mock.issued_refresh_tokens().contains(&refresh),
        "and it is the live one"
    );
    let (status, error, next, failures) = status_of(&t.app.ctx, &id).await;
    assert_eq!((status.as_str(), error, failures), ("connected", None, 0));
    assert!(
        next.unwrap() > now() + minutes(40),
        "the next refresh is before the new expiry"
    );
    let page = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Access token refreshed"));
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("token_refreshes_total{outcome=\"refreshed\",provider=\"mock-oauth\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn without_a_new_refresh_token_the_old_one_is_kept() {
    let t = oauth_app().await;
    let ids = seed(&t, 1, Some(300), true, now()).await;
    let (_, before) = stored_tokens(&t.app.ctx, &ids[0]).await;
    t.mock.set_behaviour(|b| b.omit_refresh_token = true);
    let report = Worker::new(t.app.ctx.clone()).run_due_work(now()).await.unwrap();
    assert_eq!(report.refreshed, 1);
    let (_, after) = stored_tokens(&t.app.ctx, &ids[0]).await;
    assert_eq!(after, before);
    assert!(t.mock.issued_refresh_tokens().contains(&after.unwrap()));
}

#[tokio::test]
async fn invalid_grant_marks_the_integration_for_reconnect_at_once() {
    let t = oauth_app().await;
    let ids = seed(&t, 1, Some(300), true, now()).await;
    t.mock.set_behaviour(|b| b.invalid_grant = true);
    let report = Worker::new(t.app.ctx.clone()).run_due_work(now()).await.unwrap();
    assert_eq!(report.needs_reauth, 1);
    let (status, error, next, _) = status_of(&t.app.ctx, &ids[0]).await;
    assert_eq!(status, "needs_reauth");
    assert!(error.unwrap().contains("invalid_grant"));
    assert!(next.is_none(), "no more attempts");
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!(
            "/integrations/mock-oauth/connect?integration={}",
            ids[0]
        )),
        "Reconnect offered"
    );
    let detail = t
        .app
        .get_with(&t.admin, &format!("/integrations/{}", ids[0]))
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains("Reconnect needed") && detail.contains("invalid_grant"));
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_honouring_retry_after_then_succeed() {
    let t = oauth_app().await;
    let ids = seed(&t, 1, Some(300), true, now()).await;
    t.mock.set_behaviour(|b| {
        b.token_status = Some(503);
        b.token_retry_after_secs = Some(600);
    });
    let worker = Worker::new(t.app.ctx.clone());
    let start = now();
    let report = worker.run_due_work(start).await.unwrap();
    assert_eq!(report.retried, 1);
    let (status, error, next, failures) = status_of(&t.app.ctx, &ids[0]).await;
    assert_eq!((status.as_str(), failures), ("degraded", 1));
    assert!(error.unwrap().contains("HTTP 503"));
    assert!(next.unwrap() >= start + minutes(10), "Retry-After honoured");
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Retrying after an error"), "the card says so");
    // Not due again before the backoff.
    assert_eq!(worker.run_due_work(start + minutes(5)).await.unwrap().retried, 0);
    assert_eq!(t.mock.counters().token_requests, 1);

    t.mock.set_behaviour(|b| b.token_status = None);
    let report = worker.run_due_work(start + minutes(11)).await.unwrap();
    assert_eq!(report.refreshed, 1);
    let (status, error, _, failures) = status_of(&t.app.ctx, &ids[0]).await;
    assert_eq!((status.as_str(), error, failures), ("connected", None, 0));
    assert_eq!(t.mock.counters().refresh_token_reuses, 0);
}

#[tokio::test]
async fn the_circuit_breaker_opens_after_repeated_failures_and_probes_before_closing() {
    let t = keyed_app(&[
        ("BREAKER_THRESHOLD", "3"),
        ("BREAKER_COOLDOWN_SECS", "60"),
        ("PROVIDER_CONCURRENCY", "1"),
    ])
    .await;
    seed(&t, 5, Some(300), true, now()).await;
    t.mock.set_behaviour(|b| b.token_status = Some(500));
    let worker = Worker::new(t.app.ctx.clone());
    let start = now();
    let report = worker.run_due_work(start).await.unwrap();
    assert_eq!((report.retried, report.deferred), (3, 2), "{report:?}");
    assert_eq!(
        t.mock.counters().token_requests,
        3,
        "no calls once the breaker is open"
    );
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("provider_circuit_breaker_state{provider=\"mock-oauth\"} 1"),
        "{metrics}"
    );
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("circuit breaker open"));

    // After the cool-down one probe goes out; it succeeds and the breaker closes.
    t.mock.set_behaviour(|b| b.token_status = None);
    let mut refreshed = 0;
    let after_cooldown = start + minutes(3);
    for _ in 0..6 {
        refreshed += worker.run_due_work(after_cooldown).await.unwrap().refreshed;
    }
    assert_eq!(refreshed, 5);
    assert_eq!(
        t.app.ctx.breakers.state("mock-oauth"),
        targetym_integrations::providers::breaker::BreakerState::Closed
    );
    assert_eq!(t.mock.counters().refresh_token_reuses, 0);
}

#[tokio::test]
async fn fifty_concurrent_callers_share_one_refresh() {
    let t = oauth_app().await;
    let ids = seed(&t, 1, Some(30), true, now() + minutes(60)).await;
    let org = org_id(&t).await;
    let id = IntegrationId::parse(&ids[0]).unwrap();
    t.mock.set_behaviour(|b| b.token_delay_ms = 200);
    let callers: Vec<_> = (0..50)
        .map(|_| {
            let ctx = t.app.ctx.clone();
            tokio::spawn(async move {
                fresh_access_token(&ctx, org, id)
                    .await
                    .map(|t| t.expose_secret().to_owned())
            })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for caller in callers {
        tokens.insert(caller.await.unwrap().unwrap());
    }
    assert_eq!(
        t.mock.counters().token_requests,
        1,
        "one token request for 50 callers"
    );
    assert_eq!(tokens.len(), 1, "all got the same fresh token");
    assert_eq!(
        stored_tokens(&t.app.ctx, &ids[0]).await.0,
        tokens.into_iter().next().unwrap()
    );
}

#[tokio::test]
async fn callers_in_two_instances_share_one_refresh() {
    let t = keyed_app(&[]).await;
    let ids = seed(&t, 1, Some(30), true, now() + minutes(60)).await;
    let other = second_instance(&t, &[]).await;
    let org = org_id(&t).await;
    let id = IntegrationId::parse(&ids[0]).unwrap();
    t.mock.set_behaviour(|b| b.token_delay_ms = 300);
    let mut callers = Vec::new();
    for n in 0..20 {
        let ctx = if n % 2 == 0 {
            t.app.ctx.clone()
        } else {
            other.clone()
        };
        callers.push(tokio::spawn(async move {
            fresh_access_token(&ctx, org, id)
                .await
                .map(|t| t.expose_secret().to_owned())
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for caller in callers {
        tokens.insert(caller.await.unwrap().unwrap());
    }
    assert_eq!(t.mock.counters().token_requests, 1);
    assert_eq!(tokens.len(), 1);
}

#[tokio::test]
async fn two_instances_refresh_a_thousand_tokens_exactly_once() {
    let t = keyed_app(&[("WORKER_BATCH_SIZE", "100"), ("PROVIDER_CONCURRENCY", "8")]).await;
    let ids = seed(&t, 1000, Some(120), true, now()).await;
    let other = second_instance(&t, &[("WORKER_BATCH_SIZE", "100"), ("PROVIDER_CONCURRENCY", "8")]).await;
    let (a, b) = (Worker::new(t.app.ctx.clone()), Worker::new(other));
    let at = now();
    let run = |worker: Worker| {
        tokio::spawn(async move {
            let mut refreshed = 0;
            loop {
                let report = worker.run_due_work(at).await.unwrap();
                refreshed += report.refreshed;
                if report.refreshed + report.deferred + report.retried + report.busy == 0 {
                    break refreshed;
                }
            }
        })
    };
    let (ra, rb) = (run(a), run(b));
    let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
    assert_eq!(ra + rb, 1000);
    assert!(ra > 0 && rb > 0, "both instances worked ({ra} + {rb})");
    let counters = t.mock.counters();
    assert_eq!(counters.refreshes, 1000);
    assert_eq!(counters.refresh_token_reuses, 0, "a refresh token was sent twice");
    let live = t.mock.issued_refresh_tokens();
    for id in ids.iter().step_by(50) {
        let (_, refresh) = stored_tokens(&t.app.ctx, id).await;
        assert!(live.contains(&refresh.unwrap()));
    }
    let refreshes: i64 = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("refresh"))
                .filter(logs::status.eq("succeeded"))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(refreshes, 1000);
}

/// Thousands of tokens come due together (a mass reconnect, a restart after an outage): a
/// round takes batch after batch instead of one batch per tick.
#[tokio::test]
async fn a_backlog_larger_than_a_batch_is_worked_through_in_one_round() {
    let t = keyed_app(&[("WORKER_BATCH_SIZE", "10")]).await;
    seed(&t, 35, Some(120), true, now()).await;
    let report = Worker::new(t.app.ctx.clone()).run_due_work(now()).await.unwrap();
    assert_eq!(report.refreshed, 35, "{report:?}");
    assert_eq!(t.mock.counters().refreshes, 35);
    assert_eq!(t.mock.counters().refresh_token_reuses, 0);
}

/// Refreshes are stored a chunk to a transaction: when one integration's write fails (here a
/// trigger refuses it), the others of its chunk still get theirs, stored one by one.
#[tokio::test]
async fn a_write_that_fails_for_one_integration_does_not_cost_its_chunk_their_new_tokens() {
    let t = keyed_app(&[("PROVIDER_CONCURRENCY", "8")]).await;
    let ids = seed(&t, 8, Some(120), true, now()).await;
    let bad = ids[3].clone();
    let refuse = if t.app.database_url.starts_with("postgres") {
        format!(
            "CREATE FUNCTION refuse_write() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$ \
             LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_one BEFORE UPDATE ON integration_credentials FOR EACH ROW \
             WHEN (NEW.integration_id = '{bad}') EXECUTE FUNCTION refuse_write();"
        )
    } else {
        format!(
            "CREATE TRIGGER refuse_one BEFORE UPDATE ON integration_credentials \
             WHEN NEW.integration_id = '{bad}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        )
    };
    t.app
        .ctx
        .db
        .run(move |conn| {
            Ok(diesel::connection::SimpleConnection::batch_execute(
                conn, &refuse,
            )?)
        })
        .await
        .unwrap();

    let report = Worker::new(t.app.ctx.clone()).run_due_work(now()).await.unwrap();
    assert_eq!((report.refreshed, report.retried), (7, 1), "{report:?}");
    let live = t.mock.issued_refresh_tokens();
    for id in ids.iter().filter(|id| **id != bad) {
        let (status, ..) = status_of(&t.app.ctx, id).await;
        assert_eq!(status, "connected");
        assert!(
            live.contains(&stored_tokens(&t.app.ctx, id).await.1.unwrap()),
            "{id} holds its new token"
        );
    }
    // The one whose write failed keeps its send on record: its old token is never sent again.
    let later = now() + minutes(10);
    Worker::new(t.app.ctx.clone()).run_due_work(later).await.unwrap();
    assert_eq!(t.mock.counters().refresh_token_reuses, 0);
    assert_eq!(t.mock.counters().refreshes, 8);
    let (status, error, _, _) = status_of(&t.app.ctx, &bad).await;
    assert_eq!(status, "needs_reauth");
    assert!(error.unwrap().contains("interrupted"));
}

#[tokio::test]
async fn an_instance_killed_mid_batch_leaves_its_work_to_the_other_without_a_reuse() {
    let t = keyed_app(&[]).await;
    let ids = seed(&t, 200, Some(120), true, now()).await;
    t.mock.set_behaviour(|b| b.token_delay_ms = 25);
    let providers = t.app.data_dir.parent().unwrap().join("providers-killed.toml");
    std::fs::write(&providers, crate::oauth_helpers::providers_file(&t.mock)).unwrap();
    let mut victim = std::process::Command::new(env!("CARGO_BIN_EXE_targetym-integrations"))
        .env_clear()
        .env("DATABASE_URL", &t.app.database_url)
        .env("DATA_DIR", &t.app.data_dir)
        .env("INTEGRATION_ENCRYPTION_KEY", KEY)
        .env("PROVIDERS_FILE", &providers)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("WORKER_TICK_SECS", "1")
        .env("WORKER_LEASE_SECS", "3")
        .env("PROVIDER_CONCURRENCY", "2")
        .env("WORKER_BATCH_SIZE", "200")
        .current_dir(t.app.data_dir.parent().unwrap())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while t.mock.counters().refreshes < 40 {
        assert!(std::time::Instant::now() < deadline, "the victim never refreshed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    victim.kill().unwrap(); // SIGKILL: no clean shutdown, claims stay until their lease ends
    victim.wait().unwrap();
    let killed_after = t.mock.counters().refreshes;
    assert!(killed_after < 200, "killed mid-batch");
    t.mock.set_behaviour(|b| b.token_delay_ms = 0);

    // The survivor takes the work at once, except what the dead instance held (at most its
    // concurrency: claims are taken one step at a time)...
    let survivor = Worker::new(second_instance(&t, &[]).await);
    let report = survivor.run_due_work(now()).await.unwrap();
    assert!(
        report.busy + report.deferred <= 2,
        "the dead instance's claims are respected: {report:?}"
    );
    // ...which it finishes once they have expired.
    let later = now() + minutes(10);
    while survivor.run_due_work(later).await.unwrap() != Default::default() {}
    let counters = t.mock.counters();
    assert_eq!(
        counters.refresh_token_reuses, 0,
        "no refresh token was sent twice"
    );
    let mut connected = 0;
    let mut interrupted = 0;
    let live = t.mock.issued_refresh_tokens();
    for id in &ids {
        let (status, error, _, _) = status_of(&t.app.ctx, id).await;
        match status.as_str() {
            "connected" => {
                connected += 1;
                assert!(
                    live.contains(&stored_tokens(&t.app.ctx, id).await.1.unwrap()),
                    "no token lost"
                );
            }
            "needs_reauth" => {
                interrupted += 1;
                assert!(error.unwrap().contains("interrupted"));
            }
            other => panic!("unexpected status {other}: {:?}", status_of(&t.app.ctx, id).await),
        }
    }
    assert_eq!(connected + interrupted, 200);
    assert!(
        interrupted <= 2,
        "only the refreshes in flight at the kill ({interrupted})"
    );
    // Every connected one was refreshed once; an interrupted one at most once (by the victim).
    let refreshes = counters.refreshes as usize;
    assert!(
        refreshes >= connected && refreshes <= connected + interrupted,
        "{refreshes} refreshes"
    );
}

#[tokio::test]
async fn the_actor_runs_with_the_server() {
    let t = oauth_app_with(|b| b.var("WORKER_ENABLED", "true").var("WORKER_TICK_SECS", "1")).await;
    let ids = seed(&t, 1, Some(60), true, now() - minutes(1)).await;
    // A round a second; the deadline leaves room for a loaded 2-core machine.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // The mock counts the refresh when it answers; the worker stores the new token after that.
    while t.mock.counters().refreshes == 0 || status_of(&t.app.ctx, &ids[0]).await.0 != "connected" {
        assert!(
            std::time::Instant::now() < deadline,
            "the actor did not refresh a due token"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn tokens_without_expiry_are_validated_and_a_revoked_one_is_noticed() {
    let t = oauth_app().await;
    let ids = seed(&t, 1, None, false, now()).await;
    let worker = Worker::new(t.app.ctx.clone());
    let report = worker.run_due_work(now()).await.unwrap();
    assert_eq!(report.validated, 1);
    assert_eq!(t.mock.counters().userinfo_calls, 1);
    let (status, _, next, _) = status_of(&t.app.ctx, &ids[0]).await;
    assert_eq!(status, "connected");
    assert!(
        next.unwrap() > now() + chrono::Duration::hours(5),
        "validated again hours later"
    );
    t.mock.revoke_all();
    let report = worker
        .run_due_work(now() + chrono::Duration::hours(7))
        .await
        .unwrap();
    assert_eq!(report.needs_reauth, 1);
    assert_eq!(status_of(&t.app.ctx, &ids[0]).await.0, "needs_reauth");
}

async fn enqueue_sync(ctx: &AppContext, org: &OrgId, integration: &str) -> String {
    let (org, integration) = (org.to_text(), integration.to_owned());
    ctx.db
        .run(move |conn| {
            sync_logs::enqueue(
                conn,
                &sync_logs::NewJob {
                    org_id: OrgId::parse(&org).unwrap(),
                    integration_id: Some(IntegrationId::parse(&integration).unwrap()),
                    provider_slug: "mock-oauth",
                    kind: LogKind::Sync,
                    message: "Sync asked for",
                    dedup_key: None,
                    payload: None,
                    max_attempts: 3,
                },
                db::now(),
            )
        })
        .await
        .unwrap()
        .unwrap()
}

async fn job(
    ctx: &AppContext,
    id: &str,
) -> (String, i32, Option<String>, Option<i64>, Option<NaiveDateTime>) {
    let id = id.to_owned();
    ctx.db
        .run(move |conn| {
            Ok(logs::table
                .find(&id)
                .select((
                    logs::status,
                    logs::attempts,
                    logs::error,
                    logs::duration_ms,
                    logs::next_attempt_at,
                ))
                .first(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn queued_jobs_are_claimed_run_and_finished() {
    let t = oauth_app().await;
    let ids = seed(&t, 2, Some(3600), true, now() + minutes(60)).await;
    let org = org_id(&t).await;
    let ok = enqueue_sync(&t.app.ctx, &org, &ids[0]).await;
    let worker = Worker::new(t.app.ctx.clone());
    let report = worker.run_due_work(now()).await.unwrap();
    assert_eq!(report.jobs_succeeded, 1);
    let (status, attempts, error, duration, _) = job(&t.app.ctx, &ok).await;
    assert_eq!((status.as_str(), attempts, error), ("succeeded", 1, None));
    assert!(duration.is_some());
    // A job whose token is refused ends failed, and the integration needs a reconnect.
    t.mock.revoke_all();
    let refused = enqueue_sync(&t.app.ctx, &org, &ids[1]).await;
    worker.run_due_work(now()).await.unwrap();
    let (status, _, error, _, _) = job(&t.app.ctx, &refused).await;
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("reconnect"));
    assert_eq!(status_of(&t.app.ctx, &ids[1]).await.0, "needs_reauth");
}

#[tokio::test]
async fn failing_jobs_are_retried_with_backoff_then_fail() {
    let t = oauth_app().await;
    // An expired token whose refresh keeps failing: the sync cannot get a token.
    let ids = seed(&t, 1, Some(-60), true, now() + minutes(600)).await;
    let org = org_id(&t).await;
    let queued = enqueue_sync(&t.app.ctx, &org, &ids[0]).await;
    t.mock.set_behaviour(|b| b.token_status = Some(502));
    let worker = Worker::new(t.app.ctx.clone());
    let mut at = now();
    let report = worker.run_due_work(at).await.unwrap();
    assert_eq!(report.jobs_retried, 1);
    let (status, attempts, error, _, next) = job(&t.app.ctx, &queued).await;
    assert_eq!((status.as_str(), attempts), ("queued", 1));
    assert!(error.unwrap().contains("HTTP 502"));
    assert!(next.unwrap() > at);
    for _ in 0..2 {
        at += chrono::Duration::hours(3);
        worker.run_due_work(at).await.unwrap();
    }
    let (status, attempts, _, _, _) = job(&t.app.ctx, &queued).await;
    assert_eq!((status.as_str(), attempts), ("failed", 3));
}

#[tokio::test]
async fn old_sync_logs_and_expired_states_are_purged_in_batches() {
    let t = oauth_app().await;
    t.start(&t.admin, "mock-oauth", None).await;
    let org = org_id(&t).await.to_text();
    t.app
        .ctx
        .db
        .run(move |conn| {
            let old = db::now() - chrono::Duration::days(120);
            for n in 0..1200 {
                diesel::insert_into(logs::table)
                    .values((
                        logs::id.eq(uuid::Uuid::new_v4().to_string()),
                        logs::org_id.eq(&org),
                        logs::provider_slug.eq("mock-oauth"),
                        logs::kind.eq("refresh"),
                        logs::status.eq(if n == 0 { "queued" } else { "succeeded" }),
                        logs::message.eq("old"),
                        logs::attempts.eq(1),
                        logs::max_attempts.eq(1),
                        logs::next_attempt_at.eq(old + chrono::Duration::days(365)),
                        logs::created_at.eq(old),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let report = Worker::new(t.app.ctx.clone())
        .run_due_work(now() + minutes(11))
        .await
        .unwrap();
    assert_eq!(report.removed.logs, 1199, "the queued one stays");
    assert_eq!(report.states_purged, 1);
    // The purge is itself in the organization's audit trail: how many, of which kinds.
    let recorded: Vec<(String, String)> = t
        .app
        .ctx
        .db
        .run(|conn| {
            use targetym_integrations::db::schema::audit_events as audit;
            Ok(audit::table
                .filter(audit::kind.eq("retention"))
                .select((audit::actor, audit::detail))
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(
        recorded,
        vec![(
            "system".to_owned(),
            "Retention removed 1199 activity entries older than 90 days (refresh 1199)".to_owned()
        )]
    );
    let (remaining, states_left) = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok((
                logs::table.count().get_result::<i64>(conn)?,
                states::table.count().get_result::<i64>(conn)?,
            ))
        })
        .await
        .unwrap();
    assert_eq!((remaining, states_left), (1, 0));
}

#[tokio::test]
async fn a_reconnect_clears_an_interrupted_refresh() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = crate::oauth_helpers::first_integration(&t.app).await;
    let marked = id.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            diesel::update(integrations::table.find(&marked))
                .set((
                    integrations::refresh_sent.eq("dead-instance 0000"),
                    integrations::refresh_sent_at.eq(db::now() - minutes(5)),
                    integrations::next_refresh_at.eq(db::now()),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let report = Worker::new(t.app.ctx.clone()).run_due_work(now()).await.unwrap();
    assert_eq!(report.needs_reauth, 1);
    assert_eq!(
        t.mock.counters().token_requests,
        1,
        "only the code exchange: the token was not resent"
    );
    let flow = t.connect_as(&t.admin, "mock-oauth", Some(&id)).await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    let report = Worker::new(t.app.ctx.clone())
        .run_due_work(now() + minutes(55))
        .await
        .unwrap();
    assert_eq!(
        report.refreshed,
        1,
        "{report:?} {:?}",
        status_of(&t.app.ctx, &id).await
    );
}

#[tokio::test]
async fn requests_per_provider_are_capped_and_due_times_are_spread() {
    let t = keyed_app(&[("PROVIDER_CONCURRENCY", "3")]).await;
    let ids = seed(&t, 30, Some(120), true, now()).await;
    t.mock.set_behaviour(|b| b.token_delay_ms = 40);
    let at = now();
    let report = Worker::new(t.app.ctx.clone()).run_due_work(at).await.unwrap();
    assert_eq!(report.refreshed, 30);
    let max = t.mock.counters().max_in_flight_token_requests;
    assert!(
        (2..=3).contains(&max),
        "at most 3 token requests at once per provider, and in parallel ({max})"
    );
    // Tokens issued together are not all due together next time.
    let mut next: Vec<NaiveDateTime> = Vec::new();
    for id in &ids {
        next.push(status_of(&t.app.ctx, id).await.2.unwrap());
    }
    next.sort();
    let spread = *next.last().unwrap() - next[0];
    assert!(
        spread > chrono::Duration::minutes(1),
        "spread over the window: {spread}"
    );
    assert!(spread <= chrono::Duration::minutes(5) + chrono::Duration::seconds(5));
    assert!(
        next[0] >= at + minutes(44),
        "before the new expiry, inside the window"
    );
}

#[tokio::test]
async fn a_sender_whose_claim_was_taken_over_cannot_overwrite_the_newer_result() {
    use targetym_integrations::db::integrations::{self as rows, Fence, MaintenanceResult};
    let t = oauth_app().await;
    let ids = seed(&t, 1, Some(120), true, now()).await;
    let id = ids[0].clone();
    let verdict = t
        .app
        .ctx
        .db
        .run(move |conn| {
            let start = db::now();
            // Instance A claims, records its send, then stalls past its lease.
            let a = rows::claim(
                conn,
                IntegrationId::parse(&id).unwrap(),
                "instance-a",
                start,
                start + chrono::Duration::seconds(60),
                true,
            )?
            .unwrap();
            assert!(rows::mark_refresh_sent(
                conn,
                IntegrationId::parse(&id).unwrap(),
                "instance-a",
                a,
                "instance-a hash",
                start
            )?);
            // Under the same claim a second send is refused while the first is on record.
            let twice = rows::mark_refreshes_sent(
                conn,
                "instance-a",
                &[(IntegrationId::parse(&id).unwrap(), a, "twice".into())],
                start,
            )?;
            assert_eq!(twice, vec![false], "a second send under one claim");
            // Instance B takes over after the lease and, seeing the stale send, asks for a reconnect.
            let later = start + chrono::Duration::minutes(5);
            assert!(
                rows::claim(
                    conn,
                    IntegrationId::parse(&id).unwrap(),
                    "instance-b",
                    later,
                    later + chrono::Duration::seconds(60),
                    false
                )?
                .is_some()
            );
            let b = rows::find_for_maintenance(conn, IntegrationId::parse(&id).unwrap())?
                .unwrap()
                .lease_generation;
            let reconnect = MaintenanceResult::NeedsReauth {
                error: "interrupted".into(),
            };
            assert!(rows::finish_maintenance(
                conn,
                IntegrationId::parse(&id).unwrap(),
                &Fence::Claim {
                    owner: "instance-b".into(),
                    generation: b
                },
                &reconnect,
                later
            )?);
            // A comes back with an answer: its write is fenced out, B's result stands.
            let late = MaintenanceResult::Healthy {
                next_at: later,
                refreshed: true,
            };
            let written = rows::finish_maintenance(
                conn,
                IntegrationId::parse(&id).unwrap(),
                &Fence::Sent {
                    marker: "instance-a hash".into(),
                },
                &late,
                later,
            )?;
            // And a stale claim generation cannot write either.
            let stale = MaintenanceResult::Deferred { next_at: later };
            let stale_written = rows::finish_maintenance(
                conn,
                IntegrationId::parse(&id).unwrap(),
                &Fence::Claim {
                    owner: "instance-a".into(),
                    generation: a,
                },
                &stale,
                later,
            )?;
            // The worker's chunk writes hold the same fences (one statement on PostgreSQL):
            // A's late answer and a new send under A's lost claim are refused too.
            let this = IntegrationId::parse(&id).unwrap();
            let chunk_written = rows::finish_refreshes(conn, &[(this, "instance-a hash", later)], later)?;
            let chunk_marked =
                rows::mark_refreshes_sent(conn, "instance-a", &[(this, a, "again".into())], later)?;
            assert_eq!((chunk_written, chunk_marked), (vec![false], vec![false]));
            Ok((written, stale_written))
        })
        .await
        .unwrap();
    assert_eq!(verdict, (false, false));
    assert_eq!(status_of(&t.app.ctx, &ids[0]).await.0, "needs_reauth");
}

/// Waits up to 30 s (a loaded 2-core machine is slow) for the mock to have seen `n` refreshes.
async fn refreshes_reach(t: &OAuthApp, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while t.mock.counters().refreshes < n {
        assert!(
            std::time::Instant::now() < deadline,
            "the actor stopped refreshing after {} refreshes",
            t.mock.counters().refreshes
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_providers_absurd_token_lifetime_does_not_stop_the_actor() {
    let absurd = mock_provider::MockConfig {
        access_token_ttl_secs: 10_000_000_000_000,
        ..Default::default()
    };
    let t = crate::oauth_helpers::oauth_app_with_mock(absurd, |b| {
        b.var("WORKER_ENABLED", "true").var("WORKER_TICK_SECS", "1")
    })
    .await;
    let ids = seed(&t, 1, Some(60), true, now() - minutes(1)).await;
    refreshes_reach(&t, 1).await;
    // The mock counts the refresh when it answers; the worker stores its outcome (and the next
    // due time) after that, which would overwrite the due time set below.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while status_of(&t.app.ctx, &ids[0]).await.0 != "connected" {
        assert!(std::time::Instant::now() < deadline, "the refresh was not stored");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The loop is still there: the token made due again is refreshed again.
    let id = ids[0].clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use targetym_integrations::db::schema::integrations;
            diesel::update(integrations::table.find(&id))
                .set(integrations::next_refresh_at.eq(now() - minutes(1)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    refreshes_reach(&t, 2).await;
    let metrics = t.app.get("/metrics").await.text().await.unwrap();
    let tick: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("worker_last_tick_timestamp_seconds "))
        .expect("the heartbeat metric")
        .parse()
        .unwrap();
    assert!(
        (chrono::Utc::now().timestamp() - tick).abs() < 10,
        "a recent heartbeat"
    );
    assert!(metrics.contains("worker_up 1"));
    assert_eq!(t.app.get("/readyz").await.status(), StatusCode::OK);
}
