//! Providers: the catalogue of what can be connected (built in, overridden or extended by
//! PROVIDERS_FILE), with each provider's OAuth client credentials; and the HTTP client that
//! talks to them.

pub mod backoff;
pub mod breaker;
pub mod catalogue;
pub mod file;
pub mod http;
pub mod scopes;

use crate::config::{ClientCredentials, Settings};
use crate::domain::{ProviderSlug, WebhookKind};
use catalogue::ProviderDef;

/// A catalogue provider and the operator's client for it (None: "Not configured").
#[derive(Debug, Clone)]
pub struct Provider {
    pub def: ProviderDef,
    pub credentials: Option<ClientCredentials>,
}

/// Every provider this deployment knows, in display order.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    providers: Vec<Provider>,
}

impl Catalogue {
    /// The built-in providers, then PROVIDERS_FILE (overrides and additions, with OpenID
    /// discovery for `kind = "oidc"` entries), with credentials from the file or from
    /// `<SLUG>_CLIENT_ID` / `<SLUG>_CLIENT_SECRET`.
    pub async fn load(
        settings: &Settings,
        http: &reqwest::Client,
    ) -> Result<Catalogue, file::ProvidersFileError> {
        let mut defs = catalogue::builtin_providers();
        let mut file_credentials = Vec::new();
        if let Some(path) = &settings.providers_file {
            file_credentials = file::apply(path, &mut defs, http).await?;
        }
        let providers = defs
            .into_iter()
            .map(|def| {
                let from_file = file_credentials
                    .iter()
                    .find(|(slug, _)| *slug == def.slug)
                    .map(|(_, c)| c.clone());
                let from_env = ProviderSlug::parse(&def.slug)
                    .and_then(|slug| settings.client_credentials(&slug.env_prefix()).cloned());
                Provider {
                    credentials: from_file.or(from_env),
                    def,
                }
            })
            .collect();
        Ok(Catalogue { providers })
    }

    /// Every provider, in display order.
    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }

    pub fn get(&self, slug: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.def.slug == slug)
    }

    pub fn defs(&self) -> Vec<ProviderDef> {
        self.providers.iter().map(|p| p.def.clone()).collect()
    }

    pub fn is_configured(&self, slug: &str) -> bool {
        self.get(slug).is_some_and(|p| p.credentials.is_some())
    }

    /// The provider's webhook scheme (`None` for a provider no longer in the catalogue).
    pub fn webhook_kind(&self, slug: &str) -> WebhookKind {
        self.get(slug).map_or(WebhookKind::None, |p| p.def.webhook_kind)
    }
}
