use mock_provider::{MockConfig, MockProvider};

use targetym_integrations::config::Settings;
use targetym_integrations::context::AppContext;

async fn load_with(file: &str) -> Result<AppContext, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("providers.toml");
    std::fs::write(&path, file).unwrap();
    let vars = std::collections::HashMap::from([
        ("DATA_DIR".to_owned(), dir.path().display().to_string()),
        ("PROVIDERS_FILE".to_owned(), path.display().to_string()),
    ]);
    AppContext::load(Settings::from_vars(&vars).unwrap())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_built_in_provider_can_be_overridden_and_custom_providers_added() {
    let mock = MockProvider::start(MockConfig::default()).await.unwrap();
    let ctx = load_with(&crate::oauth_helpers::providers_file(&mock))
        .await
        .unwrap();
    let slack = ctx.catalogue.get("slack").unwrap();
    assert_eq!(slack.def.token_url, format!("{}/token", mock.base_url()));
    assert_eq!(
        slack.def.name, "Slack",
        "fields the file does not name stay as built in"
    );
    assert_eq!(slack.credentials.as_ref().unwrap().client_id, "mock-client");
    let oidc = ctx.catalogue.get("mock-oidc").unwrap();
    assert_eq!(
        oidc.def.authorize_url,
        format!("{}/authorize", mock.base_url()),
        "from discovery"
    );
    assert_eq!(
        oidc.def.jwks_url.as_deref(),
        Some(format!("{}/jwks", mock.base_url()).as_str())
    );
    assert!(oidc.def.iss_parameter_supported && oidc.def.pkce);
    let oauth = ctx.catalogue.get("mock-oauth").unwrap();
    assert_eq!(oauth.def.category, "Testing");
    assert_eq!(ctx.catalogue.defs().len(), 12);
}

#[tokio::test]
async fn invalid_files_stop_the_start_naming_the_file_the_provider_and_the_field() {
    let cases = [
        (
            "[[provider]]\nslug = \"acme\"\nname = \"Acme\"\nkind = \"oauth2\"\nauthorize_url = \"https://acme.example/auth\"\nuserinfo_url = \"https://acme.example/me\"\n",
            "acme",
            "token_url",
        ),
        (
            "[[provider]]\nslug = \"acme\"\nname = \"Acme\"\nkind = \"oauth2\"\nauthorize_url = \"http://acme.example/auth\"\ntoken_url = \"https://acme.example/token\"\nuserinfo_url = \"https://acme.example/me\"\n",
            "acme",
            "authorize_url",
        ),
        (
            "[[provider]]\nslug = \"Acme SSO\"\nname = \"Acme\"\nkind = \"oidc\"\nissuer = \"https://acme.example\"\n",
            "Acme SSO",
            "slug",
        ),
        (
            "[[provider]]\nslug = \"slack\"\ntoken_auth_method = \"private_key_jwt\"\n",
            "slack",
            "token_auth_method",
        ),
        (
            "[[provider]]\nslug = \"slack\"\nclient_id = \"only-an-id\"\n",
            "slack",
            "client_secret",
        ),
        (
            "[[provider]]\nslug = \"acme\"\nname = \"Acme\"\nkind = \"oidc\"\nissuer = \"http://127.0.0.1:9\"\n",
            "acme",
            "issuer",
        ),
    ];
    for (file, provider, field) in cases {
        let error = load_with(file)
            .await
            .err()
            .unwrap_or_else(|| panic!("accepted: {file}"));
        assert!(error.contains("providers.toml"), "{error}");
        assert!(error.contains(&format!("provider \"{provider}\"")), "{error}");
        assert!(error.contains(&format!("`{field}`")), "{error}");
    }
    let unknown = load_with("[[provider]]\nslug = \"slack\"\ntoken_uri = \"https://x.example\"\n")
        .await
        .err()
        .unwrap();
    assert!(
        unknown.contains("providers.toml") && unknown.contains("token_uri"),
        "{unknown}"
    );
}
