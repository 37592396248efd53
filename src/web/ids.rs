//! Ids read from the request path, typed. A segment that is not an id answers 404 the way its
//! surface does: here the not-found page (or its htmx fragment); the internal API's
//! `ApiPath` (web/api/auth.rs) reads the same segments and answers its JSON error. A malformed
//! id names nothing, so the answer tells nothing, whoever asks.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest};

use super::errors::WebError;
use crate::domain::{IntegrationId, InvitationId, UserId};

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

/// `{admin}`: an admin of the organization, on the Team page.
impl PathId for UserId {
    const SEGMENT: &'static str = "admin";

    fn parse(text: &str) -> Option<Self> {
        UserId::parse(text)
    }
}

/// `{invitation}`: a pending invitation, on the Team page.
impl PathId for InvitationId {
    const SEGMENT: &'static str = "invitation";

    fn parse(text: &str) -> Option<Self> {
        InvitationId::parse(text)
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

/// The typed id of the request's `T::SEGMENT`, if it is one.
pub fn path_id<T: PathId>(req: &HttpRequest) -> Option<T> {
    req.match_info().get(T::SEGMENT).and_then(T::parse)
}

/// The typed id of a page route's `T::SEGMENT`: `IdPath(id): IdPath<IntegrationId>`.
pub struct IdPath<T>(pub T);

impl<T: PathId> FromRequest for IdPath<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(path_id(req).map(IdPath).ok_or_else(|| WebError::NotFound.into()))
    }
}
