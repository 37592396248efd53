use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;

use crate::config::Settings;
use crate::web::WebState;
use crate::web::errors::WebError;

/// Marks the app of the METRICS_BIND_ADDR listener.
pub struct OperatorListener;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// The database answers and the background actor runs: this instance can serve.
pub async fn readyz(state: web::Data<WebState>) -> Result<HttpResponse, WebError> {
    if state.ctx.metrics.worker_is_down() {
        return Err(WebError::Unavailable(
            "the background actor stopped and is being restarted".into(),
        ));
    }
    state
        .ctx
        .db
        .ping()
        .await
        .map_err(|e| WebError::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ready"))
}

/// Prometheus text, to whom the operator allows (else 404, as if there were nothing here).
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<WebState>,
    operator_listener: Option<web::Data<OperatorListener>>,
) -> Result<HttpResponse, WebError> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // The socket's peer, never X-Forwarded-For: "local" must not be claimable by a header.
    let peer = req.peer_addr().map(|a| a.ip());
    if !metrics_allowed(
        &state.ctx.settings,
        operator_listener.is_some(),
        peer,
        authorization,
    ) {
        return Err(WebError::NotFound);
    }
    if let Err(e) = crate::integrations::gauges::refresh_database_gauges(&state.ctx).await {
        // The pool logs the outage itself; the rest of the page is what matters now.
        tracing::debug!(error = %e, "database gauges not refreshed");
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.ctx.metrics.render()))
}

/// Who may read /metrics:
/// - with METRICS_TOKEN, whoever sends `Authorization: Bearer <token>`, on any listener;
/// - else on the METRICS_BIND_ADDR listener, whoever reaches it (the operator chose where it
///   listens), and nobody on the main one;
/// - else, outside production, clients on this machine (loopback), so `cargo run` and a local
///   Prometheus keep working; in production nobody.
fn metrics_allowed(
    settings: &Settings,
    on_operator_listener: bool,
    peer: Option<IpAddr>,
    authorization: Option<&str>,
) -> bool {
    if let Some(token) = &settings.metrics_token {
        return authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(token.expose_secret().as_bytes())));
    }
    if settings.metrics_bind_addr.is_some() {
        return on_operator_listener;
    }
    !settings.is_production() && peer.is_some_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)], dir: &std::path::Path) -> Settings {
        let mut vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        vars.insert("DATA_DIR".into(), dir.display().to_string());
        Settings::from_vars(&vars).unwrap()
    }

    #[test]
    fn who_may_read_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let loopback: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        let remote: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());

        let local = settings(&[], dir.path());
        assert!(metrics_allowed(&local, false, loopback, None));
        assert!(metrics_allowed(&local, false, Some("::1".parse().unwrap()), None));
        assert!(!metrics_allowed(&local, false, remote, None));
        assert!(!metrics_allowed(&local, false, None, None));

        let token = "a-metrics-token-of-length";
        let with_token = settings(&[("METRICS_TOKEN", token)], dir.path());
        let bearer = format!("Bearer {token}");
        assert!(metrics_allowed(&with_token, false, remote, Some(&bearer)));
        assert!(!metrics_allowed(&with_token, false, loopback, None));
        assert!(!metrics_allowed(
            &with_token,
            false,
            loopback,
            Some("Bearer a-metrics-token-of-lengtX")
        ));
        assert!(!metrics_allowed(&with_token, true, loopback, Some(token)));

        let separate = settings(&[("METRICS_BIND_ADDR", "127.0.0.1:0")], dir.path());
        assert!(metrics_allowed(&separate, true, remote, None));
        assert!(!metrics_allowed(&separate, false, loopback, None));
    }

    #[test]
    fn a_short_metrics_token_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = HashMap::from([("DATA_DIR".to_owned(), dir.path().display().to_string())]);
        vars.insert("METRICS_TOKEN".into(), "short".into());
        let err = Settings::from_vars(&vars).unwrap_err().to_string();
        assert!(err.contains("METRICS_TOKEN"), "{err}");
    }
}
