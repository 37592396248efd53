//! Pages and their htmx partials.

mod auth;
mod connect;
mod detail;
mod health;
mod integrations;
mod oversight;
mod tokens;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::{Deserialize, Serialize};

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
        // Before /integrations/{id}: the one OAuth redirect URI.
        .route("/integrations/callback", web::get().to(connect::callback))
        .route("/integrations/{slug}/connect", web::get().to(connect::dialog))
        .route("/integrations/{slug}/connect", web::post().to(connect::start))
        .route("/integrations/{id}", web::get().to(detail::show))
        .route(
            "/integrations/{id}/disconnect",
            web::get().to(detail::confirm_disconnect),
        )
        .route(
            "/integrations/{id}/disconnect",
            web::post().to(detail::disconnect),
        )
        .route("/integrations/{id}/webhooks", web::post().to(detail::add_webhook))
        .route("/integrations/{id}/test", web::post().to(detail::test))
        .route(
            "/integrations/{id}/logs",
            web::get().to(oversight::integration_logs),
        )
        .route(
            "/integrations/{id}/schedule",
            web::post().to(oversight::set_schedule),
        )
        .route(
            "/integrations/{id}/erase",
            web::get().to(oversight::confirm_erase),
        )
        .route("/integrations/{id}/erase", web::post().to(oversight::erase))
        .route("/dashboard", web::get().to(oversight::dashboard))
        .route("/api-tokens", web::get().to(tokens::list))
        .route("/api-tokens", web::post().to(tokens::create))
        .route("/api-tokens/{id}/revoke", web::post().to(tokens::revoke))
        .route("/audit", web::get().to(oversight::audit))
        .route("/audit.csv", web::get().to(oversight::audit_csv))
        .route("/gdpr", web::get().to(oversight::gdpr))
        .route("/gdpr/export.json", web::get().to(oversight::gdpr_export))
        .route(
            "/integrations/{id}/events/{event}/replay",
            web::post().to(detail::replay),
        )
        .route(
            "/integrations/{id}/webhooks/{webhook}/handshake",
            web::post().to(detail::reset_handshake),
        )
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/metrics", web::get().to(health::metrics));
}

/// A one-time message shown on the next page (after a redirect).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flash {
    /// "success" or "error" (a CSS class).
    pub kind: String,
    pub text: String,
}

const FLASH: &str = "flash";

pub fn set_flash(session: &Session, kind: &str, text: impl Into<String>) -> Result<(), WebError> {
    session
        .insert(
            FLASH,
            Flash {
                kind: kind.into(),
                text: text.into(),
            },
        )
        .map_err(|e| WebError::Internal(format!("session write: {e}")))
}

/// What the base layout needs: the CSRF token (forms and htmx), who is signed in, the flash
/// message, and the fingerprinted asset URLs.
pub struct Layout {
    pub csrf: String,
    pub admin_email: Option<String>,
    pub org_name: Option<String>,
    pub flash: Option<Flash>,
    pub css_url: String,
    pub htmx_url: String,
    pub js_url: String,
}

impl Layout {
    fn new(session: &Session, admin: Option<&CurrentAdmin>) -> Result<Layout, WebError> {
        let flash = session.remove_as::<Flash>(FLASH).and_then(Result::ok);
        Ok(Layout {
            csrf: csrf_token(session)?,
            admin_email: admin.map(|a| a.admin.email.clone()),
            org_name: admin.map(|a| a.admin.org_name.clone()),
            flash,
            css_url: assets::url("app.css"),
            htmx_url: assets::url(assets::HTMX),
            js_url: assets::url("app.js"),
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

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location))
        .finish()
}

pub fn html(status: StatusCode, page: impl Template) -> Result<HttpResponse, WebError> {
    let body = page
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(body))
}

/// The sync-log kinds and statuses the filters offer (templates call these).
pub fn oversight_kinds() -> &'static [&'static str] {
    &oversight::KINDS
}

pub fn oversight_statuses() -> &'static [&'static str] {
    &oversight::STATUSES
}
