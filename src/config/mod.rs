//! Typed settings from the environment (and a `.env` file), with safe local defaults and
//! strict rules in production. Every value is parsed once, here, into the type it is used as.

mod admin_sso;
mod database_url;
mod otel;
mod secrets;
mod tls;
mod vars;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::crypto::EncryptionKey;
pub use admin_sso::AdminSso;
pub use database_url::DatabaseUrl;
pub use otel::OtelSettings;
pub use tls::TlsRoots;
pub use vars::secret_from_env;
use vars::{HOUR, MINUTE, SECOND, Vars};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Local,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// An OAuth client registered at a provider by the operator.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

#[derive(Debug)]
pub struct Settings {
    pub app_env: AppEnv,
    pub database_url: DatabaseUrl,
    pub db_pool_size: u32,
    pub bind_addr: String,
    /// Where browsers reach the app (scheme://host[:port], no trailing slash). `None`: derived
    /// from the bound address at start.
    pub public_url: Option<String>,
    pub data_dir: PathBuf,
    /// Seals new values; the previous keys still open what they sealed (rotation).
    pub encryption_key: EncryptionKey,
    pub previous_encryption_keys: Vec<EncryptionKey>,
    /// 64 bytes: signs and encrypts the session cookie.
    pub session_key: SecretBox<Vec<u8>>,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    pub log_format: LogFormat,
    /// OAuth clients by environment prefix (`SLACK`, `GOOGLE`, `ACME_SSO`, ...).
    pub provider_credentials: BTreeMap<String, ClientCredentials>,
    pub slack_signing_secret: Option<SecretString>,
    pub providers_file: Option<PathBuf>,
    /// Take the client address from X-Forwarded-For (behind trusted proxies).
    pub trust_forwarded_for: bool,
    /// With `trust_forwarded_for`: how many proxies of ours append to X-Forwarded-For; the
    /// client is that many hops from the right.
    pub trusted_proxy_hops: usize,
    /// Bearer token that /metrics requires, on every listener, when set.
    pub metrics_token: Option<SecretString>,
    /// A second listener that serves only /metrics, /healthz and /readyz; /metrics is then
    /// not served on BIND_ADDR.
    pub metrics_bind_addr: Option<String>,
    /// How long one call to a provider may take.
    pub provider_timeout: Duration,
    pub tls_roots: TlsRoots,
    /// Trace export over OTLP/HTTP, when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set.
    pub otel: Option<OtelSettings>,
    pub worker: WorkerSettings,
    /// Webhook bodies larger than this are refused (413) without being read.
    pub webhook_max_body_bytes: usize,
    /// Deliveries per minute per webhook before 429 (set on new webhooks).
    pub webhook_rate_limit_per_minute: i32,
    /// Internal API calls per minute per service token (per instance) before 429.
    pub api_rate_limit_per_minute: u32,
    /// Said once tracing is up (e.g. "generated a local encryption key").
    pub startup_warnings: Vec<String>,
    /// The token web setup asks for in production (SETUP_TOKEN); without it, one is derived
    /// from the session key and logged at start while no admin exists.
    pub setup_token: Option<SecretString>,
    /// Admins sign in with the platform's OpenID provider (ADMIN_OIDC_*), when set.
    pub admin_sso: Option<AdminSso>,
    /// Email and password sign-in (PASSWORD_LOGIN, on unless turned off with SSO set).
    pub password_login: bool,
    /// `serve` applies pending migrations (MIGRATE_ON_START, default on); off, it refuses an
    /// older schema and `migrate` is a separate step.
    pub migrate_on_start: bool,
}

