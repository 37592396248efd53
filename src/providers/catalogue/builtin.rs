//! The ten built-in providers, as sourced in shared/PROVIDERS.md.

use super::*;

/// The ten built-in providers, in display order.
pub fn builtin_providers() -> Vec<ProviderDef> {
    vec![
        ProviderDef {
            slug: SLACK.into(),
            name: "Slack".into(),
            category: "Communication".into(),
            description: "Post onboarding messages and notify managers in Slack.".into(),
            brand_color: "#4a154b".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://slack.com/oauth/v2/authorize".into(),
            token_url: "https://slack.com/api/oauth.v2.access".into(),
            revoke_url: Some("https://slack.com/api/auth.revoke".into()),
            identity_url: Some("https://slack.com/api/auth.test".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://slack.com/api".into(),
            api_hosts: None,
            // By feature (endpoints.rs): what each call the hub makes needs.
            default_scopes: endpoints::feature_scopes(SLACK),
            scope_separator: ",".into(),
            // Enabling PKCE on Slack turns the app into a public client, one-way, with
            // refresh tokens expiring after 30 days; this is a confidential server app.
            pkce: false,
            token_auth_method: TokenAuthMethod::ClientSecretBasic,
            extra_auth_params: Vec::new(),
            webhook_kind: WebhookKind::SlackEvents,
            // Slack's OAuth v2 response names the workspace; auth.test is the health call.
            identity: IdentitySource::TokenResponse {
                id: "/team/id".into(),
                name: "/team/name".into(),
            },
            revoke_style: RevokeStyle::BearerSelf,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::OkFalseBody,
            health_check: HealthCheck::Identity,
            docs_url: "https://docs.slack.dev/authentication/installing-with-oauth".into(),
        },
        ProviderDef {
            slug: GOOGLE.into(),
            name: "Google Workspace".into(),
            category: "Productivity".into(),
            description: "Schedule interviews in Calendar, share Drive files and send Gmail.".into(),
            brand_color: "#1a73e8".into(),
            auth_kind: AuthKind::Oidc,
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_url: "https://oauth2.googleapis.com/token".into(),
            revoke_url: Some("https://oauth2.googleapis.com/revoke".into()),
            identity_url: Some("https://openidconnect.googleapis.com/v1/userinfo".into()),
            issuer: Some("https://accounts.google.com".into()),
            jwks_url: Some("https://www.googleapis.com/oauth2/v3/certs".into()),
            api_base_url: "https://www.googleapis.com".into(),
            api_hosts: None,
            default_scopes: endpoints::feature_scopes(GOOGLE),
            scope_separator: " ".into(),
            pkce: true,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            // Google only issues a refresh token with access_type=offline; prompt=consent
            // makes it issue one again when the user re-connects.
            // include_granted_scopes: adding access later keeps what was granted before
            // (incremental authorization).
            extra_auth_params: params(&[
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
            ]),
            webhook_kind: WebhookKind::GoogleChannel,
            identity: IdentitySource::IdToken,
            revoke_style: RevokeStyle::Rfc7009,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://developers.google.com/identity/protocols/oauth2/web-server".into(),
        },
        ProviderDef {
            slug: MICROSOFT.into(),
            name: "Microsoft 365".into(),
            category: "Productivity".into(),
            description: "Schedule meetings in Outlook Calendar and send mail from Microsoft 365.".into(),
            brand_color: "#0078d4".into(),
            auth_kind: AuthKind::Oidc,
            authorize_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize".into(),
            token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token".into(),
            // No RFC 7009 endpoint; revokeSignInSessions would end all of the user's sessions.
            revoke_url: None,
            identity_url: Some("https://graph.microsoft.com/v1.0/me".into()),
            // With the `common` tenant the issuer is a template: `{tenantid}` is the token's `tid`.
            issuer: Some("https://login.microsoftonline.com/{tenantid}/v2.0".into()),
            jwks_url: Some("https://login.microsoftonline.com/common/discovery/v2.0/keys".into()),
            api_base_url: "https://graph.microsoft.com".into(),
            api_hosts: None,
            // By feature (features.rs); `offline_access` is what gets a refresh token.
            default_scopes: endpoints::feature_scopes(MICROSOFT),
            scope_separator: " ".into(),
            pkce: true,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            extra_auth_params: params(&[("response_mode", "query")]),
            webhook_kind: WebhookKind::GraphSubscription,
            identity: IdentitySource::IdToken,
            revoke_style: RevokeStyle::None,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow"
                .into(),
        },
        ProviderDef {
            slug: ASANA.into(),
            name: "Asana".into(),
            category: "Project management".into(),
            description: "Create onboarding tasks and track their progress in Asana.".into(),
            brand_color: "#bb5353".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://app.asana.com/-/oauth_authorize".into(),
            token_url: "https://app.asana.com/-/oauth_token".into(),
            revoke_url: Some("https://app.asana.com/-/oauth_revoke".into()),
            identity_url: Some("https://app.asana.com/api/1.0/users/me".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://app.asana.com/api/1.0".into(),
            api_hosts: None,
            // Granular scopes rather than `default`, which needs a full-permission app.
            default_scopes: endpoints::feature_scopes(ASANA),
            scope_separator: " ".into(),
            pkce: true,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            extra_auth_params: Vec::new(),
            webhook_kind: WebhookKind::AsanaHook,
            identity: IdentitySource::Get {
                id: "/data/gid".into(),
                name: "/data/name".into(),
            },
            // Asana revokes by refresh token, with the client credentials in the form.
            revoke_style: RevokeStyle::Rfc7009,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://developers.asana.com/docs/oauth".into(),
        },
        ProviderDef {
            slug: NOTION.into(),
            name: "Notion".into(),
            category: "Knowledge".into(),
            description: "Link onboarding guides and HR pages from your Notion workspace.".into(),
            brand_color: "#000000".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://api.notion.com/v1/oauth/authorize".into(),
            token_url: "https://api.notion.com/v1/oauth/token".into(),
            revoke_url: Some("https://api.notion.com/v1/oauth/revoke".into()),
            identity_url: Some("https://api.notion.com/v1/users/me".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://api.notion.com/v1".into(),
            api_hosts: None,
            // Notion takes no scope parameter: capabilities are set on the integration.
            default_scopes: Vec::new(),
            scope_separator: " ".into(),
            // PKCE support is unverified.
            pkce: false,
            token_auth_method: TokenAuthMethod::ClientSecretBasic,
            extra_auth_params: params(&[("owner", "user")]),
            webhook_kind: WebhookKind::NotionSignature,
            identity: IdentitySource::TokenResponse {
                id: "/workspace_id".into(),
                name: "/workspace_name".into(),
            },
            revoke_style: RevokeStyle::Rfc7009Json,
            iss_parameter_supported: false,
            api_headers: params(&[("Notion-Version", "2022-06-28")]),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://developers.notion.com/docs/authorization".into(),
        },
        ProviderDef {
            slug: JIRA.into(),
            name: "Jira".into(),
            category: "Project management".into(),
            description: "Create and track onboarding and offboarding tickets in Jira.".into(),
            brand_color: "#0052cc".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://auth.atlassian.com/authorize".into(),
            token_url: "https://auth.atlassian.com/oauth/token".into(),
            // No public revocation endpoint; users revoke under "connected apps".
            revoke_url: None,
            identity_url: Some("https://api.atlassian.com/me".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://api.atlassian.com".into(),
            api_hosts: None,
            default_scopes: endpoints::feature_scopes(JIRA),
            scope_separator: " ".into(),
            // PKCE support is unverified.
            pkce: false,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            extra_auth_params: params(&[("audience", "api.atlassian.com"), ("prompt", "consent")]),
            webhook_kind: WebhookKind::JiraHubSignature,
            identity: IdentitySource::Get {
                id: "/account_id".into(),
                name: "/name".into(),
            },
            revoke_style: RevokeStyle::None,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::FirstSiteMyself,
            docs_url: "https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/".into(),
        },
        ProviderDef {
            slug: LINEAR.into(),
            name: "Linear".into(),
            category: "Project management".into(),
            description: "Create onboarding issues for new engineers in Linear.".into(),
            brand_color: "#5e6ad2".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://linear.app/oauth/authorize".into(),
            token_url: "https://api.linear.app/oauth/token".into(),
            revoke_url: Some("https://api.linear.app/oauth/revoke".into()),
            // GraphQL: the identity is the `viewer`/`organization` query.
            identity_url: Some("https://api.linear.app/graphql".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://api.linear.app".into(),
            api_hosts: None,
            default_scopes: endpoints::feature_scopes(LINEAR),
            scope_separator: ",".into(),
            // PKCE support is unverified.
            pkce: false,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            extra_auth_params: params(&[("prompt", "consent")]),
            webhook_kind: WebhookKind::LinearSignature,
            identity: IdentitySource::PostJson {
                body: r#"{"query":"{ organization { id name } }"}"#.into(),
                id: "/data/organization/id".into(),
                name: "/data/organization/name".into(),
            },
            revoke_style: RevokeStyle::BearerSelf,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://linear.app/developers/oauth-2-0-authentication".into(),
        },
        ProviderDef {
            slug: ZOOM.into(),
            name: "Zoom".into(),
            category: "Communication".into(),
            description: "Schedule Zoom meetings for interviews and onboarding sessions.".into(),
            brand_color: "#0b5cff".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://zoom.us/oauth/authorize".into(),
            token_url: "https://zoom.us/oauth/token".into(),
            revoke_url: Some("https://zoom.us/oauth/revoke".into()),
            identity_url: Some("https://api.zoom.us/v2/users/me".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://api.zoom.us/v2".into(),
            api_hosts: None,
            // Scopes are configured on the Zoom app, not requested.
            default_scopes: Vec::new(),
            scope_separator: " ".into(),
            pkce: true,
            token_auth_method: TokenAuthMethod::ClientSecretBasic,
            extra_auth_params: Vec::new(),
            webhook_kind: WebhookKind::ZoomSignature,
            identity: IdentitySource::Get {
                id: "/id".into(),
                name: "/email".into(),
            },
            revoke_style: RevokeStyle::Rfc7009,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://developers.zoom.us/docs/integrations/oauth/".into(),
        },
        ProviderDef {
            slug: DROPBOX.into(),
            name: "Dropbox".into(),
            category: "Files".into(),
            description: "Store and share employee documents in Dropbox.".into(),
            brand_color: "#0061ff".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://www.dropbox.com/oauth2/authorize".into(),
            token_url: "https://api.dropboxapi.com/oauth2/token".into(),
            revoke_url: Some("https://api.dropboxapi.com/2/auth/token/revoke".into()),
            identity_url: Some("https://api.dropboxapi.com/2/users/get_current_account".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://api.dropboxapi.com/2".into(),
            api_hosts: None,
            default_scopes: endpoints::feature_scopes(DROPBOX),
            scope_separator: " ".into(),
            pkce: true,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            // Without token_access_type=offline Dropbox issues only short-lived access tokens.
            extra_auth_params: params(&[("token_access_type", "offline")]),
            webhook_kind: WebhookKind::DropboxSignature,
            identity: IdentitySource::PostJson {
                body: "null".into(),
                id: "/account_id".into(),
                name: "/name/display_name".into(),
            },
            revoke_style: RevokeStyle::BearerSelf,
            iss_parameter_supported: false,
            api_headers: Vec::new(),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://developers.dropbox.com/oauth-guide".into(),
        },
        ProviderDef {
            slug: GITHUB.into(),
            name: "GitHub".into(),
            category: "Engineering".into(),
            description: "Identify employees' GitHub accounts for onboarding and offboarding.".into(),
            brand_color: "#24292f".into(),
            auth_kind: AuthKind::OAuth2,
            authorize_url: "https://github.com/login/oauth/authorize".into(),
            token_url: "https://github.com/login/oauth/access_token".into(),
            // `{client_id}` is a template: the caller substitutes the app's client id and
            // sends DELETE with Basic(client_id:client_secret) and `{"access_token": …}`.
            revoke_url: Some("https://api.github.com/applications/{client_id}/token".into()),
            identity_url: Some("https://api.github.com/user".into()),
            issuer: None,
            jwks_url: None,
            api_base_url: "https://api.github.com".into(),
            api_hosts: None,
            default_scopes: endpoints::feature_scopes(GITHUB),
            scope_separator: " ".into(),
            pkce: true,
            token_auth_method: TokenAuthMethod::ClientSecretPost,
            extra_auth_params: Vec::new(),
            webhook_kind: WebhookKind::GithubSignature,
            identity: IdentitySource::Get {
                id: "/id".into(),
                name: "/login".into(),
            },
            revoke_style: RevokeStyle::GithubApplicationToken,
            iss_parameter_supported: false,
            api_headers: params(&[
                ("Accept", "application/vnd.github+json"),
                ("X-GitHub-Api-Version", "2022-11-28"),
            ]),
            api_errors: ApiErrors::HttpStatus,
            health_check: HealthCheck::Identity,
            docs_url: "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps"
                .into(),
        },
    ]
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ten_unique_slugs_of_lowercase_letters_digits_and_dashes() {
        let providers = builtin_providers();
        assert_eq!(providers.len(), 10);
        let mut seen = HashSet::new();
        for provider in &providers {
            let slug = &provider.slug;
            assert!(!slug.is_empty(), "empty slug");
            assert!(
                slug.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "slug {slug:?} is not [a-z0-9-]+"
            );
            assert!(seen.insert(slug.clone()), "duplicate slug {slug:?}");
        }
    }

    #[test]
    fn every_url_is_https() {
        for provider in builtin_providers() {
            let urls = [
                Some(&provider.authorize_url),
                Some(&provider.token_url),
                provider.revoke_url.as_ref(),
                provider.identity_url.as_ref(),
                provider.jwks_url.as_ref(),
                Some(&provider.api_base_url),
                Some(&provider.docs_url),
            ];
            for url in urls.into_iter().flatten() {
                assert!(
                    url.starts_with("https://"),
                    "{}: {url} is not https",
                    provider.slug
                );
            }
        }
    }

    #[test]
    fn oidc_providers_request_openid() {
        for provider in builtin_providers() {
            if provider.auth_kind == AuthKind::Oidc {
                assert!(
                    provider.default_scopes.iter().any(|scope| scope == "openid"),
                    "{} is OIDC but does not request openid",
                    provider.slug
                );
            }
        }
    }
}
