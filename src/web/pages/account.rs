//! The admin's account: their open sessions (device, address, last seen), with sign-out per
//! session and everywhere else, and the password (changing it ends every other session).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Layout, html, see_other, set_flash};
use crate::accounts::{self, AccountError, SessionPolicy, SessionView};
use crate::domain::format_time;
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::{CurrentAdmin, session_id};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    sessions: Vec<SessionView>,
    csrf: String,
    /// Why the password form was refused.
    password_error: Option<String>,
}

impl AccountPage {
    fn time(&self, at: &chrono::NaiveDateTime) -> String {
        format_time(*at)
    }
}

fn policy(state: &WebState) -> SessionPolicy {
    SessionPolicy::of(&state.ctx.settings)
}

fn current(admin: &CurrentAdmin) -> Result<String, WebError> {
    session_id(&admin.session).ok_or(WebError::SignInRequired)
}

async fn render(
    state: &WebState,
    admin: &CurrentAdmin,
    status: StatusCode,
    password_error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let sessions =
        accounts::list_sessions(&state.ctx.db, &admin.admin, &current(admin)?, policy(state)).await?;
    html(
        status,
        AccountPage {
            layout: Layout::signed_in(admin)?,
            sessions,
            csrf: admin.csrf()?,
            password_error,
        },
    )
}

pub async fn show(state: web::Data<WebState>, admin: CurrentAdmin) -> Result<HttpResponse, WebError> {
    render(&state, &admin, StatusCode::OK, None).await
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
    new_password_confirm: SecretString,
}

/// Changes the password (the current one required) and signs out every other session.
pub async fn change_password(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    form: web::Form<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.into_inner();
    if form.new_password.expose_secret() != form.new_password_confirm.expose_secret() {
        let error = Some("The two new passwords do not match.".to_owned());
        return render(&state, &admin, StatusCode::UNPROCESSABLE_ENTITY, error).await;
    }
    let changed = accounts::change_password(
        &state.ctx.db,
        &admin.admin,
        &current(&admin)?,
        form.current_password,
        form.new_password,
    )
    .await;
    match changed {
        Ok(ended) => {
            tracing::info!(user_id = %admin.admin.user_id, ended, "password changed; other sessions signed out");
            set_flash(
                &admin.session,
                "success",
                "Your password is changed, and every other session is signed out.",
            )?;
            Ok(see_other("/account"))
        }
        Err(AccountError::Invalid(message)) => {
            render(&state, &admin, StatusCode::UNPROCESSABLE_ENTITY, Some(message)).await
        }
        Err(AccountError::Db(e)) => Err(e.into()),
        Err(other) => Err(WebError::Internal(other.to_string())),
    }
}

/// Ends one of the admin's sessions (another device, or this one).
pub async fn end_session(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    handle: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let handle = handle.into_inner();
    let valid = handle.len() == 64 && handle.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid || !accounts::end_own_session(&state.ctx.db, &admin.admin, &handle).await? {
        return Err(WebError::NotFound);
    }
    tracing::info!(user_id = %admin.admin.user_id, "a session was signed out from the account page");
    set_flash(&admin.session, "success", "That session is signed out.")?;
    Ok(see_other("/account"))
}

/// Ends every session of the admin but this one.
pub async fn end_others(state: web::Data<WebState>, admin: CurrentAdmin) -> Result<HttpResponse, WebError> {
    let ended = accounts::end_other_sessions(&state.ctx.db, &admin.admin, &current(&admin)?).await?;
    tracing::info!(user_id = %admin.admin.user_id, ended, "signed out everywhere else");
    let text = match ended {
        0 => "There was no other session.".to_owned(),
        1 => "1 other session is signed out.".to_owned(),
        n => format!("{n} other sessions are signed out."),
    };
    set_flash(&admin.session, "success", text)?;
    Ok(see_other("/account"))
}