/// The background actor: token refresh, the sync-log queue, housekeeping.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Run the actor in this process (WORKER_ENABLED, default on).
    pub enabled: bool,
    /// How often it looks for due work.
    pub tick: Duration,
    /// Refresh an access token this long before it expires.
    pub refresh_window: Duration,
    /// Integrations (and jobs) claimed per round.
    pub batch_size: i64,
    /// Token requests in flight at once per provider.
    pub provider_concurrency: usize,
    /// A claim lasts this long; a dead instance's work is taken over after it.
    pub lease: Duration,
    /// Sync-log entries older than this are purged.
    pub retention_days: i64,
    /// Audit events older than this are purged (None: kept for good).
    pub audit_retention_days: Option<i64>,
    /// Processed webhook events lose their body after this long.
    pub payload_retention_days: i64,
    /// Tokens without an expiry are checked with the identity call this often.
    pub validation_interval: Duration,
    /// Consecutive failures that open a provider's circuit breaker, and how long it stays open.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    /// The pause between two pages of a directory sync (Slack's users.list is a tier-2
    /// method: about 20 calls a minute).
    pub directory_page_interval: Duration,
    /// Deactivated directory accounts unchanged this long are purged.
    pub directory_retention_days: i64,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// A guessable metrics token would be no gate.
const MIN_METRICS_TOKEN_LEN: usize = 16;

impl Settings {
    /// Reads `.env` (when present) and the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(ConfigError(format!("cannot read .env: {e}"))),
        }
        Settings::from_vars(&std::env::vars().collect())
    }

    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let vars = &vars::with_secret_files(vars)?;
        let v = Vars(vars);
        let app_env = match v.text("APP_ENV").unwrap_or("local") {
            "local" | "development" | "test" => AppEnv::Local,
            "production" => AppEnv::Production,
            other => {
                return Err(ConfigError(format!(
                    "APP_ENV must be local or production (got {other:?})"
                )));
            }
        };
        let production = app_env == AppEnv::Production;

        let data_dir = PathBuf::from(v.text("DATA_DIR").unwrap_or("data"));
        let database_url = match v.text("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(url).map_err(ConfigError)?,
            None => DatabaseUrl::Sqlite(data_dir.join("targetym.sqlite3")),
        };
        let public_url = v.text("PUBLIC_URL").map(parse_public_url).transpose()?;
        if production && !public_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
            return Err(ConfigError(match public_url {
                None => "APP_ENV=production requires PUBLIC_URL (the https address browsers use)".into(),
                Some(_) => "APP_ENV=production requires PUBLIC_URL to be an https:// address".into(),
            }));
        }
        let keys = secrets::keys(&v, &data_dir, production)?;

        let log_format = match v.text("LOG_FORMAT") {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(ConfigError(format!(
                    "LOG_FORMAT must be json or pretty (got {other:?})"
                )));
            }
            None if production => LogFormat::Json,
            None => LogFormat::Pretty,
        };
        let metrics_token = v.text("METRICS_TOKEN").map(SecretString::from);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().len() < MIN_METRICS_TOKEN_LEN)
        {
            return Err(ConfigError(format!(
                "METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LEN} characters"
            )));
        }

        let (admin_sso, password_login) = admin_sso::from_vars(&v)?;

        Ok(Settings {
            app_env,
            database_url,
            db_pool_size: v.number("DB_POOL_SIZE", 10, 1..=500)?,
            bind_addr: v.text("BIND_ADDR").unwrap_or("127.0.0.1:8080").to_owned(),
            public_url,
            data_dir,
            encryption_key: keys.encryption_key,
            previous_encryption_keys: keys.previous_encryption_keys,
            session_key: keys.session_key,
            session_idle_timeout: v.duration("SESSION_IDLE_TIMEOUT_MINUTES", MINUTE, 30, 1..=1440)?,
            session_max_age: v.duration("SESSION_MAX_AGE_HOURS", HOUR, 12, 1..=720)?,
            log_format,
            provider_credentials: provider_credentials(vars),
            slack_signing_secret: v.text("SLACK_SIGNING_SECRET").map(SecretString::from),
            providers_file: v.text("PROVIDERS_FILE").map(PathBuf::from),
            trust_forwarded_for: v.on("TRUST_FORWARDED_FOR"),
            trusted_proxy_hops: v.number("TRUSTED_PROXY_HOPS", 1, 1..=10)?,
            metrics_token,
            metrics_bind_addr: v.text("METRICS_BIND_ADDR").map(str::to_owned),
            provider_timeout: v.duration("PROVIDER_TIMEOUT_SECS", SECOND, 10, 1..=120)?,
            tls_roots: tls::tls_roots(&v)?,
            otel: otel::from_vars(&v)?,
            worker: WorkerSettings::from_vars(&v)?,
            webhook_max_body_bytes: v.number(
                "WEBHOOK_MAX_BODY_BYTES",
                1024 * 1024,
                1024..=64 * 1024 * 1024,
            )?,
            webhook_rate_limit_per_minute: v.number("WEBHOOK_RATE_LIMIT_PER_MINUTE", 3000, 1..=10_000_000)?,
            api_rate_limit_per_minute: v.number("API_RATE_LIMIT_PER_MINUTE", 600, 1..=1_000_000)?,
            startup_warnings: keys.generated.into_iter().collect(),
            setup_token: v.text("SETUP_TOKEN").map(SecretString::from),
            admin_sso,
            password_login,
            migrate_on_start: v.not_off("MIGRATE_ON_START"),
        })
    }

    pub fn is_production(&self) -> bool {
        self.app_env == AppEnv::Production
    }

    /// The operator's OAuth client for a provider, when both id and secret are set.
    pub fn client_credentials(&self, env_prefix: &str) -> Option<&ClientCredentials> {
        self.provider_credentials.get(env_prefix)
    }
}

