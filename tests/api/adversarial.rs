//! The adversarial suite: property tests over every parser that takes outside input — each
//! webhook scheme (verification and the body handling behind it), the OAuth callback's query,
//! the query strings of every page, every form, and the providers file. No input may panic,
//! drop the connection or cause a 5xx; every refusal is a 4xx; nothing unsigned is stored.
//!
//! `ADVERSARIAL_CASES` sets the cases per target (default 10,000, so `cargo test` runs them
//! all); `tests/adversarial-long.sh` runs a million per target.

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::collection::{hash_map, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

use crate::helpers;
use crate::oauth_helpers::{OAuthApp, oauth_app_with, seed_integration};
use targetym_integrations::domain::{IntegrationId, OrgId, ProviderSlug, WebhookStatus};
use targetym_integrations::web::all_routes;
use targetym_integrations::webhooks::verify;

const SECRET: &str = "adversarial-signing-secret";

fn cases() -> u32 {
    std::env::var("ADVERSARIAL_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// The app under attack, on a runtime of its own: proptest's cases are synchronous.
struct Target {
    rt: tokio::runtime::Runtime,
    t: OAuthApp,
    /// One keep-alive connection, like an attacker's.
    client: Client,
}

impl Target {
    fn start() -> Target {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let t = rt.block_on(oauth_app_with(|b| {
            b.var("SLACK_SIGNING_SECRET", SECRET)
                .var("WEBHOOK_RATE_LIMIT_PER_MINUTE", "10000000")
                .var("API_RATE_LIMIT_PER_MINUTE", "1000000")
        }));
        Target {
            rt,
            t,
            client: Client::new(),
        }
    }

    /// Sends a request; a dropped connection or a 5xx fails the case. `None`: HTTP cannot
    /// carry this input at all (a control character in a header), so no server sees it.
    fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<Option<StatusCode>, TestCaseError> {
        let status = match self
            .rt
            .block_on(async { request.send().await.map(|r| r.status()) })
        {
            Ok(status) => status,
            Err(e) if e.is_builder() => return Ok(None),
            Err(e) => return Err(TestCaseError::fail(format!("{what}: no answer: {e}"))),
        };
        prop_assert!(
            status.is_success() || status.is_redirection() || status.is_client_error(),
            "{what}: answered {status}"
        );
        Ok(Some(status))
    }
}

// ---- Inputs ---------------------------------------------------------------------------

/// Text an attacker likes: numbers at and past every boundary, dates out of range,
/// separators, control characters, and arbitrary text.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        edgy_i64().prop_map(|n| n.to_string()),
        "[0-9]{10,40}",
        "-[0-9]{1,30}",
        "[+-]?[0-9]{1,7}-[0-9]{1,3}-[0-9]{1,3}(T[0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2})?Z?)?",
        Just("+262142-12-31".to_owned()),
        Just("9999999999999999999999".to_owned()),
        Just(String::new()),
        "[a-z_]{0,12}",
        "\\PC{0,64}",
        "[\\x00-\\x1f%&=?#/\\\\.]{0,16}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        nasty_text().prop_map(Value::from),
    ]
}

/// Keys the providers' payloads use, so that random bodies reach past the first lookup.
const KNOWN_KEYS: &[&str] = &[
    "type",
    "team_id",
    "event_id",
    "event",
    "challenge",
    "token",
    "value",
    "clientState",
    "changeType",
    "lifecycleEvent",
    "events",
    "verification_token",
    "id",
    "webhookTimestamp",
    "webhookEvent",
    "action",
    "payload",
    "plainToken",
    "list_folder",
    "delta",
    "accounts",
];

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(KNOWN_KEYS).prop_map(str::to_owned),
        1 => "[a-zA-Z_]{1,12}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            hash_map(json_key(), inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object shaped like a provider's envelope, with the values that steer the parsers.
fn envelope() -> impl Strategy<Value = Value> {
    let steering = prop_oneof![
        Just(("type", Value::from("event_callback"))),
        Just(("type", Value::from("url_verification"))),
        Just(("team_id", Value::from("T-ADV"))),
        Just(("event", Value::from("endpoint.url_validation"))),
        Just((
            "webhookTimestamp",
            Value::from(chrono::Utc::now().timestamp_millis())
        )),
        edgy_i64().prop_map(|n| ("webhookTimestamp", Value::from(n))),
        json_value().prop_map(|v| ("value", v)),
        json_value().prop_map(|v| ("payload", v)),
    ];
    (hash_map(json_key(), json_value(), 0..8), vec(steering, 0..4)).prop_map(|(random, steer)| {
        let mut object: serde_json::Map<String, Value> = random.into_iter().collect();
        for (key, value) in steer {
            object.insert(key.to_owned(), value);
        }
        Value::Object(object)
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => envelope().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => vec(any::<u8>(), 0..512),
    ]
}

/// How a delivery is signed.
#[derive(Debug, Clone)]
enum Signature {
    Valid,
    Garbage(String),
    Missing,
}

fn signature() -> impl Strategy<Value = Signature> {
    prop_oneof![
        2 => Just(Signature::Valid),
        1 => prop_oneof![
            "(v0=|sha256=)?[0-9a-f]{64}",
            "(v0=|sha256=)?[0-9a-fA-F]{0,70}",
            nasty_text(),
        ]
        .prop_map(Signature::Garbage),
        1 => Just(Signature::Missing),
    ]
}

/// A timestamp header: now, or anything.
fn timestamp() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        1 => nasty_text().prop_map(Some),
        1 => edgy_i64().prop_map(|n| Some(n.to_string())),
    ]
}

