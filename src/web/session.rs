//! The browser session. The encrypted cookie carries the session id (`sid`, fresh at every
//! sign-in; OAuth states are bound to it) and the CSRF token; who is signed in, since when and
//! whether the session is still open live on the server (`accounts::sessions`), so signing
//! out ends it everywhere, whoever holds a copy of the cookie.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, web};
use subtle::ConstantTimeEq;

use super::WebState;
use super::errors::WebError;
use crate::accounts::{self, Admin, SessionPolicy};
use crate::domain::OrgId;

const SESSION_ID: &str = "sid";
const CSRF: &str = "csrf";

/// The CSRF token of this session, created on first use.
pub fn csrf_token(session: &Session) -> Result<String, WebError> {
    if let Ok(Some(token)) = session.get::<String>(CSRF) {
        return Ok(token);
    }
    let token = crate::crypto::random_token(32);
    session
        .insert(CSRF, &token)
        .map_err(|e| WebError::Internal(format!("session write: {e}")))?;
    Ok(token)
}

/// Constant-time comparison of a submitted CSRF token with the session's.
pub fn csrf_matches(session: &Session, submitted: &str) -> bool {
    match session.get::<String>(CSRF) {
        Ok(Some(expected)) => {
            !submitted.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
        }
        _ => false,
    }
}

/// Starts a new signed-in session, on the server and in the cookie: everything of the old
/// cookie is dropped (session fixation), with a new session id and a new CSRF token.
pub async fn sign_in(
    state: &WebState,
    req: &HttpRequest,
    session: &Session,
    admin: &Admin,
) -> Result<(), WebError> {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let ip = state.client_ip(req).map(|ip| ip.to_string());
    let id = accounts::open_session(&state.ctx.db, admin, ip, user_agent).await?;
    session.clear();
    session.renew();
    let write = || -> Result<(), actix_session::SessionInsertError> {
        session.insert(SESSION_ID, &id)?;
        session.insert(CSRF, crate::crypto::random_token(32))?;
        Ok(())
    };
    write().map_err(|e| WebError::Internal(format!("session write: {e}")))
}

/// Ends the session on the server (a copy of the cookie opens nothing afterwards) and drops
/// the cookie.
pub async fn sign_out(state: &WebState, req: &HttpRequest, session: &Session) -> Result<(), WebError> {
    if let Some(id) = session_id(session) {
        let source = state.client_ip(req).map(|ip| ip.to_string());
        accounts::end_session(&state.ctx.db, &id, source).await?;
    }
    session.purge();
    Ok(())
}

/// The signed-in admin of this request. Extracting it from a request without a valid,
/// fresh session answers "sign in" (303 to /login).
#[derive(Clone)]
pub struct CurrentAdmin {
    pub admin: Admin,
    pub session: Session,
}

impl CurrentAdmin {
    pub fn org_id(&self) -> OrgId {
        self.admin.org_id
    }

    pub fn csrf(&self) -> Result<String, WebError> {
        csrf_token(&self.session)
    }
}

impl FromRequest for CurrentAdmin {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, WebError>>>>;

    /// A session checked on its own trip: for handlers whose reads are not folded into it.
    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let signed_in = SignedIn::from_request(req, payload).into_inner();
        let state = req.app_data::<web::Data<WebState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| WebError::Internal("web state missing".into()))?;
            let (admin, ()) = signed_in?.load(&state, |_, _| Ok(())).await?;
            Ok(admin)
        })
    }
}

/// A request that carries a session id, not yet checked: a page that reads the database
/// checks it in the same trip as its own reads (`load`), so the page is one hand-off to the
/// database thread. Without a session id the request answers "sign in" at once.
pub struct SignedIn {
    id: String,
    session: Session,
    /// The client's address (as the trusted proxy saw it), for the audit trail.
    source: Option<String>,
}

impl SignedIn {
    /// Checks the session and runs `page` for its admin, in one trip; "sign in" when the
    /// session is no longer open (then `page` does not run).
    pub async fn load<T: Send + 'static>(
        self,
        state: &WebState,
        page: impl accounts::AdminPage<T>,
    ) -> Result<(CurrentAdmin, T), WebError> {
        let policy = SessionPolicy::of(&state.ctx.settings);
        match accounts::with_session_admin(&state.ctx.db, &self.id, policy, page).await? {
            Some((admin, loaded)) => Ok((
                CurrentAdmin {
                    admin: Admin {
                        source: self.source,
                        ..admin
                    },
                    session: self.session,
                },
                loaded,
            )),
            None => {
                self.session.purge();
                Err(WebError::SignInRequired)
            }
        }
    }
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = std::future::Ready<Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = req.get_session();
        let source = req
            .app_data::<web::Data<WebState>>()
            .and_then(|state| state.client_ip(req))
            .map(|ip| ip.to_string());
        std::future::ready(match session_id(&session) {
            Some(id) => Ok(SignedIn { id, session, source }),
            None => Err(WebError::SignInRequired),
        })
    }
}

/// The id of this browser session (fresh at each sign-in); OAuth states are bound to it.
pub fn session_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_ID).ok().flatten()
}
