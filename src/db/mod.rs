//! The database: one connection type over SQLite and PostgreSQL, the pool, migrations, and one
//! module per table group. Everything here blocks; async callers go through [`Db::run`].

pub mod admin_sessions;
pub mod api_tokens;
pub mod audit;
pub mod backup;
pub mod catalogue;
pub mod consents;
pub mod credentials;
pub mod directory;
pub mod directory_changes;
pub mod directory_passes;
pub mod directory_targets;
pub mod event_sink;
pub mod files;
pub mod gauges;
pub mod integrations;
pub mod invitations;
mod native;
pub mod oauth_states;
pub mod orgs;
pub mod people;
pub mod schema;
pub mod sealed;
pub mod sync_logs;
mod types;
mod watch;
pub mod webhooks;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use crate::config::DatabaseUrl;
pub use crate::domain::now;
pub use watch::refuses_writes;
use watch::{Outage, OutageLog, Watch};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Key of the PostgreSQL advisory lock that serialises migrations across instances.
const MIGRATION_LOCK_KEY: i64 = 0x7461_7267_6574_796d; // "targetym"

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("database migrations failed: {0}")]
    Migration(String),
    #[error("cannot open the database: {0}")]
    Open(String),
    #[error("database task was cancelled")]
    Cancelled,
    /// A write done elsewhere (the webhook writer) failed with this.
    #[error("database write failed: {0}")]
    WriteFailed(String),
}

impl DbError {
    /// True when the row asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, DbError::Query(diesel::result::Error::NotFound))
    }

    /// True when a unique constraint refused the write.
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }

    /// True when the database refused a write it would take once it has room again (a full
    /// disk, a read-only file): the caller answers "unavailable", not "internal error".
    pub fn is_write_refused(&self) -> bool {
        match self {
            DbError::Query(diesel::result::Error::DatabaseError(_, info)) => refuses_writes(info.message()),
            DbError::WriteFailed(message) => refuses_writes(message),
            _ => false,
        }
    }
}

/// Opens connections of the backend the URL names, so a failure reports the real cause
/// (the derived `establish` would try both backends and hide it).
pub struct ConnectionManager {
    url: DatabaseUrl,
    queries: Arc<AtomicU64>,
    outage: Arc<Outage>,
    refusals: Arc<Outage>,
    /// Connections of this pool now open.
    live: Arc<AtomicUsize>,
    read_only: Arc<AtomicBool>,
}

