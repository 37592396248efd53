//! Signed-in sessions on the server. The browser holds a random session id (in the encrypted
//! cookie); the row, keyed by its hash, says whether it is open. Sign-out ends the row, so a
//! copy of the cookie opens nothing afterwards, on any instance. Idle and absolute timeouts are
//! judged from the row's times, not from the cookie's.

use std::time::Duration;

use chrono::NaiveDateTime;

use super::{Admin, log_account_action};
use crate::crypto::{random_token, sha256_hex};
use crate::db::admin_sessions::{self, SessionRow};
use crate::db::audit::{self, NewAuditEvent};
use crate::db::{Db, DbConnection, DbError};
use crate::domain::{Actor, AuditKind, now, sanitize};

/// `last_seen_at` is written at most this often per session.
const SEEN_RESOLUTION: chrono::Duration = chrono::Duration::seconds(60);

/// How long a session lives: without a request (idle), and at most (absolute).
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub max_age: Duration,
}

impl SessionPolicy {
    /// SESSION_IDLE_TIMEOUT_MINUTES and SESSION_MAX_AGE_HOURS.
    pub fn of(settings: &crate::config::Settings) -> SessionPolicy {
        SessionPolicy {
            idle: settings.session_idle_timeout,
            max_age: settings.session_max_age,
        }
    }

    fn expired(&self, created_at: NaiveDateTime, last_seen_at: NaiveDateTime, at: NaiveDateTime) -> bool {
        let span = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        at - last_seen_at > span(self.idle) || at - created_at > span(self.max_age)
    }
}

/// Opens a session for the admin; returns its id, for the cookie.
pub async fn open_session(
    db: &Db,
    admin: &Admin,
    ip_address: Option<String>,
    user_agent: Option<String>,
) -> Result<String, DbError> {
    let id = random_token(32);
    let at = now();
    let row = SessionRow {
        id: sha256_hex(id.as_bytes()),
        user_id: admin.user_id,
        org_id: admin.org_id,
        created_at: at,
        last_seen_at: at,
        ip_address: ip_address.map(|ip| sanitize(&ip, 64)),
        user_agent: user_agent.map(|ua| sanitize(&ua, 512)),
        ended_at: None,
    };
    let actor = Actor {
        source: row.ip_address.clone(),
        ..admin.actor()
    };
    db.run(move |conn| {
        crate::db::transaction(conn, |conn| {
            admin_sessions::insert(conn, &row)?;
            audit::append(
                conn,
                &NewAuditEvent::new(row.org_id, AuditKind::Session, &actor, "Signed in"),
            )
            .map(drop)
        })
    })
    .await?;
    Ok(id)
}

/// The admin of an open, unexpired session (the session is marked seen), then `page` for
/// that admin, in one trip to the database: a page that loads its data this way costs one
/// hand-off to the database thread, not two. `None` when the session is not open (and
/// `page` does not run).
pub async fn with_session_admin<T: Send + 'static>(
    db: &Db,
    session_id: &str,
    policy: SessionPolicy,
    page: impl AdminPage<T>,
) -> Result<Option<(Admin, T)>, DbError> {
    let key = sha256_hex(session_id.as_bytes());
    db.run(move |conn| {
        let Some(admin) = open_session_admin(conn, &key, policy)? else {
            return Ok(None);
        };
        let loaded = page(conn, &admin)?;
        Ok(Some((admin, loaded)))
    })
    .await
}

/// A page's reads for its signed-in admin, on the connection that checked the session.
pub trait AdminPage<T>: FnOnce(&mut DbConnection, &Admin) -> Result<T, DbError> + Send + 'static {}

impl<T, F> AdminPage<T> for F where F: FnOnce(&mut DbConnection, &Admin) -> Result<T, DbError> + Send + 'static
{}

