//! Cross-cutting request handling: request ids, logs and metrics, and panics turned into
//! 500 pages; security headers; the CSRF and Origin check of every state-changing browser
//! request.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_session::SessionExt;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use futures_util::FutureExt;
use futures_util::future::Either;
use tracing::Instrument;

use super::WebState;
use super::api::ApiFailure;
use super::errors::WebError;
use super::session::csrf_matches;
use crate::telemetry::trace::TRACEPARENT;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const CSRF_FIELD: &str = "csrf_token";
/// Browser forms are small; a larger body is not a form of ours.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Gives every request an id (kept from `X-Request-Id` when it is short and plain), a span
/// that every log line of the request carries, one log line at the end, and metrics; with
/// trace export on, a SERVER span that the provider calls made while handling it are
/// children of.
///
/// It is the outermost layer and catches unwinding: a panic anywhere below (a handler, an
/// inner middleware) is logged with the request id and answered with a 500 (the error page,
/// JSON for /api, the fragment for htmx) instead of a dropped connection.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let method = req.method().to_string();
    let pattern = req.match_pattern();
    let state = req.app_data::<web::Data<WebState>>().cloned();
    let trace = state.as_ref().and_then(|s| s.ctx.tracer.as_ref()).map(|tracer| {
        // Two `traceparent` headers are no valid context (W3C trace context §3.2).
        let mut sent = req.headers().get_all(TRACEPARENT).map(|v| v.to_str().ok());
        let traceparent = match (sent.next(), sent.next()) {
            (Some(one), None) => one,
            _ => None,
        };
        tracer.server_span(traceparent, &method, pattern.as_deref())
    });
    let route = pattern.unwrap_or_else(|| "unmatched".into());
    let panic_answer = HandlerPanicked {
        request_id: request_id.clone(),
        api: req.path().starts_with("/api/"),
        htmx: req.headers().contains_key("hx-request"),
        https: state
            .as_ref()
            .is_some_and(|s| s.public_url.starts_with("https://")),
    };
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, route = %route);
    let started = Instant::now();
    // The request's own state unwinds with it; what outlives it (database, limiters, metrics)
    // keeps its own consistency, so serving the next request after the unwind is sound.
    let call = next.call(req).instrument(span.clone());
    let call = match &trace {
        Some(trace) => Either::Left(trace.scope(call)),
        None => Either::Right(call),
    };
    let outcome = AssertUnwindSafe(call).catch_unwind().await;
    let result = outcome.unwrap_or_else(|panic| {
        span.in_scope(
            || tracing::error!(panic = %panic_message(&*panic), "request failed: handler panicked"),
        );
        Err(panic_answer.into())
    });
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    span.in_scope(|| {
        tracing::info!(
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request done"
        );
    });
    if let Some(trace) = trace {
        trace.end_server(status.as_u16());
    }
    if let Some(state) = state {
        state
            .ctx
            .metrics
            .observe_request(&method, &route, status.as_u16(), elapsed);
    }
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
    }
    Ok(res)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The answer to a request whose handler panicked. The request itself is gone with the
/// unwind, so the answer is an error that carries what the response needs.
#[derive(Debug, thiserror::Error)]
#[error("handler panicked")]
struct HandlerPanicked {
    request_id: String,
    api: bool,
    htmx: bool,
    https: bool,
}

impl ResponseError for HandlerPanicked {
    fn status_code(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }

    fn error_response(&self) -> HttpResponse {
        let page = WebError::Internal(String::new()).page();
        let mut response = if self.api {
            ApiFailure::Internal.error_response()
        } else if self.htmx {
            htmx_fragment(page)
        } else {
            page
        };
        let headers = response.headers_mut();
        set_security_headers(headers, self.https);
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(HeaderName::from_static(REQUEST_ID_HEADER), value);
        }
        response
    }
}

/// HEAD is answered wherever GET is: the request is routed as a GET, and the connection (which
/// still knows it was a HEAD) sends the GET's status and headers, Content-Length included,
/// without the body. The API proxy forwards each method as it came and is left alone.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let proxied = req.path().starts_with("/api/v1/integrations/") && req.path().contains("/proxy/");
    if req.method() == Method::HEAD && !proxied {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Security headers on every response, and `Cache-Control: no-store` unless the handler chose
/// its caching.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let https = req
        .app_data::<web::Data<WebState>>()
        .is_some_and(|s| s.public_url.starts_with("https://"));
    let mut res = next.call(req).await?;
    set_security_headers(res.headers_mut(), https);
    Ok(res)
}

