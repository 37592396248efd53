//! HR admin accounts: first-run setup, operator-created admins, sign-in; `sessions` keeps
//! signed-in sessions on the server.

mod sessions;
pub mod sso;
mod team;

use secrecy::{ExposeSecret, SecretString};

use crate::config::Settings;
use crate::crypto::passwords;
use crate::db::orgs::{self, CreateAdminError, NewAdmin};
use crate::db::{Db, DbError};
use crate::domain::{Email, OrgId, OrgName, Role, UserId};
pub use sessions::{
    AdminPage, SessionPolicy, SessionView, end_other_sessions, end_own_session, end_session, list_sessions,
    open_session, purge_sessions, with_session_admin,
};
pub use team::{
    INVITATION_VALID_HOURS, InvitationView, NewInvitation, Organization, PendingInvitation, Team, TeamMember,
    UNUSABLE_INVITATION, accept_invitation, find_invitation, find_organization, invite, parse_external_id,
    remove_admin, revoke_invitation, set_external_id, team,
};

/// A signed-in (or just authenticated) admin and their organization.
#[derive(Debug, Clone)]
pub struct Admin {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub email: String,
    pub org_name: String,
    /// The client address of the request being served (the web layer sets it).
    pub source: Option<String>,
}

impl Admin {
    /// This admin as the actor of an audit event.
    pub fn actor(&self) -> crate::domain::Actor {
        crate::domain::Actor {
            name: self.email.clone(),
            user_id: Some(self.user_id),
            source: self.source.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Bad input, as a sentence for the form.
    #[error("{0}")]
    Invalid(String),
    #[error("setup has already been completed")]
    SetupAlreadyDone,
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The organization exists and joining it was not asked for: its admins' emails.
    #[error("an organization with this name exists")]
    OrgExists(Vec<String>),
    #[error("no admin has this email")]
    UnknownAdmin,
    #[error("no organization has this name")]
    UnknownOrganization,
    /// An invitation link that was used, revoked or expired.
    #[error("this invitation is not valid any more")]
    InvitationUnusable,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<CreateAdminError> for AccountError {
    fn from(e: CreateAdminError) -> Self {
        match e {
            CreateAdminError::SetupAlreadyDone => AccountError::SetupAlreadyDone,
            CreateAdminError::EmailTaken => AccountError::EmailTaken,
            CreateAdminError::OrgExists(admins) => AccountError::OrgExists(admins),
            CreateAdminError::Db(e) => AccountError::Db(e),
        }
    }
}

/// A new admin's validated details.
pub struct NewAdminInput {
    pub org_name: OrgName,
    pub email: Email,
    password: SecretString,
}

impl NewAdminInput {
    pub fn parse(org_name: &str, email: &str, password: SecretString) -> Result<Self, AccountError> {
        let org_name = OrgName::parse(org_name).map_err(AccountError::Invalid)?;
        let email = Email::parse(email).map_err(AccountError::Invalid)?;
        passwords::check_new_password(&password).map_err(AccountError::Invalid)?;
        Ok(NewAdminInput {
            org_name,
            email,
            password,
        })
    }
}

pub async fn setup_completed(db: &Db) -> Result<bool, DbError> {
    db.run(orgs::setup_completed).await
}

/// First-run setup: creates the organization and its first admin, once for good.
pub async fn complete_setup(db: &Db, input: NewAdminInput) -> Result<Admin, AccountError> {
    let hash = hash_off_thread(input.password).await?;
    let (org_id, user_id) = (OrgId::new(), UserId::new());
    let (org_name, email) = (
        input.org_name.as_str().to_owned(),
        input.email.as_str().to_owned(),
    );
    let admin = Admin {
        user_id,
        org_id,
        email: email.clone(),
        org_name: org_name.clone(),
        source: None,
    };
    db.run(move |conn| {
        let new = NewAdmin {
            user_id,
            email: &email,
            password_hash: &hash,
            role: Role::Admin,
        };
        Ok(orgs::create_first_org(conn, org_id, &org_name, &new))
    })
    .await??;
    Ok(admin)
}

/// Operator path (`admin create`): adds an admin to the named organization, creating it if
/// needed; an existing organization only with `join` (a typo in a name must not hand someone
/// else's organization a new admin). Returns the organization's id.
pub async fn create_admin(db: &Db, input: NewAdminInput, join: bool) -> Result<OrgId, AccountError> {
    let hash = hash_off_thread(input.password).await?;
    let user_id = UserId::new();
    let (org_name, email) = (
        input.org_name.as_str().to_owned(),
        input.email.as_str().to_owned(),
    );
    let org_id = db
        .run(move |conn| {
            let new = NewAdmin {
                user_id,
                email: &email,
                password_hash: &hash,
                role: Role::Admin,
            };
            Ok(orgs::create_admin_in_org(
                conn,
                OrgId::new(),
                &org_name,
                join,
                &new,
            ))
        })
        .await??;
    Ok(org_id)
}

/// Checks an email and password. `None` for any mismatch (unknown account or wrong
/// password alike, in the same time).
pub async fn authenticate(db: &Db, email: &str, password: SecretString) -> Result<Option<Admin>, DbError> {
    let email = Email::parse(email).ok();
    let user = match &email {
        Some(email) => {
            let email = email.as_str().to_owned();
            db.run(move |conn| orgs::find_user_by_email(conn, &email)).await?
        }
        None => None,
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified =
        tokio::task::spawn_blocking(move || passwords::verify_password(&password, stored.as_deref()))
            .await
            .map_err(|_| DbError::Cancelled)?;
    let Some(user) = user.filter(|_| verified) else {
        return Ok(None);
    };
    let (user_id, org_id) = (user.id, user.org_id);
    let found = db
        .run(move |conn| {
            match orgs::record_login(conn, user_id) {
                // The time of a sign-in is not worth refusing it: while the database takes no
                // writes (a full disk), admins still sign in and read.
                Err(e) if !e.is_write_refused() => return Err(e),
                _ => {}
            }
            orgs::find_user_with_org(conn, user_id, org_id)
        })
        .await?;
    Ok(found.and_then(|(user, org)| admin_from_rows(user, org)))
}

fn admin_from_rows(user: orgs::UserRow, org: orgs::OrgRow) -> Option<Admin> {
    Some(Admin {
        user_id: user.id,
        org_id: org.id,
        email: user.email,
        org_name: org.name,
        source: None,
    })
}

/// The token web setup asks for, in production only (locally setup stays one step):
/// SETUP_TOKEN, or one derived from the session key, so every instance that shares the key
/// asks for the same one. It opens nothing once setup is done.
pub fn setup_token(settings: &Settings) -> Option<SecretString> {
    if !settings.is_production() {
        return None;
    }
    let token = settings.setup_token.clone().unwrap_or_else(|| {
        let mac =
            crate::crypto::hmac_sha256(settings.session_key.expose_secret(), b"targetym first-run setup");
        SecretString::from(hex::encode(&mac[..20]))
    });
    Some(token)
}

/// Whether `given` is the setup token (compared in constant time).
pub fn setup_token_matches(expected: &SecretString, given: &str) -> bool {
    use subtle::ConstantTimeEq;
    let (expected, given) = (expected.expose_secret().as_bytes(), given.trim().as_bytes());
    !given.is_empty() && bool::from(expected.ct_eq(given))
}

/// Changes the admin's password and ends every other session of theirs (a password changed
/// because it leaked must not leave the leak signed in); returns how many sessions ended.
/// The current password is required: a wrong one, or a new one the rules refuse, is
/// `Invalid` with a sentence for the form, and nothing changes.
pub async fn change_password(
    db: &Db,
    admin: &Admin,
    current_session: &str,
    current: SecretString,
    new: SecretString,
) -> Result<usize, AccountError> {
    let email = admin.email.clone();
    let user = db
        .run(move |conn| orgs::find_user_by_email(conn, &email))
        .await?
        .filter(|u| u.id == admin.user_id)
        .ok_or_else(|| AccountError::Invalid("This account no longer exists.".into()))?;
    let stored = user.password_hash.clone();
    let verified = tokio::task::spawn_blocking(move || passwords::verify_password(&current, Some(&stored)))
        .await
        .map_err(|_| AccountError::Db(DbError::Cancelled))?;
    if !verified {
        return Err(AccountError::Invalid("The current password is incorrect.".into()));
    }
    passwords::check_new_password(&new).map_err(AccountError::Invalid)?;
    let hash = hash_off_thread(new).await?;
    let keep = crate::crypto::sha256_hex(current_session.as_bytes());
    let (user_id, org_id, email, actor) = (user.id, admin.org_id, admin.email.clone(), admin.actor());
    let ended = db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                orgs::set_password_hash(conn, user_id, &hash)?;
                let ended =
                    crate::db::admin_sessions::end_others(conn, user_id, &keep, crate::domain::now())?;
                let message = format!("{email} changed their password; {ended} other session(s) signed out");
                log_account_action(conn, org_id, Some(&actor), &message)?;
                Ok(ended)
            })
        })
        .await?;
    Ok(ended)
}

