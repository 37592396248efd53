//! The web layer: routes, extractors, pages and htmx fragments. It calls the services
//! (accounts, integrations) and never talks SQL.

pub mod api;
pub mod assets;
pub mod errors;
pub mod middleware;
mod pages;
pub mod session;
mod webhooks;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use actix_web::{HttpRequest, web};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::context::AppContext;

/// What every handler can reach.
pub struct WebState {
    pub ctx: AppContext,
    pub login_limits: LoginLimits,
    /// PUBLIC_URL (or the bound address): where browsers reach us.
    pub public_url: String,
    /// scheme://host[:port] of `public_url`, for the Origin check.
    pub public_origin: String,
}

impl WebState {
    pub fn new(ctx: AppContext, public_url: String) -> WebState {
        let public_origin = origin_of(&public_url);
        WebState {
            ctx,
            login_limits: LoginLimits::new(),
            public_url,
            public_origin,
        }
    }

    /// The client's address: the peer, or with TRUST_FORWARDED_FOR the last X-Forwarded-For
    /// hop (the one our own proxy appended; earlier hops are the client's to forge).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        if self.ctx.settings.trust_forwarded_for {
            let forwarded = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        req.peer_addr().map(|a| a.ip())
    }
}

fn origin_of(url: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[scheme_end..].find('/') {
        Some(path) => url[..scheme_end + path].to_owned(),
        None => url.to_owned(),
    }
}

/// Sign-in attempts are limited per client address and per account (email), whether or not
/// the account exists, so the limit tells nothing about which emails are registered.
pub struct LoginLimits {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_email: DefaultKeyedRateLimiter<String>,
}

impl LoginLimits {
    fn new() -> LoginLimits {
        let n = |v: u32| NonZeroU32::new(v).expect("non-zero");
        LoginLimits {
            // 20 attempts at once from one address, then one every 6 seconds.
            per_ip: DefaultKeyedRateLimiter::keyed(
                Quota::with_period(Duration::from_secs(6))
                    .expect("non-zero")
                    .allow_burst(n(20)),
            ),
            // 5 attempts at once on one account, then one every 3 minutes.
            per_email: DefaultKeyedRateLimiter::keyed(
                Quota::with_period(Duration::from_secs(180))
                    .expect("non-zero")
                    .allow_burst(n(5)),
            ),
        }
    }

    /// `Err(seconds to wait)` when this attempt is over a limit.
    pub fn check(&self, ip: Option<IpAddr>, email: &str) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        let wait = |not_until: governor::NotUntil<_>| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        };
        if let Some(ip) = ip {
            self.per_ip.check_key(&ip).map_err(wait)?;
        }
        let key: String = email.trim().to_lowercase().chars().take(254).collect();
        self.per_email.check_key(&key).map_err(wait)?;
        if self.per_email.len() > 100_000 {
            self.per_email.retain_recent();
            self.per_ip.retain_recent();
        }
        Ok(())
    }
}

/// The METRICS_BIND_ADDR listener: what operators scrape and probe, nothing else.
pub fn operator_routes(cfg: &mut web::ServiceConfig) {
    use pages::health;
    cfg.app_data(web::Data::new(health::OperatorListener))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    webhooks::routes(cfg);
    api::routes(cfg);
    pages::routes(cfg);
    cfg.route("/static/{file}", web::get().to(assets::serve));
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins() {
        assert_eq!(
            super::origin_of("https://hub.example.com/base"),
            "https://hub.example.com"
        );
        assert_eq!(super::origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
