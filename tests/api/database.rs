use diesel::prelude::*;

use crate::helpers::{self, spawn_app};
use targetym_integrations::context::AppContext;
use targetym_integrations::db::{DbConnection, schema};
use targetym_integrations::domain::{IntegrationId, IntegrationStatus, OrgId};

#[tokio::test]
async fn migrations_apply_once_and_reapply_as_a_no_op() {
    let app = spawn_app().await;
    // The app applied them at start; a second run finds nothing to do and changes no row.
    assert_eq!(app.ctx.prepare_database().await.unwrap(), (0, 0));
    let tables = app
        .ctx
        .db
        .run(|conn| {
            Ok(vec![
                schema::organizations::table.count().get_result::<i64>(conn)?,
                schema::integration_providers::table
                    .count()
                    .get_result::<i64>(conn)?,
                schema::integrations::table.count().get_result::<i64>(conn)?,
                schema::integration_credentials::table
                    .count()
                    .get_result::<i64>(conn)?,
                schema::integration_webhooks::table
                    .count()
                    .get_result::<i64>(conn)?,
                schema::integration_sync_logs::table
                    .count()
                    .get_result::<i64>(conn)?,
                schema::integration_consents::table
                    .count()
                    .get_result::<i64>(conn)?,
                schema::integration_oauth_states::table
                    .count()
                    .get_result::<i64>(conn)?,
            ])
        })
        .await
        .unwrap();
    assert_eq!(tables, vec![0, 10, 0, 0, 0, 0, 0, 0]);
}

#[tokio::test]
async fn several_instances_can_start_together_on_one_database() {
    let app = spawn_app().await;
    let mut starts = Vec::new();
    for _ in 0..3 {
        let builder = helpers::app().var("DATABASE_URL", &app.database_url);
        starts.push(tokio::spawn(async move { builder.spawn().await.address }));
    }
    for start in starts {
        start.await.expect("instance started");
    }
    assert_eq!(app.ctx.prepare_database().await.unwrap(), (0, 0));
}

#[tokio::test]
async fn migrations_apply_on_an_empty_database_from_scratch() {
    // A brand-new database (or schema) that no app has touched.
    let dir = tempfile::tempdir().unwrap();
    let (fresh_url, _schema) = helpers::fresh_database(&dir);
    let vars = std::collections::HashMap::from([
        ("DATABASE_URL".to_owned(), fresh_url),
        ("DATA_DIR".to_owned(), dir.path().display().to_string()),
    ]);
    let ctx = AppContext::load(targetym_integrations::config::Settings::from_vars(&vars).unwrap())
        .await
        .unwrap();
    let (applied, seeded) = ctx.prepare_database().await.unwrap();
    assert!(applied >= 1);
    assert_eq!(seeded, 10);
    assert_eq!(ctx.prepare_database().await.unwrap(), (0, 0));
}

#[tokio::test]
async fn unique_constraints_hold() {
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let result = app
        .ctx
        .db
        .run(|conn: &mut DbConnection| {
            let org: OrgId = schema::organizations::table
                .select(schema::organizations::id)
                .first(conn)?;
            let insert = |conn: &mut DbConnection, id: IntegrationId| {
                targetym_integrations::db::integrations::insert(
                    conn,
                    &targetym_integrations::db::integrations::NewIntegration {
                        id,
                        org_id: org,
                        provider_slug: "slack",
                        status: IntegrationStatus::Connected,
                        external_account_id: "T123",
                        external_account_name: "Acme",
                        granted_scopes: "chat:write",
                        connected_by: None,
                    },
                )
            };
            insert(conn, IntegrationId::new())?;
            Ok(insert(conn, IntegrationId::new()))
        })
        .await
        .unwrap();
    assert!(
        result.unwrap_err().is_unique_violation(),
        "one integration per org + provider + account"
    );
}

/// Rows carry typed values: what is read back is what was written, and a stored text the
/// domain refuses (written outside the app) is a read error, never a silent default.
#[tokio::test]
async fn typed_values_cross_the_database_boundary_both_ways() {
    use targetym_integrations::db::integrations as rows;
    let app = spawn_app().await;
    app.signed_in_admin("Acme HR", "ada@acme.example").await;
    let org = app.org_of("ada@acme.example").await;
    let id = IntegrationId::new();
    let (read, refused) = app
        .ctx
        .db
        .run(move |conn: &mut DbConnection| {
            rows::insert(
                conn,
                &rows::NewIntegration {
                    id,
                    org_id: org,
                    provider_slug: "slack",
                    status: IntegrationStatus::NeedsReauth,
                    external_account_id: "T123",
                    external_account_name: "Acme",
                    granted_scopes: "chat:write",
                    connected_by: None,
                },
            )?;
            let read = rows::find_for_org(conn, org, id)?.expect("the row");
            diesel::update(schema::integrations::table.find(id))
                .set(schema::integrations::status.eq("half-connected"))
                .execute(conn)?;
            Ok((read, rows::find_for_org(conn, org, id)))
        })
        .await
        .unwrap();
    assert_eq!(
        (read.id, read.org_id, read.status),
        (id, org, IntegrationStatus::NeedsReauth)
    );
    let error = refused
        .expect_err("an unknown status is not read as anything")
        .to_string();
    assert!(error.contains("deserializing field 'status'"), "{error}");
}

/// A connection that broke while in use (the server ended it) is not handed out again, to be
/// found dead by the next checkout's check and reported as a database failure.
#[tokio::test]
async fn a_connection_broken_in_use_does_not_go_back_to_the_pool() {
    use diesel::connection::SimpleConnection;
    let app = spawn_app().await;
    let db = targetym_integrations::db::Db::connect(&app.ctx.settings.database_url, 1).unwrap();
    // An ordinary failing statement breaks nothing.
    let failed = db
        .run(|conn| Ok(conn.batch_execute("SELECT no_such_column FROM organizations")?))
        .await;
    assert!(failed.is_err());
    if db.is_postgres() {
        // The server ends this very connection under us.
        let ended = db
            .run(|conn| Ok(conn.batch_execute("SELECT pg_terminate_backend(pg_backend_pid())")?))
            .await;
        assert!(ended.is_err());
    }
    for _ in 0..3 {
        db.run(|conn| Ok(conn.batch_execute("SELECT 1")?))
            .await
            .expect("a working connection");
    }
    assert_eq!(db.connection_failures(), 0, "no broken connection was handed out");
}
