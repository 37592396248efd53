//! The one HTTP core of provider API calls: a fresh access token per call (one forced refresh
//! and retry on a 401), a per-request timeout, retries with backoff and full jitter on
//! timeouts, 5xx and 429 (Retry-After honoured; Slack's `ratelimited`, Google's
//! `rateLimitExceeded`) for requests that are safe to repeat, the provider's circuit breaker,
//! no redirects, a response size limit, and errors typed by cause.

mod classify;
mod request;

use classify::{Failure, classify, is_json};

pub use request::{ApiRequest, ApiResponse, Page, PageRequest};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, LINK};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::tokens::{self, TokenError};
use crate::context::AppContext;
use crate::db::{self, integrations};
use crate::domain::{IntegrationId, OrgId};
use crate::providers::Provider;
use crate::providers::backoff::backoff;
use crate::providers::catalogue::endpoints::{Endpoint, Verb};
use crate::providers::http::{ReadError, read_body};

/// Attempts of a request that may be repeated.
const MAX_ATTEMPTS: u32 = 3;
/// A Retry-After longer than this is not waited for: the caller gets RateLimited.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);
const RETRY_BASE: Duration = Duration::from_millis(200);

/// Why a provider call failed, by cause (what the caller and the UI can say).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no such integration")]
    UnknownIntegration,
    /// The integration must be connected again.
    #[error("{0}")]
    NeedsReconnect(String),
    /// The provider refused the (fresh) token.
    #[error("the provider refused the credentials: {0}")]
    Auth(String),
    #[error("the provider is rate limiting")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the provider is unavailable: {0}")]
    ProviderDown(String),
    /// The provider's circuit breaker is open: no call was made.
    #[error("calls to the provider are paused after repeated failures (circuit open)")]
    CircuitOpen { retry_after: Duration },
    /// The provider refused the request itself (4xx).
    #[error("the provider refused the request: {0}")]
    BadRequest(String),
    #[error("the provider has no such resource")]
    NotFound,
    /// The provider refused this caller access (an HTTP 403 that is not about scopes: Google's
    /// Admin SDK for an account that is not a Workspace administrator).
    #[error("the provider refused access: {0}")]
    Forbidden(String),
    /// The provider no longer knows the position an incremental read resumed from (an expired
    /// delta or sync token): only a full read can start again.
    #[error("the provider asks for a full resync (the sync position expired)")]
    ResyncRequired,
    /// The connection was not granted the access the call needs (found before calling, or
    /// said by the provider): these scopes would allow it. Never retried; the admin adds
    /// access.
    #[error("the connection lacks the access this needs ({})", scopes.join(", "))]
    MissingScope { scopes: Vec<String> },
}

impl From<db::DbError> for ApiError {
    fn from(e: db::DbError) -> Self {
        ApiError::ProviderDown(format!("storage: {e}"))
    }
}

/// Calls into one integration's provider API.
pub struct ProviderApi<'a> {
    ctx: &'a AppContext,
    org: OrgId,
    integration: IntegrationId,
    pub provider: &'a Provider,
    /// The scopes the connection was granted.
    granted: String,
}

