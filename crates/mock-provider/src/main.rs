//! Runs the mock OAuth 2.0 / OpenID Connect provider, to try the connect flow offline.

use clap::Parser;
use mock_provider::{MockConfig, MockProvider};

#[derive(Parser, Debug)]
#[command(about = "Mock OAuth 2.0 / OpenID Connect provider for local development")]
struct Args {
    #[arg(long, default_value_t = 9090)]
    port: u16,
    #[arg(long, default_value = "mock-client")]
    client_id: String,
    #[arg(long, default_value = "mock-secret")]
    client_secret: String,
    /// Redirect at once instead of showing the consent page.
    #[arg(long)]
    auto_approve: bool,
    /// Lifetime of the access tokens it issues, in seconds (short ones let you watch the
    /// app refresh them).
    #[arg(long, default_value_t = 3600)]
    token_ttl: i64,
    /// As the admins' identity provider (ADMIN_OIDC_ISSUER): the verified email its ID tokens
    /// name.
    #[arg(long)]
    sso_email: Option<String>,
    /// With --sso-email: the organization claim (`org`) of its ID tokens.
    #[arg(long, requires = "sso_email")]
    sso_org: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let config = MockConfig {
        client_id: args.client_id,
        client_secret: args.client_secret,
        auto_approve: args.auto_approve,
        access_token_ttl_secs: args.token_ttl.max(1),
        port: args.port,
        ..MockConfig::default()
    };
    let provider = MockProvider::start(config.clone()).await?;
    let base = provider.base_url();
    println!("Mock provider listening on {base}");
    if let Some(email) = args.sso_email {
        let mut claims = serde_json::Map::new();
        if let Some(org) = &args.sso_org {
            claims.insert("org".into(), org.as_str().into());
        }
        provider.set_behaviour(|b| {
            b.id_token_person = Some(mock_provider::IdTokenPerson {
                subject: format!("sso-{email}"),
                email: email.clone(),
                email_verified: true,
                claims,
            })
        });
        println!(
            "\nAs the admins' identity provider, its ID tokens name {email}{}:\n  ADMIN_OIDC_ISSUER={base} ADMIN_OIDC_CLIENT_ID={} ADMIN_OIDC_CLIENT_SECRET={}",
            args.sso_org
                .map(|o| format!(" of organization {o}"))
                .unwrap_or_default(),
            config.client_id,
            config.client_secret,
        );
    }
    println!(
        "\nAdd this to your PROVIDERS_FILE:\n\n{}",
        providers_snippet(&config, &base)
    );
    println!("Press Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

fn providers_snippet(config: &MockConfig, base: &str) -> String {
    let client_id = toml_string(&config.client_id);
    let client_secret = toml_string(&config.client_secret);
    let [
        issuer,
        authorize_url,
        token_url,
        revoke_url,
        userinfo_url,
        slack_identity,
        slack_api,
    ] = [
        "",
        "/authorize",
        "/token",
        "/revoke",
        "/userinfo",
        "/api/auth.test",
        "/api",
    ]
    .map(|path| toml_string(&format!("{base}{path}")));
    let hosts = toml_string(&format!("{base}/hosts"));
    format!(
        r#"[[provider]]
slug = "mock-oidc"
name = "Mock OIDC"
kind = "oidc"
issuer = {issuer}
client_id = {client_id}
client_secret = {client_secret}
scopes = ["openid", "email", "profile", "offline_access"]
token_auth_method = "client_secret_basic"
category = "Testing"

[[provider]]
slug = "mock-oauth"
name = "Mock OAuth"
kind = "oauth2"
authorize_url = {authorize_url}
token_url = {token_url}
revoke_url = {revoke_url}
userinfo_url = {userinfo_url}
client_id = {client_id}
client_secret = {client_secret}
scopes = ["read", "write"]
token_auth_method = "client_secret_post"
category = "Testing"

# Slack, played by the mock (workspace "Mock Workspace", team T-MOCK).
[[provider]]
slug = "slack"
authorize_url = {authorize_url}
token_url = {token_url}
revoke_url = {revoke_url}
userinfo_url = {slack_identity}
api_base_url = {slack_api}
api_hosts = {hosts}
client_id = {client_id}
client_secret = {client_secret}
"#
    )
}

/// A quoted, escaped TOML string.
fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}
