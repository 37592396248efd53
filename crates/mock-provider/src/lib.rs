//! A mock OAuth 2.0 / OpenID Connect provider for tests and local development.
//!
//! It is a small but strict authorization server (authorization code with PKCE S256, refresh
//! token rotation with reuse detection, RFC 7009 revocation, RS256 ID tokens), with knobs
//! ([`Behaviour`]) that make it fail on purpose and [`Counters`] that tests can read.
//! Tokens, codes and secrets are never logged.

mod api;
mod authorize;
mod client_auth;
mod error;
mod keys;
mod params;
pub mod resources;
mod state;
mod token;

#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, MutexGuard, PoisonError};

use actix_web::dev::{ServerHandle, Service, ServiceRequest};
use actix_web::{App, HttpServer, web};

use api::ApiData;
use state::State;

pub use api::ApiCall;

#[derive(Debug, Clone)]
pub struct MockConfig {
    pub client_id: String,
    pub client_secret: String,
    /// true: /authorize redirects at once; false: it shows a consent page with Approve / Deny.
    pub auto_approve: bool,
    pub access_token_ttl_secs: i64,
    pub rotate_refresh_tokens: bool,
    /// 0 picks any free port.
    pub port: u16,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            client_id: "mock-client".to_owned(),
            client_secret: "mock-secret".to_owned(),
            auto_approve: true,
            access_token_ttl_secs: 3600,
            rotate_refresh_tokens: true,
            port: 0,
        }
    }
}

/// Knobs that make the provider misbehave; all off by default.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Answer /token with this status and `{"error":"server_error"}`.
    pub token_status: Option<u16>,
    /// Sleep this long before answering /token.
    pub token_delay_ms: u64,
    /// /token answers 400 `invalid_grant`.
    pub invalid_grant: bool,
    /// /authorize redirects back with `error=access_denied`.
    pub deny_authorization: bool,
    /// Token responses carry no refresh_token.
    pub omit_refresh_token: bool,
    pub id_token_wrong_nonce: bool,
    pub id_token_wrong_audience: bool,
    /// Sign ID tokens with a key that is not in the JWKS (same kid).
    pub id_token_bad_signature: bool,
    pub id_token_wrong_issuer: bool,
    /// The `iss` parameter /authorize appends to its redirects (RFC 9207).
    pub iss_param: IssParam,
    /// Answer /revoke with this status instead of 200.
    pub revoke_status: Option<u16>,
    /// Refuse (401 invalid_client) the other client authentication method.
    pub require_auth_method: Option<AuthMethod>,
    /// With `token_status`: the `Retry-After` seconds sent along (e.g. with a 429).
    pub token_retry_after_secs: Option<u64>,
    /// The next Slack/Google API calls answer these HTTP statuses, in order (one per call),
    /// then the API answers normally again. A 429 carries `Retry-After`.
    pub api_fail_next: Vec<u16>,
    /// This many API calls are answered normally before `api_fail_next` applies (to fail a
    /// later page of a paged read).
    pub api_fail_after: u32,
    /// The `Retry-After` seconds of a forced API 429; 1 by default.
    pub api_retry_after_secs: u64,
    /// The next N API calls are answered as if their token were invalid (Slack: HTTP 200
    /// `invalid_auth`; Google: HTTP 401). Applies after `api_fail_next` is used up.
    pub api_unauthorized_next: u32,
    /// Sleep this long before answering an API call.
    pub api_delay_ms: u64,
    /// Who the ID tokens are about; `None`: the mock's own user (ada@mock.example).
    pub id_token_person: Option<IdTokenPerson>,
}

/// The person an ID token names, and claims of the issuer's own (an organization, roles).
#[derive(Clone, Debug, Default)]
pub struct IdTokenPerson {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            token_status: None,
            token_delay_ms: 0,
            invalid_grant: false,
            deny_authorization: false,
            omit_refresh_token: false,
            id_token_wrong_nonce: false,
            id_token_wrong_audience: false,
            id_token_bad_signature: false,
            id_token_wrong_issuer: false,
            iss_param: IssParam::default(),
            revoke_status: None,
            require_auth_method: None,
            token_retry_after_secs: None,
            api_fail_next: Vec::new(),
            api_fail_after: 0,
            api_retry_after_secs: 1,
            api_unauthorized_next: 0,
            api_delay_ms: 0,
            id_token_person: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IssParam {
    /// No `iss` on the redirect (a provider that does not implement RFC 9207; the discovery
    /// document says it does, so a client must refuse this).
    None,
    /// What the discovery document promises.
    #[default]
    Correct,
    /// `iss=https://evil.example`
    Wrong,
}

/// Client authentication at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`
    Basic,
    /// `client_secret_post`
    Post,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// /authorize requests that issued a code.
    pub authorizations: u64,
    /// Successful authorization_code grants.
    pub code_exchanges: u64,
    /// Every POST /token, whatever the outcome.
    pub token_requests: u64,
    /// Successful refresh_token grants.
    pub refreshes: u64,
    /// The most POST /token requests in progress at the same time.
    pub max_in_flight_token_requests: u64,
    /// Rotated-away refresh tokens presented again; must stay 0 for a well-behaved client.
    pub refresh_token_reuses: u64,
    /// POST /revoke requests.
    pub revocations: u64,
    /// Google-like calendar watch channels registered, and stopped.
    pub watches: u64,
    pub channel_stops: u64,
    pub userinfo_calls: u64,
    /// Slack-like /api/auth.test calls.
    pub identity_calls: u64,
    /// Calls to the Slack-like and Google-like API endpoints (see [`MockProvider::api_calls`]),
    /// whatever the answer; /api/auth.test, /userinfo and calendar watches are not counted.
    pub api_calls: u64,
    pub last_auth_method: Option<AuthMethod>,
    /// The last authorization_code grant had a code_challenge and its verifier matched S256.
    pub last_pkce_verified: bool,
}

