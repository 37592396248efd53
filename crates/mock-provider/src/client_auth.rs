//! Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1).

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::AuthMethod;
use super::error::OAuthError;
use super::params;

/// Credentials as presented, before they are checked.
pub(super) struct Presented {
    pub method: AuthMethod,
    pub client_id: String,
    pub client_secret: String,
}

/// Reads the client's credentials from the Basic header or the form body. Presenting both
/// methods at once is refused, as RFC 6749 §2.3 says a client must use only one.
pub(super) fn presented_credentials(
    req: &HttpRequest,
    form: &[(String, String)],
) -> Result<Presented, OAuthError> {
    let body_id = params::value(form, "client_id");
    let body_secret = params::value(form, "client_secret");
    match basic_credentials(req)? {
        Some(basic) => {
            if body_secret.is_some() || body_id.is_some_and(|id| id != basic.client_id) {
                return Err(OAuthError::invalid_request(
                    "use exactly one client authentication method",
                ));
            }
            Ok(basic)
        }
        None => match (body_id, body_secret) {
            (Some(id), Some(secret)) => Ok(Presented {
                method: AuthMethod::Post,
                client_id: id.to_owned(),
                client_secret: secret.to_owned(),
            }),
            _ => Err(OAuthError::invalid_client()),
        },
    }
}

/// Checks the credentials against the configured client, in constant time.
pub(super) fn is_valid(presented: &Presented, client_id: &str, client_secret: &str) -> bool {
    let id_ok = presented.client_id.as_bytes().ct_eq(client_id.as_bytes());
    let secret_ok = presented.client_secret.as_bytes().ct_eq(client_secret.as_bytes());
    bool::from(id_ok & secret_ok)
}

fn basic_credentials(req: &HttpRequest) -> Result<Option<Presented>, OAuthError> {
    let Some(header) = req.headers().get(AUTHORIZATION) else {
        return Ok(None);
    };
    let header = header.to_str().map_err(|_| OAuthError::invalid_client())?;
    let Some((scheme, encoded)) = header.split_once(' ') else {
        return Err(OAuthError::invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| OAuthError::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
    let presented = Presented {
        method: AuthMethod::Basic,
        client_id: form_decode(id).ok_or_else(OAuthError::invalid_client)?,
        client_secret: form_decode(secret).ok_or_else(OAuthError::invalid_client)?,
    };
    Ok(Some(presented))
}

/// Undoes application/x-www-form-urlencoded encoding of one value, which RFC 6749 §2.3.1
/// applies to the client id and secret before they are joined and base64-encoded.
fn form_decode(encoded: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut input = encoded.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = char::from(input.next()?).to_digit(16)?;
                let low = char::from(input.next()?).to_digit(16)?;
                bytes.push(u8::try_from(high * 16 + low).ok()?);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}
