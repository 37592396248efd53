use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{AdditionalClaims, ClientId, ClientSecret, IdTokenVerifier, IssuerUrl, Nonce};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::OAuthError;
use crate::config::ClientCredentials;
use crate::domain::sanitize;
use crate::providers::catalogue::ProviderDef;
use crate::providers::http::{read_body, send};

/// Microsoft's tenant and object ids: a multi-tenant app keys accounts on `tid` + `oid`
/// (`sub` is pairwise per app) and checks the issuer against the token's tenant.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
struct TenantClaims {
    tid: Option<String>,
    oid: Option<String>,
}
impl AdditionalClaims for TenantClaims {}

type IdToken = openidconnect::IdToken<
    TenantClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The validated claims the hub uses.
#[derive(Debug, Clone)]
pub struct IdentityClaims {
    pub subject: String,
    pub email: Option<String>,
    /// The issuer vouches that the email is the user's (`email_verified`).
    pub email_verified: bool,
    pub name: Option<String>,
    pub tenant_id: Option<String>,
    pub object_id: Option<String>,
    /// All claims, the issuer's own included (an organization claim); the token was
    /// validated before they were read.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The provider's signing keys.
pub async fn fetch_jwks(
    http: &reqwest::Client,
    provider: &str,
    jwks_url: &str,
) -> Result<CoreJsonWebKeySet, OAuthError> {
    let response = send(http.get(jwks_url), provider).await?;
    let status = response.status().as_u16();
    if status == 429 || status >= 500 {
        return Err(OAuthError::unavailable(status));
    }
    let body = read_body(response).await?;
    serde_json::from_slice(&body)
        .map_err(|_| OAuthError::BadResponse("the JWKS is not a valid key set".into()))
}

/// Validates the id_token's signature (against the JWKS), `iss`, `aud`, `exp` and `nonce`
/// (OpenID Connect Core §3.1.3.7). An issuer with `{tenantid}` (Microsoft's `common`
/// endpoint) is checked against the token's own `tid`.
pub fn validate_id_token(
    raw: &SecretString,
    provider: &ProviderDef,
    credentials: &ClientCredentials,
    jwks: CoreJsonWebKeySet,
    nonce: &str,
) -> Result<IdentityClaims, OAuthError> {
    let invalid = |why: String| OAuthError::InvalidIdToken(sanitize(&why, 200));
    let issuer = provider
        .issuer
        .as_deref()
        .ok_or_else(|| invalid("the provider has no issuer configured".into()))?;
    let templated = issuer.contains("{tenantid}");
    let issuer_url =
        IssuerUrl::new(issuer.replace("{tenantid}", "common")).map_err(|e| invalid(e.to_string()))?;
    let verifier = IdTokenVerifier::new_confidential_client(
        ClientId::new(credentials.client_id.clone()),
        ClientSecret::new(credentials.client_secret.expose_secret().to_owned()),
        issuer_url,
        jwks,
    )
    .require_issuer_match(!templated);
    let token: IdToken = raw
        .expose_secret()
        .parse()
        .map_err(|_| invalid("not a JWT".into()))?;
    let expected_nonce = Nonce::new(nonce.to_owned());
    let claims = token
        .into_claims(&verifier, &expected_nonce)
        .map_err(|e| invalid(e.to_string()))?;
    let extra = claims.additional_claims();
    if templated {
        let tenant = extra
            .tid
            .as_deref()
            .ok_or_else(|| invalid("no tid claim".into()))?;
        let expected = issuer.replace("{tenantid}", tenant);
        if claims.issuer().as_str() != expected {
            return Err(invalid(format!(
                "issuer {} is not {expected}",
                claims.issuer().as_str()
            )));
        }
    }
    Ok(IdentityClaims {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned()),
        tenant_id: extra.tid.clone(),
        object_id: extra.oid.clone(),
        email_verified: claims.email_verified() == Some(true),
        claims: payload(raw).unwrap_or_default(),
    })
}

/// Every claim of a JWT's payload. Only for a token whose signature and claims were just
/// validated: the payload is read again for the claims the typed ones leave out.
fn payload(raw: &SecretString) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let part = raw.expose_secret().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
