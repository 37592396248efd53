//! POST /token and POST /revoke.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::Shared;
use super::client_auth::{self, Presented};
use super::error::OAuthError;
use super::keys::{self, IdTokenInput};
use super::params::{self, Params};
use super::state::{CodeExchange, IssuedTokens};

/// Counts a token request as in progress until dropped.
struct InFlight(web::Data<Shared>);

impl InFlight {
    fn start(shared: &web::Data<Shared>) -> InFlight {
        let mut state = shared.lock();
        state.in_flight_token_requests += 1;
        let now = state.in_flight_token_requests;
        state.counters.max_in_flight_token_requests = state.counters.max_in_flight_token_requests.max(now);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().in_flight_token_requests -= 1;
    }
}

pub(super) async fn token(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let _in_flight = InFlight::start(&shared);
    let (delay_ms, forced_status, retry_after) = {
        let mut state = shared.lock();
        state.counters.token_requests += 1;
        (
            state.behaviour.token_delay_ms,
            state.behaviour.token_status,
            state.behaviour.token_retry_after_secs,
        )
    };
    if delay_ms > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    if let Some(status) = forced_status {
        let mut response = OAuthError::server_error(status).into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                actix_web::http::header::RETRY_AFTER,
                actix_web::http::header::HeaderValue::from(secs),
            );
        }
        return response;
    }
    match grant(&req, &body, &shared) {
        Ok(body) => HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "no-store"))
            .insert_header((PRAGMA, "no-cache"))
            .json(body),
        Err(error) => error.into_response(),
    }
}

/// RFC 7009: unknown tokens are answered 200 too, so a client cannot probe for valid ones.
pub(super) async fn revoke(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let forced_status = {
        let mut state = shared.lock();
        state.counters.revocations += 1;
        state.behaviour.revoke_status
    };
    match forced_status {
        Some(status) if status >= 400 => return OAuthError::server_error(status).into_response(),
        Some(status) => {
            return HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK)).finish();
        }
        None => {}
    }
    let outcome = parse_form(&req, &body).and_then(|form| {
        authenticate_client(&req, &form, &shared)?;
        let token = params::value(&form, "token").ok_or(OAuthError::invalid_request("token is required"))?;
        shared.lock().revoke(token);
        Ok(())
    });
    match outcome {
        Ok(()) => HttpResponse::Ok().finish(),
        Err(error) => error.into_response(),
    }
}

fn grant(req: &HttpRequest, body: &[u8], shared: &Shared) -> Result<Value, OAuthError> {
    let form = parse_form(req, body)?;
    let client = authenticate_client(req, &form, shared)?;
    let mut state = shared.lock();
    if state.behaviour.invalid_grant {
        return Err(OAuthError::invalid_grant(
            "The grant is invalid (forced by the mock)",
        ));
    }
    let issued = match params::value(&form, "grant_type") {
        Some("authorization_code") => {
            let exchange = CodeExchange {
                client_id: &client.client_id,
                code: params::value(&form, "code"),
                redirect_uri: params::value(&form, "redirect_uri"),
                code_verifier: params::value(&form, "code_verifier"),
            };
            state.exchange_code(&shared.config, &exchange)?
        }
        Some("refresh_token") => state.refresh(
            &shared.config,
            &client.client_id,
            params::value(&form, "refresh_token"),
            params::value(&form, "scope"),
        )?,
        Some(_) => return Err(OAuthError::unsupported_grant_type()),
        None => return Err(OAuthError::invalid_request("grant_type is required")),
    };
    let behaviour = state.behaviour.clone();
    drop(state);
    token_response(shared, issued, &behaviour)
}

fn token_response(
    shared: &Shared,
    issued: IssuedTokens,
    behaviour: &super::Behaviour,
) -> Result<Value, OAuthError> {
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
        "team": { "id": "T-MOCK", "name": "Mock Workspace" },
        "authed_user": { "id": "U-MOCK" },
    });
    if let Some(refresh_token) = issued.refresh_token {
        body["refresh_token"] = Value::from(refresh_token);
    }
    if let Some(request) = issued.id_token {
        let input = IdTokenInput {
            issuer: &shared.issuer,
            audience: &shared.config.client_id,
            nonce: request.nonce.as_deref(),
            access_token: &issued.access_token,
        };
        let id_token = keys::mint_id_token(&input, behaviour).map_err(|_| OAuthError::server_error(500))?;
        body["id_token"] = Value::from(id_token);
    }
    Ok(body)
}

/// Authenticates the client, remembering how it did so; the `require_auth_method` knob makes
/// the other method fail as it does at providers that register one method per client.
fn authenticate_client(
    req: &HttpRequest,
    form: &[(String, String)],
    shared: &Shared,
) -> Result<Presented, OAuthError> {
    let presented = client_auth::presented_credentials(req, form)?;
    let required = {
        let mut state = shared.lock();
        state.counters.last_auth_method = Some(presented.method);
        state.behaviour.require_auth_method
    };
    let method_allowed = required.is_none_or(|method| method == presented.method);
    let config = &shared.config;
    if method_allowed && client_auth::is_valid(&presented, &config.client_id, &config.client_secret) {
        Ok(presented)
    } else {
        Err(OAuthError::invalid_client())
    }
}

fn parse_form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded",
        ));
    }
    params::parse_unique(body).ok_or(OAuthError::invalid_request("A parameter was sent more than once"))
}