impl ManageConnection for ConnectionManager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        let conn = self.open()?;
        if let Some(failures) = self.outage.recovered(std::time::Instant::now(), Duration::ZERO) {
            tracing::warn!(failures, "the database answers again");
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    /// As diesel's own manager: a connection that panicked mid-use, lost its server, or was
    /// left in a broken transaction does not go back to the pool.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        std::thread::panicking() || diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

impl ConnectionManager {
    fn watch(&self) -> Watch {
        Watch::new(
            self.queries.clone(),
            self.refusals.clone(),
            self.live.clone(),
            self.read_only.clone(),
        )
    }

    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.url {
            DatabaseUrl::Postgres(url) => {
                let mut conn = PgConnection::establish(url).map_err(r2d2::Error::ConnectionError)?;
                conn.set_instrumentation(self.watch());
                Ok(DbConnection::Postgresql(conn))
            }
            DatabaseUrl::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())
                    .map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(r2d2::Error::QueryError)?;
                conn.set_instrumentation(self.watch());
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

pub type DbPool = Pool<ConnectionManager>;

/// The pool plus a way to run blocking diesel work off the async threads.
#[derive(Clone)]
pub struct Db {
    pool: Arc<RwLock<Generation>>,
    shared: Arc<Shared>,
}

/// What every pool of a `Db` shares.
struct Shared {
    url: DatabaseUrl,
    max_size: u32,
    queries: Arc<AtomicU64>,
    /// Units of work handed to the blocking pool (`run`), since start.
    trips: AtomicU64,
    outage: Arc<Outage>,
    refusals: Arc<Outage>,
    /// A write was refused because SQLite opened the file read-only; and when it last looked
    /// whether the files can be written again.
    read_only: Arc<AtomicBool>,
    read_only_checked: Mutex<Option<std::time::Instant>>,
    /// SQLite: the shared instance lock, held while the pool lives (see `files`).
    _instance_lock: Option<std::fs::File>,
}

/// One pool and how many of its connections are open.
struct Generation {
    pool: DbPool,
    live: Arc<AtomicUsize>,
}

impl Shared {
    /// A new pool; `check` opens a first connection (and fails if it cannot).
    fn generation(&self, check: bool) -> Result<Generation, DbError> {
        let live = Arc::new(AtomicUsize::new(0));
        // A PostgreSQL connection can go stale behind the pool's back (a server restart): it
        // is tested before it is lent. A SQLite one is a file handle, and a test per unit of
        // work would be a statement more per page.
        let builder = Pool::builder()
            .max_size(self.max_size)
            .test_on_check_out(self.url.is_postgres())
            .connection_timeout(Duration::from_secs(10))
            .error_handler(Box::new(OutageLog(self.outage.clone())));
        let manager = ConnectionManager {
            url: self.url.clone(),
            queries: self.queries.clone(),
            outage: self.outage.clone(),
            refusals: self.refusals.clone(),
            live: live.clone(),
            read_only: self.read_only.clone(),
        };
        let pool = if check {
            builder.build(manager)?
        } else {
            builder.min_idle(Some(0)).build_unchecked(manager)
        };
        Ok(Generation { pool, live })
    }
}

impl Db {
    /// Opens the pool (creating the SQLite file's folder and switching it to WAL first).
    pub fn connect(url: &DatabaseUrl, max_size: u32) -> Result<Db, DbError> {
        let instance_lock = match url {
            DatabaseUrl::Sqlite(path) => files::prepare_sqlite_file(path)?,
            DatabaseUrl::Postgres(_) => None,
        };
        let shared = Shared {
            url: url.clone(),
            max_size,
            queries: Arc::default(),
            trips: AtomicU64::new(0),
            outage: Arc::default(),
            refusals: Arc::default(),
            read_only: Arc::default(),
            read_only_checked: Mutex::default(),
            _instance_lock: instance_lock,
        };
        Ok(Db {
            pool: Arc::new(RwLock::new(shared.generation(true)?)),
            shared: Arc::new(shared),
        })
    }

    /// The pool to take a connection from. After SQLite opened the file read-only, once a
    /// second it looks whether the files can be written again; if so, every connection is
    /// closed before a new one opens (SQLite shares a process's view of the write-ahead log
    /// among its connections, read-only as long as one that opened it so is open), and
    /// writes come back without a restart. Blocking: called on the blocking pool.
    fn current_pool(&self) -> DbPool {
        if self.shared.read_only.load(Ordering::Relaxed) {
            self.reopen_if_writable();
        }
        self.pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .pool
            .clone()
    }

    fn reopen_if_writable(&self) {
        let DatabaseUrl::Sqlite(path) = &self.shared.url else {
            return;
        };
        {
            let mut checked = self
                .shared
                .read_only_checked
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if checked.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return;
            }
            *checked = Some(std::time::Instant::now());
        }
        if !sqlite_files_writable(path) {
            return;
        }
        let Ok(fresh) = self.shared.generation(false) else {
            return;
        };
        // Held while the old connections close: nobody opens a new one meanwhile.
        let mut current = self.pool.write().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *current, fresh);
        self.shared.read_only.store(false, Ordering::Relaxed);
        let live = old.live.clone();
        drop(old);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while live.load(Ordering::Relaxed) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        tracing::warn!("the database files are writable again; connections reopened");
    }

    pub fn is_postgres(&self) -> bool {
        self.shared.url.is_postgres()
    }

    /// Runs `work` with a pooled connection on the blocking thread pool.
    pub async fn run<T, F>(&self, work: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        self.shared.trips.fetch_add(1, Ordering::Relaxed);
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.current_pool().get()?;
            work(&mut conn)
        })
        .await
        .map_err(|_| DbError::Cancelled)?
    }

    /// The database answers a trivial query.
    pub async fn ping(&self) -> Result<(), DbError> {
        self.run(|conn| Ok(conn.batch_execute("SELECT 1")?)).await
    }
}

