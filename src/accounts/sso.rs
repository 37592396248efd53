//! Single sign-on for admins with the platform's OpenID provider: the authorization code flow
//! with PKCE, a nonce and the `iss` check, the id_token validated against the issuer's keys.
//! The admin is matched by the verified email, the organization by a claim (its external id);
//! nobody is created unless ADMIN_OIDC_AUTO_PROVISION is on, and then only in an organization
//! that exists.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{Admin, hash_off_thread, log_account_action};
use crate::config::AdminSso;
use crate::context::AppContext;
use crate::db::orgs::{self, NewAdmin};
use crate::db::{DbConnection, DbError, transaction};
use crate::domain::{Email, Role, UserId};
use crate::oauth::{self, IdentityClaims, OAuthError};
use crate::providers::catalogue::ProviderDef;

/// How long a started sign-in may take at the identity provider.
const PENDING_MAX_SECS: i64 = 600;

/// The identity provider's endpoints, discovered at the first sign-in and kept (a failed
/// discovery is tried again at the next one).
#[derive(Default)]
pub struct SsoProvider(tokio::sync::OnceCell<ProviderDef>);

impl SsoProvider {
    async fn def(&self, ctx: &AppContext, sso: &AdminSso) -> Result<&ProviderDef, SsoError> {
        self.0
            .get_or_try_init(|| async {
                crate::providers::file::oidc_provider(&ctx.http, "admin-sso", &sso.name, &sso.issuer)
                    .await
                    .map_err(|problem| {
                        tracing::warn!(%problem, "admin single sign-on: discovery failed");
                        SsoError::Provider("its discovery document could not be read".into())
                    })
            })
            .await
    }
}

/// What the browser keeps (in its encrypted session cookie) between the redirect to the
/// identity provider and the callback.
#[derive(Serialize, Deserialize)]
pub struct PendingSso {
    state: String,
    pkce_verifier: Option<String>,
    nonce: String,
    started_at: i64,
}

/// The parameters of the callback.
#[derive(Deserialize)]
pub struct SsoCallback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("single sign-on is not configured")]
    NotConfigured,
    /// The identity provider sent the user back with an error (they cancelled, or it refused).
    #[error("the identity provider did not sign you in ({0})")]
    Cancelled(String),
    /// No sign-in was started in this browser, it is too old, or the state does not match.
    #[error("this sign-in is expired or was not started here")]
    BadState,
    /// The provider failed or answered against the protocol; the words are safe to show.
    #[error("the identity provider failed: {0}")]
    Provider(String),
    /// A valid identity that may not sign in here; the sentence says why.
    #[error("{0}")]
    Refused(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<OAuthError> for SsoError {
    fn from(e: OAuthError) -> Self {
        SsoError::Provider(e.to_string())
    }
}

fn settings(ctx: &AppContext) -> Result<&AdminSso, SsoError> {
    ctx.settings.admin_sso.as_ref().ok_or(SsoError::NotConfigured)
}

/// Starts a sign-in: the URL to send the browser to, and what the callback will check.
pub async fn begin(
    ctx: &AppContext,
    provider: &SsoProvider,
    redirect_uri: &str,
) -> Result<(String, PendingSso), SsoError> {
    let sso = settings(ctx)?;
    let def = provider.def(ctx, sso).await?;
    let scopes = ["openid", "email", "profile"].map(String::from);
    let request = oauth::authorization_request(def, &sso.credentials, redirect_uri, &scopes);
    let pending = PendingSso {
        state: request.state.expose_secret().to_owned(),
        pkce_verifier: request.pkce_verifier.map(|v| v.expose_secret().to_owned()),
        nonce: request.nonce.unwrap_or_default(),
        started_at: crate::domain::now().and_utc().timestamp(),
    };
    Ok((request.url, pending))
}

/// Completes a sign-in at the callback: checks the state, the issuer, exchanges the code and
/// validates the id_token, then finds (or, when allowed, creates) the admin.
pub async fn complete(
    ctx: &AppContext,
    provider: &SsoProvider,
    redirect_uri: &str,
    pending: Option<PendingSso>,
    callback: SsoCallback,
) -> Result<Admin, SsoError> {
    let sso = settings(ctx)?;
    let pending = pending.ok_or(SsoError::BadState)?;
    let age = crate::domain::now().and_utc().timestamp() - pending.started_at;
    let state_matches = callback
        .state
        .as_deref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(pending.state.as_bytes())));
    if !state_matches || !(0..=PENDING_MAX_SECS).contains(&age) {
        return Err(SsoError::BadState);
    }
    if let Some(error) = callback.error {
        return Err(SsoError::Cancelled(crate::domain::sanitize(&error, 60)));
    }
    let def = provider.def(ctx, sso).await?;
    check_issuer(def, callback.iss.as_deref())?;
    let code = callback.code.ok_or(SsoError::BadState)?;
    let verifier = pending.pkce_verifier.map(SecretString::from);
    let tokens = oauth::exchange_code(
        &ctx.http,
        def,
        &sso.credentials,
        &code,
        redirect_uri,
        verifier.as_ref(),
    )
    .await?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| SsoError::Provider("no id_token in the token response".into()))?;
    let jwks_url = def.jwks_url.as_deref().unwrap_or_default();
    let jwks = oauth::fetch_jwks(&ctx.http, &def.slug, jwks_url).await?;
    let claims = oauth::validate_id_token(&id_token, def, &sso.credentials, jwks, &pending.nonce)?;
    let person = Person::from_claims(&claims, &sso.org_claim)?;
    let auto_provision = sso.auto_provision;
    let attempt = |hash: Option<String>| {
        let person = person.clone();
        ctx.db.run(move |conn| {
            transaction(conn, |conn| {
                match_admin(conn, &person, auto_provision, hash.as_deref())
            })
        })
    };
    match attempt(None).await?? {
        Matched::Admin(admin) => Ok(admin),
        // Only now is an account made, with a password nobody knows (hashed off the
        // database thread; a sign-in of an existing admin costs no hash).
        Matched::NeedsAccount => {
            let unknown = SecretString::from(crate::crypto::random_token(32));
            let hash = hash_off_thread(unknown).await.map_err(|_| DbError::Cancelled)?;
            match attempt(Some(hash)).await?? {
                Matched::Admin(admin) => Ok(admin),
                Matched::NeedsAccount => Err(SsoError::Db(DbError::Cancelled)),
            }
        }
    }
}

