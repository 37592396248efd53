//! The SQLite files on disk: created private (0600, their folder 0700), switched to WAL, and
//! the instance lock. Every process that opens the database holds a shared lock on
//! `<database>.lock` for as long as it has it open; `restore` needs it exclusively, so it
//! cannot replace the file under a running instance or command.

use std::fs::File;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

use super::DbError;

/// The database's write-ahead log and shared-memory files (SQLite gives them the database
/// file's mode).
pub fn sidecars(path: &Path) -> [PathBuf; 2] {
    ["-wal", "-shm"].map(|suffix| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    })
}

/// The file whose lock says who has the database open.
pub fn lock_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Creates the folder (0700) and the database file (0600) when missing, takes away the group's
/// and others' access an older version left on the files, switches to WAL, and takes the
/// shared instance lock (held as long as the returned file is open).
pub(super) fn prepare_sqlite_file(path: &Path) -> Result<Option<File>, DbError> {
    let open_error = |e: &dyn std::fmt::Display| DbError::Open(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir)
            .map_err(|e| DbError::Open(format!("cannot create the folder {}: {e}", dir.display())))?;
    }
    if !path.exists() {
        create_private(path).map_err(|e| open_error(&e))?;
    }
    for file in std::iter::once(path.to_path_buf()).chain(sidecars(path)) {
        keep_private(&file);
    }
    let lock = shared_lock(path);
    // WAL is a property of the file: set it once, before the pool opens connections in
    // parallel (setting it per connection races to "database is locked").
    let mut conn = SqliteConnection::establish(&path.to_string_lossy()).map_err(|e| open_error(&e))?;
    conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    Ok(lock)
}

/// The shared instance lock. A lock file that cannot be made (a read-only folder) is opened
/// read-only, which locks as well; without one at all, the instance serves unlocked.
pub(super) fn shared_lock(path: &Path) -> Option<File> {
    let lock_path = lock_file(path);
    let file = open_lock_file(&lock_path).or_else(|_| File::open(&lock_path));
    match file.and_then(|file| file.lock_shared().map(|()| file)) {
        Ok(file) => Some(file),
        Err(e) => {
            tracing::warn!(file = %lock_path.display(), error = %e, "cannot take the instance lock; restore will not see this instance");
            None
        }
    }
}

/// The instance lock alone, or `None` when another process has the database open.
pub fn exclusive_lock(path: &Path) -> std::io::Result<Option<File>> {
    let file = open_lock_file(&lock_file(path))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

fn open_lock_file(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    private_mode(&mut options);
    options.open(path)
}

/// A new, empty file only its owner may read: fails if the path exists.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    private_mode(&mut options);
    options.open(path)
}

/// Flushes a folder's entries (a rename or a new file in it) to disk.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => File::open(dir)?.sync_all(),
        None => File::open(".")?.sync_all(),
    }
}

#[cfg(unix)]
fn private_mode(options: &mut std::fs::OpenOptions) {
    use std::os::unix::fs::OpenOptionsExt;
    options.mode(0o600);
}

#[cfg(not(unix))]
fn private_mode(_: &mut std::fs::OpenOptions) {}

#[cfg(unix)]
pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
pub(super) fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Takes the group's and others' bits off a file that has them (only its owner's stay).
#[cfg(unix)]
fn keep_private(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(file)
        && meta.permissions().mode() & 0o077 != 0
    {
        let mode = meta.permissions().mode() & 0o700;
        if let Err(e) = std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!(file = %file.display(), error = %e, "cannot make the database file private");
        }
    }
}

#[cfg(not(unix))]
fn keep_private(_: &Path) {}
