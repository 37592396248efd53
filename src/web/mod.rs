//! The web layer: routes, extractors, pages and htmx fragments. It calls the services
//! (accounts, integrations) and never talks SQL.

pub mod api;
pub mod assets;
pub mod errors;
mod ids;
pub mod middleware;
mod pages;
pub mod session;
mod webhooks;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, web};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::context::AppContext;

/// What every handler can reach.
pub struct WebState {
    pub ctx: AppContext,
    pub login_limits: LoginLimits,
    pub api_limits: api::ApiLimits,
    /// PUBLIC_URL (or the bound address): where browsers reach us.
    pub public_url: String,
    /// scheme://host[:port] of `public_url`, for the Origin check.
    pub public_origin: String,
    /// The admins' identity provider, discovered at first use (with ADMIN_OIDC_*).
    pub sso: crate::accounts::sso::SsoProvider,
    /// What the audit page last verified of each organization's chain.
    pub audit_checks: crate::integrations::oversight::ChainChecks,
}

impl WebState {
    pub fn new(ctx: AppContext, public_url: String) -> WebState {
        let public_origin = origin_of(&public_url);
        WebState {
            api_limits: api::ApiLimits::new(ctx.settings.api_rate_limit_per_minute),
            ctx,
            login_limits: LoginLimits::new(),
            public_url,
            public_origin,
            audit_checks: Default::default(),
            sso: Default::default(),
        }
    }

    /// The client's address: the peer, or with TRUST_FORWARDED_FOR the X-Forwarded-For hop
    /// that the nearest trusted proxy saw (TRUSTED_PROXY_HOPS from the right; hops further left
    /// are the client's to forge). Without a readable hop there, the peer.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr().map(|a| a.ip());
        if !self.ctx.settings.trust_forwarded_for {
            return peer;
        }
        forwarded_client(
            req.headers().get_all("x-forwarded-for"),
            self.ctx.settings.trusted_proxy_hops,
        )
        .or(peer)
    }
}

/// The hop `depth` places from the right of every X-Forwarded-For line taken in order (a
/// client can send several lines; proxies append to the last). `None` when a line is not
/// text, the list is shorter than `depth`, or that hop is not an address.
fn forwarded_client<'a>(lines: impl Iterator<Item = &'a HeaderValue>, depth: usize) -> Option<IpAddr> {
    let mut hops = Vec::new();
    for line in lines {
        hops.extend(line.to_str().ok()?.split(',').map(str::trim));
    }
    let hop = hops.get(hops.len().checked_sub(depth)?)?;
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

fn origin_of(url: &str) -> String {
    let scheme_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[scheme_end..].find('/') {
        Some(path) => url[..scheme_end + path].to_owned(),
        None => url.to_owned(),
    }
}

/// Sign-in attempts are limited per client network (every attempt) and per account and
/// client network (failed attempts only), whether or not the account exists, so the limit
/// tells nothing about which emails are registered. An attacker's failures lock the account
/// for the attacker's network only: the owner signing in from elsewhere is not locked out,
/// and a correct password never uses up the account's allowance.
pub struct LoginLimits {
    per_network: DefaultKeyedRateLimiter<IpAddr>,
    failures: FailureLimit<(String, Option<IpAddr>)>,
}

/// Keys tracked per map at most before the stale ones are dropped.
const MAX_TRACKED_KEYS: usize = 100_000;

impl LoginLimits {
    fn new() -> LoginLimits {
        let n = |v: u32| NonZeroU32::new(v).expect("non-zero");
        LoginLimits {
            // 20 attempts at once from one network, then one every 6 seconds.
            per_network: DefaultKeyedRateLimiter::keyed(
                Quota::with_period(Duration::from_secs(6))
                    .expect("non-zero")
                    .allow_burst(n(20)),
            ),
            // 5 failures at once on one account from one network, then one every 3 minutes.
            failures: FailureLimit::new(5, Duration::from_secs(180)),
        }
    }

    /// Counts this attempt against the client's network; `Err(seconds to wait)` when that or
    /// the account's failures from this network are over their limit.
    pub fn check(&self, ip: Option<IpAddr>, email: &str) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        let network = ip.map(network_of);
        if let Some(network) = network {
            self.per_network.check_key(&network).map_err(|not_until| {
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1)
            })?;
            if self.per_network.len() > MAX_TRACKED_KEYS {
                self.per_network.retain_recent();
            }
        }
        self.failures
            .check(&(account_key(email), network), Instant::now())
            .map_err(|wait| wait.as_secs().max(1))
    }

    /// A refused password: counted against the account from this client's network.
    pub fn record_failure(&self, ip: Option<IpAddr>, email: &str) {
        self.failures
            .record((account_key(email), ip.map(network_of)), Instant::now());
    }
}

fn account_key(email: &str) -> String {
    email.trim().to_lowercase().chars().take(254).collect()
}

/// What one client controls: an IPv4 address, or an IPv6 /64 (the usual smallest allocation,
/// so hopping inside it gains nothing). IPv4-mapped IPv6 counts as IPv4.
fn network_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// A leaky bucket of failures per key: `burst` at once, then one per `period`. Unlike a rate
/// limiter it can be asked without spending (`check`), and only `record` spends.
struct FailureLimit<K> {
    burst: u32,
    period: Duration,
    /// When each key's recorded failures have all leaked away.
    debts: Mutex<HashMap<K, Instant>>,
}

