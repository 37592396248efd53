use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreProviderMetadata};
use openidconnect::{AccessToken, AccessTokenHash, ClientId, ClientSecret, IssuerUrl, Nonce};
use reqwest::header::{AUTHORIZATION, LOCATION, WWW_AUTHENTICATE};
use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::Value;
use url::Url;

use super::state::{random_hex, s256};
use super::*;

const REDIRECT_URI: &str = "http://127.0.0.1:1/callback?from=mock";
const STATE: &str = "st&te =1";
const DEFAULT_AUTH: Auth<'static> = Auth::Basic("mock-client", "mock-secret");

/// How a test's client authenticates at /token and /revoke.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Basic(&'a str, &'a str),
    Post(&'a str, &'a str),
}

struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    fn new() -> Self {
        let verifier = format!("{}{}", random_hex(), random_hex());
        let challenge = s256(&verifier);
        Self { verifier, challenge }
    }
}

struct Harness {
    provider: MockProvider,
    http: Client,
}

impl Harness {
    async fn start() -> Self {
        Self::with(MockConfig::default()).await
    }

    async fn with(config: MockConfig) -> Self {
        let provider = MockProvider::start(config)
            .await
            .expect("the mock provider starts");
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .expect("client");
        Self { provider, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.provider.base_url())
    }

    async fn authorize(&self, params: &[(&str, &str)]) -> Response {
        self.http
            .get(self.url("/authorize"))
            .query(params)
            .send()
            .await
            .expect("GET /authorize")
    }

    /// Runs /authorize with the usual parameters plus `extra`.
    async fn authorize_with(&self, scope: &str, extra: &[(&str, &str)]) -> Response {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", "mock-client"),
            ("redirect_uri", REDIRECT_URI),
            ("state", STATE),
            ("scope", scope),
        ];
        params.extend_from_slice(extra);
        self.authorize(&params).await
    }

    async fn code(&self, scope: &str, pkce: Option<&Pkce>, nonce: Option<&str>) -> String {
        let mut extra = Vec::new();
        if let Some(pkce) = pkce {
            extra.extend([
                ("code_challenge", pkce.challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]);
        }
        extra.extend(nonce.map(|nonce| ("nonce", nonce)));
        let params = redirect_params(&self.authorize_with(scope, &extra).await);
        assert_eq!(params["state"], STATE);
        params["code"].clone()
    }

    async fn token(&self, auth: Auth<'_>, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut request = self.http.post(self.url("/token"));
        match auth {
            Auth::Basic(id, secret) => request = request.header(AUTHORIZATION, basic_header(id, secret)),
            Auth::Post(id, secret) => form.extend([("client_id", id), ("client_secret", secret)]),
        }
        let response = request.form(&form).send().await.expect("POST /token");
        let status = response.status();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn exchange(&self, code: &str, verifier: Option<&str>) -> (StatusCode, Value) {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ];
        form.extend(verifier.map(|verifier| ("code_verifier", verifier)));
        self.token(DEFAULT_AUTH, &form).await
    }

    /// A fresh authorization (scope "read write", no PKCE) exchanged for tokens.
    async fn tokens(&self) -> Value {
        let code = self.code("read write", None, None).await;
        let (status, body) = self.exchange(&code, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn refresh(&self, refresh_token: &str) -> (StatusCode, Value) {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        self.token(DEFAULT_AUTH, &form).await
    }

    async fn revoke(&self, token: &str) -> StatusCode {
        let request = self
            .http
            .post(self.url("/revoke"))
            .header(AUTHORIZATION, basic_header("mock-client", "mock-secret"));
        request
            .form(&[("token", token)])
            .send()
            .await
            .expect("POST /revoke")
            .status()
    }

    async fn with_bearer(&self, path: &str, token: &str) -> Response {
        let request = if path == "/userinfo" {
            self.http.get(self.url(path))
        } else {
            self.http.post(self.url(path))
        };
        request.bearer_auth(token).send().await.expect("bearer request")
    }
}

/// RFC 6749 §2.3.1: each part is form-urlencoded before the base64 step.
fn basic_header(id: &str, secret: &str) -> String {
    let encode = |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", encode(id), encode(secret)))
    )
}

fn redirect_params(response: &Response) -> HashMap<String, String> {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[LOCATION].to_str().expect("ASCII location");
    let url = Url::parse(location).expect("absolute location");
    assert!(
        location.starts_with("http://127.0.0.1:1/callback?from=mock&"),
        "{location}"
    );
    url.query_pairs().into_owned().collect()
}

fn str_field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing in {body}"))
}