/// Any i64, with its ends and zero as likely as the rest together.
fn edgy_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        proptest::sample::select(&[i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX][..]),
    ]
}

/// Up to a few headers an attacker adds (names the schemes read among them).
fn extra_headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        proptest::sample::select(
            &[
                "x-github-delivery",
                "x-github-event",
                "linear-delivery",
                "x-atlassian-webhook-identifier",
                "x-hook-secret",
                "x-goog-resource-state",
                "x-goog-message-number",
                "x-goog-resource-id",
                "x-slack-retry-num",
                "content-length-x",
            ][..]
        )
        .prop_map(str::to_owned),
        "x-[a-z]{1,10}",
    ];
    vec((name, "[ -~]{0,80}"), 0..3)
}

// ---- Webhooks ---------------------------------------------------------------------------

/// One delivery to one scheme.
#[derive(Debug, Clone)]
struct Delivery {
    scheme: usize,
    body: Vec<u8>,
    signature: Signature,
    timestamp: Option<String>,
    headers: Vec<(String, String)>,
}

fn delivery(schemes: usize) -> impl Strategy<Value = Delivery> {
    (0..schemes, body(), signature(), timestamp(), extra_headers()).prop_map(
        |(scheme, body, signature, timestamp, headers)| Delivery {
            scheme,
            body,
            signature,
            timestamp,
            headers,
        },
    )
}

