//! Service tokens for the internal API: create (shown once), list, revoke.

use super::{Layout, html, see_other, set_flash};
use crate::api_tokens::{self, IntegrationChoice};
use crate::domain::IntegrationId;
use crate::domain::format_time;
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::CurrentAdmin;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;

pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// `None`: every integration of the organization.
    pub integrations: Option<Vec<IntegrationChoice>>,
}

#[derive(Template)]
#[template(path = "api_tokens.html")]
struct TokensPage {
    layout: Layout,
    tokens: Vec<TokenView>,
    /// The integrations a new token can be limited to.
    choices: Vec<IntegrationChoice>,
    csrf: String,
    created: Option<(String, String)>,
}

async fn render(
    state: &WebState,
    admin: &CurrentAdmin,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let (listings, choices) = api_tokens::list(&state.ctx, admin.org_id()).await?;
    let tokens = listings
        .into_iter()
        .map(|t| TokenView {
            id: t.row.id,
            name: t.row.name,
            prefix: t.row.token_prefix,
            created_at: format_time(t.row.created_at),
            last_used_at: t.row.last_used_at.map(format_time),
            revoked_at: t.row.revoked_at.map(format_time),
            integrations: t.integrations,
        })
        .collect();
    let csrf = admin.csrf()?;
    let mut response = html(
        status,
        TokensPage {
            layout: Layout::signed_in(admin)?,
            tokens,
            choices,
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

/// A new token's form: its name and, repeated, the integrations it is limited to.
struct CreateForm {
    name: String,
    integrations: Vec<IntegrationId>,
}

/// More choices than any organization has integrations is not a form of ours.
const MAX_CHOSEN: usize = 200;

impl CreateForm {
    fn parse(body: &[u8]) -> Result<CreateForm, WebError> {
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
            .map_err(|_| WebError::BadRequest("the form could not be read".into()))?;
        let mut form = CreateForm {
            name: String::new(),
            integrations: Vec::new(),
        };
        for (key, value) in fields {
            match key.as_str() {
                "name" => form.name = value,
                "integration" if form.integrations.len() < MAX_CHOSEN => form.integrations.push(
                    IntegrationId::parse(&value)
                        .ok_or_else(|| WebError::BadRequest("an integration id is malformed".into()))?,
                ),
                "integration" => return Err(WebError::BadRequest("too many integrations chosen".into())),
                _ => {}
            }
        }
        Ok(form)
    }
}

/// Creates a token and shows it, on this answer only.
pub async fn create(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let form = CreateForm::parse(&body)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        set_flash(
            &admin.session,
            "error",
            "Name the token (1 to 100 characters), e.g. after the service that uses it.",
        )?;
        return Ok(see_other("/api-tokens"));
    }
    let (row, token) = api_tokens::create(
        &state.ctx.db,
        admin.org_id(),
        name,
        &admin.admin.actor(),
        &form.integrations,
    )
    .await?;
    tracing::info!(token_id = %row.id, restricted = row.restricted, "service token created");
    render(&state, &admin, Some((row.name, token)), StatusCode::CREATED).await
}

pub async fn revoke(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    if !api_tokens::revoke(&state.ctx.db, &admin.admin.actor(), admin.org_id(), &id).await? {
        return Err(WebError::NotFound);
    }
    set_flash(
        &admin.session,
        "success",
        "The token is revoked; calls with it are refused from now on.",
    )?;
    Ok(see_other("/api-tokens"))
}