impl WorkerSettings {
    fn from_vars(v: &Vars<'_>) -> Result<WorkerSettings, ConfigError> {
        Ok(WorkerSettings {
            enabled: v.not_off("WORKER_ENABLED"),
            tick: v.duration("WORKER_TICK_SECS", SECOND, 5, 1..=3600)?,
            refresh_window: v.duration("REFRESH_WINDOW_MINUTES", MINUTE, 10, 1..=1440)?,
            batch_size: v.number("WORKER_BATCH_SIZE", 100, 1..=10_000)?,
            provider_concurrency: v.number("PROVIDER_CONCURRENCY", 4, 1..=256)?,
            lease: v.duration("WORKER_LEASE_SECS", SECOND, 60, 1..=3600)?,
            retention_days: v.number("SYNC_LOG_RETENTION_DAYS", 90, 1..=3650)?,
            audit_retention_days: Some(v.number("AUDIT_RETENTION_DAYS", 400, 0..=36_500)?)
                .filter(|days| *days > 0),
            payload_retention_days: v.number("WEBHOOK_PAYLOAD_RETENTION_DAYS", 7, 1..=3650)?,
            validation_interval: v.duration("TOKEN_VALIDATION_HOURS", HOUR, 6, 1..=720)?,
            breaker_threshold: v.number("BREAKER_THRESHOLD", 5, 1..=1000)?,
            breaker_cooldown: v.duration("BREAKER_COOLDOWN_SECS", SECOND, 60, 1..=3600)?,
            directory_page_interval: v.duration(
                "DIRECTORY_PAGE_INTERVAL_MS",
                Duration::from_millis(1),
                3000,
                0..=60_000,
            )?,
            directory_retention_days: v.number("DIRECTORY_RETENTION_DAYS", 90, 1..=3650)?,
        })
    }
}

fn parse_public_url(url: &str) -> Result<String, ConfigError> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| ConfigError("PUBLIC_URL must start with http:// or https://".into()))?;
    if rest.is_empty() || rest.contains(['?', '#', '@', ' ']) {
        return Err(ConfigError(
            "PUBLIC_URL must be scheme://host[:port][/path]".into(),
        ));
    }
    Ok(url.to_owned())
}