/// How a scheme signs: the header, and the signature over (timestamp, body).
enum Signing {
    /// `v0=hex(HMAC(secret, "v0:{ts}:{body}"))` with a timestamp header (Slack, Zoom).
    V0 {
        signature: &'static str,
        timestamp: &'static str,
    },
    /// `sha256=hex(HMAC(secret, body))` (GitHub, Jira, Notion).
    Prefixed(&'static str),
    /// `hex(HMAC(secret, body))` (Asana, Linear, Dropbox).
    Bare(&'static str),
    /// The channel token, compared as it is (Google).
    ChannelToken,
    /// `clientState` inside each notification (Microsoft Graph).
    ClientState,
}

struct Scheme {
    path: String,
    signing: Signing,
}

fn hex_hmac(parts: &[&[u8]]) -> String {
    hex::encode(verify::hmac_sha256(SECRET.as_bytes(), parts))
}

/// The request for a delivery, and whether it is validly signed.
fn webhook_request(target: &Target, scheme: &Scheme, d: &Delivery) -> (reqwest::RequestBuilder, bool) {
    let now = chrono::Utc::now().timestamp().to_string();
    let ts = d.timestamp.clone().unwrap_or(now);
    let mut body = d.body.clone();
    let mut request = target
        .client
        .request(Method::POST, target.t.app.url(&scheme.path));
    for (name, value) in &d.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let given = |valid: String| match &d.signature {
        Signature::Valid => Some(valid),
        Signature::Garbage(text) => Some(text.clone()),
        Signature::Missing => None,
    };
    let mut signed = matches!(d.signature, Signature::Valid);
    match scheme.signing {
        Signing::V0 { signature, timestamp } => {
            request = request.header(timestamp, ts.as_str());
            if let Some(sig) = given(format!("v0={}", hex_hmac(&[b"v0:", ts.as_bytes(), b":", &body]))) {
                request = request.header(signature, sig);
            }
            signed &= d.timestamp.is_none();
        }
        Signing::Prefixed(header) => {
            if let Some(sig) = given(format!("sha256={}", hex_hmac(&[&body]))) {
                request = request.header(header, sig);
            }
        }
        Signing::Bare(header) => {
            if let Some(sig) = given(hex_hmac(&[&body])) {
                request = request.header(header, sig);
            }
        }
        Signing::ChannelToken => {
            request = request.header("x-goog-channel-id", "adversarial-channel");
            if let Some(token) = given(SECRET.to_owned()) {
                request = request.header("x-goog-channel-token", token);
            }
        }
        Signing::ClientState => {
            // Valid: every notification carries our clientState; otherwise what the input has.
            if matches!(d.signature, Signature::Valid) {
                let items: Vec<Value> = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("value").and_then(Value::as_array).cloned())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut item| {
                        if let Some(object) = item.as_object_mut() {
                            object.insert("clientState".into(), SECRET.into());
                        }
                        item
                    })
                    .collect();
                body = serde_json::json!({ "value": items }).to_string().into_bytes();
            }
        }
    }
    (request.body(body), signed)
}

