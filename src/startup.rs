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
use crate::web::{self as routes, WebState, middleware};
use crate::worker::Worker;

pub const SESSION_COOKIE: &str = "targetym_session";

pub struct Application {
    port: u16,
    public_url: String,
    ctx: AppContext,
    server: Server,
}

impl Application {
    /// Connects to the database, applies migrations, seeds the catalogue and binds the
    /// listener. The server starts serving on `run`.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let mut ctx = AppContext::load(settings).await?;
        let (applied, changed) = ctx.prepare_database().await?;
        tracing::info!(
            migrations_applied = applied,
            catalogue_rows_changed = changed,
            "database ready"
        );
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
        let key = Key::from(ctx.settings.session_key.expose_secret());
        let secure = public_url.starts_with("https://");
        let idle = ctx.settings.session_idle_timeout;
        let server = HttpServer::new(move || {
            let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name(SESSION_COOKIE.to_owned())
                .cookie_secure(secure)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .cookie_content_security(CookieContentSecurity::Private)
                .session_lifecycle(BrowserSession::default().state_ttl(time_duration(idle)))
                .build();
            App::new()
                .app_data(state.clone())
                .app_data(web::FormConfig::default().limit(64 * 1024))
                .configure(routes::routes)
                .wrap(from_fn(middleware::verify_csrf))
                .wrap(from_fn(middleware::htmx_errors))
                .wrap(sessions)
                .wrap(from_fn(middleware::security_headers))
                .wrap(from_fn(middleware::observe))
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Application {
            port: local.port(),
            public_url,
            ctx,
            server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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
        let worker = self
            .ctx
            .settings
            .worker
            .enabled
            .then(|| Worker::new(self.ctx.clone()).start());
        let served = self.server.await;
        if let Some(worker) = worker {
            worker.shutdown().await;
        }
        if let Err(e) = crate::webhooks::counts::flush(&self.ctx).await {
            tracing::error!(error = %e, "could not write the webhook delivery counts at shutdown");
        }
        served?;
        tracing::info!("stopped");
        Ok(())
    }
}

fn time_duration(d: std::time::Duration) -> actix_web::cookie::time::Duration {
    actix_web::cookie::time::Duration::seconds(d.as_secs() as i64)
}
