//! GET /authorize, the consent page and its POST /authorize/decision.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION, X_FRAME_OPTIONS};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use url::Url;

use super::Shared;
use super::keys;
use super::params::{self, Params};
use super::state::{AuthRequest, scope_items};
use super::{IssParam, MockConfig};

const WRONG_ISSUER: &str = "https://evil.example";
const S256_CHALLENGE_LEN: usize = 43;

/// Why an authorization request is refused, and how.
enum Refusal {
    /// The client or redirect_uri cannot be trusted: answer here, never redirect.
    Page(&'static str),
    /// The redirect_uri is trusted: send the error back to the client (RFC 6749 §4.1.2.1).
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: &'static str,
    },
}

pub(super) async fn authorize(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let request = match parse_query(req.query_string()).and_then(|params| validate(&params, &shared.config)) {
        Ok(request) => request,
        Err(Refusal::Page(message)) => return error_page(message),
        Err(Refusal::Redirect {
            redirect_uri,
            state,
            error,
            description,
        }) => {
            return error_redirect(&shared, &redirect_uri, state.as_deref(), error, description);
        }
    };
    if shared.lock().behaviour.deny_authorization {
        return access_denied(&shared, &request);
    }
    if shared.config.auto_approve {
        return approve(&shared, request);
    }
    let client_id = request.client_id.clone();
    let scope = request.scope.clone();
    let request_id = shared.lock().park(request);
    consent_page(&client_id, &scope, &request_id)
}

#[derive(Deserialize)]
pub(super) struct Decision {
    request_id: String,
    decision: String,
}

pub(super) async fn decision(form: web::Form<Decision>, shared: web::Data<Shared>) -> HttpResponse {
    let Some(request) = shared.lock().take_parked(&form.request_id) else {
        return error_page("This authorization request is unknown or was already answered.");
    };
    match form.decision.as_str() {
        "approve" => approve(&shared, request),
        "deny" => access_denied(&shared, &request),
        _ => error_page("The decision must be approve or deny."),
    }
}

fn parse_query(query: &str) -> Result<Params, Refusal> {
    params::parse_unique(query.as_bytes()).ok_or(Refusal::Page("A parameter was sent more than once."))
}

fn validate(params: &Params, config: &MockConfig) -> Result<AuthRequest, Refusal> {
    let get = |name| params::value(params, name);
    if get("client_id") != Some(config.client_id.as_str()) {
        return Err(Refusal::Page("Unknown or missing client_id."));
    }
    let redirect_uri = get("redirect_uri")
        .filter(|uri| is_acceptable_redirect_uri(uri))
        .ok_or(Refusal::Page("Missing or invalid redirect_uri."))?;

    let state = get("state");
    let refuse = |error, description| Refusal::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: state.map(str::to_owned),
        error,
        description,
    };
    match get("response_type") {
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "Only response_type=code is supported",
            ));
        }
        None => return Err(refuse("invalid_request", "response_type is required")),
    }
    let state = state.ok_or_else(|| refuse("invalid_request", "state is required"))?;
    let code_challenge = pkce_challenge(get("code_challenge"), get("code_challenge_method"))
        .map_err(|description| refuse("invalid_request", description))?;

    Ok(AuthRequest {
        client_id: config.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: get("scope").unwrap_or_default().to_owned(),
        state: state.to_owned(),
        nonce: get("nonce").map(str::to_owned),
        code_challenge: code_challenge.map(str::to_owned),
    })
}

fn is_acceptable_redirect_uri(uri: &str) -> bool {
    let absolute_http = uri.starts_with("http://") || uri.starts_with("https://");
    // RFC 6749 §3.1.2: the redirection endpoint must not include a fragment.
    absolute_http && Url::parse(uri).is_ok_and(|url| url.fragment().is_none())
}

/// Only S256 is accepted; a challenge without a method means "plain" (RFC 7636 §4.3).
fn pkce_challenge<'a>(
    challenge: Option<&'a str>,
    method: Option<&str>,
) -> Result<Option<&'a str>, &'static str> {
    match (challenge, method) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("code_challenge_method without code_challenge"),
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => Ok(Some(challenge)),
        (Some(_), Some("S256")) => Err("code_challenge is not a base64url SHA-256 digest"),
        (Some(_), _) => Err("Only code_challenge_method=S256 is supported"),
    }
}

fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == S256_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn approve(shared: &Shared, request: AuthRequest) -> HttpResponse {
    let redirect_uri = request.redirect_uri.clone();
    let state = request.state.clone();
    let code = shared.lock().issue_code(request);
    redirect(shared, &redirect_uri, &[("code", &code), ("state", &state)])
}

fn access_denied(shared: &Shared, request: &AuthRequest) -> HttpResponse {
    let (uri, state) = (&request.redirect_uri, Some(request.state.as_str()));
    error_redirect(shared, uri, state, "access_denied", "The user denied access")
}

fn error_redirect(
    shared: &Shared,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> HttpResponse {
    let mut params = vec![("error", error), ("error_description", description)];
    params.extend(state.map(|state| ("state", state)));
    redirect(shared, redirect_uri, &params)
}

/// Redirects back to the client, adding `iss` as the IssParam knob says (RFC 9207).
fn redirect(shared: &Shared, redirect_uri: &str, params: &[(&str, &str)]) -> HttpResponse {
    let Ok(mut location) = Url::parse(redirect_uri) else {
        return error_page("Invalid redirect_uri.");
    };
    let iss = match shared.lock().behaviour.iss_param {
        IssParam::None => None,
        IssParam::Correct => Some(shared.issuer.as_str()),
        IssParam::Wrong => Some(WRONG_ISSUER),
    };
    location
        .query_pairs_mut()
        .extend_pairs(params.iter().copied())
        .extend_pairs(iss.map(|iss| ("iss", iss)));
    HttpResponse::Found()
        .insert_header((LOCATION, location.as_str()))
        .finish()
}

fn consent_page(client_id: &str, scope: &str, request_id: &str) -> HttpResponse {
    let client = escape_html(client_id);
    let mut scopes: String = scope_items(scope)
        .map(|item| format!("<li>{}</li>", escape_html(item)))
        .collect();
    if scopes.is_empty() {
        scopes = "<li>(no scope)</li>".to_owned();
    }
    let user = format!("{} ({})", keys::NAME, keys::EMAIL);
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Mock provider: authorize {client}</title></head><body><main>\
         <h1>Authorize {client}</h1>\
         <p>Signed in as {user}.</p>\
         <p><strong>{client}</strong> asks for access to your Mock account with these scopes:</p>\
         <ul>{scopes}</ul>\
         <form method=\"post\" action=\"/authorize/decision\">\
         <input type=\"hidden\" name=\"request_id\" value=\"{request_id}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         </form></main></body></html>\n",
        user = escape_html(&user),
        request_id = escape_html(request_id),
    );
    html(HttpResponse::Ok(), body)
}

fn error_page(message: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Mock provider: invalid request</title></head><body><main>\
         <h1>Invalid authorization request</h1><p>{}</p></main></body></html>\n",
        escape_html(message)
    );
    html(HttpResponse::BadRequest(), body)
}

fn html(mut response: actix_web::HttpResponseBuilder, body: String) -> HttpResponse {
    response
        .insert_header((CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((X_FRAME_OPTIONS, "DENY"))
        .body(body)
}

fn escape_html(text: &str) -> String {
    text.chars()
        .fold(String::with_capacity(text.len()), |mut out, c| {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                other => out.push(other),
            }
            out
        })
}
