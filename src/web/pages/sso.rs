//! Single sign-on for admins: the redirect to the platform's identity provider and its
//! callback. What the callback checks (state, PKCE verifier, nonce) waits in the encrypted
//! session cookie, and is taken out at the callback so that it serves once.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::{Layout, html, see_other};
use crate::accounts::sso::{self, PendingSso, SsoCallback, SsoError};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session;

const PENDING: &str = "sso_pending";

fn redirect_uri(state: &WebState) -> String {
    format!("{}/login/sso/callback", state.public_url.trim_end_matches('/'))
}

/// Sends the browser to the identity provider.
pub async fn start(state: web::Data<WebState>, session: Session) -> Result<HttpResponse, WebError> {
    match sso::begin(&state.ctx, &state.sso, &redirect_uri(&state)).await {
        Ok((url, pending)) => {
            session
                .insert(PENDING, pending)
                .map_err(|e| WebError::Internal(format!("session write: {e}")))?;
            Ok(see_other(&url))
        }
        Err(e) => refused(&session, e),
    }
}

/// The identity provider's answer: signs the matching admin in, or says why not.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<WebState>,
    session: Session,
    query: web::Query<SsoCallback>,
) -> Result<HttpResponse, WebError> {
    let pending = session.remove_as::<PendingSso>(PENDING).and_then(Result::ok);
    let done = sso::complete(
        &state.ctx,
        &state.sso,
        &redirect_uri(&state),
        pending,
        query.into_inner(),
    )
    .await;
    match done {
        Ok(admin) => {
            session::sign_in(&state, &req, &session, &admin).await?;
            tracing::info!(user_id = %admin.user_id, org_id = %admin.org_id, "signed in by single sign-on");
            Ok(see_other("/integrations"))
        }
        Err(e) => refused(&session, e),
    }
}

#[derive(Template)]
#[template(path = "sso_refused.html")]
struct RefusedPage {
    layout: Layout,
    message: String,
}

/// A clear page for a refused or failed single sign-on; the cause goes to the log.
fn refused(session: &Session, error: SsoError) -> Result<HttpResponse, WebError> {
    let (status, message) = match &error {
        SsoError::NotConfigured => return Err(WebError::NotFound),
        SsoError::Db(_) => return Err(WebError::Unavailable(error.to_string())),
        SsoError::Refused(sentence) => (StatusCode::FORBIDDEN, (*sentence).to_owned()),
        SsoError::Cancelled(_) => (
            StatusCode::FORBIDDEN,
            "The identity provider did not sign you in. Try again, or ask your administrator.".to_owned(),
        ),
        SsoError::BadState => (
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was not started in this browser. Start again.".to_owned(),
        ),
        SsoError::Provider(_) => (
            StatusCode::BAD_GATEWAY,
            "The identity provider could not complete the sign-in right now. Try again in a moment."
                .to_owned(),
        ),
    };
    tracing::warn!(error = %error, "single sign-on refused");
    html(
        status,
        RefusedPage {
            layout: Layout::anonymous(session)?,
            message,
        },
    )
}
