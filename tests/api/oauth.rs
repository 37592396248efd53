use diesel::prelude::*;
use mock_provider::{AuthMethod, IssParam};
use reqwest::StatusCode;
use secrecy::ExposeSecret;

use crate::helpers::{self, browser, captured_logs, location};
use crate::oauth_helpers::{OAuthApp, oauth_app, oauth_app_with};
use targetym_integrations::crypto::keyring::Aad;
use targetym_integrations::db::schema::{
    audit_events as events, integration_consents as consents, integration_credentials as creds,
    integration_oauth_states as states, integrations,
};

/// POST /integrations/{id}/disconnect from `client` with this CSRF token.
async fn disconnect(t: &OAuthApp, client: &reqwest::Client, id: &str, csrf: &str) -> reqwest::Response {
    t.app
        .post_form_with(
            client,
            &format!("/integrations/{id}/disconnect"),
            &[("csrf_token", csrf)],
        )
        .await
}

/// (integrations, credentials, sync logs, consents, states) rows.
async fn counts(app: &helpers::TestApp) -> (i64, i64, i64, i64, i64) {
    app.ctx
        .db
        .run(|conn| {
            Ok((
                integrations::table.count().get_result(conn)?,
                creds::table.count().get_result(conn)?,
                // The flows' own records: not the sign-in and consent events around them.
                events::table
                    .filter(events::kind.ne_all(["session", "consent"]))
                    .count()
                    .get_result(conn)?,
                consents::table.count().get_result(conn)?,
                states::table.count().get_result(conn)?,
            ))
        })
        .await
        .unwrap()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn integration_ids(app: &helpers::TestApp) -> Vec<(String, String, String)> {
    app.ctx
        .db
        .run(|conn| {
            Ok(integrations::table
                .select((
                    integrations::id,
                    integrations::provider_slug,
                    integrations::status,
                ))
                .load::<(String, String, String)>(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn plain_oauth2_provider_happy_path() {
    let t = oauth_app().await;
    let flow = t.connect("mock-oauth").await;
    // The authorization request: exact redirect URI, fresh state, PKCE S256, no nonce.
    assert_eq!(
        query_param(&flow.authorize_url, "redirect_uri").unwrap(),
        format!("{}/integrations/callback", t.app.address)
    );
    assert_eq!(
        query_param(&flow.authorize_url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query_param(&flow.authorize_url, "state").unwrap().len() >= 43);
    assert!(query_param(&flow.authorize_url, "nonce").is_none());
    assert_eq!(
        query_param(&flow.authorize_url, "scope").as_deref(),
        Some("read write")
    );

    assert_eq!(flow.callback.status(), StatusCode::OK);
    let html = flow.callback.text().await.unwrap();
    assert!(html.contains("Connected as ada@mock.example"), "{html}");
    assert!(html.contains("href=\"/integrations\""));
    let counters = t.mock.counters();
    assert_eq!(counters.code_exchanges, 1);
    assert!(counters.last_pkce_verified, "the mock checked the PKCE verifier");
    assert_eq!(counters.last_auth_method, Some(AuthMethod::Post));

    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Connected as ada@mock.example"));
    let (integrations, credentials, audit_events, consents, states) = counts(&t.app).await;
    assert_eq!(
        (integrations, credentials, audit_events, consents, states),
        (1, 1, 1, 1, 1)
    );
    let (kind, status, message) = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(events::table
                .filter(events::kind.eq("connect"))
                .select((events::kind, events::outcome, events::detail))
                .first::<(String, String, String)>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!((kind.as_str(), status.as_str()), ("connect", "succeeded"));
    assert!(
        message.starts_with("Connected (") && !message.contains("ada@mock.example"),
        "the trail names no account: {message}"
    );
}

#[tokio::test]
async fn openid_connect_provider_happy_path_with_nonce_basic_auth_and_extra_params() {
    let t = oauth_app().await;
    let flow = t.connect("mock-oidc").await;
    assert!(query_param(&flow.authorize_url, "nonce").is_some());
    assert_eq!(
        query_param(&flow.authorize_url, "prompt").as_deref(),
        Some("consent")
    );
    assert!(
        query_param(&flow.authorize_url, "scope")
            .unwrap()
            .starts_with("openid ")
    );
    assert_eq!(flow.callback.status(), StatusCode::OK);
    assert!(
        flow.callback
            .text()
            .await
            .unwrap()
            .contains("Connected as ada@mock.example")
    );
    assert_eq!(t.mock.counters().last_auth_method, Some(AuthMethod::Basic));
    let (id, slug, status) = integration_ids(&t.app).await.remove(0);
    assert_eq!((slug.as_str(), status.as_str()), ("mock-oidc", "connected"));
    let account: String = t
        .app
        .ctx
        .db
        .run(move |conn| {
            Ok(integrations::table
                .find(&id)
                .select(integrations::external_account_id)
                .first(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(account, "mock-user-1");
}

#[tokio::test]
async fn slack_learns_the_workspace_from_the_token_answer() {
    let t = oauth_app().await;
    let flow = t.connect("slack").await;
    // Slack takes comma-separated scopes and no PKCE.
    assert!(
        query_param(&flow.authorize_url, "scope")
            .unwrap()
            .contains("chat:write,")
    );
    assert!(query_param(&flow.authorize_url, "code_challenge").is_none());
    assert_eq!(flow.callback.status(), StatusCode::OK);
    assert!(
        flow.callback
            .text()
            .await
            .unwrap()
            .contains("Connected as Mock Workspace")
    );
    assert_eq!(t.mock.counters().last_auth_method, Some(AuthMethod::Basic));
}

#[tokio::test]
async fn the_state_is_stored_hashed_bound_and_expiring_with_an_encrypted_verifier() {
    let t = oauth_app().await;
    let authorize_url = t.start(&t.admin, "mock-oauth", None).await;
    let raw_state = query_param(&authorize_url, "state").unwrap();
    let row = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(states::table
                .select((
                    states::id,
                    states::state_hash,
                    states::pkce_verifier,
                    states::created_at,
                    states::expires_at,
                    states::session_binding,
                ))
                .first::<(
                    String,
                    String,
                    Option<Vec<u8>>,
                    chrono::NaiveDateTime,
                    chrono::NaiveDateTime,
                    String,
                )>(conn)?)
        })
        .await
        .unwrap();
    let (id, hash, verifier, created, expires, binding) = row;
    assert_ne!(hash, raw_state);
    assert_eq!(
        hash,
        targetym_integrations::crypto::sha256_hex(raw_state.as_bytes())
    );
    assert_eq!((expires - created).num_minutes(), 10);
    assert_eq!(binding.len(), 64, "a hash of the session id");
    let sealed = verifier.expect("PKCE verifier stored");
    let opened = t
        .app
        .ctx
        .keyring
        .open(
            &sealed,
            &Aad {
                table: "integration_oauth_states",
                column: "pkce_verifier",
                row_id: &id,
            },
        )
        .unwrap();
    let verifier = String::from_utf8(opened.expose_secret().clone()).unwrap();
    assert!(verifier.len() >= 43);
    assert!(!sealed.windows(verifier.len()).any(|w| w == verifier.as_bytes()));
    assert!(!authorize_url.contains(&verifier));
    // The consent was recorded with the admin, the scopes, the text version, IP and agent.
    let consent = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(consents::table
                .select((
                    consents::scopes,
                    consents::consent_text_version,
                    consents::ip_address,
                    consents::user_agent,
                    consents::user_id,
                ))
                .first::<(String, String, Option<String>, Option<String>, Option<String>)>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(consent.0, "read write");
    assert!(!consent.1.is_empty());
    assert_eq!(consent.2.as_deref(), Some("127.0.0.1"));
    assert_eq!(consent.3.as_deref(), Some(helpers::USER_AGENT));
    assert!(consent.4.is_some(), "the admin who consented");
}

#[tokio::test]
async fn consent_must_be_given() {
    let t = oauth_app().await;
    let csrf = t
        .app
        .csrf_with(&t.admin, "/integrations/mock-oauth/connect")
        .await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            "/integrations/mock-oauth/connect",
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("Tick the box"));
    assert_eq!(counts(&t.app).await, (0, 0, 0, 0, 0));
}

#[tokio::test]
async fn a_provider_without_credentials_cannot_be_connected() {
    let t = oauth_app().await;
    let dialog = t
        .app
        .get_with(&t.admin, "/integrations/github/connect")
        .await
        .text()
        .await
        .unwrap();
    assert!(dialog.contains("an operator must set its client ID and secret"));
    assert!(!dialog.contains("name=\"consent\""));
    let csrf = t.app.csrf_with(&t.admin, "/integrations").await;
    let res = t
        .app
        .post_form_with(
            &t.admin,
            "/integrations/github/connect",
            &[("csrf_token", &csrf), ("consent", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("GitHub cannot be connected yet")
    );
    assert_eq!(counts(&t.app).await, (0, 0, 0, 0, 0));
    let res = t
        .app
        .get_with(&t.admin, "/integrations/no-such-provider/connect")
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_connect_dialog_is_a_partial_for_htmx_and_a_page_without_javascript() {
    let t = oauth_app().await;
    let partial = t.app.htmx_get(&t.admin, "/integrations/mock-oidc/connect").await;
    assert!(partial.trim_start().starts_with("<dialog") && !partial.contains("<html"));
    assert!(partial.contains("Confirm who you are"), "scopes in plain words");
    assert!(partial.contains("<label class=\"check\"><input type=\"checkbox\" name=\"consent\""));
    let page = t
        .app
        .get_with(&t.admin, "/integrations/mock-oidc/connect")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html") && page.contains("Connect Mock OIDC"));
}

#[tokio::test]
async fn bad_states_get_a_clear_page_and_change_nothing() {
    let t = oauth_app().await;
    for query in ["", "?code=abc", "?state=forged&code=abc", "?state=&code=abc"] {
        let res = t
            .app
            .get_with(&t.admin, &format!("/integrations/callback{query}"))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{query}");
        assert!(
            res.text().await.unwrap().contains("Nothing was connected"),
            "{query}"
        );
    }
    assert_eq!(counts(&t.app).await, (0, 0, 0, 0, 0));
    assert_eq!(t.mock.counters().token_requests, 0);
}

#[tokio::test]
async fn a_state_is_usable_once() {
    let t = oauth_app().await;
    let flow = t.connect("mock-oauth").await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    let before = counts(&t.app).await;
    let replay = t.admin.get(&flow.callback_url).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    assert!(replay.text().await.unwrap().contains("already been completed"));
    assert_eq!(counts(&t.app).await, before);
    assert_eq!(t.mock.counters().token_requests, 1);
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let t = oauth_app().await;
    let authorize_url = t.start(&t.admin, "mock-oauth", None).await;
    t.app
        .ctx
        .db
        .run(|conn| {
            let past = chrono::Utc::now().naive_utc() - chrono::Duration::minutes(1);
            diesel::update(states::table)
                .set(states::expires_at.eq(past))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let callback_url = t.authorize(&authorize_url).await;
    let res = t.admin.get(&callback_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("expired"));
    assert_eq!(counts(&t.app).await.0, 0);
    assert_eq!(t.mock.counters().token_requests, 0);
}

#[tokio::test]
async fn a_state_started_in_another_browser_session_is_refused() {
    let t = oauth_app().await;
    let authorize_url = t.start(&t.admin, "mock-oauth", None).await;
    let callback_url = t.authorize(&authorize_url).await;
    // The same admin, signed in from another browser; and a browser with no session at all.
    let other = browser();
    t.app
        .login_with(&other, "ada@acme.example", helpers::PASSWORD)
        .await;
    for client in [other, browser()] {
        let res = client.get(&callback_url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("another browser session"));
    }
    assert_eq!(counts(&t.app).await.0, 0);
    // The browser that started it can still finish.
    let res = t.admin.get(&callback_url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A failed flow: the page says so with "Try again", the sync log has the reason, nothing
/// else was written, and no secret is in the page.
async fn assert_failed(t: &OAuthApp, slug: &str, reason_part: &str) {
    let flow = t.connect(slug).await;
    assert_eq!(flow.callback.status(), StatusCode::BAD_GATEWAY);
    let html = flow.callback.text().await.unwrap();
    assert!(html.contains("was not connected"), "{html}");
    assert!(
        html.contains(&format!("href=\"/integrations/{slug}/connect\">Try again")),
        "{html}"
    );
    assert!(html.contains(reason_part), "{reason_part:?} in {html}");
    for token in t
        .mock
        .issued_access_tokens()
        .iter()
        .chain(&t.mock.issued_refresh_tokens())
    {
        assert!(!html.contains(token.as_str()));
    }
    let (integrations, credentials, audit_events, _, _) = counts(&t.app).await;
    assert_eq!((integrations, credentials), (0, 0), "no half-written integration");
    assert_eq!(audit_events, 1);
    let (status, error) = t
        .app
        .ctx
        .db
        .run(|conn| {
            Ok(events::table
                .filter(events::kind.eq("connect"))
                .select((events::outcome, events::detail))
                .first::<(String, String)>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(status, "failed");
    assert!(error.contains(reason_part), "{error}");
}

#[tokio::test]
async fn the_provider_denying_access_is_a_clear_failure() {
    let t = oauth_app().await;
    t.mock.set_behaviour(|b| b.deny_authorization = true);
    assert_failed(&t, "mock-oauth", "access_denied").await;
    assert_eq!(t.mock.counters().token_requests, 0);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_a_clear_failure() {
    let t = oauth_app().await;
    t.mock.set_behaviour(|b| b.token_status = Some(503));
    assert_failed(&t, "mock-oauth", "unavailable (HTTP 503)").await;
}

#[tokio::test]
async fn an_invalid_grant_at_the_exchange_is_a_clear_failure() {
    let t = oauth_app().await;
    t.mock.set_behaviour(|b| b.invalid_grant = true);
    assert_failed(&t, "mock-oauth", "invalid_grant").await;
}

#[tokio::test]
async fn a_slow_token_endpoint_times_out() {
    let t = oauth_app_with(|b| b.var("PROVIDER_TIMEOUT_SECS", "1")).await;
    t.mock.set_behaviour(|b| b.token_delay_ms = 2500);
    assert_failed(&t, "mock-oauth", "did not answer in time").await;
}

#[tokio::test]
async fn id_tokens_that_fail_validation_are_refused() {
    type Knob = fn(&mut mock_provider::Behaviour);
    let cases: [(Knob, &str); 4] = [
        (|b| b.id_token_wrong_nonce = true, "nonce"),
        (|b| b.id_token_wrong_audience = true, "audience"),
        (|b| b.id_token_bad_signature = true, "signature"),
        (|b| b.id_token_wrong_issuer = true, "issuer"),
    ];
    for (knob, reason) in cases {
        let t = oauth_app().await;
        t.mock.set_behaviour(knob);
        let flow = t.connect("mock-oidc").await;
        assert_eq!(flow.callback.status(), StatusCode::BAD_GATEWAY, "{reason}");
        let html = flow.callback.text().await.unwrap();
        assert!(html.contains("identity token is not valid"), "{reason}: {html}");
        assert_eq!(counts(&t.app).await.0, 0, "{reason}");
    }
}

#[tokio::test]
async fn an_iss_mismatch_or_a_missing_advertised_iss_is_refused() {
    let t = oauth_app().await;
    t.mock.set_behaviour(|b| b.iss_param = IssParam::Wrong);
    assert_failed(&t, "mock-oidc", "another issuer").await;
    assert_eq!(
        t.mock.counters().token_requests,
        0,
        "refused before the code exchange"
    );

    let t = oauth_app().await;
    t.mock.set_behaviour(|b| b.iss_param = IssParam::None);
    assert_failed(&t, "mock-oidc", "missing the iss parameter").await;
}

#[tokio::test]
async fn connecting_the_same_account_again_updates_one_integration() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let first = integration_ids(&t.app).await;
    let flow = t.connect("mock-oauth").await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    assert_eq!(integration_ids(&t.app).await, first);
    let (integrations, credentials, audit_events, consents, _) = counts(&t.app).await;
    assert_eq!((integrations, credentials, audit_events, consents), (1, 1, 2, 2));
}

/// Every token the mock issued, looked for in every table's raw content.
async fn assert_no_plaintext_tokens(t: &OAuthApp) {
    let tokens: Vec<String> = t
        .mock
        .issued_access_tokens()
        .into_iter()
        .chain(t.mock.issued_refresh_tokens())
        .collect();
    assert!(!tokens.is_empty());
    let dump = if t.app.ctx.db.is_postgres() {
        t.app
            .ctx
            .db
            .run(|conn| {
                #[derive(QueryableByName)]
                struct Row {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    content: String,
                }
                let mut all = String::new();
                for table in [
                    "integrations",
                    "integration_credentials",
                    "integration_sync_logs",
                    "audit_events",
                    "integration_consents",
                    "integration_oauth_states",
                    "integration_webhooks",
                ] {
                    let rows: Vec<Row> =
                        diesel::sql_query(format!("SELECT row_to_json(t)::text AS content FROM {table} t"))
                            .load(conn)?;
                    rows.into_iter().for_each(|r| all.push_str(&r.content));
                }
                Ok(all.into_bytes())
            })
            .await
            .unwrap()
    } else {
        let mut bytes = std::fs::read(&t.app.database_url).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", t.app.database_url)) {
            bytes.extend(wal);
        }
        bytes
    };
    let logs = captured_logs();
    for token in &tokens {
        assert!(
            !dump.windows(token.len()).any(|w| w == token.as_bytes()),
            "a token in clear in the database"
        );
        assert!(!logs.contains(token.as_str()), "a token in the logs");
    }
    assert!(!logs.contains("mock-secret"), "the client secret in the logs");
}

#[tokio::test]
async fn no_token_in_clear_in_the_database_or_the_logs() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    t.connect("mock-oidc").await;
    assert_eq!(integration_ids(&t.app).await.len(), 2);
    assert_no_plaintext_tokens(&t).await;
}

#[tokio::test]
async fn disconnect_revokes_deletes_credentials_withdraws_consent_and_logs() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    let refresh_token = t.mock.issued_refresh_tokens().remove(0);

    let confirm = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}/disconnect"))
        .await;
    assert_eq!(confirm.status(), StatusCode::OK);
    let csrf = helpers::csrf_in(&confirm.text().await.unwrap()).unwrap();
    let res = disconnect(&t, &t.admin, &id, &csrf).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/integrations");
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("is disconnected"), "flash");
    assert!(!page.contains("Connected as ada@mock.example"));

    assert_eq!(t.mock.counters().revocations, 1);
    assert!(t.mock.is_revoked(&refresh_token));
    let (integrations_n, credentials, audit_events, _, _) = counts(&t.app).await;
    assert_eq!((integrations_n, credentials, audit_events), (1, 0, 2));
    let consent: Vec<String> = t
        .app
        .audit_events_of("consent")
        .await
        .into_iter()
        .map(|(actor, _, detail)| format!("{actor}: {detail}"))
        .collect();
    assert_eq!(consent.len(), 2, "{consent:?}");
    assert!(
        consent[0].starts_with("ada@acme.example: Consent given to mock-oauth for "),
        "{consent:?}"
    );
    assert_eq!(consent[1], "ada@acme.example: Consent withdrawn (disconnected)");
    let status = t.app.integration_status(&id).await;
    let withdrawn: Option<chrono::NaiveDateTime> = t
        .app
        .ctx
        .db
        .run(|conn| Ok(consents::table.select(consents::withdrawn_at).first(conn)?))
        .await
        .unwrap();
    assert_eq!(status, "disconnected");
    assert!(withdrawn.is_some());
}

#[tokio::test]
async fn a_failing_revocation_does_not_block_the_disconnect_and_is_recorded() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    t.mock.set_behaviour(|b| b.revoke_status = Some(500));
    let csrf = t.app.csrf_with(&t.admin, "/integrations").await;
    let res = disconnect(&t, &t.admin, &id, &csrf).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Revoking access at Mock OAuth failed"));
    let status = t.app.integration_status(&id).await;
    let (credentials, error) = t
        .app
        .ctx
        .db
        .run(move |conn| {
            let credentials: i64 = creds::table.count().get_result(conn)?;
            let error: String = events::table
                .filter(events::kind.eq("disconnect"))
                .select(events::detail)
                .first(conn)?;
            Ok((credentials, error))
        })
        .await
        .unwrap();
    assert_eq!((credentials, status.as_str()), (0, "disconnected"));
    assert!(error.contains("HTTP 500"), "{error}");
}

#[tokio::test]
async fn reconnect_runs_the_same_flow_and_keeps_the_history() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    let marked = id.clone();
    t.app
        .ctx
        .db
        .run(move |conn| {
            diesel::update(integrations::table.find(&marked))
                .set((
                    integrations::status.eq("needs_reauth"),
                    integrations::last_error.eq("the grant was revoked"),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("/integrations/mock-oauth/connect?integration={id}")));
    assert!(page.contains("Needs reconnect"));

    let flow = t.connect_as(&t.admin, "mock-oauth", Some(&id)).await;
    assert_eq!(flow.callback.status(), StatusCode::OK);
    assert_eq!(
        integration_ids(&t.app).await,
        vec![(id.clone(), "mock-oauth".into(), "connected".into())]
    );
    let detail = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        (
            detail.matches("data-kind=\"connect\"").count(),
            detail.matches("data-kind=\"reconnect\"").count()
        ),
        (1, 1),
        "the connect and the reconnect in the history"
    );
}

#[tokio::test]
async fn another_organizations_admin_gets_404_for_this_integration() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    let intruder = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    for path in [
        format!("/integrations/{id}"),
        format!("/integrations/{id}/disconnect"),
        format!("/integrations/mock-oauth/connect?integration={id}"),
    ] {
        assert_eq!(
            t.app.get_with(&intruder, &path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let csrf = t.app.csrf_with(&intruder, "/integrations").await;
    let res = disconnect(&t, &intruder, &id, &csrf).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = t
        .app
        .post_form_with(
            &intruder,
            "/integrations/mock-oauth/connect",
            &[("csrf_token", &csrf), ("consent", "yes"), ("integration", &id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.mock.counters().revocations, 0);
    assert_eq!(integration_ids(&t.app).await[0].2, "connected");
    // Garbage ids are 404 too.
    assert_eq!(
        t.app
            .get_with(&t.admin, "/integrations/not-a-uuid")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_detail_page_shows_the_connection_but_never_a_token() {
    let t = oauth_app().await;
    t.connect("mock-oidc").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    let html = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Mock OIDC") && html.contains("ada@mock.example"));
    assert!(html.contains("offline_access"), "granted scopes");
    assert!(html.contains("Access token expires"));
    for token in t
        .mock
        .issued_access_tokens()
        .iter()
        .chain(&t.mock.issued_refresh_tokens())
    {
        assert!(!html.contains(token.as_str()));
    }
}

#[tokio::test]
async fn test_connection_reports_the_result_and_latency_in_place_or_as_a_page() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    let csrf = t.app.csrf_with(&t.admin, &format!("/integrations/{id}")).await;
    let partial = t
        .admin
        .post(t.app.url(&format!("/integrations/{id}/test")))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(partial.trim_start().starts_with("<div id=\"test-result\"") && !partial.contains("<html"));
    assert!(
        partial.contains("OK — Mock OAuth answered for ada@mock.example") && partial.contains(" ms)"),
        "{partial}"
    );
    assert_eq!(
        t.mock.counters().userinfo_calls,
        2,
        "the identity call at connect, and the test"
    );

    t.mock.revoke_all();
    let page = t
        .app
        .post_form_with(
            &t.admin,
            &format!("/integrations/{id}/test"),
            &[("csrf_token", &csrf)],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<html") && page.contains("Failed —"), "{page}");
    let detail = t
        .app
        .get_with(&t.admin, &format!("/integrations/{id}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(detail.contains("data-kind=\"test\" data-outcome=\"succeeded\""));
    assert!(detail.contains("data-kind=\"test\" data-outcome=\"failed\""));

    let intruder = t.app.signed_in_admin("Beta Ltd", "bob@beta.example").await;
    let csrf = t.app.csrf_with(&intruder, "/integrations").await;
    let res = t
        .app
        .post_form_with(
            &intruder,
            &format!("/integrations/{id}/test"),
            &[("csrf_token", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn test_connection_runs_from_the_card_too() {
    let t = oauth_app().await;
    t.connect("mock-oauth").await;
    let (id, _, _) = integration_ids(&t.app).await.remove(0);
    let page = t
        .app
        .get_with(&t.admin, "/integrations")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!(
        "hx-post=\"/integrations/{id}/test\" hx-target=\"#test-{id}\""
    )));
    let csrf = helpers::csrf_in(&page).unwrap();
    let fragment = t
        .admin
        .post(t.app.url(&format!("/integrations/{id}/test")))
        .header("HX-Request", "true")
        .header("HX-Target", format!("test-{id}"))
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        fragment
            .trim_start()
            .starts_with(&format!("<div id=\"test-{id}\"")),
        "{fragment}"
    );
    assert!(fragment.contains("OK — Mock OAuth answered for ada@mock.example"));
    // A target that is not a plain id falls back to the page's.
    let odd = t
        .admin
        .post(t.app.url(&format!("/integrations/{id}/test")))
        .header("HX-Request", "true")
        .header("HX-Target", "x\" onmouseover=\"alert(1)")
        .header("X-CSRF-Token", &csrf)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(odd.trim_start().starts_with("<div id=\"test-result\""));
}
