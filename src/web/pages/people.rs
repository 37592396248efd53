//! The People page: every person of the organization's directories (grouped by email) with
//! the services where they have an account, filtered by search, by "no account in X" and by
//! "leaver with access"; above them each directory's counts, last sync and last error, with
//! "Sync now" and a progress bar that htmx polls while a sync runs.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, partial_or_page, see_other, set_flash};
use crate::domain::IntegrationId;
use crate::integrations::directory::{self, DirectoryCard, PeopleFilter, Person, SyncNow};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::ids::IdPath;
use crate::web::session::CurrentAdmin;

/// People per page.
const PAGE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct PeopleQuery {
    #[serde(default)]
    q: String,
    /// An integration id: people with no active account there.
    #[serde(default)]
    missing: String,
    /// "1": leavers who still have an active account.
    #[serde(default)]
    leavers: String,
    /// The last email of the previous page.
    #[serde(default)]
    after: String,
}

#[derive(Template)]
#[template(path = "people_body.html")]
struct PeopleBody {
    directories: Vec<DirectoryCard>,
    people: Vec<Person>,
    q: String,
    missing: String,
    leavers: bool,
    /// The query string of the next page (`None`: this is the last).
    next: Option<String>,
    csrf: String,
}

impl PeopleBody {
    fn syncing(&self) -> bool {
        self.directories.iter().any(|d| d.syncing)
    }

    /// The person's account in this directory: (state, external id).
    fn account_in(&self, person: &Person, directory: &DirectoryCard) -> Option<(&'static str, String)> {
        person
            .accounts
            .iter()
            .find(|a| a.integration_id == directory.integration_id)
            .map(|a| (a.state, a.external_id.clone()))
    }

    fn is_active(&self, state: &str) -> bool {
        state == crate::domain::DirectoryState::Active.as_str()
    }

    fn is_leaver(&self, person: &Person) -> bool {
        person
            .employment
            .as_ref()
            .is_some_and(|e| e.status == crate::domain::Employment::Leaver.as_str())
    }
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    layout: Layout,
    body: PeopleBody,
}

/// The page includes the body partial, which reads the body's fields through this.
impl std::ops::Deref for PeoplePage {
    type Target = PeopleBody;

    fn deref(&self) -> &PeopleBody {
        &self.body
    }
}

fn page(body: PeopleBody, layout: Layout) -> PeoplePage {
    PeoplePage { layout, body }
}

async fn body(state: &WebState, admin: &CurrentAdmin, query: PeopleQuery) -> Result<PeopleBody, WebError> {
    let org = admin.org_id();
    let q: String = query.q.trim().chars().take(100).collect();
    let missing_in = match query.missing.as_str() {
        "" => None,
        id => Some(
            IntegrationId::parse(id).ok_or_else(|| WebError::BadRequest("Unknown integration.".into()))?,
        ),
    };
    let filter = PeopleFilter {
        search: Some(q.clone()).filter(|q| !q.is_empty()),
        missing_in,
        leavers_with_access: query.leavers == "1",
    };
    let directories = directory::directories(&state.ctx, org).await?;
    if missing_in.is_some_and(|id| !directories.iter().any(|d| d.integration_id == id)) {
        return Err(WebError::NotFound);
    }
    let after = Some(query.after).filter(|a| !a.is_empty());
    let mut people = directory::people_page(&state.ctx, org, filter, after, PAGE + 1).await?;
    let next = (people.len() as i64 > PAGE).then(|| {
        people.truncate(PAGE as usize);
        let last = people.last().map(|p| p.email.clone()).unwrap_or_default();
        serde_urlencoded::to_string([
            ("q", q.as_str()),
            ("missing", query.missing.as_str()),
            ("leavers", query.leavers.as_str()),
            ("after", last.as_str()),
        ])
        .unwrap_or_default()
    });
    Ok(PeopleBody {
        directories,
        people,
        q,
        missing: query.missing,
        leavers: query.leavers == "1",
        next,
        csrf: admin.csrf()?,
    })
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    query: web::Query<PeopleQuery>,
) -> Result<HttpResponse, WebError> {
    let body = body(&state, &admin, query.into_inner()).await?;
    partial_or_page(&req, &admin, StatusCode::OK, body, page)
}

/// "Sync now": queues the directory's sync (once); htmx gets the page's body back with the
/// progress polling on, a plain form a redirect with a message.
pub async fn sync_now(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let text = match directory::sync_now(&state.ctx, admin.org_id(), integration).await? {
        SyncNow::NotFound => return Err(WebError::NotFound),
        SyncNow::Queued => "Sync queued: the directory is read in the background.",
        SyncNow::AlreadyQueued => "A sync of this directory is already queued or running.",
    };
    if super::is_htmx(&req) {
        let body = body(&state, &admin, PeopleQuery::default()).await?;
        return partial_or_page(&req, &admin, StatusCode::OK, body, page);
    }
    set_flash(&admin.session, "success", text)?;
    Ok(see_other("/people"))
}