/// One admin of an organization, as `admin list` shows them.
pub struct AdminListing {
    pub email: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_login_at: Option<chrono::NaiveDateTime>,
}

/// The admins of the organization named `org_name` (`None`: no such organization).
pub async fn list_admins(db: &Db, org_name: &str) -> Result<Option<Vec<AdminListing>>, DbError> {
    let name = org_name.trim().to_owned();
    db.run(move |conn| {
        let Some(org) = orgs::find_org_by_name(conn, &name)? else {
            return Ok(None);
        };
        Ok(Some(
            orgs::admins_of(conn, org.id)?
                .into_iter()
                .map(|u| AdminListing {
                    email: u.email,
                    created_at: u.created_at,
                    last_login_at: u.last_login_at,
                })
                .collect(),
        ))
    })
    .await
}

/// Operator path (`admin reset-password`): sets a new password for the admin with this email
/// and ends all their sessions; returns how many ended.
pub async fn reset_password(db: &Db, email: &str, password: SecretString) -> Result<usize, AccountError> {
    let email = Email::parse(email).map_err(AccountError::Invalid)?;
    passwords::check_new_password(&password).map_err(AccountError::Invalid)?;
    let hash = hash_off_thread(password).await?;
    let email = email.as_str().to_owned();
    let ended = db
        .run(move |conn| {
            crate::db::transaction(conn, |conn| {
                let Some(user) = orgs::find_user_by_email(conn, &email)? else {
                    return Ok(None);
                };
                orgs::set_password_hash(conn, user.id, &hash)?;
                let ended = crate::db::admin_sessions::end_all(conn, user.id, crate::domain::now())?;
                let message = format!(
                    "The operator reset the password of {}; {ended} session(s) signed out",
                    user.email
                );
                log_account_action(conn, user.org_id, None, &message)?;
                Ok(Some(ended))
            })
        })
        .await?;
    ended.ok_or(AccountError::UnknownAdmin)
}

