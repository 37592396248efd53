//! Connect and callback: the authorization code flow for a confidential client (RFC 6749,
//! RFC 7636 PKCE, RFC 9207 iss, OpenID Connect Core), following RFC 9700. Here the start:
//! the dialog, the consent and the one-time state; `callback` completes it.

mod callback;
mod trail;

use chrono::Duration;
use secrecy::ExposeSecret;

use crate::accounts::Admin;
use crate::context::AppContext;
use crate::crypto::sha256_hex;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::consents::{self, ConsentRow};
use crate::db::oauth_states::{self, StateRow};
use crate::db::sealed::PKCE_VERIFIER;
use crate::db::{self, DbError, integrations};
use crate::domain::sanitize;
use crate::domain::{AuditKind, IntegrationId};
use crate::oauth;
use crate::providers::catalogue::endpoints;
use crate::providers::{Provider, scopes};
pub use callback::{CallbackError, CallbackOutcome, CallbackParams, StateProblem, complete_callback};

/// A state lives this long (the authorization has to come back within it).
pub const STATE_TTL: Duration = Duration::minutes(10);
/// The version of the consent text the dialog shows; recorded with every consent.
pub const CONSENT_TEXT_VERSION: &str = "2026-11-28";

/// What the connect dialog shows.
pub struct ConnectView {
    pub slug: String,
    pub name: String,
    pub configured: bool,
    /// (scope, what it allows in plain words); for a provider without features.
    pub scopes: Vec<(String, String)>,
    /// The provider's features as choices (Slack, Google): the required ones fixed.
    pub features: Vec<FeatureChoice>,
    pub reconnect: Option<ReconnectTarget>,
}

/// One feature in the connect dialog.
pub struct FeatureChoice {
    pub key: &'static str,
    pub label: &'static str,
    pub required: bool,
    /// Ticked: required, granted before, asked for (Add access), or a new connection's default.
    pub checked: bool,
    /// Its scopes in plain words.
    pub words: Vec<String>,
}

pub struct ReconnectTarget {
    pub integration_id: IntegrationId,
    pub account_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no such provider")]
    UnknownProvider,
    #[error("{0} is not configured: an operator must set its client ID and secret first")]
    NotConfigured(String),
    #[error("no such integration")]
    UnknownIntegration,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The connect dialog of a provider (and, for a reconnect, of one of the org's integrations).
/// `add`: a feature to tick (Add access on the integration's page).
pub async fn connect_view(
    ctx: &AppContext,
    admin: &Admin,
    slug: &str,
    reconnect: Option<IntegrationId>,
    add: Option<&str>,
) -> Result<ConnectView, ConnectError> {
    let provider = enabled_provider(ctx, slug)?;
    let (reconnect, granted) = match reconnect {
        Some(id) => {
            let row = find_own_integration(ctx, admin, id, slug).await?;
            let target = ReconnectTarget {
                integration_id: row.id,
                account_name: row.external_account_name,
            };
            (Some(target), Some(row.granted_scopes))
        }
        None => (None, None),
    };
    let features = endpoints::features_of(&provider.def.slug)
        .map(|f| FeatureChoice {
            key: f.key,
            label: f.label,
            required: f.required,
            checked: f.required
                || add == Some(f.key)
                || match granted.as_deref() {
                    Some(granted) => f.granted_in(granted),
                    None => f.ticked,
                },
            words: f.scopes.iter().map(|s| scopes::describe(s)).collect(),
        })
        .collect();
    Ok(ConnectView {
        slug: provider.def.slug.clone(),
        name: provider.def.name.clone(),
        configured: provider.credentials.is_some(),
        scopes: provider
            .def
            .default_scopes
            .iter()
            .map(|s| (s.clone(), scopes::describe(s)))
            .collect(),
        features,
        reconnect,
    })
}

fn enabled_provider<'a>(ctx: &'a AppContext, slug: &str) -> Result<&'a Provider, ConnectError> {
    ctx.catalogue.get(slug).ok_or(ConnectError::UnknownProvider)
}

