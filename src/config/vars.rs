//! Reading the environment: each variable named once, parsed once into its final type, with
//! its default and range, and an error that names it.

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

pub(super) const SECOND: Duration = Duration::from_secs(1);
pub(super) const MINUTE: Duration = Duration::from_secs(60);
pub(super) const HOUR: Duration = Duration::from_secs(3600);