pub(super) async fn hash_off_thread(password: SecretString) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || passwords::hash_password(&password))
        .await
        .map_err(|_| AccountError::Db(DbError::Cancelled))
}

/// An organization by its name (operators name organizations in the CLI).
pub async fn find_org_by_name(db: &Db, name: &str) -> Result<Option<OrgId>, DbError> {
    let name = name.trim().to_owned();
    let id = db.run(move |conn| orgs::find_org_id_by_name(conn, &name)).await?;
    Ok(id.as_deref().and_then(OrgId::parse))
}

/// The provider column of account entries in the audit log (they concern no provider).
const ACCOUNT_LOG: &str = "account";

/// Writes an account action to the organization's audit trail: what happened to whom, by whom
/// and from where (`None`: the operator, from the command line).
pub(super) fn log_account_action(
    conn: &mut crate::db::DbConnection,
    org_id: OrgId,
    actor: Option<&crate::domain::Actor>,
    message: &str,
) -> Result<(), DbError> {
    use crate::db::audit::{self, NewAuditEvent};
    use crate::domain::{Actor, AuditKind};
    let system = Actor::system();
    let actor = actor.unwrap_or(&system);
    audit::append(
        conn,
        &NewAuditEvent {
            provider_slug: ACCOUNT_LOG,
            ..NewAuditEvent::new(org_id, AuditKind::Account, actor, message)
        },
    )
    .map(drop)
}
