//! Ids read from the request path, typed. A segment that is not an id answers 404 the way its
//! surface does: the JSON error under /api/, the not-found page (or its htmx fragment)
//! elsewhere. A malformed id names nothing, so the answer tells nothing, whoever asks.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest};

use super::api::ApiFailure;
use super::errors::WebError;
use crate::domain::IntegrationId;

/// An id that a route takes in the path segment named `SEGMENT`.
pub trait PathId: Sized {
    const SEGMENT: &'static str;
    fn parse(text: &str) -> Option<Self>;
}

/// `{id}` in every route under /integrations and /api/v1/integrations.
impl PathId for IntegrationId {
    const SEGMENT: &'static str = "id";

    fn parse(text: &str) -> Option<Self> {
        IntegrationId::parse(text)
    }
}

/// A stored webhook event (`{event}`), which is a UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId(uuid::Uuid);

impl EventId {
    pub fn to_text(self) -> String {
        self.0.hyphenated().to_string()
    }
}

impl PathId for EventId {
    const SEGMENT: &'static str = "event";

    fn parse(text: &str) -> Option<Self> {
        uuid::Uuid::parse_str(text).ok().map(EventId)
    }
}

/// The typed id of the route's `T::SEGMENT`: `IdPath(id): IdPath<IntegrationId>`.
pub struct IdPath<T>(pub T);

impl<T: PathId> FromRequest for IdPath<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let id = req.match_info().get(T::SEGMENT).and_then(T::parse);
        ready(id.map(IdPath).ok_or_else(|| {
            if req.path().starts_with("/api/") {
                ApiFailure::UnknownIntegration.into()
            } else {
                WebError::NotFound.into()
            }
        }))
    }
}