#[tokio::test]
async fn pkce_s256_code_exchange_issues_tokens() {
    let h = Harness::start().await;
    let pkce = Pkce::new();
    let code = h.code("read write", Some(&pkce), None).await;

    let (status, body) = h.exchange(&code, Some(&pkce.verifier)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(str_field(&body, "access_token").starts_with("mock-at-"));
    assert!(str_field(&body, "refresh_token").starts_with("mock-rt-"));
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["team"]["id"], "T-MOCK");
    assert_eq!(body["authed_user"]["id"], "U-MOCK");
    assert!(
        body.get("id_token").is_none(),
        "no id_token without the openid scope"
    );
    assert_eq!(
        h.provider.issued_access_tokens(),
        [str_field(&body, "access_token")]
    );
    assert_eq!(
        h.provider.issued_refresh_tokens(),
        [str_field(&body, "refresh_token")]
    );
    let counters = h.provider.counters();
    assert_eq!(
        (
            counters.authorizations,
            counters.code_exchanges,
            counters.token_requests
        ),
        (1, 1, 1)
    );
    assert!(counters.last_pkce_verified);
    assert_eq!(counters.last_auth_method, Some(AuthMethod::Basic));
}

#[tokio::test]
async fn pkce_verifier_must_match_the_challenge() {
    let h = Harness::start().await;
    let pkce = Pkce::new();

    let code = h.code("read", Some(&pkce), None).await;
    let (status, body) = h.exchange(&code, Some(&Pkce::new().verifier)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &Value::from("invalid_grant"))
    );

    let code = h.code("read", Some(&pkce), None).await;
    let (status, _) = h.exchange(&code, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a missing verifier is refused");

    let code = h.code("read", None, None).await;
    let (status, _) = h.exchange(&code, Some(&pkce.verifier)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a verifier for a code without challenge is refused"
    );

    let counters = h.provider.counters();
    assert_eq!(counters.code_exchanges, 0);
    assert!(!counters.last_pkce_verified);
}

#[tokio::test]
async fn plain_pkce_is_refused_with_a_redirect() {
    let h = Harness::start().await;
    let verifier = Pkce::new().verifier;
    let extra = [
        ("code_challenge", verifier.as_str()),
        ("code_challenge_method", "plain"),
    ];

    let params = redirect_params(&h.authorize_with("read", &extra).await);

    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], STATE);
    assert!(!params.contains_key("code"));
    assert_eq!(h.provider.counters().authorizations, 0);
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_what_it_issued() {
    let h = Harness::start().await;
    let code = h.code("read", None, None).await;
    let (_, first) = h.exchange(&code, None).await;

    let (status, body) = h.exchange(&code, None).await;

    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &Value::from("invalid_grant"))
    );
    let access_token = str_field(&first, "access_token");
    assert_eq!(
        h.with_bearer("/userinfo", access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert!(h.provider.issued_access_tokens().is_empty());
    assert!(
        !h.provider.is_revoked(access_token),
        "revoked by the server, not via /revoke"
    );
}

#[tokio::test]
async fn basic_and_post_client_auth_both_work() {
    let secret = "s3cr:t +/%é";
    let h = Harness::with(MockConfig {
        client_secret: secret.to_owned(),
        ..MockConfig::default()
    })
    .await;

    for (auth, method) in [
        (Auth::Basic("mock-client", secret), AuthMethod::Basic),
        (Auth::Post("mock-client", secret), AuthMethod::Post),
    ] {
        let code = h.code("read", None, None).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        let (status, body) = h.token(auth, &form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(h.provider.counters().last_auth_method, Some(method));
    }
}

#[tokio::test]
async fn wrong_client_credentials_get_401_invalid_client() {
    let h = Harness::start().await;
    for auth in [
        Auth::Basic("mock-client", "wrong"),
        Auth::Post("mock-client", "wrong"),
        Auth::Basic("other", "mock-secret"),
    ] {
        let code = h.code("read", None, None).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ];
        let (status, body) = h.token(auth, &form).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::UNAUTHORIZED, &Value::from("invalid_client"))
        );
    }
    let response = h
        .http
        .post(h.url("/token"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(WWW_AUTHENTICATE));
    assert_eq!(h.provider.counters().token_requests, 4);
}

