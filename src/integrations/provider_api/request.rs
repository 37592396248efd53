//! A request to a provider's API and its answer; requests to the calls of endpoints.rs say
//! which call they make, so the HTTP core can check them against the table.

use reqwest::Method;
use serde_json::Value;

use super::{ApiError, ProviderApi};
use crate::providers::catalogue::endpoints::Endpoint;

/// A request to the provider's API.
pub struct ApiRequest {
    pub method: Method,
    /// Absolute, inside the provider's API base.
    pub url: String,
    pub query: Vec<(String, String)>,
    pub body: Option<(String, Vec<u8>)>,
    /// Repeating it cannot do anything twice (GET, PUT, DELETE, or a POST that is idempotent).
    pub retry_safe: bool,
    /// A successful answer must be JSON: anything else (a proxy's HTML page, garbage) counts
    /// as the provider failing.
    pub expects_json: bool,
    /// The call of endpoints.rs it makes (`None`: the proxy, identity and token calls).
    pub endpoint: Option<&'static Endpoint>,
}

impl ApiRequest {
    pub fn get(url: impl Into<String>) -> ApiRequest {
        ApiRequest {
            method: Method::GET,
            url: url.into(),
            query: Vec::new(),
            body: None,
            retry_safe: true,
            expects_json: true,
            endpoint: None,
        }
    }

    /// A JSON POST (not repeated unless marked safe).
    pub fn post_json(url: impl Into<String>, body: &Value) -> ApiRequest {
        ApiRequest {
            method: Method::POST,
            url: url.into(),
            query: Vec::new(),
            body: Some((
                "application/json; charset=utf-8".into(),
                body.to_string().into_bytes(),
            )),
            retry_safe: false,
            expects_json: true,
            endpoint: None,
        }
    }

    /// The same request with this JSON body.
    pub fn json(mut self, body: &Value) -> ApiRequest {
        self.body = Some((
            "application/json; charset=utf-8".into(),
            body.to_string().into_bytes(),
        ));
        self
    }

    /// The parameter names it sends (the query's, and the JSON body's keys where the endpoint
    /// takes its parameters in the body).
    pub(super) fn sent_parameters(&self, endpoint: &Endpoint) -> Vec<String> {
        let mut names: Vec<String> = self.query.iter().map(|(name, _)| name.clone()).collect();
        if endpoint.params_in_body
            && let Some((_, body)) = &self.body
            && let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body)
        {
            names.extend(map.keys().cloned());
        }
        names
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> ApiRequest {
        self.query.push((name.to_owned(), value.into()));
        self
    }
}

impl ProviderApi<'_> {
    /// A request to `endpoint` at a link the provider gave (a next page's or a delta's URL,
    /// which carries its own query): only at the endpoint's own host and path over https, so a
    /// link to anywhere else is never followed (the token would go with it). `None` for any
    /// other link.
    pub fn request_at_link(&self, endpoint: &'static Endpoint, link: &str) -> Option<ApiRequest> {
        let url = url::Url::parse(link).ok()?;
        let same_place = url.scheme() == "https"
            && url.host_str() == Some(endpoint.host)
            && url.port().is_none()
            && url.username().is_empty()
            && url.password().is_none()
            && url.path() == endpoint.path;
        if !same_place {
            return None;
        }
        let request = self.request(endpoint, &[]);
        Some(
            url.query_pairs()
                .fold(request, |request, (name, value)| request.query(&name, value)),
        )
    }

    /// Whether the connection was granted a scope that allows the call (asked before calling,
    /// to choose between a provider's lists).
    pub fn allows(&self, endpoint: &Endpoint) -> bool {
        endpoint.feature().granted_in(&self.granted)
    }
}

#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The `Link` header's `rel="next"` target (RFC 8288), as sent: a URL the caller checks
    /// before following it (`ProviderApi::follow`).
    pub next_link: Option<String>,
}

/// The target of the `rel="next"` link of a `Link` header value (`<url>; rel="next", ...`).
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.trim().split_once(';')?;
        let next = params.split(';').any(|param| {
            param
                .trim()
                .strip_prefix("rel=")
                .is_some_and(|rel| rel.trim_matches('"').split(' ').any(|r| r == "next"))
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        next.then(|| target.to_owned())
    })
}

impl ApiResponse {
    pub fn json(&self) -> Result<Value, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|_| ApiError::ProviderDown("the answer is not JSON".into()))
    }
}

/// Which page of a list to read: the provider's cursor (or page token) from the page before,
/// and how many items at most.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub cursor: Option<String>,
    pub limit: u32,
}

/// One page of a list and the cursor of the next (`None`: the last page).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn the_next_link_is_read_from_a_link_header() {
        let header = r#"<https://api.github.com/organizations/1/members?page=2>; rel="next", <https://api.github.com/organizations/1/members?page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/organizations/1/members?page=2")
        );
        assert_eq!(next_link(r#"<https://x.example/?page=1>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
