//! First-run setup, sign-in and sign-out.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Layout, html, see_other};
use crate::accounts::{self, AccountError, NewAdminInput};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session;

pub async fn root(state: web::Data<WebState>) -> Result<HttpResponse, WebError> {
    if accounts::setup_completed(&state.ctx.db).await? {
        Ok(see_other("/integrations"))
    } else {
        Ok(see_other("/setup"))
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    layout: Layout,
    error: Option<String>,
    org_name: String,
    email: String,
    /// Production: the form asks for the setup token.
    needs_token: bool,
}

/// Why a setup without the right token is refused (and what to do).
const BAD_SETUP_TOKEN: &str =
    "Enter the setup token: the operator set it as SETUP_TOKEN, or the app wrote it in its log at start.";

#[derive(Deserialize)]
pub struct SetupForm {
    org_name: String,
    email: String,
    password: SecretString,
    password_confirm: SecretString,
    #[serde(default)]
    setup_token: String,
}

pub async fn setup_form(state: web::Data<WebState>, session: Session) -> Result<HttpResponse, WebError> {
    if accounts::setup_completed(&state.ctx.db).await? {
        return Err(WebError::NotFound);
    }
    let page = SetupPage {
        layout: Layout::anonymous(&session)?,
        error: None,
        org_name: String::new(),
        email: String::new(),
        needs_token: accounts::setup_token(&state.ctx.settings).is_some(),
    };
    html(StatusCode::OK, page)
}

pub async fn setup_submit(
    req: HttpRequest,
    state: web::Data<WebState>,
    session: Session,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, WebError> {
    if accounts::setup_completed(&state.ctx.db).await? {
        return Err(WebError::NotFound);
    }
    let form = form.into_inner();
    let expected = accounts::setup_token(&state.ctx.settings);
    let refuse = |status: StatusCode, message: String| -> Result<HttpResponse, WebError> {
        let page = SetupPage {
            layout: Layout::anonymous(&session)?,
            error: Some(message),
            org_name: form.org_name.clone(),
            email: form.email.clone(),
            needs_token: expected.is_some(),
        };
        html(status, page)
    };
    if let Some(expected) = &expected
        && !accounts::setup_token_matches(expected, &form.setup_token)
    {
        tracing::warn!("first-run setup refused: no or a wrong setup token");
        return refuse(StatusCode::FORBIDDEN, BAD_SETUP_TOKEN.into());
    }
    let invalid = |message: String| refuse(StatusCode::UNPROCESSABLE_ENTITY, message);
    if form.password.expose_secret() != form.password_confirm.expose_secret() {
        return invalid("The two passwords do not match.".into());
    }
    let input = match NewAdminInput::parse(&form.org_name, &form.email, form.password.clone()) {
        Ok(input) => input,
        Err(AccountError::Invalid(message)) => return invalid(message),
        Err(other) => return Err(WebError::Internal(other.to_string())),
    };
    match accounts::complete_setup(&state.ctx.db, input).await {
        Ok(admin) => {
            tracing::info!(org_id = %admin.org_id, user_id = %admin.user_id, "first-run setup completed");
            session::sign_in(&state, &req, &session, &admin).await?;
            Ok(see_other("/integrations"))
        }
        Err(AccountError::SetupAlreadyDone) => Err(WebError::NotFound),
        Err(AccountError::Db(e)) => Err(e.into()),
        Err(other) => invalid(other.to_string()),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    error: Option<String>,
    email: String,
    /// "Sign in with <name>", when single sign-on is configured.
    sso_name: Option<String>,
    password_login: bool,
}

impl LoginPage {
    fn new(
        state: &WebState,
        session: &Session,
        error: Option<String>,
        email: String,
    ) -> Result<Self, WebError> {
        let settings = &state.ctx.settings;
        Ok(LoginPage {
            layout: Layout::anonymous(session)?,
            error,
            email,
            sso_name: settings.admin_sso.as_ref().map(|sso| sso.name.clone()),
            password_login: settings.password_login,
        })
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: SecretString,
}

pub async fn login_form(state: web::Data<WebState>, session: Session) -> Result<HttpResponse, WebError> {
    if !accounts::setup_completed(&state.ctx.db).await? {
        return Ok(see_other("/setup"));
    }
    html(
        StatusCode::OK,
        LoginPage::new(&state, &session, None, String::new())?,
    )
}

/// One generic message for every refused sign-in, so it never tells which part was wrong.
const BAD_CREDENTIALS: &str = "The email or password is incorrect.";

pub async fn login_submit(
    req: HttpRequest,
    state: web::Data<WebState>,
    session: Session,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, WebError> {
    if !state.ctx.settings.password_login {
        // Turned off (PASSWORD_LOGIN=false): admins sign in with single sign-on only.
        return Err(WebError::NotFound);
    }
    let form = form.into_inner();
    let refuse = |status: StatusCode, message: String, retry_after: Option<u64>| {
        let page = LoginPage::new(&state, &session, Some(message), form.email.clone())?;
        let mut response = html(status, page)?;
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(secs),
            );
        }
        Ok::<_, WebError>(response)
    };
    let client = state.client_ip(&req);
    if let Err(wait) = state.login_limits.check(client, &form.email) {
        state.ctx.metrics.login_failed("rate_limited");
        tracing::warn!(wait_secs = wait, "sign-in attempts limited");
        let minutes = wait.div_ceil(60);
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many sign-in attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
            Some(wait),
        );
    }
    match accounts::authenticate(&state.ctx.db, &form.email, form.password.clone()).await? {
        Some(admin) => {
            session::sign_in(&state, &req, &session, &admin).await?;
            tracing::info!(user_id = %admin.user_id, org_id = %admin.org_id, "signed in");
            Ok(see_other("/integrations"))
        }
        None => {
            state.login_limits.record_failure(client, &form.email);
            state.ctx.metrics.login_failed("credentials");
            tracing::info!("sign-in refused");
            refuse(StatusCode::UNAUTHORIZED, BAD_CREDENTIALS.into(), None)
        }
    }
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<WebState>,
    session: Session,
) -> Result<HttpResponse, WebError> {
    session::sign_out(&state, &req, &session).await?;
    Ok(see_other("/login"))
}