async fn find_own_integration(
    ctx: &AppContext,
    admin: &Admin,
    id: IntegrationId,
    slug: &str,
) -> Result<integrations::IntegrationRow, ConnectError> {
    let org = admin.org_id;
    let row = ctx
        .db
        .run(move |conn| integrations::find_for_org(conn, org, id))
        .await?
        .filter(|row| row.provider_slug == slug)
        .ok_or(ConnectError::UnknownIntegration)?;
    Ok(row)
}

/// Who asked to connect, from where.
pub struct ConnectRequest<'a> {
    pub admin: &'a Admin,
    pub slug: &'a str,
    /// The browser session's id: the state is bound to it.
    pub session_id: &'a str,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub reconnect: Option<IntegrationId>,
    /// The features chosen in the dialog (providers with features; the required ones are
    /// added whatever is sent).
    pub features: Vec<String>,
}

/// Records the consent and a one-time state, and returns the provider's authorization URL.
pub async fn start_connect(ctx: &AppContext, request: ConnectRequest<'_>) -> Result<String, ConnectError> {
    let provider = enabled_provider(ctx, request.slug)?;
    let credentials = provider
        .credentials
        .as_ref()
        .ok_or_else(|| ConnectError::NotConfigured(provider.def.name.clone()))?;
    let reconnect = match request.reconnect {
        Some(id) => Some(
            find_own_integration(ctx, request.admin, id, request.slug)
                .await?
                .id,
        ),
        None => None,
    };
    let has_features = endpoints::features_of(&provider.def.slug).next().is_some();
    let scopes = if has_features {
        endpoints::scopes_for(&provider.def.slug, &request.features)
    } else {
        provider.def.default_scopes.clone()
    };
    let auth = oauth::authorization_request(&provider.def, credentials, &ctx.redirect_uri(), &scopes);
    let now = db::now();
    let state_id = uuid::Uuid::new_v4().to_string();
    let consent = ConsentRow {
        id: uuid::Uuid::new_v4().to_string(),
        org_id: request.admin.org_id,
        user_id: Some(request.admin.user_id),
        provider_slug: provider.def.slug.clone(),
        integration_id: reconnect,
        scopes: scopes.join(" "),
        consent_text_version: CONSENT_TEXT_VERSION.into(),
        ip_address: request.ip_address.map(|ip| sanitize(&ip, 64)),
        user_agent: request.user_agent.map(|ua| sanitize(&ua, 512)),
        granted_at: now,
        withdrawn_at: None,
    };
    let state = StateRow {
        id: state_id.clone(),
        state_hash: sha256_hex(auth.state.expose_secret().as_bytes()),
        org_id: consent.org_id,
        user_id: request.admin.user_id,
        provider_slug: provider.def.slug.clone(),
        integration_id: reconnect,
        consent_id: Some(consent.id.clone()),
        session_binding: sha256_hex(request.session_id.as_bytes()),
        key_id: auth.pkce_verifier.as_ref().map(|_| ctx.keyring.current_key_id()),
        pkce_verifier: auth.pkce_verifier.as_ref().map(|verifier| {
            ctx.keyring
                .seal(verifier.expose_secret().as_bytes(), &PKCE_VERIFIER.aad(&state_id))
        }),
        nonce: auth.nonce.clone(),
        scopes: consent.scopes.clone(),
        redirect_after: "/integrations".into(),
        created_at: now,
        expires_at: now + STATE_TTL,
        consumed_at: None,
    };
    let actor = request.admin.actor();
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                consents::insert(conn, &consent)?;
                let detail = format!(
                    "Consent given to {} for {} (consent text {})",
                    consent.provider_slug, consent.scopes, consent.consent_text_version
                );
                let event = NewAuditEvent::new(consent.org_id, AuditKind::Consent, &actor, &detail);
                let event = match consent.integration_id {
                    Some(id) => event.about(id, &consent.provider_slug),
                    None => NewAuditEvent {
                        provider_slug: &consent.provider_slug,
                        ..event
                    },
                };
                audit::append(conn, &event)?;
                oauth_states::insert(conn, &state)
            })
        })
        .await?;
    tracing::info!(provider = %provider.def.slug, "authorization started");
    Ok(auth.url)
}
