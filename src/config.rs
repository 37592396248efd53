//! Typed settings from the environment (and a `.env` file), with safe local defaults and
//! strict rules in production.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretBox, SecretString};

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
    pub encryption_key: SecretString,
    pub previous_encryption_keys: Vec<SecretString>,
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
    pub worker: WorkerSettings,
    /// Webhook bodies larger than this are refused (413) without being read.
    pub webhook_max_body_bytes: usize,
    /// Deliveries per minute per webhook before 429 (set on new webhooks).
    pub webhook_rate_limit_per_minute: i32,
    /// Internal API calls per minute per service token (per instance) before 429.
    pub api_rate_limit_per_minute: u32,
    /// Said once tracing is up (e.g. "generated a local encryption key").
    pub startup_warnings: Vec<String>,
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
    /// Tokens without an expiry are checked with the identity call this often.
    pub validation_interval: Duration,
    /// Consecutive failures that open a provider's circuit breaker, and how long it stays open.
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// A guessable metrics token would be no gate.
const MIN_METRICS_TOKEN_LEN: usize = 16;
const LOCAL_ENCRYPTION_KEY_FILE: &str = "integration-encryption.key";
const LOCAL_SESSION_KEY_FILE: &str = "session.key";

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
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
        let app_env = match get("APP_ENV").unwrap_or("local") {
            "local" | "development" | "test" => AppEnv::Local,
            "production" => AppEnv::Production,
            other => {
                return Err(ConfigError(format!(
                    "APP_ENV must be local or production (got {other:?})"
                )));
            }
        };
        let production = app_env == AppEnv::Production;
        let missing =
            |name: &str, what: &str| ConfigError(format!("APP_ENV=production requires {name} ({what})"));

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or("data"));
        let database_url = match get("DATABASE_URL") {
            Some(url) => DatabaseUrl::parse(url).map_err(ConfigError)?,
            None => DatabaseUrl::Sqlite(data_dir.join("targetym.sqlite3")),
        };

        let public_url = match get("PUBLIC_URL") {
            Some(url) => Some(parse_public_url(url)?),
            None if production => {
                return Err(missing("PUBLIC_URL", "the https address browsers use"));
            }
            None => None,
        };
        if production && !public_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
            return Err(ConfigError(
                "APP_ENV=production requires PUBLIC_URL to be an https:// address".into(),
            ));
        }

        let mut startup_warnings = Vec::new();
        let encryption_key = match get("INTEGRATION_ENCRYPTION_KEY") {
            Some(key) => SecretString::from(key),
            None if production => {
                return Err(missing("INTEGRATION_ENCRYPTION_KEY", "64 hexadecimal characters"));
            }
            None => {
                let (key, created) = local_secret(&data_dir, LOCAL_ENCRYPTION_KEY_FILE, 32)?;
                if created {
                    startup_warnings.push(format!(
                        "INTEGRATION_ENCRYPTION_KEY is not set: generated a local key in {}; set the variable in production",
                        data_dir.join(LOCAL_ENCRYPTION_KEY_FILE).display()
                    ));
                }
                key
            }
        };
        crate::crypto::EncryptionKey::from_hex(encryption_key.expose_secret())
            .map_err(|e| ConfigError(format!("INTEGRATION_ENCRYPTION_KEY {e}")))?;
        let previous_encryption_keys = get("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS")
            .map(|keys| {
                keys.split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(|k| {
                        crate::crypto::EncryptionKey::from_hex(k)
                            .map(|_| SecretString::from(k))
                            .map_err(|e| {
                                ConfigError(format!("INTEGRATION_ENCRYPTION_PREVIOUS_KEYS: each key {e}"))
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();

        let session_key_hex = match get("SESSION_KEY") {
            Some(key) => SecretString::from(key),
            None if production => return Err(missing("SESSION_KEY", "128 hexadecimal characters")),
            None => local_secret(&data_dir, LOCAL_SESSION_KEY_FILE, 64)?.0,
        };
        let session_key = hex::decode(session_key_hex.expose_secret())
            .ok()
            .filter(|k| k.len() == 64)
            .map(|k| SecretBox::new(Box::new(k)))
            .ok_or_else(|| ConfigError("SESSION_KEY must be 128 hexadecimal characters (64 bytes)".into()))?;

        let log_format = match get("LOG_FORMAT") {
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

        let metrics_token = get("METRICS_TOKEN").map(SecretString::from);
        if metrics_token
            .as_ref()
            .is_some_and(|t| t.expose_secret().len() < MIN_METRICS_TOKEN_LEN)
        {
            return Err(ConfigError(format!(
                "METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_LEN} characters"
            )));
        }

        Ok(Settings {
            app_env,
            database_url,
            db_pool_size: parse_number(get("DB_POOL_SIZE"), "DB_POOL_SIZE", 10, 1..=500)?,
            bind_addr: get("BIND_ADDR").unwrap_or("127.0.0.1:8080").to_owned(),
            public_url,
            data_dir,
            encryption_key,
            previous_encryption_keys,
            session_key,
            session_idle_timeout: Duration::from_secs(
                60 * parse_number(
                    get("SESSION_IDLE_TIMEOUT_MINUTES"),
                    "SESSION_IDLE_TIMEOUT_MINUTES",
                    30,
                    1..=1440,
                )?,
            ),
            session_max_age: Duration::from_secs(
                3600 * parse_number(get("SESSION_MAX_AGE_HOURS"), "SESSION_MAX_AGE_HOURS", 12, 1..=720)?,
            ),
            log_format,
            provider_credentials: provider_credentials(vars),
            slack_signing_secret: get("SLACK_SIGNING_SECRET").map(SecretString::from),
            providers_file: get("PROVIDERS_FILE").map(PathBuf::from),
            trust_forwarded_for: matches!(get("TRUST_FORWARDED_FOR"), Some("1" | "true" | "yes")),
            trusted_proxy_hops: parse_number(get("TRUSTED_PROXY_HOPS"), "TRUSTED_PROXY_HOPS", 1, 1..=10)?,
            metrics_token,
            metrics_bind_addr: get("METRICS_BIND_ADDR").map(str::to_owned),
            provider_timeout: Duration::from_secs(parse_number(
                get("PROVIDER_TIMEOUT_SECS"),
                "PROVIDER_TIMEOUT_SECS",
                10,
                1..=120,
            )?),
            worker: WorkerSettings {
                enabled: !matches!(get("WORKER_ENABLED"), Some("0" | "false" | "no" | "off")),
                tick: Duration::from_secs(parse_number(
                    get("WORKER_TICK_SECS"),
                    "WORKER_TICK_SECS",
                    5,
                    1..=3600,
                )?),
                refresh_window: Duration::from_secs(
                    60 * parse_number(
                        get("REFRESH_WINDOW_MINUTES"),
                        "REFRESH_WINDOW_MINUTES",
                        10,
                        1..=1440,
                    )?,
                ),
                batch_size: parse_number(get("WORKER_BATCH_SIZE"), "WORKER_BATCH_SIZE", 100, 1..=10_000)?,
                provider_concurrency: parse_number(
                    get("PROVIDER_CONCURRENCY"),
                    "PROVIDER_CONCURRENCY",
                    4,
                    1..=256,
                )?,
                lease: Duration::from_secs(parse_number(
                    get("WORKER_LEASE_SECS"),
                    "WORKER_LEASE_SECS",
                    60,
                    1..=3600,
                )?),
                retention_days: parse_number(
                    get("SYNC_LOG_RETENTION_DAYS"),
                    "SYNC_LOG_RETENTION_DAYS",
                    90,
                    1..=3650,
                )?,
                validation_interval: Duration::from_secs(
                    3600 * parse_number(
                        get("TOKEN_VALIDATION_HOURS"),
                        "TOKEN_VALIDATION_HOURS",
                        6,
                        1..=720,
                    )?,
                ),
                breaker_threshold: parse_number(get("BREAKER_THRESHOLD"), "BREAKER_THRESHOLD", 5, 1..=1000)?,
                breaker_cooldown: Duration::from_secs(parse_number(
                    get("BREAKER_COOLDOWN_SECS"),
                    "BREAKER_COOLDOWN_SECS",
                    60,
                    1..=3600,
                )?),
            },
            webhook_max_body_bytes: parse_number(
                get("WEBHOOK_MAX_BODY_BYTES"),
                "WEBHOOK_MAX_BODY_BYTES",
                1024 * 1024,
                1024..=64 * 1024 * 1024,
            )?,
            webhook_rate_limit_per_minute: parse_number(
                get("WEBHOOK_RATE_LIMIT_PER_MINUTE"),
                "WEBHOOK_RATE_LIMIT_PER_MINUTE",
                3000,
                1..=10_000_000,
            )?,
            api_rate_limit_per_minute: parse_number(
                get("API_RATE_LIMIT_PER_MINUTE"),
                "API_RATE_LIMIT_PER_MINUTE",
                600,
                1..=1_000_000,
            )?,
            startup_warnings,
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

fn parse_number<T>(
    value: Option<&str>,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(value) = value else { return Ok(default) };
    value
        .parse::<T>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            ConfigError(format!(
                "{name} must be a number from {} to {}",
                range.start(),
                range.end()
            ))
        })
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

/// Reads a hex secret kept in the data folder, generating it (0600) on first use.
/// Returns the secret and whether it was just created.
fn local_secret(dir: &Path, file: &str, bytes: usize) -> Result<(SecretString, bool), ConfigError> {
    let path = dir.join(file);
    let io_error = |e: std::io::Error| ConfigError(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(existing) => return Ok((SecretString::from(existing.trim()), false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io_error(e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).map_err(io_error)?;
    let secret = hex::encode(crate::crypto::random_bytes(bytes));
    write_private_file(&path, secret.as_bytes()).map_err(io_error)?;
    Ok((SecretString::from(secret), true))
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Where the data lives, decided from DATABASE_URL's scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// `postgres://` / `postgresql://` URLs go to PostgreSQL; `sqlite://path`, `sqlite:path`
    /// and plain paths to SQLite. An empty value is refused rather than silently opening a
    /// temporary database.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.is_empty() {
            return Err("DATABASE_URL is empty".into());
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_owned()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() || path == ":memory:" || path.contains("://") {
            return Err(format!(
                "DATABASE_URL must be postgres://..., sqlite://<file> or a file path (got a {} value)",
                if path == ":memory:" {
                    "in-memory"
                } else {
                    "non-file"
                }
            ));
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, DatabaseUrl::Postgres(_))
    }
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
            let mode = std::fs::metadata(data.join(LOCAL_ENCRYPTION_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let second = Settings::from_vars(&env).unwrap();
        assert!(second.startup_warnings.is_empty());
        assert_eq!(
            first.encryption_key.expose_secret(),
            second.encryption_key.expose_secret()
        );
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
