use diesel::prelude::*;

use crate::helpers::spawn_app;
use targetym_integrations::db::catalogue;
use targetym_integrations::db::schema::integration_providers as p;

#[tokio::test]
async fn the_catalogue_has_the_ten_providers_with_https_endpoints() {
    let app = spawn_app().await;
    let rows = app.ctx.db.run(catalogue::list_enabled).await.unwrap();
    let slugs: Vec<&str> = rows.iter().map(|r| r.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            "slack",
            "google",
            "microsoft",
            "asana",
            "notion",
            "jira",
            "linear",
            "zoom",
            "dropbox",
            "github"
        ]
    );
    for row in &rows {
        let urls = [
            Some(&row.authorize_url),
            Some(&row.token_url),
            row.revoke_url.as_ref(),
            row.identity_url.as_ref(),
            Some(&row.api_base_url),
        ];
        for url in urls.into_iter().flatten() {
            assert!(url.starts_with("https://"), "{}: {url}", row.slug);
        }
        assert!(matches!(row.scope_separator.as_str(), " " | ","), "{}", row.slug);
        assert!(matches!(
            row.token_auth_method.as_str(),
            "client_secret_basic" | "client_secret_post"
        ));
    }
    let google = rows.iter().find(|r| r.slug == "google").unwrap();
    assert!(google.extra_auth_params.contains("access_type") && google.extra_auth_params.contains("offline"));
    assert!(google.pkce && google.default_scopes.split(' ').any(|s| s == "openid"));
    let microsoft = rows.iter().find(|r| r.slug == "microsoft").unwrap();
    assert!(microsoft.default_scopes.split(' ').any(|s| s == "offline_access"));
    let jira = rows.iter().find(|r| r.slug == "jira").unwrap();
    assert!(jira.extra_auth_params.contains("api.atlassian.com"));
    let slack = rows.iter().find(|r| r.slug == "slack").unwrap();
    assert_eq!(slack.scope_separator, ",");
    assert_eq!(slack.webhook_kind, "slack_events");
}

#[tokio::test]
async fn seeding_is_idempotent_and_repairs_changed_rows() {
    let app = spawn_app().await;
    app.ctx
        .db
        .run(|conn| {
            diesel::update(p::table.find("slack"))
                .set((
                    p::token_url.eq("https://stale.example/token"),
                    p::enabled.eq(false),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(app.ctx.prepare_database().await.unwrap(), (0, 1));
    let (url, enabled) = app
        .ctx
        .db
        .run(|conn| {
            Ok(p::table
                .find("slack")
                .select((p::token_url, p::enabled))
                .first::<(String, bool)>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(url, "https://slack.com/api/oauth.v2.access");
    assert!(enabled);
    assert_eq!(app.ctx.prepare_database().await.unwrap(), (0, 0));
}