/// Everything the handlers share: fixed settings, the OAuth state, and what the API
/// endpoints remember (locked after the state when both are needed).
struct Shared {
    pub issuer: String,
    pub config: MockConfig,
    state: Mutex<State>,
    api: Mutex<ApiData>,
    /// (path, `traceparent`) of every request that carried one.
    traceparents: Mutex<Vec<(String, String)>>,
}

impl Shared {
    pub fn new(issuer: String, config: MockConfig) -> Self {
        Self {
            issuer,
            config,
            state: Mutex::new(State::default()),
            api: Mutex::new(ApiData::default()),
            traceparents: Mutex::default(),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not take every later request down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn api(&self) -> MutexGuard<'_, ApiData> {
        self.api.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running mock provider; the server stops when this is dropped.
pub struct MockProvider {
    shared: web::Data<Shared>,
    port: u16,
    server: ServerHandle,
}

impl MockProvider {
    /// Binds 127.0.0.1:{port} and serves on the current tokio runtime; returns at once.
    pub async fn start(config: MockConfig) -> std::io::Result<MockProvider> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
        let port = listener.local_addr()?.port();
        let shared = web::Data::new(Shared::new(format!("http://127.0.0.1:{port}"), config));
        let app_shared = shared.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_shared.clone())
                .wrap_fn(record_traceparent)
                .configure(routes)
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(MockProvider {
            shared,
            port,
            server: handle,
        })
    }

    /// `http://127.0.0.1:PORT`, which is also the OpenID Connect issuer.
    pub fn base_url(&self) -> String {
        self.shared.issuer.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The users the Workspace directory (Admin SDK `users.list`) answers from now on
    /// (`id`, `primaryEmail`, `name.fullName`, `suspended`, ...).
    pub fn set_google_directory(&self, users: Vec<serde_json::Value>) {
        self.shared.api().set_google_directory(users);
    }

    /// The domain's profiles People's `listDirectoryPeople` answers from now on
    /// (`resourceName` `people/{id}`, `names`, `emailAddresses`); a sync-token read lists
    /// what changed, people no longer there as deleted.
    pub fn set_google_people(&self, people: Vec<serde_json::Value>) {
        self.shared.api().set_google_people(people);
    }

    /// Every sync token given so far expires (the next read by one is refused).
    pub fn expire_google_sync_tokens(&self) {
        self.shared.api().expire_google_sync_tokens();
    }

    /// The users Graph's `/v1.0/users/delta` answers from now on (`id`, `displayName`, `mail`,
    /// `userPrincipalName`, `accountEnabled`); a delta read lists what changed, users no
    /// longer there as removed (`changed`).
    pub fn set_graph_users(&self, users: Vec<serde_json::Value>) {
        self.shared.api().set_graph_users(users);
    }

    /// Removes one Graph user for `reason` (`deleted` for good, `changed`); false when there
    /// is none by that id.
    pub fn remove_graph_user(&self, id: &str, reason: &str) -> bool {
        self.shared.api().remove_graph_user(id, reason)
    }

    /// Every delta token given so far expires (a read from one is a 410 Gone).
    pub fn expire_graph_delta_tokens(&self) {
        self.shared.api().expire_graph_delta_tokens();
    }

    /// The host Graph's next and delta links name (default `graph.microsoft.com`).
    pub fn set_graph_link_host(&self, host: &str) {
        self.shared.api().set_graph_link_host(host);
    }

    /// The members Slack's `users.list` answers from now on (JSON as Slack shapes them:
    /// `id`, `name`, `profile.email`, `deleted`, `is_bot`, ...).
    pub fn set_slack_members(&self, members: Vec<serde_json::Value>) {
        self.shared.api().set_slack_members(members);
    }

    /// The members a provider's member list answers from now on, by provider slug (`github`,
    /// `asana`, `notion`, `jira`, `linear`, `zoom`, `dropbox`), in that provider's JSON shape.
    pub fn set_directory(&self, provider: &str, members: Vec<serde_json::Value>) {
        self.shared.api().set_directory(provider, members);
    }

    /// Where GitHub's `Link` header sends the next page (`None`: this server).
    pub fn set_link_base(&self, base: Option<String>) {
        self.shared.api().set_link_base(base);
    }

    pub fn set_behaviour(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.lock().behaviour);
    }

    pub fn counters(&self) -> Counters {
        self.shared.lock().counters.clone()
    }

    /// Access tokens currently valid (unexpired, unrevoked), oldest first.
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.shared.lock().active_access_tokens()
    }

