//! Directory sync: the accounts a connected service lists, read page by page through the HTTP
//! core and stored per integration. A full pass is checkpointed after every page (the
//! provider's cursor of the next page), so a sync stopped half-way (a kill, a provider
//! failure) resumes there on any instance; only a complete pass marks the accounts it did not
//! list as deactivated. Unchanged accounts are not rewritten. Where the provider can list only
//! what changed since the last complete pass (sources.rs), the next pass starts from the token
//! that pass ended with and marks no absences; a token the provider forgot starts a full pass.

mod accounts;
mod github;
mod overview;
mod people;
mod readers;
mod sources;
mod targets;

pub use crate::db::people::PeopleFilter;
pub use overview::{DirectoryCard, SyncNow, directories, sync_now};
pub use people::sync_state;
pub use people::{
    EmploymentView, Person, PersonAccount, changes_page, entries_page, people_page, set_employment,
};
pub use sources::has_directory;
pub use targets::{ChoiceError, OrgChoice, choose_github_org, github_org_choice, skip_reason};

use std::time::{Duration, Instant};

use super::provider_api::{ApiError, ProviderApi};
use crate::context::AppContext;
use crate::db::directory::{self, SyncRow};
use crate::db::{self, DbError};
use crate::domain::{DirectorySource, IntegrationId, OrgId};
use sources::{Read, Source};

/// A pass never reads more pages than this in one sync (a provider that pages forever).
const MAX_PAGES_PER_SYNC: usize = 10_000;
/// Nor starts over more often than this (a provider that forgets every token at once).
const MAX_RESTARTS_PER_SYNC: usize = 2;

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
    /// The slice ended with pages left to read: the sync continues from its checkpoint after
    /// the provider's page interval.
    pub more: bool,
    /// The provider's list the pass read.
    pub source: DirectorySource,
    /// The pass listed only changes since the last complete pass (it marks no absences).
    pub incremental: bool,
    /// Times the pass started over as a full pass (a forgotten token, another list).
    pub restarts: usize,
}

/// Runs (or resumes) the integration's pass, full or (from the last pass's token) incremental,
/// to its end, pausing between pages (the provider's rate limit); see `sync_directory_slice`.
pub async fn sync_directory(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
) -> Result<SyncOutcome, DirectoryError> {
    run(ctx, org, integration, None).await
}

/// Runs a slice of the integration's pass: pages are read until the pass completes or
/// `budget` is spent; with a page interval, one page. A long directory thus never holds the
/// worker (and other organizations' token refreshes) for more than a slice: the caller queues
/// the rest (`more`), which resumes from the checkpoint, here or on another instance.
pub async fn sync_directory_slice(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    budget: Duration,
) -> Result<SyncOutcome, DirectoryError> {
    run(ctx, org, integration, Some(budget)).await
}