/// What matching found: the admin, or (auto-provisioning) that an account is to be made.
enum Matched {
    Admin(Admin),
    NeedsAccount,
}

/// RFC 9207: an `iss` on the callback must be the issuer; one the issuer promises must be there.
fn check_issuer(def: &ProviderDef, iss: Option<&str>) -> Result<(), SsoError> {
    let expected = def.issuer.as_deref().unwrap_or_default().trim_end_matches('/');
    match iss {
        Some(iss) if iss.trim_end_matches('/') != expected => Err(SsoError::Provider(
            "the answer came from another issuer (iss mismatch)".into(),
        )),
        None if def.iss_parameter_supported => Err(SsoError::Provider(
            "the answer is missing the iss parameter".into(),
        )),
        _ => Ok(()),
    }
}

/// Who the identity provider vouches for.
#[derive(Clone)]
struct Person {
    email: String,
    org_key: String,
}

impl Person {
    fn from_claims(claims: &IdentityClaims, org_claim: &str) -> Result<Person, SsoError> {
        let email = claims
            .email
            .as_deref()
            .filter(|_| claims.email_verified)
            .and_then(|e| Email::parse(e).ok())
            .ok_or(SsoError::Refused(
                "Your identity provider did not confirm your email address, so it cannot be matched to an admin.",
            ))?;
        let org_key = match claims.claims.get(org_claim) {
            Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(SsoError::Refused(
                    "Your identity provider did not say which organization you belong to.",
                ));
            }
        };
        Ok(Person {
            email: email.as_str().to_owned(),
            org_key,
        })
    }
}

/// The admin this person is, in the organization the claim names.
fn match_admin(
    conn: &mut DbConnection,
    person: &Person,
    auto_provision: bool,
    provision_hash: Option<&str>,
) -> Result<Result<Matched, SsoError>, DbError> {
    let Some(org) = orgs::find_org_by_external_id(conn, &person.org_key)? else {
        return Ok(Err(SsoError::Refused(
            "Your organization is not set up in Targetym Integrations. Ask the operator to add it.",
        )));
    };
    let not_allowed = SsoError::Refused(
        "You are not an admin of your organization here. Ask one of its admins to invite you.",
    );
    let user_id = match orgs::find_any_user_by_email(conn, &person.email)? {
        Some(user) if user.org_id == org.id && user.removed_at.is_none() => {
            if let Err(e) = orgs::record_login(conn, user.id)
                && !e.is_write_refused()
            {
                return Err(e);
            }
            user.id
        }
        // Removed admins come back only by invitation, never by single sign-on.
        Some(_) => return Ok(Err(not_allowed)),
        None => {
            if !auto_provision {
                return Ok(Err(not_allowed));
            }
            let Some(hash) = provision_hash else {
                return Ok(Ok(Matched::NeedsAccount));
            };
            let user_id = UserId::new();
            let new = NewAdmin {
                user_id,
                email: &person.email,
                password_hash: hash,
                role: Role::Admin,
            };
            orgs::add_admin(conn, org.id, &new)?;
            orgs::record_login(conn, user_id)?;
            let message = format!(
                "{} joined the admins by single sign-on (ADMIN_OIDC_AUTO_PROVISION)",
                person.email
            );
            let actor = crate::db::audit::admin_actor(conn, user_id, None)?;
            log_account_action(conn, org.id, Some(&actor), &message)?;
            user_id
        }
    };
    Ok(Ok(Matched::Admin(Admin {
        user_id,
        org_id: org.id,
        email: person.email.clone(),
        org_name: org.name,
        source: None,
    })))
}