    /// Refresh tokens currently valid (not rotated away, unrevoked), oldest first.
    pub fn issued_refresh_tokens(&self) -> Vec<String> {
        self.shared.lock().active_refresh_tokens()
    }

    /// Whether this access or refresh token was revoked via /revoke (directly, or as part of a
    /// revoked refresh token's grant). Server-side invalidation does not count.
    pub fn is_revoked(&self, token: &str) -> bool {
        self.shared.lock().is_revoked_by_client(token)
    }

    /// Expires every access token now and revokes every refresh token server-side, as when a
    /// user removes the app from their account at the provider.
    pub fn revoke_all(&self) {
        self.shared.lock().revoke_all();
    }

    /// The calendar watch channels registered so far (Google-like).
    pub fn watch_channels(&self) -> Vec<state::WatchChannel> {
        self.shared.lock().watch_channels.clone()
    }

    /// Every Slack-like and Google-like API call received, oldest first, whatever the answer.
    pub fn api_calls(&self) -> Vec<ApiCall> {
        self.shared.api().calls()
    }

    /// (path, `traceparent` header) of every request received with one, oldest first.
    pub fn traceparents(&self) -> Vec<(String, String)> {
        self.shared
            .traceparents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The RFC 5322 messages sent through Gmail's `messages/send`, decoded, oldest first.
    pub fn sent_emails(&self) -> Vec<String> {
        self.shared.api().sent_emails()
    }

    /// A grant made without the browser dance (as if someone had consented): returns its
    /// (access token, refresh token), for tests that need many connected integrations.
    pub fn issue_tokens(&self, scope: &str) -> (String, String) {
        let config = &self.shared.config;
        self.shared.lock().issue_grant(config, &config.client_id, scope)
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        // The stop command is sent at once; there is no need to wait for the workers.
        drop(self.server.stop(false));
    }
}

/// Keeps each request's W3C `traceparent` (the client's trace context) for tests to read.
fn record_traceparent<S>(req: ServiceRequest, service: &S) -> S::Future
where
    S: Service<ServiceRequest>,
{
    let sent = req.headers().get("traceparent").and_then(|v| v.to_str().ok());
    if let (Some(value), Some(shared)) = (sent, req.app_data::<web::Data<Shared>>()) {
        shared
            .traceparents
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((req.path().to_owned(), value.to_owned()));
    }
    service.call(req)
}

fn routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/.well-known/openid-configuration",
            web::get().to(resources::discovery),
        )
        .route("/jwks", web::get().to(resources::jwks))
        .route("/authorize", web::get().to(authorize::authorize))
        .route("/authorize/decision", web::post().to(authorize::decision))
        .route("/token", web::post().to(token::token))
        .route("/revoke", web::post().to(token::revoke))
        .service(
            web::resource("/userinfo")
                .route(web::get().to(resources::userinfo))
                .route(web::post().to(resources::userinfo)),
        )
        .service(
            web::resource("/api/auth.test")
                .route(web::post().to(resources::auth_test))
                .route(web::get().to(resources::auth_test)),
        )
        // The APIs as the real hosts lay them out, under /hosts/{host} (the app's
        // `api_hosts`): a call sent to the wrong host is a 404 here, as it would fail there.
        .service(
            web::scope("/hosts/slack.com")
                .configure(api::slack_routes)
                .service(
                    web::resource("/api/auth.test")
                        .route(web::post().to(resources::auth_test))
                        .route(web::get().to(resources::auth_test)),
                ),
        )
        .service(
            web::scope("/hosts/www.googleapis.com")
                .configure(api::calendar_drive_routes)
                .configure(watch_routes),
        )
        .service(web::scope("/hosts/gmail.googleapis.com").configure(api::gmail_routes))
        .service(web::scope("/hosts/admin.googleapis.com").configure(api::admin_routes))
        .service(web::scope("/hosts/people.googleapis.com").configure(api::people_routes))
        .service(web::scope("/hosts/graph.microsoft.com").configure(api::graph_routes))
        .configure(api::directory_hosts)
        // The same at the root, for the proxy (which forwards under the API base) and the
        // other providers' identity calls.
        .configure(watch_routes)
        .configure(api::routes);
}

/// Google's watch channels (Calendar events, Drive changes).
fn watch_routes(config: &mut web::ServiceConfig) {
    config
        .route(
            "/calendar/v3/calendars/{calendar}/events/watch",
            web::post().to(resources::calendar_watch),
        )
        .route(
            "/calendar/v3/channels/stop",
            web::post().to(resources::calendar_channel_stop),
        )
        .route(
            "/drive/v3/channels/stop",
            web::post().to(resources::drive_channel_stop),
        )
        .route(
            "/drive/v3/changes/startPageToken",
            web::get().to(resources::drive_start_page_token),
        )
        .route("/drive/v3/changes/watch", web::post().to(resources::drive_watch));
}
