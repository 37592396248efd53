//! Reading the environment: each variable named once, parsed once into its final type, with
//! its default and range, and an error that names it. Every secret variable may instead name a
//! file in `<NAME>_FILE` (Docker and Kubernetes secrets).

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use super::ConfigError;

/// The variables, trimmed; an empty value counts as unset.
pub(super) struct Vars<'a>(pub &'a HashMap<String, String>);

impl<'a> Vars<'a> {
    pub fn text(&self, name: &str) -> Option<&'a str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A number within `range`, `default` when unset.
    pub fn number<T>(&self, name: &str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(value) = self.text(name) else {
            return Ok(default);
        };
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

    /// A duration given in `unit`s (the variable's name says which: `_SECS`, `_MINUTES`, ...).
    pub fn duration(
        &self,
        name: &str,
        unit: Duration,
        default: u32,
        range: RangeInclusive<u32>,
    ) -> Result<Duration, ConfigError> {
        Ok(unit * self.number(name, default, range)?)
    }

    /// On for 1/true/yes, off otherwise (or when unset).
    pub fn on(&self, name: &str) -> bool {
        matches!(self.text(name), Some("1" | "true" | "yes"))
    }

    /// Off for 0/false/no/off, on otherwise (or when unset).
    pub fn not_off(&self, name: &str) -> bool {
        !matches!(self.text(name), Some("0" | "false" | "no" | "off"))
    }
}

/// The variables that hold secrets (and `<PROVIDER>_CLIENT_SECRET`): each can be read from the
/// file `<NAME>_FILE` names.
const SECRETS: [&str; 9] = [
    "DATABASE_URL",
    "INTEGRATION_ENCRYPTION_KEY",
    "INTEGRATION_ENCRYPTION_PREVIOUS_KEYS",
    "SESSION_KEY",
    "SETUP_TOKEN",
    "METRICS_TOKEN",
    "SLACK_SIGNING_SECRET",
    "ADMIN_OIDC_CLIENT_SECRET",
    "OTEL_EXPORTER_OTLP_HEADERS",
];

fn is_secret(name: &str) -> bool {
    SECRETS.contains(&name) || name.ends_with("_CLIENT_SECRET")
}

/// The variables with each `<SECRET>_FILE` read into `<SECRET>`; both set is an error.
pub(super) fn with_secret_files(
    vars: &HashMap<String, String>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut resolved = vars.clone();
    for (name, path) in vars {
        let Some(secret) = name.strip_suffix("_FILE").filter(|s| is_secret(s)) else {
            continue;
        };
        if path.trim().is_empty() {
            continue;
        }
        if vars.get(secret).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ConfigError(format!("set {secret} or {name}, not both")));
        }
        resolved.insert(secret.to_owned(), read_secret_file(name, path.trim())?);
    }
    Ok(resolved)
}

/// A secret variable named at run time (a providers file's `client_secret_env`), from the
/// environment or the file its `_FILE` variable names.
pub fn secret_from_env(name: &str) -> Result<Option<String>, ConfigError> {
    let file_var = format!("{name}_FILE");
    let vars: HashMap<String, String> = [name, file_var.as_str()]
        .into_iter()
        .filter_map(|n| Some((n.to_owned(), std::env::var(n).ok()?)))
        .collect();
    let file = vars.get(&file_var).map(|p| p.trim()).filter(|p| !p.is_empty());
    match (Vars(&vars).text(name), file) {
        (Some(_), Some(_)) => Err(ConfigError(format!("set {name} or {file_var}, not both"))),
        (Some(value), None) => Ok(Some(value.to_owned())),
        (None, Some(path)) => read_secret_file(&file_var, path).map(Some),
        (None, None) => Ok(None),
    }
}

/// A secret file's content without its trailing newline; never quoted in an error.
fn read_secret_file(name: &str, path: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{name}: cannot read {path}: {}", e.kind())))?;
    let value = text.strip_suffix('\n').unwrap_or(&text);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.trim().is_empty() {
        return Err(ConfigError(format!("{name}: the file {path} is empty")));
    }
    Ok(value.to_owned())
}

pub(super) const SECOND: Duration = Duration::from_secs(1);
pub(super) const MINUTE: Duration = Duration::from_secs(60);
pub(super) const HOUR: Duration = Duration::from_secs(3600);
