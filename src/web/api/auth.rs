//! Who calls: the service token in `Authorization: Bearer tgi_…`, and its rate.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::errors::ApiFailure;
use crate::api_tokens::{self, ServiceClient};
use crate::web::WebState;
use crate::web::ids::{PathId, path_id};

/// Calls per service token, per instance: a token over its rate gets 429 with Retry-After,
/// and one busy service cannot starve the others.
pub struct ApiLimits(governor::DefaultKeyedRateLimiter<String>);

impl ApiLimits {
    pub fn new(per_minute: u32) -> ApiLimits {
        let per_minute = std::num::NonZeroU32::new(per_minute).unwrap_or(std::num::NonZeroU32::MIN);
        ApiLimits(governor::RateLimiter::keyed(governor::Quota::per_minute(
            per_minute,
        )))
    }

    /// `Err(seconds to wait)` when the token is over its rate.
    pub(super) fn check(&self, token_id: &str) -> Result<(), u64> {
        use governor::clock::{Clock, DefaultClock};
        let result = self.0.check_key(&token_id.to_owned()).map_err(|not_until| {
            not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1)
        });
        // Revoked and forgotten tokens do not stay in the map.
        if self.0.len() > 10_000 {
            self.0.retain_recent();
        }
        result
    }
}

/// The calling service, from `Authorization: Bearer tgi_…`.
pub struct Service(pub ServiceClient);

impl FromRequest for Service {
    type Error = ApiFailure;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiFailure>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<WebState>>().cloned();
        let bearer = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned);
        Box::pin(async move {
            let (Some(state), Some(bearer)) = (state, bearer) else {
                return Err(ApiFailure::Unauthorized);
            };
            let client = api_tokens::authenticate(&state.ctx.db, bearer.trim())
                .await?
                .ok_or(ApiFailure::Unauthorized)?;
            state
                .api_limits
                .check(&client.token_id)
                .map_err(|retry_after_secs| ApiFailure::TokenOverRate { retry_after_secs })?;
            Ok(Service(client))
        })
    }
}

/// The typed id of an API route's `T::SEGMENT`; a segment that is not an id is the API's
/// 404 `not_found`, as an unknown id is.
pub struct ApiPath<T>(pub T);

impl<T: PathId> FromRequest for ApiPath<T> {
    type Error = ApiFailure;
    type Future = std::future::Ready<Result<Self, ApiFailure>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(path_id(req).map(ApiPath).ok_or(ApiFailure::UnknownIntegration))
    }
}
