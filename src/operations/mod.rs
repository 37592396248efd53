//! What operators run besides `serve`: backups and restores, the health check, the
//! configuration check, and the exit codes every command ends with (documented in the README).

mod audit_verify;
mod backup;
mod config_check;
mod health;
mod keys;

pub use audit_verify::{audit_export, audit_verify};
pub use backup::{backup, restore};
pub use config_check::config_check;
pub use health::{healthcheck, healthcheck_command, readyz_url};
pub use keys::{check_keys, rotate_keys};

use crate::config::ConfigError;
use crate::context::ContextError;
use crate::db::DbError;
use crate::providers::file::ProvidersFileError;

/// Exit codes (sysexits.h where one fits).
pub const EXIT_FAILURE: u8 = 1;
/// A command that does not apply: clap's own usage errors, `backup`/`restore` on PostgreSQL.
pub const EXIT_USAGE: u8 = 2;
/// EX_UNAVAILABLE: the database cannot be opened or reached.
pub const EXIT_UNAVAILABLE: u8 = 69;
/// EX_TEMPFAIL: the schema is older than this binary and MIGRATE_ON_START=false.
pub const EXIT_MIGRATION_NEEDED: u8 = 75;
/// EX_CONFIG: the environment or the providers file is invalid.
pub const EXIT_CONFIG: u8 = 78;

/// The command cannot do this here (e.g. `backup` on PostgreSQL); the message says what to
/// do instead.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotApplicable(pub String);

/// The exit code a command's error ends the process with.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<ConfigError>() || cause.is::<ProvidersFileError>() {
            return EXIT_CONFIG;
        }
        if cause.is::<NotApplicable>() {
            return EXIT_USAGE;
        }
        match cause.downcast_ref::<ContextError>() {
            Some(ContextError::ProvidersFile(_)) => return EXIT_CONFIG,
            Some(ContextError::Unreachable(_)) => return EXIT_UNAVAILABLE,
            Some(ContextError::MigrationNeeded(_)) => return EXIT_MIGRATION_NEEDED,
            Some(ContextError::Db(DbError::Pool(_))) => return EXIT_UNAVAILABLE,
            Some(ContextError::Db(_)) | None => {}
        }
        if let Some(DbError::Pool(_)) = cause.downcast_ref::<DbError>() {
            return EXIT_UNAVAILABLE;
        }
    }
    EXIT_FAILURE
}
