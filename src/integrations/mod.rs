//! The integration lifecycle as the web layer and the worker see it. Neither talks SQL.

mod connect;
pub mod credentials;
mod detail;
pub mod directory;
mod disconnect;
pub mod events;
pub mod gauges;
pub mod google;
pub mod google_channels;
pub mod health;
pub mod housekeeping;
pub mod jobs;
pub mod key_rotation;
pub mod microsoft;
pub mod oversight;
pub mod provider_api;
pub mod slack;
mod test_connection;
pub mod tokens;
pub mod webhook_endpoints;

pub use connect::{
    CallbackError, CallbackOutcome, CallbackParams, ConnectError, ConnectRequest, ConnectView, StateProblem,
    complete_callback, connect_view, start_connect,
};
pub use detail::{ActivityQuery, DetailRead, IntegrationDetail, detail, detail_view, load_detail_page};
pub use disconnect::{DisconnectError, DisconnectOutcome, disconnect};
pub use test_connection::{TestResult, test_connection};

use crate::context::AppContext;
use crate::db::integrations::{self, IntegrationSummary};
use crate::db::{DbConnection, DbError};
use crate::domain::{IntegrationId, IntegrationStatus, OrgId};
use crate::providers::catalogue::ProviderDef;

/// A provider's state for one organization, as its settings card shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardState {
    /// The operator set no client credentials: nobody can connect it yet.
    NotConfigured,
    Available,
    Connected,
    NeedsReconnect,
    Error,
}

impl CardState {
    pub fn label(self) -> &'static str {
        match self {
            CardState::NotConfigured => "Not configured",
            CardState::Available => "Available",
            CardState::Connected => "Connected",
            CardState::NeedsReconnect => "Needs reconnect",
            CardState::Error => "Error",
        }
    }

    pub fn is_not_configured(self) -> bool {
        self == CardState::NotConfigured
    }

    /// A CSS-friendly name.
    pub fn css(self) -> &'static str {
        match self {
            CardState::NotConfigured => "not-configured",
            CardState::Available => "available",
            CardState::Connected => "connected",
            CardState::NeedsReconnect => "needs-reconnect",
            CardState::Error => "error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProviderCard {
    pub slug: String,
    pub name: String,
    pub category: String,
    pub description: String,
    pub brand_color: String,
    pub initials: String,
    pub state: CardState,
    /// Names of the connected accounts ("Connected as …").
    pub accounts: Vec<String>,
    /// The organization's integrations with this provider (not disconnected).
    pub integrations: Vec<CardIntegration>,
    /// A problem worth a line on the card (retrying, provider unavailable).
    pub notice: Option<String>,
    pub last_error: Option<String>,
}

impl ProviderCard {
    /// "Connected as Acme HR, Acme Eng", or the state's label.
    pub fn state_text(&self) -> String {
        match self.state {
            CardState::Connected => format!("Connected as {}", self.accounts.join(", ")),
            other => other.label().to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CardIntegration {
    pub id: IntegrationId,
    pub account_name: String,
    pub needs_reconnect: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CardFilter {
    pub category: Option<String>,
    pub query: Option<String>,
}

pub struct SettingsPage {
    pub cards: Vec<ProviderCard>,
    /// Every category of the catalogue, for the filter (whatever the current filter).
    pub categories: Vec<String>,
}

/// What the settings page reads of one organization: its integrations, one query whatever
/// their number (on the page's connection).
pub fn load_settings(conn: &mut DbConnection, org_id: OrgId) -> Result<Vec<IntegrationSummary>, DbError> {
    integrations::list_active_for_org(conn, org_id)
}

/// The settings page: a card per provider of this instance's catalogue (the one connecting
/// uses, held in memory), with the organization's integrations (`load_settings`).
pub fn settings_page(ctx: &AppContext, mine: Vec<IntegrationSummary>, filter: &CardFilter) -> SettingsPage {
    let providers = ctx.catalogue.providers();
    let mut categories: Vec<String> = providers.iter().map(|p| p.def.category.clone()).collect();
    categories.sort();
    categories.dedup();
    let query = filter
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_lowercase);
    let cards = providers
        .iter()
        .filter(|p| {
            filter
                .category
                .as_deref()
                .is_none_or(|c| c.is_empty() || p.def.category == c)
        })
        .filter(|p| {
            query
                .as_deref()
                .is_none_or(|q| p.def.name.to_lowercase().contains(q))
        })
        .map(|p| {
            let own: Vec<&IntegrationSummary> =
                mine.iter().filter(|i| i.provider_slug == p.def.slug).collect();
            let breaker = ctx.breakers.state(&p.def.slug);
            card(&p.def, p.credentials.is_some(), &own, breaker)
        })
        .collect();
    SettingsPage { cards, categories }
}

fn card(
    provider: &ProviderDef,
    configured: bool,
    own: &[&IntegrationSummary],
    breaker: crate::providers::breaker::BreakerState,
) -> ProviderCard {
    let accounts: Vec<String> = own
        .iter()
        .filter(|i| i.status.is_live())
        .map(|i| i.external_account_name.clone())
        .collect();
    let has = |wanted: IntegrationStatus| own.iter().any(|i| i.status == wanted);
    let state = if !accounts.is_empty() {
        CardState::Connected
    } else if has(IntegrationStatus::NeedsReauth) {
        CardState::NeedsReconnect
    } else if has(IntegrationStatus::Error) {
        CardState::Error
    } else if configured {
        CardState::Available
    } else {
        CardState::NotConfigured
    };
    let last_error = own.iter().find_map(|i| i.last_error.clone());
    let degraded = own.iter().find(|i| i.status == IntegrationStatus::Degraded);
    let notice = match (breaker, degraded) {
        (crate::providers::breaker::BreakerState::Open { until }, _) if !own.is_empty() => Some(format!(
            "{} is not answering; calls are paused until {} (circuit breaker open).",
            provider.name,
            until.format("%H:%M UTC")
        )),
        (_, Some(i)) => Some(format!(
            "Retrying after an error{}: {}",
            i.next_refresh_at
                .map(|at| format!(" (next attempt {})", at.format("%H:%M UTC")))
                .unwrap_or_default(),
            i.last_error.as_deref().unwrap_or("the provider did not answer")
        )),
        _ => None,
    };
    let integrations = own
        .iter()
        .map(|i| CardIntegration {
            id: i.id,
            account_name: i.external_account_name.clone(),
            needs_reconnect: matches!(
                i.status,
                IntegrationStatus::NeedsReauth | IntegrationStatus::Error
            ),
        })
        .collect();
    ProviderCard {
        initials: initials(&provider.name),
        slug: provider.slug.clone(),
        name: provider.name.clone(),
        category: provider.category.clone(),
        description: provider.description.clone(),
        brand_color: provider.brand_color.clone(),
        state,
        accounts,
        integrations,
        notice,
        last_error,
    }
}

/// "Google Workspace" -> "GW", "Slack" -> "SL", "Microsoft 365" -> "M3".
fn initials(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let letters: String = match words.as_slice() {
        [one] => one.chars().take(2).collect(),
        many => many.iter().take(2).filter_map(|w| w.chars().next()).collect(),
    };
    letters.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_of_names() {
        assert_eq!(initials("Google Workspace"), "GW");
        assert_eq!(initials("Slack"), "SL");
        assert_eq!(initials("Microsoft 365"), "M3");
    }
}