impl<K: std::hash::Hash + Eq> FailureLimit<K> {
    fn new(burst: u32, period: Duration) -> FailureLimit<K> {
        FailureLimit {
            burst,
            period,
            debts: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while the key has no failure left.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let debts = self.debts.lock().unwrap_or_else(PoisonError::into_inner);
        let allowance = self.period.saturating_mul(self.burst - 1);
        match debts.get(key) {
            Some(until) if until.saturating_duration_since(now) > allowance => {
                Err(until.saturating_duration_since(now) - allowance)
            }
            _ => Ok(()),
        }
    }

    fn record(&self, key: K, now: Instant) {
        let mut debts = self.debts.lock().unwrap_or_else(PoisonError::into_inner);
        if debts.len() >= MAX_TRACKED_KEYS {
            debts.retain(|_, until| *until > now);
            if debts.len() >= MAX_TRACKED_KEYS {
                // Only under a flood from more networks than the per-network limit can slow;
                // forgetting is the bounded choice (each network is still limited).
                tracing::warn!(tracked = debts.len(), "sign-in failure map full; forgetting it");
                debts.clear();
            }
        }
        let until = debts.get(&key).copied().filter(|u| *u > now).unwrap_or(now);
        debts.insert(key, until + self.period);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.debts.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

pub fn operator_routes(cfg: &mut web::ServiceConfig) {
    use pages::health;
    cfg.app_data(web::Data::new(health::OperatorListener))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

/// One served route: its method (`ANY` for every method) and path pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

/// Declares a module's routes once: `routes(cfg)` registers them and `ROUTES` lists them,
/// so what is served and what the tests sweep (every route with an id, from another
/// organization) cannot drift apart.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:expr;)*) => {
        pub const ROUTES: &[$crate::web::Route] = &[$($crate::web::Route {
            method: $crate::web::route_table!(@name $method),
            path: $path,
        }),*];

        pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
            $(cfg.route($path, actix_web::web::$method().to($handler));)*
        }
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
    (@name put) => { "PUT" };
    (@name route) => { "ANY" };
}
pub(crate) use route_table;

mod static_files {
    super::route_table! {
        get "/static/{file}" => super::assets::serve;
    }
}

/// Every route the app serves.
pub fn all_routes() -> impl Iterator<Item = &'static Route> {
    [webhooks::ROUTES, api::ROUTES, pages::ROUTES, static_files::ROUTES]
        .into_iter()
        .flatten()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    webhooks::routes(cfg);
    api::routes(cfg);
    pages::routes(cfg);
    static_files::routes(cfg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_keyed_by_ipv4_address_or_ipv6_slash_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(network_of(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(
            network_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            network_of(ip("2001:db8:1:2::1")),
            network_of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(network_of(ip("::ffff:198.51.100.4")), ip("198.51.100.4"));
    }

    #[test]
    fn the_client_is_the_hop_at_the_trusted_depth_over_every_header_line() {
        let lines = |values: &[&str]| -> Vec<HeaderValue> {
            values.iter().map(|v| HeaderValue::from_str(v).unwrap()).collect()
        };
        let at = |values: &[&str], depth: usize| forwarded_client(lines(values).iter(), depth);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(at(&["203.0.113.7"], 1), ip("203.0.113.7"));
        // The client's own line first, then the one our proxy appended to.
        assert_eq!(at(&["1.1.1.1", "2.2.2.2, 203.0.113.7"], 1), ip("203.0.113.7"));
        assert_eq!(at(&["1.1.1.1", "2.2.2.2, 203.0.113.7"], 2), ip("2.2.2.2"));
        assert_eq!(at(&["1.1.1.1", "2.2.2.2, 203.0.113.7"], 3), ip("1.1.1.1"));
        assert_eq!(at(&["2001:db8::1", "[2001:db8::2]:4711"], 1), ip("2001:db8::2"));
        assert_eq!(at(&["198.51.100.1:80"], 1), ip("198.51.100.1"));
        // Fewer hops than trusted proxies, or garbage where the client should be: no answer
        // (the caller falls back to the peer).
        assert_eq!(at(&["203.0.113.7"], 2), None);
        assert_eq!(at(&[], 1), None);
        assert_eq!(at(&["1.1.1.1, not-an-address"], 1), None);
        assert_eq!(at(&["1.1.1.1,"], 1), None);
    }

    #[test]
    fn only_failures_spend_the_allowance_and_they_leak_away() {
        let limit = FailureLimit::new(5, Duration::from_secs(180));
        let start = Instant::now();
        for _ in 0..5 {
            assert!(limit.check(&"ada", start).is_ok());
            limit.record("ada", start);
        }
        let wait = limit.check(&"ada", start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(180));
        assert!(limit.check(&"grace", start).is_ok(), "other keys are free");
        assert!(limit.check(&"ada", start + Duration::from_secs(180)).is_ok());
        // Checking spends nothing.
        for _ in 0..100 {
            assert!(limit.check(&"grace", start).is_ok());
        }
    }

    #[test]
    fn the_failure_map_stays_bounded() {
        let limit = FailureLimit::new(5, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..MAX_TRACKED_KEYS {
            limit.record(i, start);
        }
        // Stale entries are dropped first when the map is full.
        limit.record(MAX_TRACKED_KEYS, start + Duration::from_secs(2));
        assert_eq!(limit.tracked(), 1);
    }

    #[test]
    fn origins() {
        assert_eq!(
            super::origin_of("https://hub.example.com/base"),
            "https://hub.example.com"
        );
        assert_eq!(super::origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
