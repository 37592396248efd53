//! Pages and their htmx partials.

mod auth;
mod health;
mod integrations;

use actix_session::Session;
use actix_web::{HttpRequest, web};

use super::assets;
use super::errors::WebError;
use super::session::{CurrentAdmin, csrf_token};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(auth::root))
        .route("/setup", web::get().to(auth::setup_form))
        .route("/setup", web::post().to(auth::setup_submit))
        .route("/login", web::get().to(auth::login_form))
        .route("/login", web::post().to(auth::login_submit))
        .route("/logout", web::post().to(auth::logout))
        .route("/integrations", web::get().to(integrations::settings))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

/// What the base layout needs: the CSRF token (forms and htmx), who is signed in, and the
/// fingerprinted asset URLs.
pub struct Layout {
    pub csrf: String,
    pub admin_email: Option<String>,
    pub org_name: Option<String>,
    pub css_url: String,
    pub js_url: String,
}

impl Layout {
    fn new(session: &Session, admin: Option<&CurrentAdmin>) -> Result<Layout, WebError> {
        Ok(Layout {
            csrf: csrf_token(session)?,
            admin_email: admin.map(|a| a.admin.email.clone()),
            org_name: admin.map(|a| a.admin.org_name.clone()),
            css_url: assets::url("app.css"),
            js_url: assets::url(assets::HTMX),
        })
    }

    pub fn anonymous(session: &Session) -> Result<Layout, WebError> {
        Layout::new(session, None)
    }

    pub fn signed_in(admin: &CurrentAdmin) -> Result<Layout, WebError> {
        Layout::new(&admin.session, Some(admin))
    }
}

/// True for requests htmx makes, which get a partial instead of the full page.
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().contains_key("hx-request")
}