/// `<PREFIX>_CLIENT_ID` + `<PREFIX>_CLIENT_SECRET` pairs; a provider with only one of the
/// two is not configured.
fn provider_credentials(vars: &HashMap<String, String>) -> BTreeMap<String, ClientCredentials> {
    vars.iter()
        .filter_map(|(name, id)| {
            let prefix = name.strip_suffix("_CLIENT_ID")?;
            let secret = vars.get(&format!("{prefix}_CLIENT_SECRET"))?.trim();
            let id = id.trim();
            (!id.is_empty() && !secret.is_empty()).then(|| {
                (
                    prefix.to_owned(),
                    ClientCredentials {
                        client_id: id.to_owned(),
                        client_secret: SecretString::from(secret),
                    },
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn local_defaults_generate_private_keys_once() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let env = vars(&[("DATA_DIR", data.to_str().unwrap())]);
        let first = Settings::from_vars(&env).unwrap();
        assert_eq!(first.bind_addr, "127.0.0.1:8080");
        assert_eq!(
            first.database_url,
            DatabaseUrl::Sqlite(data.join("targetym.sqlite3"))
        );
        assert_eq!(first.startup_warnings.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(data.join(secrets::LOCAL_ENCRYPTION_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Settings::from_vars(&env).unwrap();
        assert!(second.startup_warnings.is_empty());
        assert_eq!(first.encryption_key.id_hex(), second.encryption_key.id_hex());
    }

    #[test]
    fn production_names_each_missing_variable() {
        let key = "ab".repeat(32);
        let session = "cd".repeat(64);
        let full = [
            ("APP_ENV", "production"),
            ("PUBLIC_URL", "https://hub.example.com"),
            ("INTEGRATION_ENCRYPTION_KEY", key.as_str()),
            ("SESSION_KEY", session.as_str()),
        ];
        assert!(Settings::from_vars(&vars(&full)).is_ok());
        for missing in ["PUBLIC_URL", "INTEGRATION_ENCRYPTION_KEY", "SESSION_KEY"] {
            let partial: Vec<_> = full.iter().copied().filter(|(k, _)| *k != missing).collect();
            let err = Settings::from_vars(&vars(&partial)).unwrap_err().to_string();
            assert!(err.contains(missing), "{err}");
        }
        let mut http = full;
        http[1] = ("PUBLIC_URL", "http://hub.example.com");
        assert!(
            Settings::from_vars(&vars(&http))
                .unwrap_err()
                .to_string()
                .contains("https")
        );
    }

    #[test]
    fn secrets_come_from_name_file_never_both() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("signing");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let base = [
            ("DATA_DIR", dir.path().to_str().unwrap()),
            ("SLACK_SIGNING_SECRET_FILE", file.to_str().unwrap()),
        ];
        let settings = Settings::from_vars(&vars(&base)).unwrap();
        let secret = settings.slack_signing_secret.unwrap();
        assert_eq!(secret.expose_secret(), "from-the-file");
        let mut both = base.to_vec();
        both.push(("SLACK_SIGNING_SECRET", "inline"));
        let err = Settings::from_vars(&vars(&both)).unwrap_err().to_string();
        assert!(err.contains("not both"), "{err}");
        // A variable that is no secret is not read from a file (PROVIDERS_FILE is a path).
        let other = [
            ("DATA_DIR", base[0].1),
            ("BIND_ADDR_FILE", file.to_str().unwrap()),
        ];
        assert_eq!(
            Settings::from_vars(&vars(&other)).unwrap().bind_addr,
            "127.0.0.1:8080"
        );
    }

    #[test]
    fn database_urls_are_shown_without_passwords() {
        let shown = DatabaseUrl::parse("postgres://u:pw1@h:5432/db?password=pw2&sslmode=require")
            .unwrap()
            .redacted();
        assert_eq!(
            shown,
            "postgres://u:REDACTED@h:5432/db?password=REDACTED&sslmode=require"
        );
        let plain = DatabaseUrl::parse("postgres://u@h/db").unwrap().redacted();
        assert_eq!(plain, "postgres://u@h/db");
    }

    #[test]
    fn provider_credentials_need_both_halves() {
        let dir = tempfile::tempdir().unwrap();
        let env = vars(&[
            ("DATA_DIR", dir.path().to_str().unwrap()),
            ("SLACK_CLIENT_ID", "123.456"),
            ("SLACK_CLIENT_SECRET", "s3cret"),
            ("GOOGLE_CLIENT_ID", "only-an-id"),
        ]);
        let settings = Settings::from_vars(&env).unwrap();
        assert_eq!(settings.client_credentials("SLACK").unwrap().client_id, "123.456");
        assert!(settings.client_credentials("GOOGLE").is_none());
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
