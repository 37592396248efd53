//! An organization's admins: who they are, invitations by one-time link, removal (never of
//! the last admin; a removed admin's sessions end at once), and the organization's external
//! id. Every change is an account entry in the audit log, written in the same transaction.

use chrono::NaiveDateTime;
use secrecy::SecretString;

use super::{AccountError, Admin, hash_off_thread, log_account_action};
use crate::crypto::{passwords, random_token, sha256_hex};
use crate::db::invitations::{self, InvitationRow};
use crate::db::orgs::{self, NewAdmin};
use crate::db::{Db, DbConnection, DbError, admin_sessions, transaction};
use crate::domain::{Email, InvitationId, OrgId, Role, UserId, now};

/// How long an invitation link can be used.
pub const INVITATION_VALID_HOURS: i64 = 72;

/// Why an invitation link opens nothing (the same words whatever the reason).
pub const UNUSABLE_INVITATION: &str = "This invitation link is not valid any more: it was used, revoked or is older than 72 hours. Ask an admin for a new one.";

/// One admin, as the Team page lists them.
pub struct TeamMember {
    pub user_id: UserId,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub last_login_at: Option<NaiveDateTime>,
    /// The admin looking at the page.
    pub is_you: bool,
}

/// An invitation not yet accepted, revoked or expired.
pub struct PendingInvitation {
    pub id: InvitationId,
    pub email: String,
    pub invited_by: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

/// What the Team page shows.
pub struct Team {
    pub org_name: String,
    pub external_id: Option<String>,
    pub admins: Vec<TeamMember>,
    pub invitations: Vec<PendingInvitation>,
}

/// The organization's admins and pending invitations, in one trip to the database.
pub async fn team(db: &Db, admin: &Admin) -> Result<Team, DbError> {
    let (org_id, me) = (admin.org_id, admin.user_id);
    db.run(move |conn| {
        let org = orgs::find_org(conn, org_id)?.ok_or(DbError::Query(diesel::result::Error::NotFound))?;
        let admins = orgs::admins_of(conn, org_id)?
            .into_iter()
            .map(|u| TeamMember {
                is_you: u.id == me,
                user_id: u.id,
                email: u.email,
                created_at: u.created_at,
                last_login_at: u.last_login_at,
            })
            .collect();
        let invitations = invitations::list_pending(conn, org_id, now())?
            .into_iter()
            .map(|(row, invited_by)| PendingInvitation {
                id: row.id,
                email: row.email,
                invited_by,
                created_at: row.created_at,
                expires_at: row.expires_at,
            })
            .collect();
        Ok(Team {
            org_name: org.name,
            external_id: org.external_id,
            admins,
            invitations,
        })
    })
    .await
}

/// A new invitation: the token of its link is shown once and kept only as a hash.
pub struct NewInvitation {
    pub email: String,
    pub token: SecretString,
    pub expires_at: NaiveDateTime,
}

/// Invites `email` to become an admin of the admin's organization. An email that already has
/// an account is refused (one that was removed from this organization can be invited back);
/// an earlier pending invitation of the same email is revoked.
pub async fn invite(db: &Db, admin: &Admin, email: &str) -> Result<NewInvitation, AccountError> {
    let email = Email::parse(email).map_err(AccountError::Invalid)?;
    let token = random_token(32);
    let at = now();
    let row = InvitationRow {
        id: InvitationId::new(),
        org_id: admin.org_id,
        email: email.as_str().to_owned(),
        token_hash: sha256_hex(token.as_bytes()),
        invited_by: Some(admin.user_id),
        created_at: at,
        expires_at: at + chrono::Duration::hours(INVITATION_VALID_HOURS),
        accepted_at: None,
        revoked_at: None,
    };
    let (expires_at, invited) = (row.expires_at, row.email.clone());
    let message = format!(
        "{} invited {} to become an admin (link valid {INVITATION_VALID_HOURS} h)",
        admin.email, row.email
    );
    let actor = admin.actor();
    db.run(move |conn| {
        transaction(conn, |conn| {
            if let Some(user) = orgs::find_any_user_by_email(conn, &row.email)? {
                let returning = user.removed_at.is_some() && user.org_id == row.org_id;
                if !returning {
                    return Ok(Err(AccountError::EmailTaken));
                }
            }
            invitations::revoke_for_email(conn, row.org_id, &row.email, at)?;
            invitations::insert(conn, &row)?;
            log_account_action(conn, row.org_id, Some(&actor), &message)?;
            Ok(Ok(()))
        })
    })
    .await??;
    Ok(NewInvitation {
        email: invited,
        token: SecretString::from(token),
        expires_at,
    })
}

/// Revokes a pending invitation of the admin's organization; `false` when there is none
/// (another organization's id included).
pub async fn revoke_invitation(db: &Db, admin: &Admin, id: InvitationId) -> Result<bool, DbError> {
    let (org_id, actor, by) = (admin.org_id, admin.actor(), admin.email.clone());
    db.run(move |conn| {
        transaction(conn, |conn| {
            let Some(email) = invitations::revoke(conn, org_id, id, now())? else {
                return Ok(false);
            };
            log_account_action(
                conn,
                org_id,
                Some(&actor),
                &format!("{by} revoked the invitation of {email}"),
            )?;
            Ok(true)
        })
    })
    .await
}

/// What an invitation link shows before it is used.
pub struct InvitationView {
    pub email: String,
    pub org_name: String,
    pub expires_at: NaiveDateTime,
}

/// The invitation a link's token names, while it can be used.
pub async fn find_invitation(db: &Db, token: &str) -> Result<Option<InvitationView>, DbError> {
    let hash = sha256_hex(token.as_bytes());
    db.run(move |conn| {
        let Some(row) = invitations::find_usable(conn, &hash, now())? else {
            return Ok(None);
        };
        let org = orgs::find_org(conn, row.org_id)?.ok_or(DbError::Query(diesel::result::Error::NotFound))?;
        Ok(Some(InvitationView {
            email: row.email,
            org_name: org.name,
            expires_at: row.expires_at,
        }))
    })
    .await
}

/// Uses an invitation: the invitee becomes an admin with this password, and the link opens
/// nothing afterwards. `InvitationUnusable` for a link that was used, revoked or expired.
pub async fn accept_invitation(db: &Db, token: &str, password: SecretString) -> Result<Admin, AccountError> {
    passwords::check_new_password(&password).map_err(AccountError::Invalid)?;
    let hash = hash_off_thread(password).await?;
    let token_hash = sha256_hex(token.as_bytes());
    db.run(move |conn| transaction(conn, |conn| accept_in(conn, &token_hash, &hash)))
        .await?
}

fn accept_in(
    conn: &mut DbConnection,
    token_hash: &str,
    password_hash: &str,
) -> Result<Result<Admin, AccountError>, DbError> {
    let at = now();
    let Some(invitation) = invitations::find_usable(conn, token_hash, at)? else {
        return Ok(Err(AccountError::InvitationUnusable));
    };
    let org =
        orgs::find_org(conn, invitation.org_id)?.ok_or(DbError::Query(diesel::result::Error::NotFound))?;
    let user_id = match orgs::find_any_user_by_email(conn, &invitation.email)? {
        None => {
            let user_id = UserId::new();
            let new = NewAdmin {
                user_id,
                email: &invitation.email,
                password_hash,
                role: Role::Admin,
            };
            orgs::add_admin(conn, org.id, &new)?;
            user_id
        }
        Some(user) if user.removed_at.is_some() && user.org_id == org.id => {
            orgs::restore_admin(conn, user.id, password_hash)?;
            user.id
        }
        Some(_) => return Ok(Err(AccountError::EmailTaken)),
    };
    if !invitations::accept(conn, invitation.id, at)? {
        return Ok(Err(AccountError::InvitationUnusable));
    }
    let inviter = match invitation.invited_by {
        Some(by) => orgs::find_user_email(conn, by)?,
        None => None,
    };
    let message = format!(
        "{} accepted the invitation{} and joined the admins",
        invitation.email,
        inviter.map(|by| format!(" from {by}")).unwrap_or_default()
    );
    let actor = crate::db::audit::admin_actor(conn, user_id, None)?;
    log_account_action(conn, org.id, Some(&actor), &message)?;
    Ok(Ok(Admin {
        user_id,
        org_id: org.id,
        email: invitation.email,
        org_name: org.name,
        source: None,
    }))
}

/// Removes another admin of the organization: they can no longer sign in and every session
/// of theirs ends at once. Never oneself, never the last admin. Returns how many sessions
/// ended; `UnknownAdmin` when the organization has no such admin.
pub async fn remove_admin(db: &Db, admin: &Admin, user_id: UserId) -> Result<usize, AccountError> {
    if user_id == admin.user_id {
        return Err(AccountError::Invalid(
            "You cannot remove yourself; another admin can.".into(),
        ));
    }
    let (org_id, actor, by) = (admin.org_id, admin.actor(), admin.email.clone());
    db.run(move |conn| {
        transaction(conn, |conn| {
            let admins = orgs::count_admins_locked(conn, org_id)?;
            let Some(email) = orgs::find_admin_email(conn, org_id, user_id)? else {
                return Ok(Err(AccountError::UnknownAdmin));
            };
            if admins < 2 {
                return Ok(Err(AccountError::Invalid(
                    "An organization keeps at least one admin.".into(),
                )));
            }
            let at = now();
            if !orgs::remove_admin(conn, org_id, user_id, at)? {
                return Ok(Err(AccountError::UnknownAdmin));
            }
            let ended = admin_sessions::end_all(conn, user_id, at)?;
            let message = format!("{by} removed {email} from the admins; {ended} session(s) signed out");
            log_account_action(conn, org_id, Some(&actor), &message)?;
            Ok(Ok(ended))
        })
    })
    .await?
}

/// The platform's id of an organization: 1 to 128 letters, digits and `.`, `_`, `-`, `:`.
pub fn parse_external_id(text: &str) -> Result<String, AccountError> {
    let text = text.trim();
    let valid = !text.is_empty()
        && text.len() <= 128
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if valid {
        Ok(text.to_owned())
    } else {
        Err(AccountError::Invalid(
            "An external id is 1 to 128 letters, digits, '.', '_', '-' or ':'.".into(),
        ))
    }
}

/// Operator path (`org set-external-id`): sets or clears the external id of the organization
/// named `org_name`. Another organization's id is refused.
pub async fn set_external_id(db: &Db, org_name: &str, external_id: Option<&str>) -> Result<(), AccountError> {
    let external_id = external_id.map(parse_external_id).transpose()?;
    let name = org_name.trim().to_owned();
    db.run(move |conn| {
        transaction(conn, |conn| {
            let Some(org) = orgs::find_org_by_name(conn, &name)? else {
                return Ok(Err(AccountError::UnknownOrganization));
            };
            if let Some(id) = &external_id
                && orgs::find_org_by_external_id(conn, id)?.is_some_and(|other| other.id != org.id)
            {
                return Ok(Err(AccountError::Invalid(
                    "Another organization has this external id.".into(),
                )));
            }
            orgs::set_external_id(conn, org.id, external_id.as_deref())?;
            let message = match &external_id {
                Some(id) => format!("The operator set the organization's external id to {id}"),
                None => "The operator cleared the organization's external id".to_owned(),
            };
            log_account_action(conn, org.id, None, &message)?;
            Ok(Ok(()))
        })
    })
    .await?
}

/// An organization as the internal API shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Organization {
    pub id: OrgId,
    pub name: String,
    pub external_id: Option<String>,
}

/// The organization `key` names, by our id or the platform's external id.
pub async fn find_organization(db: &Db, key: &str) -> Result<Option<Organization>, DbError> {
    let key = key.to_owned();
    db.run(move |conn| {
        let row = match OrgId::parse(&key) {
            Some(id) => orgs::find_org(conn, id)?,
            None => orgs::find_org_by_external_id(conn, &key)?,
        };
        Ok(row.map(|org| Organization {
            id: org.id,
            name: org.name,
            external_id: org.external_id,
        }))
    })
    .await
}
