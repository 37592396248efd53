//! The built-in provider catalogue: the ten providers an HR platform connects to, with the
//! endpoints and parameters taken from each provider's own documentation
//! (sources in shared/PROVIDERS.md). Seeded into `integration_providers` at start.

mod builtin;
mod directory_endpoints;
pub mod endpoints;
mod features;

use crate::domain::{AuthKind, TokenAuthMethod, WebhookKind};
pub use builtin::builtin_providers;

/// The built-in providers whose webhooks arrive on one fixed route for every organization
/// (`/api/webhooks/slack`, `/api/webhooks/google`): their endpoint rows carry these slugs.
pub const SLACK: &str = "slack";
pub const GOOGLE: &str = "google";
/// The other built-in providers, named once (code elsewhere compares against these).
pub const MICROSOFT: &str = "microsoft";
pub const ASANA: &str = "asana";
pub const NOTION: &str = "notion";
pub const JIRA: &str = "jira";
pub const LINEAR: &str = "linear";
pub const ZOOM: &str = "zoom";
pub const DROPBOX: &str = "dropbox";
pub const GITHUB: &str = "github";

/// One catalogue entry, as seeded into `integration_providers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDef {
    /// `[a-z0-9-]+`, also the prefix of the `<SLUG>_CLIENT_ID` variables (dashes become `_`).
    pub slug: String,
    pub name: String,
    pub category: String,
    /// One line for the settings card.
    pub description: String,
    /// Background of the initials badge, `#rrggbb`, dark enough for white text (WCAG AA).
    pub brand_color: String,
    pub auth_kind: AuthKind,
    pub authorize_url: String,
    pub token_url: String,
    pub revoke_url: Option<String>,
    /// The call that tells who the token belongs to (userinfo or the provider's own "me").
    pub identity_url: Option<String>,
    /// OpenID Connect issuer, when the provider is used as one.
    pub issuer: Option<String>,
    pub jwks_url: Option<String>,
    /// Where the provider's REST/GraphQL API lives (the proxy stays inside this host).
    pub api_base_url: String,
    /// Where the API hosts of `endpoints.rs` are reached: `None` is each host itself over
    /// https; `Some(base)` is `{base}/{host}{path}` (a providers-file override for a mock or
    /// a recording proxy, so that a call to the wrong host fails there too).
    pub api_hosts: Option<String>,
    pub default_scopes: Vec<String>,
    /// How scopes are joined in the authorization request (" " or ",").
    pub scope_separator: String,
    /// PKCE S256 is sent when true.
    pub pkce: bool,
    pub token_auth_method: TokenAuthMethod,
    /// Extra query parameters of the authorization request, in order.
    pub extra_auth_params: Vec<(String, String)>,
    pub webhook_kind: WebhookKind,
    pub docs_url: String,
    /// How the connected account is learned after the code exchange.
    pub identity: IdentitySource,
    /// How tokens are revoked at disconnect.
    pub revoke_style: RevokeStyle,
    /// The provider sends `iss` on the authorization response (RFC 9207), so a missing one
    /// is refused.
    pub iss_parameter_supported: bool,
    /// Headers its API wants on every call (a version, an Accept type).
    pub api_headers: Vec<(String, String)>,
    /// How its API reports a failed call.
    pub api_errors: ApiErrors,
    /// What "Test connection" asks it.
    pub health_check: HealthCheck,
}

/// How a provider's API reports a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiErrors {
    /// By the HTTP status (and, for Google, the reason of a 403).
    HttpStatus,
    /// Also as `200 {"ok": false, "error": ...}` (Slack's Web API).
    OkFalseBody,
}

/// What "Test connection" asks a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthCheck {
    /// The identity call (`identity_url`).
    Identity,
    /// The sites the token reaches, then `myself` on the first (Jira Cloud).
    FirstSiteMyself,
}

/// Where the connected account's stable id and display name come from. Pointers are JSON
/// pointers (RFC 6901) into the JSON document named by the variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// The validated id_token's claims: `sub` (Microsoft: `tid` + `oid`), `email` or `name`.
    IdToken,
    /// Fields of the token response itself (Slack's team, Notion's workspace).
    TokenResponse { id: String, name: String },
    /// `GET identity_url` with the access token.
    Get { id: String, name: String },
    /// `POST identity_url` with a JSON body (Linear's GraphQL, Dropbox's RPC).
    PostJson { body: String, id: String, name: String },
}

/// How a provider takes tokens back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeStyle {
    /// RFC 7009: `POST revoke_url` with `token=` (the refresh token when there is one) and
    /// the client's authentication.
    Rfc7009,
    /// The same as a JSON body `{"token": ...}` (Notion).
    Rfc7009Json,
    /// `POST revoke_url` authorised by the access token itself (Slack, Linear, Dropbox).
    BearerSelf,
    /// `DELETE /applications/{client_id}/token` with Basic client auth (GitHub).
    GithubApplicationToken,
    /// No revocation endpoint: disconnect deletes the stored tokens only.
    None,
}