/// The database file, and its write-ahead log files where they exist, may be written.
fn sqlite_files_writable(path: &Path) -> bool {
    let mut files = vec![path.to_path_buf()];
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        files.push(name.into());
    }
    files.iter().enumerate().all(|(n, file)| {
        (n > 0 && !file.exists()) || std::fs::OpenOptions::new().write(true).open(file).is_ok()
    })
}

/// Applies pending migrations, then hashes the audit events a migration moved into their
/// chains; on PostgreSQL under an advisory lock so that several instances starting together
/// do it once. Returns how many migrations were applied.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    let migration_error = |e: Box<dyn std::error::Error + Send + Sync>| DbError::Migration(e.to_string());
    let migrate = |conn: &mut DbConnection| {
        let applied = match conn {
            DbConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS).map(|a| a.len()),
            DbConnection::Postgresql(conn) => {
                conn.run_pending_migrations(POSTGRES_MIGRATIONS).map(|a| a.len())
            }
        }
        .map_err(migration_error)?;
        audit::seal_migrated(conn)?;
        Ok(applied)
    };
    if matches!(conn, DbConnection::Sqlite(_)) {
        return migrate(conn);
    }
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")).execute(conn)?;
    let result = migrate(conn);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")).execute(conn)?;
    result
}

/// How many of this binary's migrations the database has not applied.
pub fn pending_migrations(conn: &mut DbConnection) -> Result<usize, DbError> {
    let pending = match conn {
        DbConnection::Sqlite(conn) => conn.pending_migrations(SQLITE_MIGRATIONS).map(|m| m.len()),
        DbConnection::Postgresql(conn) => conn.pending_migrations(POSTGRES_MIGRATIONS).map(|m| m.len()),
    };
    pending.map_err(|e| DbError::Migration(e.to_string()))
}

/// Runs `work` in a transaction (a savepoint when one is already open). On SQLite the
/// outermost one starts with `BEGIN IMMEDIATE`: a deferred transaction that read first cannot
/// take the write lock once another connection has committed meanwhile, and fails at once
/// with "database is locked" whatever the busy timeout; immediate, it waits for the lock like
/// any writer.
pub fn transaction<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>,
) -> Result<T, DbError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(work);
    };
    let outermost =
        <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(
            sqlite,
        )
        .transaction_depth()?
        .is_none();
    if !outermost {
        return conn.transaction(work);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    let result = work(conn);
    let DbConnection::Sqlite(sqlite) = conn else {
        unreachable!("the backend of a connection does not change");
    };
    match result {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(sqlite)?;
            Ok(value)
        }
        Err(e) => {
            AnsiTransactionManager::rollback_transaction(sqlite)?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DatabaseUrl;
    use std::path::PathBuf;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/app.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("data/app.db"))
        );
        assert_eq!(
            DatabaseUrl::parse("./data/app.db").unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("./data/app.db"))
        );
        assert!(DatabaseUrl::parse("postgres://u@h/db").unwrap().is_postgres());
        for bad in ["", "  ", "sqlite://", ":memory:", "mysql://x"] {
            assert!(DatabaseUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// .cargo/config.toml builds SQLite with its query planner stability guarantee: without
    /// it every cached statement with a LIMIT is prepared again at each use.
    #[test]
    fn sqlite_keeps_its_prepared_statements() {
        use diesel::prelude::*;
        let mut conn = diesel::SqliteConnection::establish(":memory:").unwrap();
        let qpsg: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "(SELECT count(*) FROM pragma_compile_options WHERE compile_options = 'ENABLE_QPSG')",
        ))
        .get_result(&mut conn)
        .unwrap();
        assert_eq!(qpsg, 1, "SQLite built without SQLITE_ENABLE_QPSG");
    }
}
