//! The audit trail (issue 18): who did what, apart from the activity log, in per-organization
//! hash chains that show a change, a deletion or an insertion made outside the app.

use chrono::Duration;
use diesel::prelude::*;
use reqwest::StatusCode;

use crate::cli::cli;
use crate::helpers::{self, TestApp, spawn_app};
use crate::oauth_helpers::oauth_app;
use targetym_integrations::db::audit::{self, NewAuditEvent};
use targetym_integrations::db::schema::{audit_chains as chains, audit_events as events};
use targetym_integrations::db::{self, DbConnection, sync_logs};
use targetym_integrations::domain::{
    Actor, AuditKind, AuditOutcome, AuditRecord, GENESIS_HASH, IntegrationId, LogKind, LogStatus, OrgId,
};
use targetym_integrations::integrations::housekeeping;
use targetym_integrations::integrations::oversight::{ChainCheck, verify_chain};

fn actor(name: &str) -> Actor {
    Actor {
        name: name.into(),
        user_id: None,
        source: Some("192.0.2.10".into()),
    }
}

/// `n` events of `org`, as the app appends them.
async fn append_events(app: &TestApp, org: OrgId, n: usize) {
    append_with(&app.ctx, org, n).await;
}

async fn append_with(ctx: &targetym_integrations::context::AppContext, org: OrgId, n: usize) {
    ctx.db
        .run(move |conn| {
            for k in 0..n {
                let detail = format!("event {k}");
                let actor = actor("ada@acme.example");
                audit::append(conn, &NewAuditEvent::new(org, AuditKind::Test, &actor, &detail))?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn first_integration(app: &TestApp) -> IntegrationId {
    use targetym_integrations::db::schema::integrations;
    let id: String = app
        .ctx
        .db
        .run(|conn| Ok(integrations::table.select(integrations::id).first(conn)?))
        .await
        .unwrap();
    IntegrationId::parse(&id).unwrap()
}

/// An organization nobody has signed in to yet: its chain has no event.
async fn bare_org(app: &TestApp) -> OrgId {
    use targetym_integrations::db::schema::organizations;
    let org = OrgId::new();
    app.ctx
        .db
        .run(move |conn| {
            diesel::insert_into(organizations::table)
                .values((
                    organizations::id.eq(org),
                    organizations::name.eq(format!("org {org}")),
                    organizations::created_at.eq(db::now()),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    org
}

async fn check(app: &TestApp, org: OrgId) -> ChainCheck {
    app.ctx.db.run(move |conn| verify_chain(conn, org)).await.unwrap()
}

async fn execute(app: &TestApp, sql: String) {
    app.ctx
        .db
        .run(move |conn| Ok(diesel::sql_query(sql).execute(conn)?))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admins_actions_are_audit_events_with_actor_and_address_on_a_verified_chain() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let id = first_integration(&t.app).await;
    let csrf = t.app.csrf_with(&t.admin, &format!("/integrations/{id}")).await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/test"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let page = t.app.get_with(&t.admin, "/audit").await.text().await.unwrap();
    assert_eq!(
        page.matches("data-actor=\"ada@acme.example\"").count(),
        4,
        "{page}"
    );
    // Signed in, consent given, connected, tested: each with the admin's address.
    for kind in ["session", "consent", "connect", "test"] {
        assert!(
            page.contains(&format!("<tr data-kind=\"{kind}\"")),
            "{kind}: {page}"
        );
    }
    assert_eq!(
        page.matches("<td>127.0.0.1</td>").count(),
        4,
        "the admin's address: {page}"
    );
    assert!(
        page.contains("Chain verified up to") && page.contains("(4 events)"),
        "{page}"
    );
    let tests = t
        .app
        .get_with(&t.admin, "/audit?kind=test")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(tests.matches("<tr data-kind=").count(), 1);
    let nobody = t
        .app
        .get_with(&t.admin, "/audit?actor=nobody%40acme.example")
        .await
        .text()
        .await
        .unwrap();
    assert!(nobody.contains("No event matches"));
    assert_eq!(
        t.app.get_with(&t.admin, "/audit?kind=refresh").await.status(),
        StatusCode::BAD_REQUEST,
        "a refresh is the activity log's"
    );
    // The activity log has none of it; another organization sees nothing of it.
    let activity = t.app.get_with(&t.admin, "/activity").await.text().await.unwrap();
    assert!(!activity.contains("data-kind=\"connect\"") && !activity.contains("data-kind=\"test\""));
    let other = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let theirs = t.app.get_with(&other, "/audit").await.text().await.unwrap();
    assert!(
        theirs.contains("(1 event)") && !theirs.contains("ada@acme.example"),
        "{theirs}"
    );
    let csv = t.app.get_with(&other, "/audit.csv").await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "the header and Bob's sign-in: {csv}");
    assert!(csv.contains("bob@beta.example") && !csv.contains("ada@acme.example"));
}

#[tokio::test]
async fn a_changed_deleted_or_inserted_audit_event_breaks_the_chain_at_that_event() {
    let app = spawn_app().await;
    let mut orgs = Vec::new();
    for _ in ["changed", "deleted", "tail", "inserted", "intact"] {
        let org = bare_org(&app).await;
        append_events(&app, org, 3).await;
        orgs.push(org);
    }
    let [changed, deleted, tail, inserted, intact] = orgs[..] else {
        unreachable!()
    };
    for org in &orgs {
        assert!(matches!(
            check(&app, *org).await,
            ChainCheck::Verified { events: 3, .. }
        ));
    }

    execute(
        &app,
        format!("UPDATE audit_events SET detail = 'nothing to see' WHERE org_id = '{changed}' AND seq = 2"),
    )
    .await;
    execute(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{deleted}' AND seq = 2"),
    )
    .await;
    execute(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{tail}' AND seq = 3"),
    )
    .await;
    // Inserted by someone who knows the scheme: a valid hash after the last event, but the
    // chain's head is the app's.
    let last = app
        .ctx
        .db
        .run(move |conn| audit::events_after(conn, inserted, 2, 1))
        .await
        .unwrap()
        .remove(0);
    let mut forged = last.record();
    forged.seq = 4;
    forged.detail = "forged".into();
    let forged_hash = forged.hash(last.hash.as_deref().unwrap());
    execute(
        &app,
        format!(
            "INSERT INTO audit_events (id, org_id, seq, kind, outcome, actor, provider_slug, source, detail, created_at, prev_hash, hash) \
             SELECT 'forged', org_id, 4, kind, outcome, actor, provider_slug, source, 'forged', created_at, hash, '{forged_hash}' \
             FROM audit_events WHERE org_id = '{inserted}' AND seq = 3"
        ),
    )
    .await;

    let broken = |seq: i64, why: &'static str| {
        move |c: ChainCheck| match c {
            ChainCheck::Broken { seq: at, reason } => at == seq && reason.contains(why),
            _ => false,
        }
    };
    let found = check(&app, changed).await;
    assert!(broken(2, "changed")(found.clone()), "{found:?}");
    let found = check(&app, deleted).await;
    assert!(broken(2, "deleted")(found.clone()), "{found:?}");
    let found = check(&app, tail).await;
    assert!(broken(3, "deleted")(found.clone()), "{found:?}");
    let found = check(&app, inserted).await;
    assert!(broken(4, "added")(found.clone()), "{found:?}");
    assert!(matches!(
        check(&app, intact).await,
        ChainCheck::Verified { events: 3, .. }
    ));

    // The page says so (an admin's sign-in is its organization's event 1 here); so does the
    // command, which exits 1 naming the first broken link.
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let acme = app.org_of("ada@acme.example").await;
    append_events(&app, acme, 2).await;
    execute(
        &app,
        format!("UPDATE audit_events SET actor = 'someone else' WHERE org_id = '{acme}' AND seq = 2"),
    )
    .await;
    let page = app.get_with(&client, "/audit").await.text().await.unwrap();
    assert!(page.contains("The chain is broken at event 2"), "{page}");
    let out = cli(&app, &["audit", "verify"], "");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("{changed}: BROKEN at event 2")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{inserted}: BROKEN at event 4")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{intact}: 3 events verified")),
        "{stdout}"
    );
    let out = cli(&app, &["audit", "verify", "--org", &intact.to_string()], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Moves the organization's whole history `days` back, as if written then (the chain is
/// rebuilt as the app would have built it).
fn age_history(conn: &mut DbConnection, org: OrgId, days: i64) -> Result<(), db::DbError> {
    let rows = audit::events_after(conn, org, 0, 1_000)?;
    let mut prev_hash = GENESIS_HASH.to_owned();
    for row in rows {
        let record = AuditRecord {
            at: row.created_at - Duration::days(days),
            ..row.record()
        };
        let hash = record.hash(&prev_hash);
        diesel::update(events::table.find(&row.id))
            .set((
                events::created_at.eq(record.at),
                events::prev_hash.eq(&prev_hash),
                events::hash.eq(&hash),
            ))
            .execute(conn)?;
        diesel::update(chains::table.find(org))
            .set(chains::head_hash.eq(&hash))
            .execute(conn)?;
        prev_hash = hash;
    }
    diesel::sql_query(format!(
        "UPDATE integration_sync_logs SET created_at = created_at - INTERVAL '{days} days' WHERE org_id = '{org}'"
    ))
    .execute(conn)
    .or_else(|_| {
        diesel::sql_query(format!(
            "UPDATE integration_sync_logs SET created_at = datetime(created_at, '-{days} days') WHERE org_id = '{org}'"
        ))
        .execute(conn)
    })?;
    Ok(())
}

#[tokio::test]
async fn a_connect_of_a_hundred_days_ago_is_still_on_the_audit_page_after_the_logs_are_purged() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let org = t.app.org_of("ada@acme.example").await;
    let id = first_integration(&t.app).await;
    t.app
        .ctx
        .db
        .run(move |conn| {
            sync_logs::append(
                conn,
                &sync_logs::NewSyncLog {
                    org_id: org,
                    integration_id: Some(id),
                    provider_slug: "mock-oauth",
                    kind: LogKind::Refresh,
                    status: LogStatus::Succeeded,
                    message: "Token refreshed",
                    error: None,
                    actor_user_id: None,
                    duration_ms: Some(3),
                },
            )?;
            age_history(conn, org, 100)
        })
        .await
        .unwrap();
    let removed = housekeeping::apply_retention(&t.app.ctx, db::now(), 100, || false)
        .await
        .unwrap();
    assert_eq!(
        removed,
        housekeeping::Removed {
            logs: 1,
            payloads: 0,
            audit_events: 0
        },
        "the 100-day-old refresh is past the activity log's retention, the connect not past the trail's"
    );
    let page = t.app.get_with(&t.admin, "/audit").await.text().await.unwrap();
    assert!(page.contains("<tr data-kind=\"connect\""), "{page}");
    assert!(page.contains("Chain verified up to"), "{page}");
}

#[tokio::test]
async fn the_jsonl_export_checks_out_outside_the_app_and_a_changed_line_does_not() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await;
    append_events(&app, org, 3).await;
    let res = app.get_with(&client, "/audit.jsonl").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit-trail.jsonl")
    );
    let export = res.text().await.unwrap();
    assert_eq!(export.lines().count(), 4, "the sign-in and three more");
    let dir = tempfile::tempdir().unwrap();
    let run = |text: &str| {
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, text).unwrap();
        std::process::Command::new("python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/deploy/verify-audit-export.py"
            ))
            .arg(&path)
            .output()
            .expect("python3 runs")
    };
    // The command line prints the same export.
    let printed = cli(&app, &["audit", "export", "--org", &org.to_string()], "");
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&printed.stdout), export);
    let out = run(&export);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 events check out"));
    let out = run(&export.replace("event 1", "event 9"));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3 (event 3)"));
}

