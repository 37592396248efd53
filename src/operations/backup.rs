//! `backup` and `restore`: SQLite through `db::backup`; on PostgreSQL, what to run instead.

use std::path::Path;

use super::NotApplicable;
use crate::config::{DatabaseUrl, Settings};

/// Writes a checked copy of the SQLite database to the new file `file` (mode 0600). On
/// PostgreSQL nothing is written: the error gives the `pg_dump` command (without the password).
pub fn backup(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    match &settings.database_url {
        DatabaseUrl::Sqlite(db) => {
            crate::db::backup::backup(db, file)?;
            println!(
                "backup of {} written to {} (mode 0600) and checked; the encryption and session keys are not in it: keep them too",
                db.display(),
                file.display()
            );
            Ok(())
        }
        DatabaseUrl::Postgres(_) => Err(NotApplicable(format!(
            "DATABASE_URL is PostgreSQL: back it up with pg_dump instead, e.g.\n  pg_dump --format=custom --file={} '{}'\n(the password is left out of the URL: give it in PGPASSWORD or ~/.pgpass)",
            file.display(),
            settings.database_url.without_password()
        ))
        .into()),
    }
}

/// Replaces the SQLite database with the backup `file`, after checking it; refused while an
/// instance (or any command) has the database open.
pub fn restore(settings: &Settings, file: &Path) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(db) = &settings.database_url else {
        return Err(NotApplicable(
            "restore is for SQLite; on PostgreSQL restore a pg_dump with pg_restore (see the README)".into(),
        )
        .into());
    };
    crate::db::backup::restore(db, file)?;
    println!(
        "restored {} into {} (mode 0600); start the app with the keys of the backup's time, and run `keys check`",
        file.display(),
        db.display()
    );
    Ok(())
}
