//! The Team page (the organization's admins, invitations, removal) and the invitation link
//! where an invitee chooses a password and becomes an admin.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Layout, html, see_other, set_flash};
use crate::accounts::{self, AccountError, InvitationView, Team};
use crate::domain::{InvitationId, UserId, format_time};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::ids::IdPath;
use crate::web::session::{self, CurrentAdmin};

/// A just-created invitation, shown once.
struct ShownInvitation {
    email: String,
    link: String,
    mailto: String,
    expires_at: chrono::NaiveDateTime,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    layout: Layout,
    team: Team,
    csrf: String,
    new_invite: Option<ShownInvitation>,
    error: Option<String>,
}

impl TeamPage {
    fn time(&self, at: &chrono::NaiveDateTime) -> String {
        format_time(*at)
    }
}

async fn render(
    state: &WebState,
    admin: &CurrentAdmin,
    status: StatusCode,
    new_invite: Option<ShownInvitation>,
    error: Option<String>,
) -> Result<HttpResponse, WebError> {
    let team = accounts::team(&state.ctx.db, &admin.admin).await?;
    html(
        status,
        TeamPage {
            layout: Layout::signed_in(admin)?,
            team,
            csrf: admin.csrf()?,
            new_invite,
            error,
        },
    )
}

pub async fn show(state: web::Data<WebState>, admin: CurrentAdmin) -> Result<HttpResponse, WebError> {
    render(&state, &admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    email: String,
}

/// Creates an invitation and shows its link once (it is not kept, only its hash), with a
/// `mailto:` that carries it.
pub async fn invite(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, WebError> {
    match accounts::invite(&state.ctx.db, &admin.admin, &form.email).await {
        Ok(invitation) => {
            tracing::info!(user_id = %admin.admin.user_id, "admin invitation created");
            let link = format!(
                "{}/invite/{}",
                state.public_url.trim_end_matches('/'),
                invitation.token.expose_secret()
            );
            let mailto = mailto(&invitation.email, &admin.admin.org_name, &link);
            let shown = ShownInvitation {
                email: invitation.email,
                link,
                mailto,
                expires_at: invitation.expires_at,
            };
            render(&state, &admin, StatusCode::OK, Some(shown), None).await
        }
        Err(AccountError::Invalid(message)) => {
            render(
                &state,
                &admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(message),
            )
            .await
        }
        Err(AccountError::EmailTaken) => {
            let message = "This email already has an account.".to_owned();
            render(&state, &admin, StatusCode::CONFLICT, None, Some(message)).await
        }
        Err(AccountError::Db(e)) => Err(e.into()),
        Err(other) => Err(WebError::Internal(other.to_string())),
    }
}

/// `mailto:` with the invitation in its subject and body (percent-encoded; RFC 6068 wants
/// spaces as %20, not the form encoding's `+`, which the encoder writes as %2B when literal).
fn mailto(to: &str, org_name: &str, link: &str) -> String {
    let subject = format!("You are invited to administer {org_name}'s integrations");
    let body = format!(
        "Hello,\n\nyou are invited to become an admin of {org_name}'s integrations on Targetym.\n\
         Open this link to choose your password (valid {} hours, once):\n\n{link}\n",
        accounts::INVITATION_VALID_HOURS
    );
    let enc = |text: &str| {
        url::form_urlencoded::byte_serialize(text.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!("mailto:{}?subject={}&body={}", enc(to), enc(&subject), enc(&body))
}

pub async fn revoke(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(id): IdPath<InvitationId>,
) -> Result<HttpResponse, WebError> {
    if !accounts::revoke_invitation(&state.ctx.db, &admin.admin, id).await? {
        return Err(WebError::NotFound);
    }
    set_flash(
        &admin.session,
        "success",
        "The invitation is revoked; its link opens nothing.",
    )?;
    Ok(see_other("/team"))
}

/// Removes another admin: they are signed out everywhere at once.
pub async fn remove(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(user_id): IdPath<UserId>,
) -> Result<HttpResponse, WebError> {
    match accounts::remove_admin(&state.ctx.db, &admin.admin, user_id).await {
        Ok(ended) => {
            tracing::info!(user_id = %admin.admin.user_id, removed = %user_id, ended, "admin removed");
            set_flash(
                &admin.session,
                "success",
                "The admin is removed and signed out everywhere.",
            )?;
            Ok(see_other("/team"))
        }
        Err(AccountError::UnknownAdmin) => Err(WebError::NotFound),
        Err(AccountError::Invalid(message)) => {
            render(&state, &admin, StatusCode::CONFLICT, None, Some(message)).await
        }
        Err(AccountError::Db(e)) => Err(e.into()),
        Err(other) => Err(WebError::Internal(other.to_string())),
    }
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    layout: Layout,
    invitation: InvitationView,
    error: Option<String>,
}

/// The invitation link: who is invited where, and the password form.
pub async fn invitation(
    state: web::Data<WebState>,
    session: Session,
    token: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let invitation = usable(&state, &token).await?;
    html(
        StatusCode::OK,
        InvitePage {
            layout: Layout::anonymous(&session)?,
            invitation,
            error: None,
        },
    )
}

async fn usable(state: &WebState, token: &str) -> Result<InvitationView, WebError> {
    let plausible = (20..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let found = if plausible {
        accounts::find_invitation(&state.ctx.db, token).await?
    } else {
        None
    };
    found.ok_or(WebError::Gone(accounts::UNUSABLE_INVITATION))
}

#[derive(Deserialize)]
pub struct AcceptForm {
    password: SecretString,
    password_confirm: SecretString,
}

/// Sets the invitee's password, makes them an admin and signs them in.
pub async fn accept(
    req: HttpRequest,
    state: web::Data<WebState>,
    session: Session,
    token: web::Path<String>,
    form: web::Form<AcceptForm>,
) -> Result<HttpResponse, WebError> {
    let invitation = usable(&state, &token).await?;
    let form = form.into_inner();
    let refuse = |invitation: InvitationView, message: String| {
        let page = InvitePage {
            layout: Layout::anonymous(&session)?,
            invitation,
            error: Some(message),
        };
        html(StatusCode::UNPROCESSABLE_ENTITY, page)
    };
    if form.password.expose_secret() != form.password_confirm.expose_secret() {
        return refuse(invitation, "The two passwords do not match.".into());
    }
    match accounts::accept_invitation(&state.ctx.db, &token, form.password).await {
        Ok(admin) => {
            tracing::info!(user_id = %admin.user_id, org_id = %admin.org_id, "invitation accepted");
            session::sign_in(&state, &req, &session, &admin).await?;
            Ok(see_other("/integrations"))
        }
        Err(AccountError::Invalid(message)) => refuse(invitation, message),
        Err(AccountError::InvitationUnusable) => Err(WebError::Gone(accounts::UNUSABLE_INVITATION)),
        Err(AccountError::EmailTaken) => Err(WebError::Conflict("This email already has an account.".into())),
        Err(AccountError::Db(e)) => Err(e.into()),
        Err(other) => Err(WebError::Internal(other.to_string())),
    }
}
