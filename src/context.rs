//! What the services share: the database, the settings, the keyring, the provider
//! catalogue and the HTTP client for provider calls.

use std::sync::Arc;

use crate::config::Settings;
use crate::crypto::Keyring;
use crate::db::event_sink::EventSink;
use crate::db::{Db, DbError};
use crate::metrics::Metrics;
use crate::providers::Catalogue;
use crate::providers::breaker::Breakers;
use crate::runtime::{DeliveryCounts, RateLimits, RefreshLocks, SlackRoutes};
use crate::telemetry::trace::Tracer;

#[derive(Clone)]
pub struct AppContext {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub keyring: Arc<Keyring>,
    pub catalogue: Arc<Catalogue>,
    /// For provider calls: no redirects, bounded time and size.
    pub http: reqwest::Client,
    /// Where browsers reach the app (PUBLIC_URL, or the bound address).
    pub public_url: Arc<str>,
    pub metrics: Arc<Metrics>,
    /// One circuit breaker per provider, shared by the worker and on-demand refreshes.
    pub breakers: Arc<Breakers>,
    /// Single-flight of token refreshes within this process.
    pub refresh_locks: Arc<RefreshLocks>,
    /// Who this process is in leases ("<host>:<pid>:<random>").
    pub instance_id: Arc<str>,
    /// Stores verified webhook events with group commit.
    pub event_sink: EventSink,
    pub webhook_limits: Arc<RateLimits>,
    pub slack_routes: Arc<SlackRoutes>,
    /// Refused and dropped deliveries not yet written to their webhook rows.
    pub delivery_counts: Arc<DeliveryCounts>,
    pub log_throttle: Arc<crate::metrics::LogThrottle>,
    /// Queues spans for OTLP export; `None` (no tracing work at all) without an endpoint.
    pub tracer: Option<Tracer>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    ProvidersFile(#[from] crate::providers::file::ProvidersFileError),
    /// The database could not be opened or reached at start.
    #[error("the database is unreachable: {0}")]
    Unreachable(DbError),
    /// MIGRATE_ON_START=false and the schema is older than this binary.
    #[error(
        "the database schema is older than this version ({0} migration(s) pending) and MIGRATE_ON_START=false: run `targetym-integrations migrate`, then start again"
    )]
    MigrationNeeded(usize),
}

impl AppContext {
    /// Opens the pool, builds the keyring and loads the provider catalogue (PROVIDERS_FILE
    /// included); does not touch the schema.
    pub async fn load(settings: Settings) -> Result<AppContext, ContextError> {
        let db =
            Db::connect(&settings.database_url, settings.db_pool_size).map_err(ContextError::Unreachable)?;
        let keyring = Keyring::new(
            settings.encryption_key.clone(),
            settings.previous_encryption_keys.clone(),
        );
        let http = crate::providers::http::client(settings.provider_timeout, settings.tls_roots);
        let catalogue = Catalogue::load(&settings, &http).await?;
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", settings.bind_addr));
        let metrics = Arc::new(Metrics::new());
        let gauge = metrics.clone();
        let breakers = Breakers::new(
            settings.worker.breaker_threshold,
            chrono::Duration::from_std(settings.worker.breaker_cooldown)
                .unwrap_or(chrono::Duration::seconds(60)),
        )
        .observed(move |provider, state| gauge.breaker_state(provider, state.code()));
        let instance_id = format!(
            "{}:{}:{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
            std::process::id(),
            crate::crypto::random_token(6)
        );
        let tracer = settings.otel.as_ref().map(Tracer::start);
        Ok(AppContext {
            db: db.clone(),
            settings: Arc::new(settings),
            keyring: Arc::new(keyring),
            catalogue: Arc::new(catalogue),
            http,
            public_url: public_url.into(),
            metrics,
            breakers: Arc::new(breakers),
            refresh_locks: Arc::default(),
            instance_id: instance_id.into(),
            event_sink: EventSink::start(db.clone()),
            webhook_limits: Arc::default(),
            slack_routes: Arc::default(),
            delivery_counts: Arc::default(),
            log_throttle: Arc::default(),
            tracer,
        })
    }

    /// The one OAuth redirect URI, registered at every provider.
    pub fn redirect_uri(&self) -> String {
        format!("{}/integrations/callback", self.public_url)
    }

    /// Applies the migrations and seeds the provider catalogue. Returns (migrations applied,
    /// catalogue rows changed).
    pub async fn prepare_database(&self) -> Result<(usize, usize), DbError> {
        let defs = self.catalogue.defs();
        self.db
            .run(move |conn| {
                let applied = crate::db::run_migrations(conn)?;
                let changed = crate::db::catalogue::seed(conn, &defs)?;
                Ok((applied, changed))
            })
            .await
    }

    /// Seeds the provider catalogue on a schema that is up to date, without migrating
    /// (MIGRATE_ON_START=false: `migrate` is the operator's separate step). Returns the
    /// catalogue rows changed.
    pub async fn prepare_current_schema(&self) -> Result<usize, ContextError> {
        let defs = self.catalogue.defs();
        let pending = self.db.run(crate::db::pending_migrations).await?;
        if pending > 0 {
            return Err(ContextError::MigrationNeeded(pending));
        }
        Ok(self
            .db
            .run(move |conn| crate::db::catalogue::seed(conn, &defs))
            .await?)
    }
}
