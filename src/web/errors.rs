//! Errors as the browser sees them: one enum, one status mapping, one page.
//!
//! The policy, for pages and htmx partials (the JSON API has its own table, `api::ApiFailure`,
//! and webhook deliveries theirs, `webhooks::Refused`):
//! - Nothing there, another organization's id, or a path segment that is not an id: 404.
//!   Whether a row exists elsewhere is never told apart from a wrong id.
//! - Not signed in, or the session expired: 303 to /login (`HX-Redirect` for htmx).
//! - A cross-site request or a wrong CSRF token: 403. A malformed request: 400, with a
//!   sentence that says what to fix when we know it. Refused by the current state: 409, with
//!   the service's sentence. Too large: 413. Too many attempts: 429 with Retry-After.
//! - The database unreachable or refusing writes: 503 with Retry-After; anything else: 500.
//!   Both say that nothing was changed.
//!
//! The user sees a title and a human sentence: a page, or for htmx only the sentence, swapped
//! into the page's `#errors` (`middleware::htmx_errors`). Causes (database messages, template
//! errors, what a check refused) go to the log with the request id, never into the answer.
//! A service error becomes a `WebError` here, in the `From` impls below; handlers match only
//! the outcomes they show otherwise (a form's own sentence, a flash message).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::api_tokens::CreateTokenError;
use crate::db::DbError;
use crate::integrations::{ConnectError, DisconnectError};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("page not found")]
    NotFound,
    #[error("sign-in required")]
    SignInRequired,
    /// CSRF token or Origin check failed.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A value of the request is out of range or malformed; the sentence says which and how.
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The request is valid but the current state refuses it; the sentence is for the user.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A link that worked once and opens nothing any more (a used invitation); the sentence
    /// says what to do.
    #[error("gone: {0}")]
    Gone(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// The database reads but refuses writes (a full disk, a read-only file).
    #[error("writes refused: {0}")]
    WritesRefused(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        match e {
            e if e.is_not_found() => WebError::NotFound,
            e if e.is_write_refused() => WebError::WritesRefused(e.to_string()),
            DbError::Pool(e) => WebError::Unavailable(e.to_string()),
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::ClosedConnection
                | diesel::result::DatabaseErrorKind::UnableToSendCommand,
                info,
            )) => WebError::Unavailable(info.message().to_owned()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<ConnectError> for WebError {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::UnknownProvider | ConnectError::UnknownIntegration => WebError::NotFound,
            ConnectError::NotConfigured(name) => WebError::Conflict(format!(
                "{name} cannot be connected yet: an operator must set its client ID and secret first."
            )),
            ConnectError::Db(e) => e.into(),
        }
    }
}

impl From<DisconnectError> for WebError {
    fn from(e: DisconnectError) -> Self {
        match e {
            DisconnectError::NotFound => WebError::NotFound,
            DisconnectError::Db(e) => e.into(),
        }
    }
}

impl From<CreateTokenError> for WebError {
    fn from(e: CreateTokenError) -> Self {
        match e {
            // A chosen integration that is not the organization's: as if it did not exist.
            CreateTokenError::UnknownIntegration => WebError::NotFound,
            CreateTokenError::Db(e) => e.into(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

impl WebError {
    fn human(&self) -> (&'static str, &'static str) {
        match self {
            WebError::NotFound => (
                "Page not found",
                "There is nothing here. Check the address or go back to your integrations.",
            ),
            WebError::SignInRequired => ("Sign in required", "Please sign in to continue."),
            WebError::Forbidden(_) => (
                "Request refused",
                "This form has expired or did not come from this site. Reload the page and try again.",
            ),
            WebError::BadRequest(_) => (
                "Request not understood",
                "The request was malformed. Go back and try again.",
            ),
            WebError::InvalidInput(sentence) => ("Request not understood", sentence),
            WebError::Conflict(_) => ("Not possible right now", "This action is not possible right now."),
            WebError::Gone(sentence) => ("Link not valid", sentence),
            WebError::TooLarge => (
                "Request too large",
                "The submitted form is larger than this site accepts.",
            ),
            WebError::TooManyRequests { .. } => (
                "Too many requests",
                "Too many attempts. Wait a moment and try again.",
            ),
            WebError::Unavailable(_) => (
                "Temporarily unavailable",
                "The service cannot reach its database right now. Nothing was changed; please try again shortly.",
            ),
            WebError::WritesRefused(_) => (
                "Temporarily unavailable",
                "The service cannot save changes right now: its storage is full or read-only. Nothing was changed; please try again shortly.",
            ),
            WebError::Internal(_) => (
                "Something went wrong",
                "An unexpected error occurred. Nothing was changed; please try again.",
            ),
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::SignInRequired => StatusCode::SEE_OTHER,
            WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) | WebError::InvalidInput(_) => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::Gone(_) => StatusCode::GONE,
            WebError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            WebError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            WebError::Unavailable(_) | WebError::WritesRefused(_) => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::SignInRequired => {
                // htmx follows HX-Redirect with a full page load; browsers follow Location.
                return HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, "/login"))
                    .insert_header(("HX-Redirect", "/login"))
                    .finish();
            }
            WebError::Internal(cause) => tracing::error!(cause = %cause, "request failed"),
            // The database's watch logs an outage, throttled; one line per request would
            // repeat it for every probe and delivery.
            WebError::Unavailable(cause) => tracing::debug!(cause = %cause, "database unavailable"),
            // The database's watch logs these, throttled.
            WebError::WritesRefused(cause) => tracing::debug!(cause = %cause, "write refused"),
            other => tracing::info!(reason = %other, "request refused"),
        }
        self.page()
    }
}

impl WebError {
    /// The error page (without logging): title, sentence, status and Retry-After.
    pub fn page(&self) -> HttpResponse {
        let (title, message) = match self {
            WebError::Conflict(sentence) => ("Not possible right now", sentence.as_str()),
            other => other.human(),
        };
        let body = ErrorPage { title, message }
            .render()
            .unwrap_or_else(|_| message.to_owned());
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("text/html; charset=utf-8");
        if let WebError::TooManyRequests { retry_after_secs } = self {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        if matches!(self, WebError::Unavailable(_) | WebError::WritesRefused(_)) {
            response.insert_header((header::RETRY_AFTER, "5"));
        }
        let mut response = response.body(body);
        response.extensions_mut().insert(HumanMessage(message.to_owned()));
        response
    }
}

/// The sentence an error page says, kept on the response so that htmx requests can get it in
/// place instead of a whole page.
#[derive(Clone)]
pub struct HumanMessage(pub String);