#[tokio::test]
async fn require_auth_method_refuses_the_other_method() {
    let h = Harness::start().await;
    h.provider
        .set_behaviour(|b| b.require_auth_method = Some(AuthMethod::Post));
    let code = h.code("read", None, None).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];

    let (status, _) = h.token(Auth::Basic("mock-client", "mock-secret"), &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.token(Auth::Post("mock-client", "mock-secret"), &form).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_kills_the_grant() {
    let h = Harness::start().await;
    let first = h.tokens().await;
    let first_refresh = str_field(&first, "refresh_token");

    let (status, second) = h.refresh(first_refresh).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = str_field(&second, "refresh_token");
    assert_ne!(second_refresh, first_refresh);
    assert_ne!(second["access_token"], first["access_token"]);
    assert_eq!(h.provider.issued_refresh_tokens(), [second_refresh]);
    assert_eq!(
        (
            h.provider.counters().refreshes,
            h.provider.counters().refresh_token_reuses
        ),
        (1, 0)
    );

    let (status, body) = h.refresh(first_refresh).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &Value::from("invalid_grant"))
    );
    assert_eq!(h.provider.counters().refresh_token_reuses, 1);
    let (status, _) = h.refresh(second_refresh).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "reuse revokes every token of the grant"
    );
    assert!(h.provider.issued_access_tokens().is_empty());
}

#[tokio::test]
async fn without_rotation_the_refresh_token_stays_valid() {
    let h = Harness::with(MockConfig {
        rotate_refresh_tokens: false,
        ..MockConfig::default()
    })
    .await;
    let tokens = h.tokens().await;
    let refresh_token = str_field(&tokens, "refresh_token");

    for _ in 0..2 {
        let (status, body) = h.refresh(refresh_token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("refresh_token").is_none());
    }
    assert_eq!(
        (
            h.provider.counters().refreshes,
            h.provider.counters().refresh_token_reuses
        ),
        (2, 0)
    );
}

#[tokio::test]
async fn id_token_verifies_against_the_served_jwks() {
    let h = Harness::start().await;
    let jwks: CoreJsonWebKeySet = h
        .http
        .get(h.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new("mock-client".into()),
        ClientSecret::new("mock-secret".into()),
        IssuerUrl::new(h.provider.base_url()).unwrap(),
        jwks,
    );
    let pkce = Pkce::new();
    let code = h.code("openid email profile", Some(&pkce), Some("nonce-1")).await;
    let (_, body) = h.exchange(&code, Some(&pkce.verifier)).await;
    let id_token: CoreIdToken = str_field(&body, "id_token").parse().unwrap();
    let claims = id_token
        .claims(&verifier, &Nonce::new("nonce-1".into()))
        .expect("a valid ID token");

    assert_eq!(claims.subject().as_str(), "mock-user-1");
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some("ada@mock.example")
    );
    assert_eq!(claims.email_verified(), Some(true));
    let access_token = AccessToken::new(str_field(&body, "access_token").to_owned());
    let key = id_token.signing_key(&verifier).unwrap();
    let expected = AccessTokenHash::from_token(&access_token, id_token.signing_alg().unwrap(), key).unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
}

