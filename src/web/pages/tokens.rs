//! Service tokens for the internal API: create (shown once), list, revoke.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, html, see_other, set_flash};
use crate::api_tokens;
use crate::integrations::format_time;
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::CurrentAdmin;

pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Template)]
#[template(path = "api_tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    csrf: String,
    created: Option<(String, String)>,
}

async fn render(
    state: &WebState,
    admin: &CurrentAdmin,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let tokens = api_tokens::list(&state.ctx.db, admin.org_id())
        .await?
        .into_iter()
        .map(|t| TokenView {
            id: t.id,
            name: t.name,
            prefix: t.token_prefix,
            created_at: format_time(t.created_at),
            last_used_at: t.last_used_at.map(format_time),
            revoked_at: t.revoked_at.map(format_time),
        })
        .collect();
    let csrf = admin.csrf()?;
    let mut response = html(
        status,
        TokensPage {
            layout: Layout::signed_in(admin)?,
            tokens,
            csrf,
            created,
        },
    )?;
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

pub async fn list(state: web::Data<WebState>, admin: CurrentAdmin) -> Result<HttpResponse, WebError> {
    render(&state, &admin, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
}

/// Creates a token and shows it, on this answer only.
pub async fn create(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, WebError> {
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        set_flash(
            &admin.session,
            "error",
            "Name the token (1 to 100 characters), e.g. after the service that uses it.",
        )?;
        return Ok(see_other("/api-tokens"));
    }
    let (row, token) =
        api_tokens::create(&state.ctx.db, admin.org_id(), name, Some(admin.admin.user_id)).await?;
    tracing::info!(token_id = %row.id, "service token created");
    render(&state, &admin, Some((row.name, token)), StatusCode::CREATED).await
}

pub async fn revoke(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    if !api_tokens::revoke(&state.ctx.db, admin.org_id(), &id).await? {
        return Err(WebError::NotFound);
    }
    set_flash(
        &admin.session,
        "success",
        "The token is revoked; calls with it are refused from now on.",
    )?;
    Ok(see_other("/api-tokens"))
}
