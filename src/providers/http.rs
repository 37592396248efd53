//! The HTTP client for provider calls: rustls (trusting the roots `TLS_ROOTS` names), no
//! redirects (a redirect could carry a token or a code to another host), bounded time, bounded
//! response size. Proxies come from the standard variables (`HTTPS_PROXY`, `NO_PROXY`, ...).

use std::time::Duration;

use crate::config::TlsRoots;
use crate::telemetry::trace;

pub const USER_AGENT: &str = concat!("targetym-integrations/", env!("CARGO_PKG_VERSION"));
/// Provider answers we parse are small; anything larger is refused.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

pub fn client(timeout: Duration, roots: TlsRoots) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_built_in_webpki_certs(roots != TlsRoots::System)
        .tls_built_in_native_certs(roots != TlsRoots::Bundled)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .user_agent(USER_AGENT)
        .build()
        .expect("a rustls client with static settings builds")
}

/// Sends a call to `provider`. In a trace scope (a request's, the worker's) the call is a
/// CLIENT span, and its `traceparent` goes with it; the span records the method, host, status
/// and provider, never the URL (codes, tokens) nor a header.
pub async fn send(request: reqwest::RequestBuilder, provider: &str) -> reqwest::Result<reqwest::Response> {
    if !trace::in_scope() {
        return request.send().await;
    }
    let (client, request) = request.build_split();
    let mut request = request?;
    let host = request.url().host_str().unwrap_or_default().to_owned();
    let Some(span) = trace::client_span(request.method().as_str(), &host, provider) else {
        return client.execute(request).await;
    };
    if let Ok(value) = reqwest::header::HeaderValue::from_str(&span.context().traceparent()) {
        request.headers_mut().insert(trace::TRACEPARENT, value);
    }
    let result = client.execute(request).await;
    span.end_client(match &result {
        Ok(response) => Ok(response.status().as_u16()),
        Err(e) if e.is_timeout() => Err("timeout"),
        Err(e) if e.is_connect() => Err("connect"),
        Err(_) => Err("request"),
    });
    result
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider could not be reached: {0}")]
    Connect(String),
    #[error("the provider's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl From<reqwest::Error> for ReadError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            ReadError::Timeout
        } else {
            // reqwest's message names the URL; ours never carry secrets in URLs.
            ReadError::Connect(e.without_url().to_string())
        }
    }
}

/// Reads a response body up to [`MAX_RESPONSE_BYTES`].
pub async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
