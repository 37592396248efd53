//! What an admin chooses of a provider's accounts for the directory after connecting: the
//! GitHub organization whose members it reads (the connected user may belong to several).
//! Without a choice the GitHub directory is skipped, and the sync says so.

use super::github;
use crate::accounts::Admin;
use crate::context::AppContext;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::{self, DbError, directory_targets};
use crate::domain::{AuditKind, IntegrationId, OrgId};
use crate::integrations::provider_api::{ApiError, ProviderApi};
use crate::providers::catalogue::GITHUB;

/// The organization choice on a GitHub integration's page.
pub struct OrgChoice {
    pub chosen: Option<String>,
    /// The connected user's organizations.
    pub offered: Vec<String>,
    /// Why they could not be listed.
    pub offer_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    /// Not an integration of the organization, or not one with a choice to make.
    #[error("no such integration")]
    NotFound,
    #[error("{0} is not one of the connected account's organizations")]
    NotOffered(String),
    #[error("GitHub could not list the organizations: {0}")]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Why the provider's directory is skipped (`None`: it is read).
pub async fn skip_reason(
    ctx: &AppContext,
    integration: IntegrationId,
    provider: &str,
) -> Result<Option<&'static str>, DbError> {
    if provider != GITHUB {
        return Ok(None);
    }
    let chosen = ctx
        .db
        .run(move |conn| directory_targets::find(conn, integration))
        .await?;
    Ok(chosen.is_none().then_some(github::NO_GITHUB_ORG))
}

async fn github_api<'a>(
    ctx: &'a AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<ProviderApi<'a>, ChoiceError> {
    let api = ProviderApi::for_integration(ctx, org, integration)
        .await
        .map_err(|e| match e {
            ApiError::UnknownIntegration => ChoiceError::NotFound,
            other => other.into(),
        })?;
    if api.provider.def.slug != GITHUB {
        return Err(ChoiceError::NotFound);
    }
    Ok(api)
}

/// The choice to show for an integration of the organization, of this provider (`None`: not
/// GitHub, asking nothing).
pub async fn github_org_choice(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    provider: &str,
) -> Result<Option<OrgChoice>, DbError> {
    if provider != GITHUB {
        return Ok(None);
    }
    let api = match github_api(ctx, org, integration).await {
        Ok(api) => api,
        Err(ChoiceError::Db(e)) => return Err(e),
        Err(_) => return Ok(None),
    };
    let chosen = ctx
        .db
        .run(move |conn| directory_targets::find(conn, integration))
        .await?;
    let (offered, offer_error) = match github::orgs(&api).await {
        Ok(orgs) => (orgs, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    Ok(Some(OrgChoice {
        chosen,
        offered,
        offer_error,
    }))
}

/// Records the GitHub organization the directory reads: one the connected account belongs to.
pub async fn choose_github_org(
    ctx: &AppContext,
    admin: &Admin,
    integration: IntegrationId,
    login: &str,
) -> Result<(), ChoiceError> {
    let (org, actor) = (admin.org_id, admin.actor());
    let api = github_api(ctx, org, integration).await?;
    let offered = github::orgs(&api).await?;
    let login = offered
        .into_iter()
        .find(|o| o == login)
        .ok_or_else(|| ChoiceError::NotOffered(crate::domain::sanitize(login, 60)))?;
    // `github_api` found the integration among the organization's.
    ctx.db
        .run(move |conn| {
            db::transaction(conn, |conn| {
                directory_targets::set(conn, org, integration, &login, db::now())?;
                let detail = format!("The directory reads the members of the GitHub organization {login}");
                audit::append(
                    conn,
                    &NewAuditEvent::new(org, AuditKind::Settings, &actor, &detail).about(integration, GITHUB),
                )
                .map(drop)
            })
        })
        .await?;
    Ok(())
}