/// Applies the migrations before `version` from the repository's files: the schema of the
/// release before it.
fn migrate_before(conn: &mut DbConnection, version: &str) {
    use diesel::migration::MigrationSource;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    fn run<DB: diesel::backend::Backend, C: MigrationHarness<DB>>(conn: &mut C, dir: &str, version: &str) {
        let path = format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR"));
        let source = FileBasedMigrations::from_path(path).unwrap();
        let mut migrations = MigrationSource::<DB>::migrations(&source).unwrap();
        migrations.sort_by_key(|m| m.name().version().to_string());
        conn.applied_migrations().unwrap(); // creates diesel's bookkeeping table
        for migration in migrations {
            if migration.name().version().to_string().replace('-', "") < version.replace('-', "") {
                conn.run_migration(&*migration).unwrap();
            }
        }
    }
    match conn {
        DbConnection::Sqlite(conn) => run(conn, "sqlite", version),
        DbConnection::Postgresql(conn) => run(conn, "postgres", version),
    }
}

#[tokio::test]
async fn the_upgrade_moves_every_audit_entry_of_the_shared_log_into_sealed_chains() {
    use targetym_integrations::db::schema::{integration_sync_logs as logs, organizations, users};
    let dir = tempfile::tempdir().unwrap();
    let (url, _schema) = helpers::fresh_database(&dir);
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), url),
        ("DATA_DIR".to_owned(), dir.path().display().to_string()),
    ]);
    let settings = targetym_integrations::config::Settings::from_vars(&vars).unwrap();
    let ctx = targetym_integrations::context::AppContext::load(settings)
        .await
        .unwrap();
    let (acme, beta) = (OrgId::new(), OrgId::new());
    let ada = targetym_integrations::domain::UserId::new();
    let t0 = db::now() - Duration::days(200);
    ctx.db
        .run(move |conn| {
            // The database as the release before the audit trail left it.
            migrate_before(conn, "2026-12-08-000100");
            for (org, name) in [(acme, "Acme HR"), (beta, "Beta Ltd")] {
                diesel::insert_into(organizations::table)
                    .values((
                        organizations::id.eq(org),
                        organizations::name.eq(name),
                        organizations::created_at.eq(t0),
                    ))
                    .execute(conn)?;
            }
            diesel::insert_into(users::table)
                .values((
                    users::id.eq(ada),
                    users::org_id.eq(acme),
                    users::email.eq("ada@acme.example"),
                    users::password_hash.eq("x"),
                    users::role.eq("admin"),
                    users::created_at.eq(t0),
                ))
                .execute(conn)?;
            // (org, kind, status, message, error, actor, minutes after t0), not in time order.
            let old = [
                (
                    acme,
                    "test",
                    "failed",
                    "Connection test failed",
                    Some("HTTP 500"),
                    Some(ada),
                    30,
                ),
                (
                    acme,
                    "connect",
                    "succeeded",
                    "Connected as Bob Smith",
                    None,
                    Some(ada),
                    10,
                ),
                (acme, "refresh", "succeeded", "Token refreshed", None, None, 20),
                (
                    acme,
                    "account",
                    "succeeded",
                    "Password reset by the operator",
                    None,
                    None,
                    40,
                ),
                (
                    beta,
                    "disconnect",
                    "succeeded",
                    "Disconnected by an admin",
                    None,
                    None,
                    5,
                ),
            ];
            for (org, kind, status, message, error, actor, minutes) in old {
                diesel::insert_into(logs::table)
                    .values((
                        logs::id.eq(uuid::Uuid::new_v4().to_string()),
                        logs::org_id.eq(org),
                        logs::provider_slug.eq("slack"),
                        logs::kind.eq(kind),
                        logs::status.eq(status),
                        logs::message.eq(message),
                        logs::error.eq(error),
                        logs::actor_user_id.eq(actor),
                        logs::created_at.eq(t0 + Duration::minutes(minutes)),
                    ))
                    .execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let (applied, _) = ctx.prepare_database().await.unwrap();
    assert_eq!(applied, 1, "the audit trail's migration");
    let (moved, left, pending) = ctx
        .db
        .run(move |conn| {
            let moved: Vec<(String, i64, String, String, String, String)> = events::table
                .order((events::org_id.eq(beta), events::seq))
                .select((
                    events::org_id,
                    events::seq,
                    events::kind,
                    events::outcome,
                    events::actor,
                    events::detail,
                ))
                .load(conn)?;
            let left: Vec<String> = logs::table.select(logs::kind).load(conn)?;
            let pending: i64 = targetym_integrations::db::schema::audit_seal_pending::table
                .count()
                .get_result(conn)?;
            Ok((moved, left, pending))
        })
        .await
        .unwrap();
    let row = |org: OrgId, seq: i64, kind: &str, outcome: &str, actor: &str, detail: &str| {
        (
            org.to_string(),
            seq,
            kind.into(),
            outcome.into(),
            actor.into(),
            detail.into(),
        )
    };
    assert_eq!(
        moved,
        vec![
            row(acme, 1, "connect", "succeeded", "ada@acme.example", "Connected"),
            row(
                acme,
                2,
                "test",
                "failed",
                "ada@acme.example",
                "Connection test failed: HTTP 500"
            ),
            row(
                acme,
                3,
                "account",
                "succeeded",
                "system",
                "Password reset by the operator"
            ),
            row(
                beta,
                1,
                "disconnect",
                "succeeded",
                "system",
                "Disconnected by an admin"
            ),
        ],
        "every audit entry, in time order, named by its actor, without the account's name"
    );
    assert_eq!(left, vec!["refresh".to_owned()], "the activity log keeps its own");
    assert_eq!(pending, 0, "sealed once");
    for (org, n) in [(acme, 3), (beta, 1)] {
        let found = ctx.db.run(move |conn| verify_chain(conn, org)).await.unwrap();
        assert!(
            matches!(found, ChainCheck::Verified { events, .. } if events == n),
            "{found:?}"
        );
    }
    // The next event follows the migrated ones.
    ctx.db
        .run(move |conn| {
            audit::append(
                conn,
                &NewAuditEvent {
                    org_id: acme,
                    kind: AuditKind::Disconnect,
                    outcome: AuditOutcome::Succeeded,
                    actor: &actor("ada@acme.example"),
                    integration_id: None,
                    provider_slug: "slack",
                    detail: "Disconnected",
                },
            )
        })
        .await
        .unwrap();
    let found = ctx.db.run(move |conn| verify_chain(conn, acme)).await.unwrap();
    assert!(
        matches!(found, ChainCheck::Verified { events: 4, .. }),
        "{found:?}"
    );
    assert_eq!(ctx.prepare_database().await.unwrap().0, 0);
}

#[tokio::test]
async fn appends_at_once_to_one_chain_take_turns_and_lose_nothing() {
    let app = spawn_app().await;
    let org = bare_org(&app).await;
    // The chain starts with these: the first appends race to create its head too.
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let ctx = app.ctx.clone();
            tokio::spawn(async move {
                for _ in 0..5 {
                    append_with(&ctx, org, 1).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let seqs: Vec<i64> = app
        .ctx
        .db
        .run(move |conn| {
            Ok(events::table
                .filter(events::org_id.eq(org))
                .order(events::seq)
                .select(events::seq)
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(seqs, (1..=40).collect::<Vec<_>>());
    assert!(matches!(
        check(&app, org).await,
        ChainCheck::Verified { events: 40, .. }
    ));
}

/// A webhook event of `org`, `days_ago`, in `status`, with a body.
fn webhook_event(
    conn: &mut DbConnection,
    org: OrgId,
    days_ago: i64,
    status: &str,
) -> Result<String, db::DbError> {
    use targetym_integrations::db::schema::integration_sync_logs as logs;
    let id = uuid::Uuid::new_v4().to_string();
    let at = db::now() - Duration::days(days_ago);
    diesel::insert_into(logs::table)
        .values((
            logs::id.eq(&id),
            logs::org_id.eq(org),
            logs::provider_slug.eq("slack"),
            logs::kind.eq("webhook_event"),
            logs::status.eq(status),
            logs::message.eq("message"),
            logs::dedup_key.eq(format!("Ev{id}")),
            logs::payload.eq(br#"{"user":{"name":"Bob Smith","email":"bob@acme.example"}}"#.to_vec()),
            logs::attempts.eq(1),
            logs::max_attempts.eq(5),
            logs::next_attempt_at.eq(at),
            logs::created_at.eq(at),
        ))
        .execute(conn)?;
    Ok(id)
}

#[tokio::test]
async fn retention_drops_old_webhook_bodies_and_audit_events_and_the_chain_still_checks_out() {
    use targetym_integrations::db::schema::integration_sync_logs as logs;
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await;
    append_events(&app, org, 5).await;
    let (processed, queued, recent) = app
        .ctx
        .db
        .run(move |conn| {
            Ok((
                webhook_event(conn, org, 8, "succeeded")?,
                webhook_event(conn, org, 8, "queued")?,
                webhook_event(conn, org, 1, "failed")?,
            ))
        })
        .await
        .unwrap();

    let removed = housekeeping::apply_retention(&app.ctx, db::now(), 2, || false)
        .await
        .unwrap();
    assert_eq!(
        removed,
        housekeeping::Removed {
            logs: 0,
            payloads: 1,
            audit_events: 0
        }
    );
    let bodies = app
        .ctx
        .db
        .run(move |conn| {
            let mut body = |id: &str| -> Result<(Option<String>, bool), db::DbError> {
                let (key, payload): (Option<String>, Option<Vec<u8>>) = logs::table
                    .find(id)
                    .select((logs::dedup_key, logs::payload))
                    .first(conn)?;
                Ok((key, payload.is_some()))
            };
            Ok([body(&processed)?, body(&queued)?, body(&recent)?])
        })
        .await
        .unwrap();
    assert_eq!(
        bodies.map(|(key, has_body)| (key.is_some(), has_body)),
        [(true, false), (true, true), (true, true)],
        "the processed 8-day-old event keeps its metadata and loses its body; a queued or recent one keeps it"
    );

    // 401 days on, every audit event is past AUDIT_RETENTION_DAYS: purged two at a time, the
    // anchor moves, and the purge is the first event after it.
    let removed = housekeeping::apply_retention(&app.ctx, db::now() + Duration::days(401), 2, || false)
        .await
        .unwrap();
    assert_eq!(
        removed.audit_events, 7,
        "the sign-in, the five and the first retention record"
    );
    let found = check(&app, org).await;
    assert!(
        matches!(found, ChainCheck::Verified { events: 1, .. }),
        "{found:?}"
    );
    let page = app.get_with(&client, "/audit").await.text().await.unwrap();
    assert!(page.contains("Chain verified up to"), "{page}");
    assert!(
        page.contains("7 audit events older than 400 days (the chain now starts after event 7)"),
        "{page}"
    );
    // Deleting the next event now is still seen.
    execute(
        &app,
        format!("DELETE FROM audit_events WHERE org_id = '{org}' AND seq = 8"),
    )
    .await;
    assert!(matches!(
        check(&app, org).await,
        ChainCheck::Broken { seq: 8, .. }
    ));
}

#[tokio::test]
async fn an_audit_retention_of_zero_keeps_every_event() {
    let app = helpers::app().var("AUDIT_RETENTION_DAYS", "0").spawn().await;
    let org = bare_org(&app).await;
    append_events(&app, org, 3).await;
    let removed = housekeeping::apply_retention(&app.ctx, db::now() + Duration::days(20_000), 10, || false)
        .await
        .unwrap();
    assert_eq!(removed.audit_events, 0);
    assert!(matches!(
        check(&app, org).await,
        ChainCheck::Verified { events: 3, .. }
    ));
}

#[tokio::test]
async fn webhook_bodies_stored_in_clear_by_an_older_version_are_sealed_by_keys_rotate() {
    use targetym_integrations::crypto::keyring::Keyring;
    use targetym_integrations::db::schema::integration_sync_logs as logs;
    use targetym_integrations::db::sealed::open_payload;
    use targetym_integrations::integrations::key_rotation;
    let app = spawn_app().await;
    let org = bare_org(&app).await;
    let id = app
        .ctx
        .db
        .run(move |conn| webhook_event(conn, org, 1, "succeeded"))
        .await
        .unwrap();
    let stored = |app: &TestApp, id: String| {
        let ctx = app.ctx.clone();
        async move {
            ctx.db
                .run(move |conn| {
                    Ok(logs::table
                        .find(&id)
                        .select(logs::payload.assume_not_null())
                        .first::<Vec<u8>>(conn)?)
                })
                .await
                .unwrap()
        }
    };
    let clear = stored(&app, id.clone()).await;
    assert!(!Keyring::is_sealed(&clear));
    assert_eq!(
        open_payload(&app.ctx.keyring, &id, &clear).unwrap(),
        clear,
        "read as it is"
    );
    let before = key_rotation::check_keys(&app.ctx).await.unwrap();
    assert_eq!((before.under_previous_keys, before.unreadable.len()), (1, 0));

    let rotated = key_rotation::rotate_keys(&app.ctx).await.unwrap();
    assert_eq!((rotated.moved, rotated.unreadable), (1, 0));
    let sealed = stored(&app, id.clone()).await;
    assert!(Keyring::is_sealed(&sealed) && !String::from_utf8_lossy(&sealed).contains("Bob Smith"));
    assert_eq!(open_payload(&app.ctx.keyring, &id, &sealed).unwrap(), clear);
    let after = key_rotation::check_keys(&app.ctx).await.unwrap();
    assert_eq!((after.under_previous_keys, after.unreadable.len()), (0, 0));
}

#[tokio::test]
async fn the_audit_page_checks_only_what_was_added_since_its_last_check() {
    let app = spawn_app().await;
    let client = app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await;
    append_events(&app, org, 2_100).await;
    let view = |expect: &'static str| {
        let (app, client) = (&app, &client);
        async move {
            let before = app.ctx.db.query_count();
            let page = app.get_with(client, "/audit").await.text().await.unwrap();
            assert!(page.contains(expect), "{expect}: {page}");
            app.ctx.db.query_count() - before
        }
    };
    // The first view reads the whole chain (three batches of events); the next one, after
    // one more event, reads from where the last check ended.
    let full = view("(2101 events)").await;
    append_events(&app, org, 1).await;
    let since = view("(2102 events)").await;
    assert!(since + 2 <= full, "{since} queries after {full}");
    // What is added after the check is checked at the next view.
    append_events(&app, org, 1).await;
    execute(
        &app,
        format!("UPDATE audit_events SET detail = 'changed' WHERE org_id = '{org}' AND seq = 2103"),
    )
    .await;
    view("The chain is broken at event 2103").await;
}
