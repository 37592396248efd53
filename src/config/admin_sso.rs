//! Single sign-on for admins through the platform's OpenID provider (ADMIN_OIDC_*), and
//! whether password sign-in stays on (PASSWORD_LOGIN).

use secrecy::SecretString;

use super::vars::Vars;
use super::{ClientCredentials, ConfigError};

/// The identity provider admins may sign in with.
#[derive(Debug)]
pub struct AdminSso {
    /// The issuer: its discovery document is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub credentials: ClientCredentials,
    /// The id_token claim that names the admin's organization (its external id).
    pub org_claim: String,
    /// Shown as "Sign in with <name>".
    pub name: String,
    /// Make an admin of a verified user of a known organization who has no account yet.
    pub auto_provision: bool,
}

const VARS: [&str; 3] = [
    "ADMIN_OIDC_ISSUER",
    "ADMIN_OIDC_CLIENT_ID",
    "ADMIN_OIDC_CLIENT_SECRET",
];

/// The SSO settings (`None` when none of its variables is set) and PASSWORD_LOGIN.
pub(super) fn from_vars(v: &Vars<'_>) -> Result<(Option<AdminSso>, bool), ConfigError> {
    let password_login = v.not_off("PASSWORD_LOGIN");
    let set: Vec<&str> = VARS
        .iter()
        .copied()
        .filter(|name| v.text(name).is_some())
        .collect();
    if set.is_empty() {
        if !password_login {
            return Err(ConfigError(
                "PASSWORD_LOGIN=false needs single sign-on (ADMIN_OIDC_ISSUER, ADMIN_OIDC_CLIENT_ID, ADMIN_OIDC_CLIENT_SECRET): nobody could sign in".into(),
            ));
        }
        return Ok((None, true));
    }
    if let Some(missing) = VARS.iter().find(|name| v.text(name).is_none()) {
        return Err(ConfigError(format!(
            "admin single sign-on needs {missing} too (it has {})",
            set.join(", ")
        )));
    }
    let issuer = v
        .text("ADMIN_OIDC_ISSUER")
        .unwrap_or_default()
        .trim_end_matches('/');
    // https; plain http only to this machine (the mock provider, local development).
    let valid = url::Url::parse(issuer).is_ok_and(|url| match url.scheme() {
        "https" => true,
        "http" => matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")),
        _ => false,
    });
    if !valid {
        return Err(ConfigError(
            "ADMIN_OIDC_ISSUER must be an https:// URL (http only on 127.0.0.1/localhost)".into(),
        ));
    }
    let org_claim = v.text("ADMIN_OIDC_ORG_CLAIM").unwrap_or("org").to_owned();
    let name = v
        .text("ADMIN_OIDC_NAME")
        .map(|n| crate::domain::sanitize(n, 60))
        .unwrap_or_else(|| "single sign-on".to_owned());
    let sso = AdminSso {
        issuer: issuer.to_owned(),
        credentials: ClientCredentials {
            client_id: v.text("ADMIN_OIDC_CLIENT_ID").unwrap_or_default().to_owned(),
            client_secret: SecretString::from(v.text("ADMIN_OIDC_CLIENT_SECRET").unwrap_or_default()),
        },
        org_claim,
        name,
        auto_provision: v.on("ADMIN_OIDC_AUTO_PROVISION"),
    };
    Ok((Some(sso), password_login))
}