#[tokio::test]
async fn id_token_knobs_make_verification_fail() {
    let knobs: [fn(&mut Behaviour); 4] = [
        |b| b.id_token_bad_signature = true,
        |b| b.id_token_wrong_nonce = true,
        |b| b.id_token_wrong_audience = true,
        |b| b.id_token_wrong_issuer = true,
    ];
    for knob in knobs {
        let h = Harness::start().await;
        let jwks: CoreJsonWebKeySet = h
            .http
            .get(h.url("/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let issuer = IssuerUrl::new(h.provider.base_url()).unwrap();
        let verifier =
            CoreIdTokenVerifier::new_public_client(ClientId::new("mock-client".into()), issuer, jwks);
        h.provider.set_behaviour(knob);

        let code = h.code("openid", None, Some("nonce-1")).await;
        let (_, body) = h.exchange(&code, None).await;
        let id_token: CoreIdToken = str_field(&body, "id_token").parse().unwrap();

        assert!(
            id_token.claims(&verifier, &Nonce::new("nonce-1".into())).is_err(),
            "{:?}",
            h.provider.shared.lock().behaviour
        );
    }
}

#[tokio::test]
async fn discovery_and_jwks_deserialize_with_openidconnect() {
    let h = Harness::start().await;
    let text = h
        .http
        .get(h.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let metadata: CoreProviderMetadata = serde_json::from_str(&text).expect("valid provider metadata");

    assert_eq!(metadata.issuer().as_str(), h.provider.base_url());
    assert_eq!(
        metadata.token_endpoint().map(|url| url.to_string()),
        Some(h.url("/token"))
    );
    assert_eq!(metadata.jwks_uri().as_str(), h.url("/jwks"));
    let raw: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(raw["revocation_endpoint"], h.url("/revoke"));
    assert_eq!(raw["authorization_response_iss_parameter_supported"], true);
    let jwks: Value = h
        .http
        .get(h.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&jwks["keys"][0]["kid"], &jwks["keys"][0]["alg"]),
        (&Value::from("mock-key-1"), &Value::from("RS256"))
    );
}

#[tokio::test]
async fn revoked_access_token_is_refused_by_userinfo() {
    let h = Harness::start().await;
    let tokens = h.tokens().await;
    let access_token = str_field(&tokens, "access_token");
    let userinfo = h.with_bearer("/userinfo", access_token).await;
    assert_eq!(userinfo.status(), StatusCode::OK);
    let claims: Value = userinfo.json().await.unwrap();
    assert_eq!(
        (&claims["sub"], &claims["email"]),
        (&Value::from("mock-user-1"), &Value::from("ada@mock.example"))
    );

    assert_eq!(h.revoke(access_token).await, StatusCode::OK);

    let userinfo = h.with_bearer("/userinfo", access_token).await;
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    assert!(
        userinfo.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert!(h.provider.is_revoked(access_token));
    assert_eq!(
        (
            h.provider.counters().revocations,
            h.provider.counters().userinfo_calls
        ),
        (1, 2)
    );
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_access_tokens() {
    let h = Harness::start().await;
    let tokens = h.tokens().await;
    let (access_token, refresh_token) = (
        str_field(&tokens, "access_token"),
        str_field(&tokens, "refresh_token"),
    );

    assert_eq!(h.revoke(refresh_token).await, StatusCode::OK);
    assert_eq!(h.revoke("never-issued").await, StatusCode::OK);

    assert!(h.provider.is_revoked(refresh_token) && h.provider.is_revoked(access_token));
    assert_eq!(
        h.with_bearer("/userinfo", access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(h.refresh(refresh_token).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(h.provider.counters().refresh_token_reuses, 0);
}

#[tokio::test]
async fn revoke_all_expires_access_tokens_and_kills_refresh_tokens() {
    let h = Harness::start().await;
    let tokens = h.tokens().await;

    h.provider.revoke_all();

    let access_token = str_field(&tokens, "access_token");
    assert_eq!(
        h.with_bearer("/userinfo", access_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.refresh(str_field(&tokens, "refresh_token")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert!(h.provider.issued_access_tokens().is_empty() && h.provider.issued_refresh_tokens().is_empty());
    assert!(!h.provider.is_revoked(access_token));
}

#[tokio::test]
async fn auth_test_answers_like_slack() {
    let h = Harness::start().await;
    let tokens = h.tokens().await;

    let ok: Value = h
        .with_bearer("/api/auth.test", str_field(&tokens, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&ok["ok"], &ok["team_id"], &ok["user_id"]),
        (&Value::from(true), &Value::from("T-MOCK"), &Value::from("U-MOCK"))
    );

    let response = h.with_bearer("/api/auth.test", "mock-at-forged").await;
    assert_eq!(response.status(), StatusCode::OK);
    let invalid: Value = response.json().await.unwrap();
    assert_eq!(
        (&invalid["ok"], &invalid["error"]),
        (&Value::from(false), &Value::from("invalid_auth"))
    );
    assert_eq!(h.provider.counters().identity_calls, 2);
}

#[tokio::test]
async fn consent_page_approves_or_denies() {
    let h = Harness::with(MockConfig {
        auto_approve: false,
        ..MockConfig::default()
    })
    .await;
    for (decision, expected) in [("approve", "code"), ("deny", "error")] {
        let page = h.authorize_with("read write", &[]).await;
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("Approve") && html.contains("<li>write</li>"),
            "{html}"
        );
        let request_id = html
            .split("name=\"request_id\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap();

        let form = [("request_id", request_id), ("decision", decision)];
        let answer = h
            .http
            .post(h.url("/authorize/decision"))
            .form(&form)
            .send()
            .await
            .unwrap();
        let params = redirect_params(&answer);
        assert!(params.contains_key(expected), "{params:?}");
        assert_eq!(params["state"], STATE);

        let replay = h
            .http
            .post(h.url("/authorize/decision"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            replay.status(),
            StatusCode::BAD_REQUEST,
            "a decision is single use"
        );
    }
    assert_eq!(h.provider.counters().authorizations, 1);
}

#[tokio::test]
async fn deny_knob_and_iss_parameter_shape_the_redirect() {
    let h = Harness::start().await;
    h.provider.set_behaviour(|b| {
        b.deny_authorization = true;
        b.iss_param = IssParam::None;
    });
    let response = h.authorize_with("read", &[]).await;
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(
        location.contains("error=access_denied&error_description=The+user+denied+access&state="),
        "{location}"
    );
    assert!(!location.contains("iss="));

    h.provider.set_behaviour(|b| {
        b.deny_authorization = false;
        b.iss_param = IssParam::Correct;
    });
    assert_eq!(
        redirect_params(&h.authorize_with("read", &[]).await)["iss"],
        h.provider.base_url()
    );
    h.provider.set_behaviour(|b| b.iss_param = IssParam::Wrong);
    assert_eq!(
        redirect_params(&h.authorize_with("read", &[]).await)["iss"],
        "https://evil.example"
    );
}

#[tokio::test]
async fn untrusted_clients_and_redirect_uris_get_an_error_page() {
    let h = Harness::start().await;
    let cases: [&[(&str, &str)]; 3] = [
        &[
            ("response_type", "code"),
            ("client_id", "evil"),
            ("redirect_uri", REDIRECT_URI),
            ("state", "s"),
        ],
        &[
            ("response_type", "code"),
            ("client_id", "mock-client"),
            ("redirect_uri", "javascript:alert(1)"),
            ("state", "s"),
        ],
        &[
            ("response_type", "code"),
            ("client_id", "mock-client"),
            ("state", "s"),
        ],
    ];
    for params in cases {
        let response = h.authorize(params).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(!response.headers().contains_key(LOCATION));
    }
    let missing_state = [
        ("response_type", "code"),
        ("client_id", "mock-client"),
        ("redirect_uri", REDIRECT_URI),
    ];
    assert_eq!(
        redirect_params(&h.authorize(&missing_state).await)["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn token_knobs_force_failures() {
    let h = Harness::start().await;
    let tokens = h.tokens().await;
    let refresh_token = str_field(&tokens, "refresh_token");

    h.provider.set_behaviour(|b| b.token_status = Some(503));
    let (status, body) = h.refresh(refresh_token).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::SERVICE_UNAVAILABLE, &Value::from("server_error"))
    );

    h.provider.set_behaviour(|b| {
        b.token_status = None;
        b.invalid_grant = true;
    });
    let (status, body) = h.refresh(refresh_token).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &Value::from("invalid_grant"))
    );

    h.provider.set_behaviour(|b| {
        b.invalid_grant = false;
        b.omit_refresh_token = true;
    });
    assert!(h.tokens().await.get("refresh_token").is_none());
    let (status, body) = h.refresh(refresh_token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the forced failures did not use the refresh token up"
    );
    assert!(body.get("refresh_token").is_none());
    assert_eq!(h.provider.counters().token_requests, 5);
}

#[tokio::test]
async fn token_delay_outlasts_a_short_client_timeout() {
    let h = Harness::start().await;
    h.provider.set_behaviour(|b| b.token_delay_ms = 500);
    let request = h
        .http
        .post(h.url("/token"))
        .timeout(std::time::Duration::from_millis(100));

    let outcome = request.form(&[("grant_type", "refresh_token")]).send().await;

    assert!(outcome.is_err_and(|error| error.is_timeout()));
}

#[tokio::test]
async fn revoke_status_knob_overrides_the_answer() {
    let h = Harness::start().await;
    h.provider.set_behaviour(|b| b.revoke_status = Some(500));
    assert_eq!(h.revoke("anything").await, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(h.provider.counters().revocations, 1);
}

impl Harness {
    /// An access token from a grant made without the browser dance.
    fn access_token(&self) -> String {
        self.provider.issue_tokens(&crate::api::scopes::ALL.join(" ")).0
    }

    fn api_get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    fn api_post(&self, path: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token).json(body)
    }

    async fn call_api(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("API request");
        (response.status(), response.json().await.expect("a JSON body"))
    }
}

#[tokio::test]
async fn slack_post_message_answers_and_is_recorded() {
    let h = Harness::start().await;
    let token = h.access_token();
    let message = serde_json::json!({ "channel": "C-GENERAL", "text": "Welcome, Ada" });

    let (status, body) = h
        .call_api(h.api_post("/api/chat.postMessage", &token, &message))
        .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["ok"], &body["channel"]),
        (&Value::Bool(true), &Value::from("C-GENERAL"))
    );
    assert_eq!(body["message"]["text"], "Welcome, Ada");
    assert_eq!(body["message"]["user"], "U-MOCK");
    let ts = str_field(&body, "ts");
    assert!(
        ts.split_once('.').is_some_and(|(secs, _)| secs.len() == 10),
        "{ts}"
    );
    let calls = h.provider.api_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].method.as_str(), calls[0].path.as_str()),
        ("POST", "/api/chat.postMessage")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].body).expect("JSON body"),
        message
    );
    assert_eq!(calls[0].authorization, Some(format!("Bearer {token}")));
    assert_eq!(h.provider.counters().api_calls, 1);

    let form = h.http.post(h.url("/api/chat.postMessage")).bearer_auth(&token);
    let (_, body) = h.call_api(form.form(&[("channel", "C-HR")])).await;
    assert_eq!(body["error"], "no_text", "form bodies are read too");
    let (_, body) = h
        .call_api(h.api_post("/api/chat.postMessage", &token, &serde_json::json!({})))
        .await;
    assert_eq!(body["error"], "channel_not_found");
}

#[tokio::test]
async fn slack_channels_are_created_and_listed_page_by_page() {
    let h = Harness::start().await;
    let token = h.access_token();
    let create = |name: &str| {
        h.api_post(
            "/api/conversations.create",
            &token,
            &serde_json::json!({ "name": name }),
        )
    };

    let (_, body) = h.call_api(create("onboarding")).await;
    assert_eq!(body["channel"]["name"], "onboarding", "{body}");
    assert_eq!(h.call_api(create("onboarding")).await.1["error"], "name_taken");
    assert_eq!(
        h.call_api(create("Big News!")).await.1["error"],
        "invalid_name_specials"
    );

    let mut names = Vec::new();
    let mut cursor = String::new();
    loop {
        let list = h.api_get("/api/conversations.list", &token);
        let (_, body) = h
            .call_api(list.query(&[("limit", "1"), ("cursor", &cursor)]))
            .await;
        names.extend(
            body["channels"]
                .as_array()
                .expect("channels")
                .iter()
                .map(|c| c["name"].clone()),
        );
        cursor = str_field(&body["response_metadata"], "next_cursor").to_owned();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(names, ["general", "hr", "onboarding"]);
}

#[tokio::test]
async fn api_calls_with_a_bad_token_are_refused_in_each_providers_style() {
    let h = Harness::start().await;

    let (status, body) = h.call_api(h.api_get("/api/team.info", "mock-at-unknown")).await;
    assert_eq!(status, StatusCode::OK, "Slack answers bad tokens with HTTP 200");
    assert_eq!(body, serde_json::json!({ "ok": false, "error": "invalid_auth" }));

    let (status, body) = h
        .call_api(h.api_get("/calendar/v3/users/me/calendarList", "mock-at-unknown"))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");

    let token = h.access_token();
    h.provider.set_behaviour(|b| b.api_unauthorized_next = 1);
    let (_, body) = h.call_api(h.api_get("/api/team.info", &token)).await;
    assert_eq!(body["error"], "invalid_auth", "the knob refuses a valid token");
    let (_, body) = h.call_api(h.api_get("/api/team.info", &token)).await;
    assert_eq!(body["team"]["id"], "T-MOCK", "then the API answers again");
    assert_eq!(h.provider.counters().api_calls, 4);
}

#[tokio::test]
async fn api_fail_next_answers_the_statuses_in_order() {
    let h = Harness::start().await;
    let token = h.access_token();
    h.provider.set_behaviour(|b| {
        b.api_fail_next = vec![429, 429, 503];
        b.api_retry_after_secs = 7;
    });

    let response = h
        .api_get("/api/users.list", &token)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[reqwest::header::RETRY_AFTER], "7");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, serde_json::json!({ "ok": false, "error": "ratelimited" }));

    let people = "/v1/people/me?personFields=names,emailAddresses";
    let (status, body) = h.call_api(h.api_get(people, &token)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"]["errors"][0]["reason"], "rateLimitExceeded");
    let (status, _) = h.call_api(h.api_get(people, &token)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

    let (status, body) = h.call_api(h.api_get(people, &token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["emailAddresses"][0]["value"], "ada@mock.example");
}

#[tokio::test]
async fn calendar_events_are_listed_within_the_window() {
    let h = Harness::start().await;
    let token = h.access_token();
    let path = "/calendar/v3/calendars/primary/events";
    let event = serde_json::json!({
        "summary": "Onboarding",
        "start": { "dateTime": "2030-05-06T09:00:00+02:00", "timeZone": "Europe/Paris" },
        "end": { "dateTime": "2030-05-06T10:00:00+02:00" },
        "attendees": [{ "email": "ada@acme.example" }],
    });

    let insert = h.api_post(path, &token, &event).query(&[("sendUpdates", "all")]);
    let (status, created) = h.call_api(insert).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(str_field(&created, "id").starts_with("evt-"));
    assert_eq!(
        (&created["status"], &created["summary"]),
        (&Value::from("confirmed"), &event["summary"])
    );
    assert_eq!(created["attendees"], event["attendees"]);

    let list = |min: &str, max: &str| {
        let query = [
            ("timeMin", min),
            ("timeMax", max),
            ("singleEvents", "true"),
            ("orderBy", "startTime"),
        ];
        h.api_get(path, &token).query(&query)
    };
    let (_, body) = h
        .call_api(list("2030-05-06T00:00:00Z", "2030-05-07T00:00:00Z"))
        .await;
    assert_eq!(body["items"], serde_json::json!([created]));
    let (_, body) = h
        .call_api(list("2030-05-06T08:00:00Z", "2030-05-07T00:00:00Z"))
        .await;
    assert_eq!(
        body["items"],
        serde_json::json!([]),
        "07:00Z is before the window"
    );

    let (status, _) = h.call_api(h.api_get(path, &token)).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "timeMin and timeMax are required"
    );
    let backwards = serde_json::json!({ "start": event["end"], "end": event["start"] });
    let (status, body) = h.call_api(h.api_post(path, &token, &backwards)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "The specified time range is empty.");
}

#[tokio::test]
async fn drive_permissions_need_an_existing_file() {
    let h = Harness::start().await;
    let token = h.access_token();
    let file = serde_json::json!({ "name": "Handbook", "mimeType": "application/vnd.google-apps.document" });
    let (_, created) = h.call_api(h.api_post("/drive/v3/files", &token, &file)).await;
    let file_id = str_field(&created, "id");
    let share = serde_json::json!({ "type": "user", "role": "reader", "emailAddress": "ada@acme.example" });

    let path = format!("/drive/v3/files/{file_id}/permissions");
    let (status, permission) = h.call_api(h.api_post(&path, &token, &share)).await;
    assert_eq!(status, StatusCode::OK, "{permission}");
    assert_eq!(permission["emailAddress"], "ada@acme.example");

    let (status, body) = h
        .call_api(h.api_post("/drive/v3/files/nope/permissions", &token, &share))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["message"], "File not found: nope.");
    let (_, listed) = h.call_api(h.api_get("/drive/v3/files", &token)).await;
    assert_eq!(listed["files"], serde_json::json!([created]));
}

#[tokio::test]
async fn gmail_send_decodes_the_raw_message() {
    let h = Harness::start().await;
    let token = h.access_token();
    let email = "To: ada@acme.example\r\nSubject: Welcome\r\nContent-Type: text/plain\r\n\r\nHello Ada";
    let path = "/gmail/v1/users/me/messages/send";

    for raw in [URL_SAFE_NO_PAD.encode(email), URL_SAFE.encode(email)] {
        let (status, body) = h
            .call_api(h.api_post(path, &token, &serde_json::json!({ "raw": raw })))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["labelIds"], serde_json::json!(["SENT"]));
        assert!(str_field(&body, "threadId").starts_with("thread-"));
    }
    assert_eq!(h.provider.sent_emails(), [email, email]);

    let headless = URL_SAFE_NO_PAD.encode("Subject: no recipient\r\n\r\nHi");
    let (status, body) = h
        .call_api(h.api_post(path, &token, &serde_json::json!({ "raw": headless })))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["message"], "Invalid To header");
    assert_eq!(h.provider.sent_emails().len(), 2);
}