fn set_security_headers(headers: &mut HeaderMap, https: bool) {
    // Pages, partials, exports and API answers hold an organization's data or a session's
    // CSRF token: no cache keeps them. Static assets say their own caching.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let mut set = |name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    // No inline script or style anywhere; htmx is served from /static and configured by a
    // <meta> tag. form-action is left open: the connect form redirects to the provider.
    set(
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    if https {
        set(
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        );
    }
}

/// True when form or URL text would decode to a NUL character, which no field of ours takes
/// and PostgreSQL refuses in text (it would surface as a storage error).
fn encodes_nul(text: &[u8]) -> bool {
    text.contains(&0) || text.windows(3).any(|w| w.eq_ignore_ascii_case(b"%00"))
}

/// Refuses a request whose address carries a NUL character: a 400 that says so.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, Error> {
    if encodes_nul(req.uri().to_string().as_bytes()) {
        let refused = WebError::InvalidInput("The address contains a NUL character.");
        return Ok(req.into_response(refused.error_response()).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Every state-changing browser request must come from our origin and carry the session's
/// CSRF token (the `X-CSRF-Token` header from htmx, or the `csrf_token` form field).
/// Webhooks and the internal API authenticate otherwise and are not browser requests.
pub async fn verify_csrf(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if safe || req.path().starts_with("/api/") {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    if let Err(refused) = check_csrf(&mut req).await {
        return Ok(req.into_response(refused.error_response()).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

async fn check_csrf(req: &mut ServiceRequest) -> Result<(), WebError> {
    let public_url = req
        .app_data::<web::Data<WebState>>()
        .map(|s| s.public_origin.clone())
        .unwrap_or_default();
    let from_header = |name: HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    // Browsers say where a request comes from in Sec-Fetch-Site (pages cannot forge it).
    let fetch_site = from_header(HeaderName::from_static("sec-fetch-site"));
    if fetch_site
        .as_deref()
        .is_some_and(|site| site != "same-origin" && site != "none")
    {
        return Err(WebError::Forbidden("cross-site request"));
    }
    match (from_header(header::ORIGIN), from_header(header::REFERER)) {
        // With Referrer-Policy: no-referrer, Chromium sends "Origin: null" on same-origin form
        // posts; Sec-Fetch-Site then vouches for the origin (and the token is still checked).
        (Some(origin), _) if origin == "null" && fetch_site.as_deref() == Some("same-origin") => {}
        (Some(origin), _) if origin != public_url => return Err(WebError::Forbidden("cross-origin request")),
        (None, Some(referer)) if !referer.starts_with(&format!("{public_url}/")) && referer != public_url => {
            return Err(WebError::Forbidden("cross-origin referer"));
        }
        _ => {}
    }
    let session = req.get_session();
    if let Some(token) = from_header(HeaderName::from_static(CSRF_HEADER)) {
        return if csrf_matches(&session, &token) {
            Ok(())
        } else {
            Err(WebError::Forbidden("bad CSRF header"))
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(WebError::Forbidden("no CSRF token"));
    }
    let body = read_limited(req.take_payload(), MAX_FORM_BYTES).await?;
    let token = form_urlencoded_field(&body, CSRF_FIELD).unwrap_or_default();
    let nul = encodes_nul(&body);
    // Hand the body back to the handler's form extractor.
    req.set_payload(Payload::from(body));
    if !csrf_matches(&session, &token) {
        return Err(WebError::Forbidden("bad CSRF field"));
    }
    if nul {
        return Err(WebError::InvalidInput("The form contains a NUL character."));
    }
    Ok(())
}

async fn read_limited(mut payload: Payload, limit: usize) -> Result<web::Bytes, WebError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| WebError::BadRequest(format!("body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(WebError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn form_urlencoded_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// htmx requests that fail get the error's sentence as a fragment, swapped into the page's
/// `#errors` region (HX-Retarget), instead of a whole error page.
pub async fn htmx_errors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let htmx = req.headers().contains_key("hx-request");
    let res = next.call(req).await?;
    let status = res.status();
    let has_message = res
        .response()
        .extensions()
        .contains::<super::errors::HumanMessage>();
    if htmx && has_message && (status.is_client_error() || status.is_server_error()) {
        let (req, response) = res.into_parts();
        return Ok(ServiceResponse::new(req, htmx_fragment(response)).map_into_right_body());
    }
    Ok(res.map_into_left_body())
}

/// An error response's sentence (its `HumanMessage`) as a fragment for the page's `#errors`
/// region, with the same status and Retry-After.
fn htmx_fragment<B>(mut response: HttpResponse<B>) -> HttpResponse {
    let message = response
        .extensions()
        .get::<super::errors::HumanMessage>()
        .map(|m| m.0.clone())
        .unwrap_or_default();
    let fragment = format!(
        "<p class=\"alert error\" role=\"alert\">{}</p>",
        askama::filters::escape(&message, askama::filters::Html)
            .map(|m| m.to_string())
            .unwrap_or_default()
    );
    let mut replaced = HttpResponse::build(response.status());
    replaced
        .content_type("text/html; charset=utf-8")
        .insert_header(("HX-Retarget", "#errors"))
        .insert_header(("HX-Reswap", "innerHTML"));
    if let Some(value) = response.headers_mut().remove(header::RETRY_AFTER).next() {
        replaced.insert_header((header::RETRY_AFTER, value));
    }
    replaced.body(fragment)
}