async fn stored_events(t: &OAuthApp) -> i64 {
    use diesel::prelude::*;
    use targetym_integrations::db::schema::integration_sync_logs as logs;
    t.app
        .ctx
        .db
        .run(|conn| {
            Ok(logs::table
                .filter(logs::kind.eq("webhook_event"))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap()
}

/// Every scheme's endpoint, with SECRET as its secret.
async fn schemes(t: &OAuthApp) -> Vec<Scheme> {
    use targetym_integrations::db::webhooks::{self, WebhookRow};
    seed_integration(&t.app, &t.mock, "slack", "T-ADV").await;
    let admin = targetym_integrations::accounts::authenticate(
        &t.app.ctx.db,
        "ada@acme.example",
        helpers::PASSWORD.to_owned().into(),
    )
    .await
    .unwrap()
    .unwrap();
    let mut all = vec![
        Scheme {
            path: "/api/webhooks/slack".into(),
            signing: Signing::V0 {
                signature: "x-slack-signature",
                timestamp: "x-slack-request-timestamp",
            },
        },
        Scheme {
            path: "/api/webhooks/google".into(),
            signing: Signing::ChannelToken,
        },
    ];
    let signed: [(&str, Signing); 8] = [
        ("github", Signing::Prefixed("x-hub-signature-256")),
        ("jira", Signing::Prefixed("x-hub-signature")),
        ("notion", Signing::Prefixed("x-notion-signature")),
        ("asana", Signing::Bare("x-hook-signature")),
        ("linear", Signing::Bare("linear-signature")),
        ("dropbox", Signing::Bare("x-dropbox-signature")),
        (
            "zoom",
            Signing::V0 {
                signature: "x-zm-signature",
                timestamp: "x-zm-request-timestamp",
            },
        ),
        ("microsoft", Signing::ClientState),
    ];
    for (provider, signing) in signed {
        let id = seed_integration(&t.app, &t.mock, provider, provider).await;
        let created = targetym_integrations::integrations::webhook_endpoints::create_endpoint(
            &t.app.ctx,
            &admin,
            IntegrationId::parse(&id).unwrap(),
            Some(SECRET),
        )
        .await
        .unwrap_or_else(|e| panic!("{provider} endpoint: {e}"));
        let path = created.url[created.url.find("/api/").unwrap()..].to_owned();
        all.push(Scheme { path, signing });
    }
    // A Google channel of the Google integration, its token SECRET.
    let google = seed_integration(&t.app, &t.mock, "google", "adv@example.com").await;
    let org = t.app.org_of("ada@acme.example").await.to_text();
    let row_id = uuid::Uuid::new_v4().to_string();
    let sealed = targetym_integrations::webhooks::seal_secret(&t.app.ctx, &row_id, SECRET.as_bytes());
    let key = t.app.ctx.keyring.current_key_id();
    let now = targetym_integrations::db::now();
    t.app
        .ctx
        .db
        .run(move |conn| {
            webhooks::insert(
                conn,
                &WebhookRow {
                    id: row_id,
                    org_id: OrgId::parse(&org).unwrap(),
                    integration_id: Some(IntegrationId::parse(&google).unwrap()),
                    provider_slug: "google".into(),
                    external_id: "adversarial-channel".into(),
                    resource_id: Some("resource".into()),
                    key_id: Some(key),
                    secret: Some(sealed),
                    status: WebhookStatus::Active,
                    expires_at: Some(now + chrono::Duration::days(7)),
                    received_count: 0,
                    rejected_count: 0,
                    last_event_at: None,
                    rate_limit_per_minute: 10_000_000,
                    created_at: now,
                    updated_at: now,
                    channel_kind: Some("calendar".into()),
                    dropped_count: 0,
                    handshake_opened_at: None,
                },
            )
        })
        .await
        .unwrap();
    all
}

#[test]
fn no_webhook_delivery_panics_or_errs_and_nothing_unsigned_is_stored() {
    let target = Target::start();
    let schemes = target.rt.block_on(schemes(&target.t));
    let before = target.rt.block_on(stored_events(&target.t));
    let signed_sent = AtomicU64::new(0);
    runner()
        .run(&delivery(schemes.len()), |d| {
            let scheme = &schemes[d.scheme];
            let (request, signed) = webhook_request(&target, scheme, &d);
            let Some(status) = target.send(request, &scheme.path)? else {
                return Ok(());
            };
            if signed {
                signed_sent.fetch_add(1, Ordering::Relaxed);
            } else {
                prop_assert_ne!(
                    status,
                    StatusCode::OK,
                    "{} accepted an unsigned delivery",
                    scheme.path
                );
            }
            Ok(())
        })
        .unwrap();
    let stored = target.rt.block_on(stored_events(&target.t)) - before;
    assert!(
        stored as u64 <= signed_sent.load(Ordering::Relaxed),
        "{stored} events stored from {} signed deliveries",
        signed_sent.load(Ordering::Relaxed)
    );
}

#[test]
fn the_webhook_verifiers_accept_exactly_what_is_signed() {
    let now = chrono::Utc::now().timestamp();
    runner()
        .run(
            &(
                vec(any::<u8>(), 0..256),
                edgy_i64(),
                any::<usize>(),
                any::<u8>(),
                nasty_text(),
            ),
            |(body, ts, at, flip, garbage)| {
                let key = SECRET.as_bytes();
                // Any timestamp and any signature text: an answer, never a panic.
                let _ = verify::slack(key, Some(&ts.to_string()), Some(&garbage), &body, now);
                let _ = verify::linear_timestamp(Some(ts), now * 1000);
                let _ = verify::sha256_bare(key, Some(&garbage), &body);
                let _ = verify::sha256_prefixed(key, Some(&garbage), &body);
                // A valid signature is accepted; one changed byte of the body is not.
                let stamp = now.to_string();
                let v0 = format!("v0={}", hex_hmac(&[b"v0:", stamp.as_bytes(), b":", &body]));
                prop_assert!(verify::slack(key, Some(&stamp), Some(&v0), &body, now).is_ok());
                let bare = hex_hmac(&[&body]);
                prop_assert!(verify::sha256_bare(key, Some(&bare), &body).is_ok());
                let prefixed = format!("sha256={bare}");
                prop_assert!(verify::sha256_prefixed(key, Some(&prefixed), &body).is_ok());
                if !body.is_empty() && flip != 0 {
                    let mut changed = body.clone();
                    changed[at % body.len()] ^= flip;
                    prop_assert!(verify::slack(key, Some(&stamp), Some(&v0), &changed, now).is_err());
                    prop_assert!(verify::sha256_bare(key, Some(&bare), &changed).is_err());
                    prop_assert!(verify::sha256_prefixed(key, Some(&prefixed), &changed).is_err());
                }
                // Outside the window, even a valid signature is refused.
                if now.abs_diff(ts) > verify::TIMESTAMP_WINDOW_SECS as u64 {
                    let stale = ts.to_string();
                    let v0 = format!("v0={}", hex_hmac(&[b"v0:", stale.as_bytes(), b":", &body]));
                    prop_assert!(verify::slack(key, Some(&stale), Some(&v0), &body, now).is_err());
                }
                Ok(())
            },
        )
        .unwrap();
}

// ---- Pages, forms and the OAuth callback --------------------------------------------------

/// A query string or form body: known field names and any others, with nasty values.
fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        3 => proptest::sample::select(&[
            "page", "per_page", "from", "to", "provider", "kind", "status", "q", "category",
            "integration", "schedule", "name", "secret", "consent", "email", "password",
            "password_confirm", "org_name", "state", "code", "error", "error_description", "iss",
            "csrf_token",
        ][..])
        .prop_map(str::to_owned),
        1 => "[a-z_\\[\\]]{1,12}",
    ];
    vec((name, nasty_text()), 0..6)
}

/// The concrete path of every route of the router, with this organization's ids or others.
fn concrete_paths(ids: &[String], method: &str) -> Vec<String> {
    all_routes()
        .filter(|r| r.method == method && !r.path.starts_with("/api/"))
        .flat_map(|route| {
            ids.iter().map(move |id| {
                route
                    .path
                    .replace("{id}", id)
                    .replace("{event}", id)
                    .replace("{webhook}", id)
                    .replace("{slug}", "slack")
                    .replace("{file}", "app.css")
            })
        })
        .collect()
}

fn page_target() -> (Target, Client, Vec<String>) {
    let target = Target::start();
    let id = target.rt.block_on(seed_integration(
        &target.t.app,
        &target.t.mock,
        "slack",
        "T-PAGES",
    ));
    let ids = vec![id, uuid::Uuid::new_v4().to_string(), "not-an-id".into()];
    // The signed-in admin's own browser (cookies), as the attacker holding a session.
    let admin = target.t.admin.clone();
    (target, admin, ids)
}

#[test]
fn no_query_string_on_any_page_panics_or_errs() {
    let (target, admin, ids) = page_target();
    let paths = concrete_paths(&ids, "GET");
    runner()
        .run(
            &(proptest::sample::select(paths), fields(), any::<bool>()),
            |(path, query, htmx)| {
                let query = serde_urlencoded::to_string(&query).unwrap();
                let mut request = admin.get(target.t.app.url(&format!("{path}?{query}")));
                if htmx {
                    request = request.header("HX-Request", "true");
                }
                target.send(request, &path)?;
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn no_form_body_on_any_form_panics_or_errs() {
    let (target, admin, ids) = page_target();
    let csrf = target
        .rt
        .block_on(target.t.app.csrf_with(&admin, "/integrations"));
    // Signing out would end the attack's session; it has no fields to parse.
    let paths: Vec<String> = concrete_paths(&ids, "POST")
        .into_iter()
        .filter(|p| p != "/logout")
        .collect();
    runner()
        .run(
            &(proptest::sample::select(paths), fields(), any::<bool>()),
            |(path, mut form, with_csrf)| {
                if with_csrf {
                    form.push(("csrf_token".into(), csrf.clone()));
                }
                let body = serde_urlencoded::to_string(&form).unwrap();
                let request = admin
                    .post(target.t.app.url(&path))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body);
                let status = target.send(request, &path)?;
                if !with_csrf {
                    prop_assert_eq!(
                        status,
                        Some(StatusCode::FORBIDDEN),
                        "{} without a CSRF token",
                        path
                    );
                }
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn no_oauth_callback_query_panics_or_errs_and_none_connects() {
    let (target, admin, _) = page_target();
    let before = target
        .rt
        .block_on(crate::oauth_helpers::integration_count(&target.t.app));
    runner()
        .run(&fields(), |query| {
            let query = serde_urlencoded::to_string(&query).unwrap();
            let request = admin.get(target.t.app.url(&format!("/integrations/callback?{query}")));
            target.send(request, "/integrations/callback")?;
            Ok(())
        })
        .unwrap();
    let after = target
        .rt
        .block_on(crate::oauth_helpers::integration_count(&target.t.app));
    assert_eq!(before, after, "no forged callback connects anything");
}

// ---- The providers file -------------------------------------------------------------------

fn provider_entry() -> impl Strategy<Value = String> {
    let field = prop_oneof![proptest::sample::select(
        &[
            "slug",
            "name",
            "kind",
            "issuer",
            "authorize_url",
            "token_url",
            "revoke_url",
            "userinfo_url",
            "client_id",
            "client_secret",
            "scopes",
            "token_auth_method",
            "category",
            "pkce",
            "scope_separator",
            "brand_color",
            "api_base_url",
            "account_id_field",
            "account_name_field",
            "extra_auth_params",
            "description",
        ][..]
    ),];
    let value = prop_oneof![
        nasty_text().prop_map(|s| format!("{s:?}")),
        proptest::sample::select(
            &[
                "\"oauth2\"",
                "\"oidc\"",
                "\"slack\"",
                "\"https://auth.example/authorize\"",
                "\"http://127.0.0.1:9/x\"",
                "\"javascript:alert(1)\"",
                "\"file:///etc/passwd\"",
                "[\"a\", \"b\"]",
                "true",
                "{ prompt = \"consent\" }",
                "\"#zzzzzz\"",
                "\",\"",
                "\"/id\"",
            ][..]
        )
        .prop_map(str::to_owned),
        any::<i64>().prop_map(|n| n.to_string()),
    ];
    vec((field, value), 0..10).prop_map(|fields| {
        let mut entry = "[[provider]]\n".to_owned();
        for (field, value) in fields {
            entry.push_str(&format!("{field} = {value}\n"));
        }
        entry
    })
}

fn providers_file() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => vec(provider_entry(), 0..4).prop_map(|entries| entries.join("\n")),
        1 => "\\PC{0,300}",
    ]
}

#[test]
fn no_providers_file_panics_and_every_accepted_one_is_sound() {
    use targetym_integrations::providers::file;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = targetym_integrations::providers::http::client(
        std::time::Duration::from_millis(200),
        targetym_integrations::config::TlsRoots::Bundled,
    );
    let builtin = targetym_integrations::providers::catalogue::builtin_providers();
    runner()
        .run(&providers_file(), |text| {
            let mut defs = builtin.clone();
            if rt
                .block_on(file::apply_text(
                    &text,
                    "providers.toml".as_ref(),
                    &mut defs,
                    &http,
                ))
                .is_ok()
            {
                for def in &defs {
                    prop_assert!(ProviderSlug::parse(&def.slug).is_some(), "slug {:?}", def.slug);
                    for url in [&def.authorize_url, &def.token_url] {
                        prop_assert!(file::checked_url(url, "url").is_ok(), "{} accepted", url);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}