/// A token without the method's scope gets the provider's own refusal, and the APIs answer
/// under their real hosts (`/hosts/{host}`) too, but not under another API's host.
#[tokio::test]
async fn scopes_are_enforced_per_method_and_apis_live_on_their_hosts() {
    let h = Harness::start().await;
    let narrow = h
        .provider
        .issue_tokens("chat:write https://www.googleapis.com/auth/calendar.events")
        .0;
    let (status, body) = h.call_api(h.api_get("/api/team.info", &narrow)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&body["ok"], &body["error"]),
        (&Value::Bool(false), &Value::from("missing_scope"))
    );
    assert_eq!(body["needed"], "team:read");
    let private = serde_json::json!({ "name": "hr-private", "is_private": true });
    let (_, body) = h
        .call_api(h.api_post("/api/conversations.create", &narrow, &private))
        .await;
    assert_eq!(body["needed"], "groups:write");
    let (status, body) = h
        .call_api(h.api_get("/calendar/v3/users/me/calendarList", &narrow))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["errors"][0]["reason"], "insufficientPermissions");
    let (status, _) = h
        .call_api(h.api_get(
            "/hosts/www.googleapis.com/calendar/v3/calendars/primary/events?timeMin=2026-01-01T00:00:00Z&timeMax=2026-01-02T00:00:00Z",
            &narrow,
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "calendar.events allows listing events");
    let token = h.access_token();
    let (status, _) = h
        .call_api(h.api_get("/hosts/slack.com/api/team.info", &token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let last = h.provider.api_calls().pop().unwrap();
    assert_eq!(
        (last.host.as_deref(), last.path.as_str()),
        (Some("slack.com"), "/api/team.info")
    );
    let mail = serde_json::json!({ "raw": "eA" });
    let wrong_host = h
        .api_post(
            "/hosts/www.googleapis.com/gmail/v1/users/me/messages/send",
            &token,
            &mail,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong_host.status(),
        StatusCode::NOT_FOUND,
        "Gmail is not on www.googleapis.com"
    );
}

#[tokio::test]
async fn member_lists_page_in_their_providers_styles_within_their_limits() {
    let h = Harness::start().await;
    let token = h.access_token();
    let people = |n: usize| {
        (0..n)
            .map(|i| serde_json::json!({ "id": i, "login": format!("dev{i}") }))
            .collect()
    };
    h.provider.set_directory("github", people(150));
    let response = h
        .api_get("/hosts/api.github.com/orgs/acme/members?per_page=500", &token)
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("/hosts/api.github.com/organizations/1001/members?per_page=100&page=2>; rel=\"next\""),
        "per_page is capped at 100: {link}"
    );
    let page: Value = response.json().await.unwrap();
    assert_eq!(page.as_array().unwrap().len(), 100);

    h.provider.set_directory("notion", people(3));
    let (status, _) = h
        .call_api(
            h.api_get("/hosts/api.notion.com/v1/users?page_size=101", &token)
                .header("Notion-Version", "2022-06-28"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "Notion pages hold at most 100");
    let (status, _) = h
        .call_api(h.api_get("/hosts/api.zoom.us/v2/users?page_size=301", &token))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "Zoom pages hold at most 300");

    h.provider.set_directory("dropbox", people(3));
    let (status, first) = h
        .call_api(h.api_post(
            "/hosts/api.dropboxapi.com/2/team/members/list_v2",
            &token,
            &serde_json::json!({ "limit": 2 }),
        ))
        .await;
    assert_eq!((status, &first["has_more"]), (StatusCode::OK, &Value::Bool(true)));
    let (_, rest) = h
        .call_api(h.api_post(
            "/hosts/api.dropboxapi.com/2/team/members/list/continue_v2",
            &token,
            &serde_json::json!({ "cursor": first["cursor"] }),
        ))
        .await;
    assert_eq!(
        (rest["members"].as_array().unwrap().len(), &rest["has_more"]),
        (1, &Value::Bool(false))
    );

    let narrow = h.provider.issue_tokens("read:user").0;
    let (status, _) = h
        .call_api(h.api_get("/hosts/api.github.com/orgs/acme/members", &narrow))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "members need read:org");
}
