//! Pages and their htmx partials.

mod account;
mod audit;
mod auth;
mod connect;
mod detail;
pub(super) mod health;
mod integrations;
mod oversight;
mod people;
mod sso;
mod team;
mod tokens;

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};

use super::assets;
use super::errors::WebError;
use super::session::{CurrentAdmin, csrf_token};

super::route_table! {
    get "/" => auth::root;
    get "/setup" => auth::setup_form;
    post "/setup" => auth::setup_submit;
    get "/login" => auth::login_form;
    post "/login" => auth::login_submit;
    post "/logout" => auth::logout;
    get "/login/sso" => sso::start;
    get "/login/sso/callback" => sso::callback;
    get "/account" => account::show;
    post "/account/sessions/end-others" => account::end_others;
    post "/account/password" => account::change_password;
    post "/account/sessions/{session}/end" => account::end_session;
    get "/team" => team::show;
    post "/team/invitations" => team::invite;
    post "/team/invitations/{invitation}/revoke" => team::revoke;
    post "/team/admins/{admin}/remove" => team::remove;
    get "/invite/{token}" => team::invitation;
    post "/invite/{token}" => team::accept;
    get "/integrations" => integrations::settings;
    // Before /integrations/{id}: the one OAuth redirect URI.
    get "/integrations/callback" => connect::callback;
    get "/integrations/{slug}/connect" => connect::dialog;
    post "/integrations/{slug}/connect" => connect::start;
    get "/integrations/{id}" => detail::show;
    get "/integrations/{id}/disconnect" => detail::confirm_disconnect;
    post "/integrations/{id}/disconnect" => detail::disconnect;
    post "/integrations/{id}/webhooks" => detail::add_webhook;
    post "/integrations/{id}/test" => detail::test;
    get "/integrations/{id}/logs" => oversight::integration_logs;
    post "/integrations/{id}/schedule" => oversight::set_schedule;
    post "/integrations/{id}/directory/organization" => detail::choose_organization;
    get "/integrations/{id}/erase" => oversight::confirm_erase;
    post "/integrations/{id}/erase" => oversight::erase;
    get "/dashboard" => oversight::dashboard;
    get "/people" => people::show;
    post "/people/sync/{id}" => people::sync_now;
    get "/api-tokens" => tokens::list;
    post "/api-tokens" => tokens::create;
    post "/api-tokens/{id}/revoke" => tokens::revoke;
    get "/activity" => oversight::activity;
    get "/activity.csv" => oversight::activity_csv;
    get "/audit" => audit::page;
    get "/audit.csv" => audit::csv;
    get "/audit.jsonl" => audit::jsonl;
    get "/gdpr" => oversight::gdpr;
    get "/gdpr/export.json" => oversight::gdpr_export;
    post "/integrations/{id}/events/{event}/replay" => detail::replay;
    post "/integrations/{id}/webhooks/{webhook}/handshake" => detail::reset_handshake;
    get "/healthz" => health::healthz;
    get "/readyz" => health::readyz;
    get "/metrics" => health::metrics;
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

/// The partial for htmx requests; otherwise the full page, which `page` builds from the
/// partial's data and the layout (so every action also works without JavaScript). Either
/// way the answer says that it varies with HX-Request.
pub fn partial_or_page<P: Template, F: Template>(
    req: &HttpRequest,
    admin: &CurrentAdmin,
    status: StatusCode,
    partial: P,
    page: impl FnOnce(P, Layout) -> F,
) -> Result<HttpResponse, WebError> {
    let mut response = if is_htmx(req) {
        html(status, partial)?
    } else {
        html(status, page(partial, Layout::signed_in(admin)?))?
    };
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("HX-Request"));
    Ok(response)
}

pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
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

/// A file to download (an export): never cached.
pub(super) fn download(content_type: &str, filename: &str, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type.to_owned())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}
