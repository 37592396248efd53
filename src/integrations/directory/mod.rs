//! Directory sync: the accounts a connected service lists, read page by page through the HTTP
//! core and stored per integration. A full pass is checkpointed after every page (the
//! provider's cursor of the next page), so a sync stopped half-way (a kill, a provider
//! failure) resumes there on any instance; only a complete pass marks the accounts it did not
//! list as deactivated. Unchanged accounts are not rewritten.

mod github;
mod people;
mod readers;
mod sources;
mod targets;

pub use people::{
    EmploymentView, Person, PersonAccount, changes_page, entries_page, people_page, set_employment,
};
pub use sources::has_directory;
pub use targets::{ChoiceError, OrgChoice, choose_github_org, github_org_choice, skip_reason};

use super::provider_api::{ApiError, ProviderApi};
use crate::context::AppContext;
use crate::db::directory::{self, SyncRow};
use crate::db::{self, DbError};
use crate::domain::{IntegrationId, OrgId};
use sources::Source;

/// A pass never reads more pages than this in one sync (a provider that pages forever).
const MAX_PAGES_PER_SYNC: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// How a sync ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOutcome {
    pub pages: usize,
    pub written: usize,
    /// The pass was completed (every page read) in this sync.
    pub completed: bool,
    /// Accounts the completed pass no longer listed, now deactivated.
    pub deactivated: usize,
}

/// Runs (or resumes) the integration's full pass until it completes or a page fails; the
/// failure is recorded on the sync and returned (the next sync resumes from the checkpoint).
pub async fn sync_directory(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<SyncOutcome, DirectoryError> {
    let new_pass = uuid::Uuid::new_v4().to_string();
    let pass: SyncRow = ctx
        .db
        .run(move |conn| directory::begin_pass(conn, org, integration, &new_pass, db::now()))
        .await?;
    let pass_id = pass.pass_id.clone().unwrap_or_default();
    let mut cursor = pass.next_cursor.clone();
    let mut outcome = SyncOutcome {
        pages: 0,
        written: 0,
        completed: false,
        deactivated: 0,
    };
    let pace = ctx.settings.worker.directory_page_interval;
    let source = Source::of(ProviderApi::for_integration(ctx, org, integration).await?);
    for _ in 0..MAX_PAGES_PER_SYNC {
        if outcome.pages > 0 && !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let (listed, next) = match source.read_page(cursor.clone()).await {
            Ok(page) => page,
            Err(e) => {
                let error = e.to_string();
                ctx.db
                    .run(move |conn| directory::record_error(conn, integration, &error, db::now()))
                    .await?;
                return Err(e.into());
            }
        };
        let (pass, next_cursor) = (pass_id.clone(), next.clone());
        let stored = ctx
            .db
            .run(move |conn| {
                directory::store_page(
                    conn,
                    org,
                    integration,
                    &pass,
                    &listed,
                    next_cursor.as_deref(),
                    db::now(),
                )
            })
            .await?;
        let Some(written) = stored else {
            // Another instance finished or restarted the pass: nothing more to do here.
            return Ok(outcome);
        };
        outcome.pages += 1;
        outcome.written += written;
        match next {
            Some(next) => cursor = Some(next),
            None => {
                let pass = pass_id.clone();
                let absent = ctx
                    .db
                    .run(move |conn| directory::complete_pass(conn, integration, &pass, db::now()))
                    .await?;
                outcome.completed = absent.is_some();
                outcome.deactivated = absent.unwrap_or(0);
                outcome.written += outcome.deactivated;
                return Ok(outcome);
            }
        }
    }
    Ok(outcome)
}
