//! Building and running the application. `build` binds first, so tests can ask for port 0
//! and read `port()` back.

use std::net::TcpListener;

use actix_session::SessionMiddleware;
use actix_session::config::{BrowserSession, CookieContentSecurity};
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use secrecy::ExposeSecret;

use crate::config::Settings;
use crate::context::AppContext;
use crate::web::errors::WebError;
use crate::web::{self as routes, WebState, middleware};
use crate::worker::Worker;

pub const SESSION_COOKIE: &str = "targetym_session";
/// On https the cookie is `__Host-` prefixed: browsers then accept it only with Secure,
/// Path=/ and no Domain, so neither a sibling subdomain nor a plain-http page can plant or
/// overwrite it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-targetym_session";

pub struct Application {
    port: u16,
    public_url: String,
    ctx: AppContext,
    server: Server,
    /// The METRICS_BIND_ADDR listener, when configured: its port and server.
    operator: Option<(u16, Server)>,
}

impl Application {
    /// Connects to the database, applies migrations (or, with MIGRATE_ON_START=false, refuses
    /// an older schema), seeds the catalogue and binds the listener. The server starts serving on `run`.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        Application::build_with_extra_routes(settings, |_| {}).await
    }

    /// `build` with routes of the caller's added after ours: tests reach paths that the
    /// product never serves (e.g. one that panics) through the real middleware stack.
    pub async fn build_with_extra_routes(
        settings: Settings,
        extra_routes: fn(&mut web::ServiceConfig),
    ) -> anyhow::Result<Application> {
        let mut ctx = AppContext::load(settings).await?;
        let (applied, changed) = if ctx.settings.migrate_on_start {
            ctx.prepare_database().await?
        } else {
            (0, ctx.prepare_current_schema().await?)
        };
        tracing::info!(
            migrations_applied = applied,
            catalogue_rows_changed = changed,
            "database ready"
        );
        if let Some(token) = crate::accounts::setup_token(&ctx.settings)
            && !crate::accounts::setup_completed(&ctx.db).await?
        {
            // The operator's way in to a fresh production instance; useless once setup is done.
            match ctx.settings.setup_token {
                Some(_) => tracing::warn!("no admin yet: open /setup and enter SETUP_TOKEN"),
                None => tracing::warn!(
                    "no admin yet: open /setup and enter the setup token {}",
                    secrecy::ExposeSecret::expose_secret(&token)
                ),
            }
        }
        let listener = TcpListener::bind(&ctx.settings.bind_addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", ctx.settings.bind_addr))?;
        let local = listener.local_addr()?;
        let public_url = ctx.settings.public_url.clone().unwrap_or_else(|| {
            let host = if local.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                local.ip().to_string()
            };
            format!("http://{host}:{}", local.port())
        });
        ctx.public_url = public_url.clone().into();
        let state = web::Data::new(WebState::new(ctx.clone(), public_url.clone()));
        let operator_state = state.clone();
        let key = Key::from(ctx.settings.session_key.expose_secret());
        let secure = public_url.starts_with("https://");
        let idle = ctx.settings.session_idle_timeout;
        let cookie_name = if secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        };
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name(cookie_name.to_owned())
                .cookie_secure(secure)
                .cookie_path("/".to_owned())
                .cookie_domain(None)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(BrowserSession::default().state_ttl(time_duration(idle)))
                .build();
            App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .app_data(web::QueryConfig::default().error_handler(|_, _| {
                    WebError::InvalidInput(
                        "The address has a value this page does not understand (a page number, date or filter).",
                    )
                    .into()
                }))
                .configure(routes::routes)
                .configure(extra_routes)
                .wrap(from_fn(middleware::refuse_nul))
                .wrap(from_fn(middleware::verify_csrf))
                .wrap(from_fn(middleware::htmx_errors))
                .wrap(sessions)
                .wrap(from_fn(middleware::head_as_get))
                .wrap(from_fn(middleware::security_headers))
                .wrap(from_fn(middleware::observe))
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        let operator = match ctx.settings.metrics_bind_addr.as_deref() {
            Some(addr) => Some(operator_server(addr, operator_state)?),
            None => None,
        };
        Ok(Application {
            port: local.port(),
            public_url,
            ctx,
            server,
            operator,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the METRICS_BIND_ADDR listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.operator.as_ref().map(|(port, _)| *port)
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    pub fn context(&self) -> &AppContext {
        &self.ctx
    }

    /// Serves until SIGTERM or Ctrl-C, then drains in-flight requests (up to 30 s).
    pub async fn run(self) -> std::io::Result<()> {
        tracing::info!(url = %self.public_url, "serving");
        if let Some(addr) = &self.ctx.settings.metrics_bind_addr {
            tracing::info!(addr = %addr, port = self.metrics_port(), "serving /metrics, /healthz and /readyz");
        }
        let worker = self
            .ctx
            .settings
            .worker
            .enabled
            .then(|| Worker::new(self.ctx.clone()).start());
        let operator = async {
            match self.operator {
                Some((_, server)) => server.await,
                None => Ok(()),
            }
        };
        let (served, operator_served) = futures_util::future::join(self.server, operator).await;
        if let Some(worker) = worker {
            worker.shutdown().await;
        }
        if let Err(e) = crate::webhooks::counts::flush(&self.ctx).await {
            tracing::error!(error = %e, "could not write the webhook delivery counts at shutdown");
        }
        if let Some(tracer) = &self.ctx.tracer {
            tracer.flush().await;
        }
        served?;
        operator_served?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The second listener (METRICS_BIND_ADDR): /metrics, /healthz and /readyz only, with the
/// request log and security headers of the main one.
fn operator_server(addr: &str, state: web::Data<WebState>) -> anyhow::Result<(u16, Server)> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (METRICS_BIND_ADDR): {e}"))?;
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(routes::operator_routes)
            .wrap(from_fn(middleware::head_as_get))
            .wrap(from_fn(middleware::security_headers))
            .wrap(from_fn(middleware::observe))
    })
    .workers(1)
    .listen(listener)?
    .shutdown_timeout(5)
    .run();
    Ok((port, server))
}

fn time_duration(d: std::time::Duration) -> actix_web::cookie::time::Duration {
    actix_web::cookie::time::Duration::seconds(d.as_secs() as i64)
}
