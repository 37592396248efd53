//! The browser session (an encrypted cookie): who is signed in, since when, the CSRF token,
//! and the idle timeout. The session id (`sid`) is fresh at every sign-in; OAuth states are
//! bound to it.

use std::future::Future;
use std::pin::Pin;

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, web};
use subtle::ConstantTimeEq;

use super::WebState;
use super::errors::WebError;
use crate::accounts::{self, Admin};
use crate::domain::{OrgId, UserId};

const USER: &str = "uid";
const ORG: &str = "oid";
const SESSION_ID: &str = "sid";
const CSRF: &str = "csrf";
const SIGNED_IN_AT: &str = "born";
const LAST_SEEN: &str = "seen";

/// Re-write `seen` at most this often, so not every request re-issues the cookie.
const SEEN_RESOLUTION_SECS: i64 = 60;

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

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

/// Starts a new signed-in session: everything of the old one is dropped (session fixation),
/// with a new session id and a new CSRF token.
pub fn sign_in(session: &Session, admin: &Admin) -> Result<(), WebError> {
    session.clear();
    session.renew();
    let now = now_secs();
    let write = || -> Result<(), actix_session::SessionInsertError> {
        session.insert(USER, admin.user_id.to_text())?;
        session.insert(ORG, admin.org_id.to_text())?;
        session.insert(SESSION_ID, crate::crypto::random_token(16))?;
        session.insert(CSRF, crate::crypto::random_token(32))?;
        session.insert(SIGNED_IN_AT, now)?;
        session.insert(LAST_SEEN, now)?;
        Ok(())
    };
    write().map_err(|e| WebError::Internal(format!("session write: {e}")))
}

pub fn sign_out(session: &Session) {
    session.purge();
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

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let session = req.get_session();
        let state = req.app_data::<web::Data<WebState>>().cloned();
        Box::pin(async move {
            let state = state.ok_or_else(|| WebError::Internal("web state missing".into()))?;
            let ids = (|| {
                let user = UserId::parse(&session.get::<String>(USER).ok()??)?;
                let org = OrgId::parse(&session.get::<String>(ORG).ok()??)?;
                let born = session.get::<i64>(SIGNED_IN_AT).ok()??;
                let seen = session.get::<i64>(LAST_SEEN).ok()??;
                Some((user, org, born, seen))
            })();
            let Some((user_id, org_id, born, seen)) = ids else {
                return Err(WebError::SignInRequired);
            };
            let now = now_secs();
            let settings = &state.ctx.settings;
            let idle = now.saturating_sub(seen) > settings.session_idle_timeout.as_secs() as i64;
            let too_old = now.saturating_sub(born) > settings.session_max_age.as_secs() as i64;
            if idle || too_old {
                session.purge();
                return Err(WebError::SignInRequired);
            }
            let Some(admin) = accounts::find_admin(&state.ctx.db, user_id, org_id).await? else {
                session.purge();
                return Err(WebError::SignInRequired);
            };
            if now.saturating_sub(seen) >= SEEN_RESOLUTION_SECS {
                session
                    .insert(LAST_SEEN, now)
                    .map_err(|e| WebError::Internal(format!("session write: {e}")))?;
            }
            Ok(CurrentAdmin { admin, session })
        })
    }
}

/// The id of this browser session (fresh at each sign-in); OAuth states are bound to it.
pub fn session_id(session: &Session) -> Option<String> {
    session.get::<String>(SESSION_ID).ok().flatten()
}