fn open_session_admin(
    conn: &mut DbConnection,
    key: &str,
    policy: SessionPolicy,
) -> Result<Option<Admin>, DbError> {
    let Some(open) = admin_sessions::find_open(conn, key)? else {
        return Ok(None);
    };
    let at = now();
    if policy.expired(open.created_at, open.last_seen_at, at) {
        admin_sessions::end(conn, key, at)?;
        return Ok(None);
    }
    if at - open.last_seen_at >= SEEN_RESOLUTION {
        match admin_sessions::touch(conn, key, at) {
            // The time of a request is not worth refusing it: while the database takes no
            // writes (a full disk), admins still read.
            Err(e) if !e.is_write_refused() => return Err(e),
            _ => {}
        }
    }
    Ok(Some(Admin {
        user_id: open.user_id,
        org_id: open.org_id,
        email: open.email,
        org_name: open.org_name,
        source: None,
    }))
}

/// Ends a session (sign-out) asked from `source`; a session already ended stays so.
pub async fn end_session(db: &Db, session_id: &str, source: Option<String>) -> Result<(), DbError> {
    let key = sha256_hex(session_id.as_bytes());
    db.run(move |conn| {
        crate::db::transaction(conn, |conn| {
            let Some(open) = admin_sessions::find_open(conn, &key)? else {
                return Ok(());
            };
            admin_sessions::end(conn, &key, now())?;
            let actor = Actor {
                name: open.email,
                user_id: Some(open.user_id),
                source,
            };
            audit::append(
                conn,
                &NewAuditEvent::new(open.org_id, AuditKind::Session, &actor, "Signed out"),
            )
            .map(drop)
        })
    })
    .await
}

/// Deletes sessions that ended or expired, at most `batch`; returns how many.
pub async fn purge_sessions(db: &Db, policy: SessionPolicy, batch: i64) -> Result<usize, DbError> {
    let at = now();
    let ago = |d: Duration| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| at.checked_sub_signed(d))
            .unwrap_or(NaiveDateTime::MIN)
    };
    let (idle_before, created_before) = (ago(policy.idle), ago(policy.max_age));
    db.run(move |conn| admin_sessions::purge(conn, idle_before, created_before, batch))
        .await
}

/// One of an admin's open sessions, as the Account page shows it.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// Names the session in a URL: the row's key (a hash), never the session id itself.
    pub handle: String,
    /// The session of the request that asked.
    pub current: bool,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// The admin's open, unexpired sessions, the most recently seen first.
pub async fn list_sessions(
    db: &Db,
    admin: &Admin,
    current_session: &str,
    policy: SessionPolicy,
) -> Result<Vec<SessionView>, DbError> {
    let (user, current) = (admin.user_id, sha256_hex(current_session.as_bytes()));
    let rows = db
        .run(move |conn| admin_sessions::list_open_for_user(conn, user))
        .await?;
    let at = now();
    Ok(rows
        .into_iter()
        .filter(|row| !policy.expired(row.created_at, row.last_seen_at, at))
        .map(|row| SessionView {
            current: row.id == current,
            handle: row.id,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            ip_address: row.ip_address,
            user_agent: row.user_agent,
        })
        .collect())
}

/// Ends one of the admin's own sessions by its handle; `false` when there is no such open
/// session of theirs.
pub async fn end_own_session(db: &Db, admin: &Admin, handle: &str) -> Result<bool, DbError> {
    let (user, org, handle, actor) = (admin.user_id, admin.org_id, handle.to_owned(), admin.actor());
    let message = format!("{} signed out one of their sessions", admin.email);
    db.run(move |conn| {
        crate::db::transaction(conn, |conn| {
            let ended = admin_sessions::end_for_user(conn, user, &handle, now())?;
            if ended {
                log_account_action(conn, org, Some(&actor), &message)?;
            }
            Ok(ended)
        })
    })
    .await
}

/// Ends every other session of the admin ("sign out everywhere else"); returns how many.
pub async fn end_other_sessions(db: &Db, admin: &Admin, current_session: &str) -> Result<usize, DbError> {
    let (user, org, keep) = (
        admin.user_id,
        admin.org_id,
        sha256_hex(current_session.as_bytes()),
    );
    let (email, actor) = (admin.email.clone(), admin.actor());
    db.run(move |conn| {
        crate::db::transaction(conn, |conn| {
            let ended = admin_sessions::end_others(conn, user, &keep, now())?;
            let message = format!("{email} signed out everywhere else ({ended} session(s))");
            log_account_action(conn, org, Some(&actor), &message)?;
            Ok(ended)
        })
    })
    .await
}
