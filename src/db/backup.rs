//! SQLite backups and restores. A backup is `VACUUM INTO` a new private file: one read
//! transaction, so it is a consistent snapshot taken while the app writes (a copy of the file
//! would miss what the write-ahead log holds). A restore checks the file, then replaces the
//! database atomically, and only while no process has it open (the instance lock).

use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use super::files;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists already; choose a new file name (a backup never overwrites)")]
    TargetExists(PathBuf),
    #[error("there is no database at {0}")]
    NoDatabase(PathBuf),
    #[error("{0} is not a SQLite database")]
    NotSqlite(PathBuf),
    #[error("{0} is not a Targetym Integrations database (it has no migrations table)")]
    NotOurs(PathBuf),
    #[error("{path} failed the integrity check: {problems}")]
    Corrupt { path: PathBuf, problems: String },
    #[error(
        "the database {0} is open in a running instance or command: stop it (every instance using this file) and run restore again"
    )]
    InUse(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Sqlite { path: PathBuf, message: String },
}

/// Copies the database at `db` into the new file `target` (mode 0600), then checks the copy.
pub fn backup(db: &Path, target: &Path) -> Result<(), BackupError> {
    if !db.is_file() {
        return Err(BackupError::NoDatabase(db.to_path_buf()));
    }
    let file = files::create_private(target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::TargetExists(target.to_path_buf()),
        _ => io(target)(e),
    })?;
    drop(file);
    // Like any process reading the database, so that a restore waits for the backup.
    let _lock = files::shared_lock(db);
    let written = vacuum_into(db, target).and_then(|()| {
        check(target)?;
        std::fs::File::open(target)
            .and_then(|f| f.sync_all())
            .and_then(|()| files::sync_dir(target))
            .map_err(io(target))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(target);
    }
    written
}

fn vacuum_into(db: &Path, target: &Path) -> Result<(), BackupError> {
    let mut conn = open(db)?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;")
        .map_err(sqlite(db))?;
    // The target is the empty file made above (VACUUM INTO accepts one), so it keeps its mode.
    diesel::sql_query("VACUUM INTO ?")
        .bind::<Text, _>(target.to_string_lossy())
        .execute(&mut conn)
        .map_err(sqlite(db))?;
    Ok(())
}

/// Replaces the database at `db` with the checked copy of `source` (mode 0600): written next
/// to it, flushed, and renamed over it; the old write-ahead log files are removed first.
/// Refused while any process has the database open.
pub fn restore(db: &Path, source: &Path) -> Result<(), BackupError> {
    let mut header = [0u8; 16];
    let read = std::fs::File::open(source).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut header));
    match read {
        Ok(()) if &header == b"SQLite format 3\0" => {}
        Ok(()) => return Err(BackupError::NotSqlite(source.to_path_buf())),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(BackupError::NotSqlite(source.to_path_buf()));
        }
        Err(e) => return Err(io(source)(e)),
    }
    if let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) {
        files::private_dir(dir).map_err(io(dir))?;
    }
    let _lock = files::exclusive_lock(db)
        .map_err(io(&files::lock_file(db)))?
        .ok_or_else(|| BackupError::InUse(db.to_path_buf()))?;
    let temp = temp_beside(db);
    let copied = copy_checked(source, &temp);
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    for stale in files::sidecars(db) {
        match std::fs::remove_file(&stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&stale)(e)),
        }
    }
    std::fs::rename(&temp, db).map_err(io(db))?;
    files::sync_dir(db).map_err(io(db))
}

/// Copies `source` to the new private file `temp`, flushes it, and checks the copy.
fn copy_checked(source: &Path, temp: &Path) -> Result<(), BackupError> {
    let mut out = files::create_private(temp).map_err(io(temp))?;
    let mut input = std::fs::File::open(source).map_err(io(source))?;
    std::io::copy(&mut input, &mut out).map_err(io(temp))?;
    out.sync_all().map_err(io(temp))?;
    drop(out);
    check(temp).map_err(|e| match e {
        // Name the file the operator gave, not the temporary copy.
        BackupError::Corrupt { problems, .. } => BackupError::Corrupt {
            path: source.to_path_buf(),
            problems,
        },
        BackupError::NotOurs(_) => BackupError::NotOurs(source.to_path_buf()),
        other => other,
    })
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// `PRAGMA integrity_check` answers "ok", and the file has our migrations table.
pub fn check(path: &Path) -> Result<(), BackupError> {
    let mut conn = open(path)?;
    let rows = diesel::sql_query("PRAGMA integrity_check")
        .load::<IntegrityCheck>(&mut conn)
        .map_err(|e| BackupError::Corrupt {
            path: path.to_path_buf(),
            problems: e.to_string(),
        })?;
    let problems: Vec<String> = rows
        .into_iter()
        .map(|r| r.integrity_check)
        .filter(|r| r != "ok")
        .collect();
    if !problems.is_empty() {
        return Err(BackupError::Corrupt {
            path: path.to_path_buf(),
            problems: problems.join("; "),
        });
    }
    let tables = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '__diesel_schema_migrations'",
    )
    .get_result::<Count>(&mut conn)
    .map_err(sqlite(path))?;
    if tables.n == 0 {
        return Err(BackupError::NotOurs(path.to_path_buf()));
    }
    Ok(())
}

fn open(path: &Path) -> Result<SqliteConnection, BackupError> {
    SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| BackupError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// A new name in the database's folder (a rename within one file system is atomic).
fn temp_beside(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(format!(".restore-{}", crate::crypto::random_token(6)));
    PathBuf::from(name)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sqlite(path: &Path) -> impl Fn(diesel::result::Error) -> BackupError + '_ {
    move |e| BackupError::Sqlite {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
