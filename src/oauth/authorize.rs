use oauth2::PkceCodeChallenge;
use secrecy::{ExposeSecret, SecretString};

use crate::config::ClientCredentials;
use crate::domain::AuthKind;
use crate::providers::catalogue::ProviderDef;

/// A ready authorization request: the URL to send the browser to, and what the callback
/// will need (kept server-side: the state's hash, the PKCE verifier, the nonce).
pub struct AuthorizationRequest {
    pub url: String,
    /// The raw state: only in the URL; the database keeps its hash.
    pub state: SecretString,
    pub pkce_verifier: Option<SecretString>,
    pub nonce: Option<String>,
}

/// Builds the provider's authorization URL with a fresh state, PKCE S256 where the provider
/// takes it, a nonce for OpenID Connect, the exact redirect URI and the catalogue's extra
/// parameters.
pub fn authorization_request(
    provider: &ProviderDef,
    credentials: &ClientCredentials,
    redirect_uri: &str,
    scopes: &[String],
) -> AuthorizationRequest {
    let state = SecretString::from(crate::crypto::random_token(32));
    let mut url = url::Url::parse(&provider.authorize_url).expect("catalogue URLs are validated");
    let pkce = provider.pkce.then(PkceCodeChallenge::new_random_sha256);
    let nonce = (provider.auth_kind == AuthKind::Oidc).then(|| crate::crypto::random_token(32));
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &credentials.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state.expose_secret());
        if !scopes.is_empty() {
            query.append_pair("scope", &scopes.join(&provider.scope_separator));
        }
        if let Some((challenge, _)) = &pkce {
            query
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256");
        }
        if let Some(nonce) = &nonce {
            query.append_pair("nonce", nonce);
        }
        for (name, value) in &provider.extra_auth_params {
            query.append_pair(name, value);
        }
    }
    AuthorizationRequest {
        url: url.into(),
        state,
        pkce_verifier: pkce.map(|(_, verifier)| SecretString::from(verifier.secret().to_owned())),
        nonce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::catalogue::builtin_providers;

    fn credentials() -> ClientCredentials {
        ClientCredentials {
            client_id: "client-1".into(),
            client_secret: SecretString::from("s"),
        }
    }

    fn query(url: &str) -> Vec<(String, String)> {
        url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
    }

    #[test]
    fn google_gets_pkce_nonce_and_offline_access() {
        let google = builtin_providers()
            .into_iter()
            .find(|p| p.slug == "google")
            .unwrap();
        let request = authorization_request(
            &google,
            &credentials(),
            "https://hub.example/integrations/callback",
            &google.default_scopes,
        );
        let pairs = query(&request.url);
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert!(
            request
                .url
                .starts_with("https://accounts.google.com/o/oauth2/v2/auth?")
        );
        assert_eq!(
            get("redirect_uri"),
            Some("https://hub.example/integrations/callback")
        );
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(get("state"), Some(request.state.expose_secret()));
        assert_eq!(get("nonce"), request.nonce.as_deref());
        assert_eq!(get("access_type"), Some("offline"));
        assert_eq!(get("prompt"), Some("consent"));
        assert!(get("scope").unwrap().starts_with("openid "));
        // The verifier never travels in the URL.
        assert!(
            !request
                .url
                .contains(request.pkce_verifier.as_ref().unwrap().expose_secret())
        );
    }

    #[test]
    fn slack_gets_comma_scopes_and_no_pkce_or_nonce() {
        let slack = builtin_providers()
            .into_iter()
            .find(|p| p.slug == "slack")
            .unwrap();
        let request = authorization_request(
            &slack,
            &credentials(),
            "https://hub.example/cb",
            &slack.default_scopes,
        );
        let pairs = query(&request.url);
        assert!(
            pairs
                .iter()
                .any(|(k, v)| k == "scope" && v.contains("chat:write,"))
        );
        assert!(!pairs.iter().any(|(k, _)| k == "code_challenge" || k == "nonce"));
        assert!(request.pkce_verifier.is_none() && request.nonce.is_none());
        let other = authorization_request(
            &slack,
            &credentials(),
            "https://hub.example/cb",
            &slack.default_scopes,
        );
        assert_ne!(
            request.state.expose_secret(),
            other.state.expose_secret(),
            "state is fresh each time"
        );
    }
}