impl<'a> ProviderApi<'a> {
    /// The API of an integration of the organization (another organization's id: unknown).
    pub async fn for_integration(
        ctx: &'a AppContext,
        org: OrgId,
        integration: IntegrationId,
    ) -> Result<ProviderApi<'a>, ApiError> {
        let row = ctx
            .db
            .run(move |conn| integrations::find_for_org(conn, org, integration))
            .await?
            .ok_or(ApiError::UnknownIntegration)?;
        let provider = ctx
            .catalogue
            .get(&row.provider_slug)
            .ok_or(ApiError::UnknownIntegration)?;
        Ok(ProviderApi {
            ctx,
            org,
            integration,
            provider,
            granted: row.granted_scopes,
        })
    }

    /// The provider's API base (no trailing slash).
    pub fn base(&self) -> &str {
        &self.provider.def.api_base_url
    }

    pub fn context(&self) -> &'a AppContext {
        self.ctx
    }

    pub fn integration(&self) -> IntegrationId {
        self.integration
    }

    /// Where an endpoint's host is reached (no trailing slash).
    fn host_root(&self, endpoint: &Endpoint) -> String {
        match &self.provider.def.api_hosts {
            Some(base) => format!("{base}/{}", endpoint.host),
            None => format!("https://{}", endpoint.host),
        }
    }

    /// A request to one call of endpoints.rs, its path parameters filled in: at its documented
    /// host over https, or under the providers file's `api_hosts`. GETs may be repeated.
    pub fn request(&self, endpoint: &'static Endpoint, path_params: &[(&str, &str)]) -> ApiRequest {
        let url = format!("{}{}", self.host_root(endpoint), endpoint.path_with(path_params));
        Self::request_to(endpoint, url)
    }

    fn request_to(endpoint: &'static Endpoint, url: String) -> ApiRequest {
        let mut request = ApiRequest::get(url);
        if endpoint.verb == Verb::Post {
            request.method = Method::POST;
            request.retry_safe = false;
        }
        request.endpoint = Some(endpoint);
        request
    }

    /// A request to a page link the provider sent (a `Link` header's next page), as a call of
    /// `endpoint`: only on the endpoint's own host (the token goes nowhere else), its query
    /// taken apart so the table's check still applies. `None` for a link elsewhere.
    pub fn follow(&self, endpoint: &'static Endpoint, link: &str) -> Option<ApiRequest> {
        let root = format!("{}/", self.host_root(endpoint));
        let parsed = url::Url::parse(link).ok()?;
        if !link.starts_with(&root) || parsed.fragment().is_some() || !parsed.username().is_empty() {
            return None;
        }
        let mut request = Self::request_to(endpoint, link.split('?').next().unwrap_or(link).to_owned());
        request.query = parsed.query_pairs().into_owned().collect();
        Some(request)
    }

    pub async fn send(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        if cfg!(debug_assertions)
            && let Some(endpoint) = request.endpoint
        {
            let sent = request.sent_parameters(endpoint);
            if let Err(drift) = endpoint.check_sent(sent.iter().map(String::as_str)) {
                panic!("{drift}");
            }
        }
        // A call the connection was not granted is refused here, before the provider.
        if let Some(endpoint) = request.endpoint {
            let missing = crate::providers::scopes::missing(endpoint.feature().scopes, &self.granted);
            if !missing.is_empty() {
                return Err(ApiError::MissingScope { scopes: missing });
            }
        }
        match self.send_checked(request).await {
            Err(ApiError::MissingScope { scopes }) => Err(self.scopes_refused(request, scopes).await),
            other => other,
        }
    }

    /// The provider refused for want of scopes the hub thought granted: they come off the
    /// integration's granted scopes (the page then offers to add access), and the caller gets
    /// the scopes that would allow the call (Google names none: the call's feature's).
    async fn scopes_refused(&self, request: &ApiRequest, mut scopes: Vec<String>) -> ApiError {
        let feature = request.endpoint.map(|e| e.feature());
        if scopes.is_empty()
            && let Some(feature) = feature
        {
            scopes = feature.scopes.iter().map(|s| (*s).to_owned()).collect();
        }
        let what = feature.map_or("this call", |f| f.label);
        let error = format!("needs more access: {what}");
        let (org, id, gone) = (self.org, self.integration, scopes.clone());
        let stored = self
            .ctx
            .db
            .run(move |conn| integrations::withdraw_scopes(conn, org, id, &gone, &error, db::now()))
            .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "could not record the missing access");
        }
        ApiError::MissingScope { scopes }
    }

    async fn send_checked(&self, request: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let slug = &self.provider.def.slug;
        // All attempts and waits of one call together: a hung provider costs its caller this
        // much at most, however many retries were left.
        let timeout = self.ctx.settings.provider_timeout;
        let deadline = Instant::now() + timeout * 2;
        let mut token = self.token(tokens::fresh_access_token(self.ctx, self.org, self.integration).await)?;
        let mut refreshed = false;
        let mut attempt = 0;
        // Why the last attempt failed: what a retry the breaker refuses reports.
        let mut failure = None;
        loop {
            attempt += 1;
            let admission = match self.ctx.breakers.admit(slug, db::now()) {
                Ok(admission) => admission,
                Err(until) => {
                    return Err(failure.map_or_else(
                        || ApiError::CircuitOpen {
                            retry_after: (until - db::now()).to_std().unwrap_or_default(),
                        },
                        ApiError::ProviderDown,
                    ));
                }
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                drop(admission);
                return Err(ApiError::ProviderDown(format!(
                    "no answer within {} s",
                    (timeout * 2).as_secs()
                )));
            }
            let outcome = self.once(request, &token, timeout.min(left)).await;
            let retry = |wait: Option<Duration>| -> Option<Duration> {
                let wait = backoff(attempt - 1, RETRY_BASE, MAX_RETRY_WAIT, wait);
                (attempt < MAX_ATTEMPTS && wait <= MAX_RETRY_WAIT && Instant::now() + wait < deadline)
                    .then_some(wait)
            };
            match outcome {
                Ok(response) => {
                    admission.succeeded();
                    return Ok(response);
                }
                Err(Failure::Unauthorized(why)) if !refreshed => {
                    admission.succeeded();
                    refreshed = true;
                    token = self
                        .token(tokens::force_refresh(self.ctx, self.org, self.integration, &token).await)?;
                    tracing::info!(provider = %slug, reason = %why, "token refused; refreshed once and retrying");
                }
                Err(Failure::Unauthorized(why)) => {
                    admission.succeeded();
                    return Err(ApiError::Auth(why));
                }
                Err(Failure::RateLimited(after)) => {
                    // A 429 says nothing of the provider's health: no outcome, and a probe
                    // is given back before waiting.
                    drop(admission);
                    // The provider did not do it: repeating is safe whatever the method.
                    match retry(after).filter(|_| after.is_none_or(|a| a <= MAX_RETRY_WAIT)) {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return Err(ApiError::RateLimited { retry_after: after }),
                    }
                }
                Err(Failure::Down(why)) => {
                    admission.failed(db::now());
                    match retry(None).filter(|_| request.retry_safe) {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return Err(ApiError::ProviderDown(why)),
                    }
                    failure = Some(why);
                }
                Err(Failure::Final(error)) => {
                    admission.succeeded();
                    return Err(error);
                }
            }
        }
    }

    fn token(&self, result: Result<SecretString, TokenError>) -> Result<SecretString, ApiError> {
        result.map_err(|e| match e {
            TokenError::NotFound => ApiError::UnknownIntegration,
            TokenError::NeedsReconnect(why) => ApiError::NeedsReconnect(why),
            TokenError::Unavailable(why) => ApiError::ProviderDown(why),
            TokenError::Db(e) => e.into(),
        })
    }

    async fn once(
        &self,
        request: &ApiRequest,
        token: &SecretString,
        timeout: Duration,
    ) -> Result<ApiResponse, Failure> {
        let mut builder = self
            .ctx
            .http
            .request(request.method.clone(), &request.url)
            .timeout(timeout)
            .header(AUTHORIZATION, format!("Bearer {}", token.expose_secret()))
            .query(&request.query);
        for (name, value) in &self.provider.def.api_headers {
            builder = builder.header(name, value);
        }
        if let Some((content_type, body)) = &request.body {
            builder = builder.header(CONTENT_TYPE, content_type).body(body.clone());
        }
        let response = crate::providers::http::send(builder, &self.provider.def.slug)
            .await
            .map_err(|e| Failure::Down(ReadError::from(e).to_string()))?;
        let status = response.status().as_u16();
        let retry_after = crate::oauth::retry_after(response.headers());
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let next_link = response
            .headers()
            .get(LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(request::next_link);
        let body = read_body(response)
            .await
            .map_err(|e| Failure::Down(e.to_string()))?;
        classify(self.provider.def.api_errors, status, retry_after, &body)?;
        if request.expects_json && (200..300).contains(&status) && !is_json(&body) {
            // A captive portal, a load balancer's error page, a cut or garbled answer.
            let what = content_type
                .as_deref()
                .map_or("no type".into(), |t| crate::domain::sanitize(t, 60));
            return Err(Failure::Down(format!("the answer is not JSON ({what})")));
        }
        Ok(ApiResponse {
            status,
            content_type,
            body,
            next_link,
        })
    }
}