/// Runs (or resumes) the integration's pass until it completes, a page fails or the budget is
/// spent; a failure is recorded on the sync and returned (the next sync resumes from the
/// checkpoint).
async fn run(
    ctx: &AppContext,
    org: OrgId,
    integration: IntegrationId,
    budget: Option<Duration>,
) -> Result<SyncOutcome, DirectoryError> {
    let started = Instant::now();
    let new_pass = uuid::Uuid::new_v4().to_string();
    let pass: SyncRow = ctx
        .db
        .run(move |conn| directory::begin_pass(conn, org, integration, &new_pass, db::now()))
        .await?;
    let mut pass_id = pass.pass_id.clone().unwrap_or_default();
    let mut cursor = pass.next_cursor.clone();
    let mut resume = pass.resume_token.clone();
    let api = ProviderApi::for_integration(ctx, org, integration).await?;
    // A pass under way goes on with its list; a new one may read another.
    let mut source = Source::of(api, pass.source.filter(|_| cursor.is_some()));
    let mut outcome = SyncOutcome {
        pages: 0,
        written: 0,
        completed: false,
        deactivated: 0,
        more: false,
        source: source.list(),
        incremental: resume.is_some(),
        restarts: 0,
    };
    if pass.source != Some(source.list()) {
        match restart(ctx, integration, &pass_id, source.list()).await? {
            Some(new_pass) => (pass_id, cursor, resume) = (new_pass, None, None),
            None => return Ok(outcome),
        }
        outcome.incremental = false;
    }
    let pace = ctx.settings.worker.directory_page_interval;
    // The next page, read while the last one was stored.
    let mut ahead = None;
    for _ in 0..MAX_PAGES_PER_SYNC {
        if outcome.pages > 0 {
            match budget {
                Some(budget) if !pace.is_zero() || started.elapsed() >= budget => {
                    outcome.more = true;
                    return Ok(outcome);
                }
                None if !pace.is_zero() => tokio::time::sleep(pace).await,
                _ => {}
            }
        }
        let read = match ahead.take() {
            Some(read) => read,
            None => source.read_page(cursor.clone(), resume.as_deref()).await,
        };
        let read = match read {
            Ok(read) => read,
            Err(e) => return Err(failed(ctx, integration, e).await),
        };
        let (listed, next, resume_next) = match read {
            Read::More(listed, next) => (listed, Some(next), None),
            Read::Last(listed, token) => (listed, None, token),
            Read::Restart(_) if outcome.restarts == MAX_RESTARTS_PER_SYNC => {
                return Err(failed(ctx, integration, ApiError::ResyncRequired).await);
            }
            Read::Restart(list) => {
                let Some(new_pass) = restart(ctx, integration, &pass_id, list).await? else {
                    return Ok(outcome);
                };
                (pass_id, cursor, resume) = (new_pass, None, None);
                source.switch_to(list);
                (outcome.source, outcome.incremental) = (list, false);
                outcome.restarts += 1;
                continue;
            }
        };
        let (pass, next_cursor) = (pass_id.clone(), next.clone());
        let store = ctx.db.run(move |conn| {
            directory::store_page(
                conn,
                org,
                integration,
                &pass,
                &listed,
                next_cursor.as_deref(),
                db::now(),
            )
        });
        // With no page interval to keep, the provider's next page is on its way while the
        // database stores this one (the page stays unread if the pass stops here).
        let read_ahead = next
            .clone()
            .filter(|_| pace.is_zero() && budget.is_none_or(|budget| started.elapsed() < budget));
        let stored = match read_ahead {
            Some(next) => {
                let (stored, read) = tokio::join!(store, source.read_page(Some(next), resume.as_deref()));
                ahead = Some(read);
                stored?
            }
            None => store.await?,
        };
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
                    .run(move |conn| {
                        directory::complete_pass(conn, integration, &pass, resume_next.as_deref(), db::now())
                    })
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

/// Records why the pass stopped (it resumes from its checkpoint at the next sync).
async fn failed(ctx: &AppContext, integration: IntegrationId, e: ApiError) -> DirectoryError {
    let error = e.to_string();
    let recorded = ctx
        .db
        .run(move |conn| directory::record_error(conn, integration, &error, db::now()))
        .await;
    match recorded {
        Ok(()) => e.into(),
        Err(db) => db.into(),
    }
}

/// Starts the integration's pass over as a full pass of `list`; the new pass's id, or `None`
/// when another instance moved the pass on.
async fn restart(
    ctx: &AppContext,
    integration: IntegrationId,
    pass_id: &str,
    list: DirectorySource,
) -> Result<Option<String>, DbError> {
    let (pass, new_pass) = (pass_id.to_owned(), uuid::Uuid::new_v4().to_string());
    let restarted = ctx
        .db
        .run(move |conn| {
            directory::restart_pass(conn, integration, (&pass, &new_pass), list, db::now())
                .map(|done| done.then_some(new_pass))
        })
        .await?;
    Ok(restarted)
}
