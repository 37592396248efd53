//! Queries run on the backend's own connection.
//!
//! diesel's `MultiConnection` wraps each query and writes its whole SQL text at every run,
//! twice (to check that it may be cached, and again while collecting its binds): a fifth of a
//! page's CPU in a profile. On the connection inside, a prepared statement is found by its
//! query's type and only the binds are walked. The pages' and the webhook path's queries go
//! this way; the rest keeps the shared form.

/// `native!(conn => query.load(conn))`: runs the expression with `conn` rebound to the
/// backend's connection (the expression is built once per backend).
macro_rules! native {
    ($conn:ident => $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Sqlite($conn) => $body,
            $crate::db::DbConnection::Postgresql($conn) => $body,
        }
    };
}
pub(crate) use native;
