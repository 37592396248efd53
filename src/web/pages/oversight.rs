//! The health dashboard, the activity log (and CSV), an integration's paginated activity, its
//! sync schedule, and GDPR: the consent ledger, the export and the erasure.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, html, is_htmx, partial_or_page, see_other, set_flash};
use crate::domain::Schedule;
use crate::domain::{IntegrationId, LogKind, LogStatus};
use crate::integrations::oversight::{self, ConsentEntry, Dashboard, LogFilter, LogPage, PAGE_SIZE};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::ids::IdPath;
use crate::web::session::{CurrentAdmin, SignedIn};

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    dashboard: Dashboard,
}

pub async fn dashboard(state: web::Data<WebState>, signed_in: SignedIn) -> Result<HttpResponse, WebError> {
    let (admin, read) = signed_in
        .load(&state, |conn, admin| {
            oversight::load_dashboard(conn, admin.org_id)
        })
        .await?;
    let dashboard = oversight::dashboard(&state.ctx, read);
    html(
        StatusCode::OK,
        DashboardPage {
            layout: Layout::signed_in(&admin)?,
            dashboard,
        },
    )
}

/// The activity log's query: filters (empty = any) and the page.
#[derive(Deserialize, Default, Clone)]
pub struct LogQuery {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    status: String,
    /// YYYY-MM-DD, inclusive.
    #[serde(default)]
    from: String,
    /// YYYY-MM-DD, inclusive.
    #[serde(default)]
    to: String,
    page: Option<i64>,
}

/// Dates the filters accept: anything else is a typo, and the edges of chrono's range would
/// overflow the "to" date's next midnight.
const FIRST_DAY: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
const LAST_DAY: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).expect("valid date");
const BAD_DATE: &str = "Dates are written YYYY-MM-DD, between 1970-01-01 and 9999-12-31.";
/// Pages of the log at most (at 25 entries a page, far more than the retention keeps).
pub(super) const MAX_PAGE: i64 = 100_000;
pub(super) const BAD_PAGE: &str = "The page number must be from 1 to 100000.";
const BAD_KIND: &str = "Choose an entry kind from the list.";
const BAD_STATUS: &str = "Choose a status from the list.";

/// A filter's text, trimmed; None when empty.
pub(super) fn non_empty(value: &str) -> Option<String> {
    Some(value.trim()).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// The instants of a "from" and "to" day filter (YYYY-MM-DD, both inclusive: "to" is the next
/// day's midnight).
pub(super) fn date_range(
    from: &str,
    to: &str,
) -> Result<(Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>), WebError> {
    let day = |v: &str| -> Result<Option<chrono::NaiveDate>, WebError> {
        non_empty(v)
            .map(|v| {
                chrono::NaiveDate::parse_from_str(&v, "%Y-%m-%d")
                    .ok()
                    .filter(|d| (FIRST_DAY..=LAST_DAY).contains(d))
                    .ok_or(WebError::InvalidInput(BAD_DATE))
            })
            .transpose()
    };
    let to = match day(to)? {
        Some(d) => Some(d.succ_opt().ok_or(WebError::InvalidInput(BAD_DATE))?),
        None => None,
    };
    let midnight = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN);
    Ok((day(from)?.map(midnight), to.map(midnight)))
}

impl LogQuery {
    pub(super) fn filter(&self, integration_id: Option<IntegrationId>) -> Result<LogFilter, WebError> {
        let (from, to) = date_range(&self.from, &self.to)?;
        Ok(LogFilter {
            integration_id,
            provider: non_empty(&self.provider),
            kind: non_empty(&self.kind)
                .map(|k| LogKind::parse(&k).ok_or(WebError::InvalidInput(BAD_KIND)))
                .transpose()?,
            status: non_empty(&self.status)
                .map(|s| LogStatus::parse(&s).ok_or(WebError::InvalidInput(BAD_STATUS)))
                .transpose()?,
            from,
            to,
        })
    }

    /// The page asked for (1 when none), within 1..=MAX_PAGE.
    pub(super) fn page(&self) -> Result<i64, WebError> {
        let page = self.page.unwrap_or(1);
        if (1..=MAX_PAGE).contains(&page) {
            Ok(page)
        } else {
            Err(WebError::InvalidInput(BAD_PAGE))
        }
    }

    /// The same filters as a query string (for pagination and the CSV link).
    fn query_string(&self, page: i64) -> String {
        serde_urlencoded::to_string([
            ("provider", self.provider.as_str()),
            ("kind", self.kind.as_str()),
            ("status", self.status.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("page", &page.to_string()),
        ])
        .unwrap_or_default()
    }
}

pub const KINDS: [&str; 5] = [
    LogKind::Refresh.as_str(),
    LogKind::Validate.as_str(),
    LogKind::Sync.as_str(),
    LogKind::WebhookEvent.as_str(),
    LogKind::Watch.as_str(),
];
pub const STATUSES: [&str; 4] = [
    LogStatus::Queued.as_str(),
    LogStatus::Running.as_str(),
    LogStatus::Succeeded.as_str(),
    LogStatus::Failed.as_str(),
];

#[derive(Template)]
#[template(path = "activity.html")]
struct ActivityFullPage {
    layout: Layout,
    log: LogPage,
    query: LogQuery,
    providers: Vec<(String, String)>,
    prev_url: Option<String>,
    next_url: Option<String>,
    csv_url: String,
}

#[derive(Template)]
#[template(path = "log_rows.html")]
struct LogRowsPartial {
    log: LogPage,
    prev_url: Option<String>,
    next_url: Option<String>,
    csv_url: String,
}

fn page_links(base: &str, query: &LogQuery, log: &LogPage) -> (Option<String>, Option<String>) {
    let link = |page: i64| format!("{base}?{}", query.query_string(page));
    (
        (log.page > 1).then(|| link(log.page - 1)),
        (log.page < log.pages.min(MAX_PAGE)).then(|| link(log.page + 1)),
    )
}

pub async fn activity(
    req: HttpRequest,
    state: web::Data<WebState>,
    signed_in: SignedIn,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let (filter, page) = (query.filter(None)?, query.page()?);
    let (admin, log) = signed_in
        .load(&state, move |conn, admin| {
            oversight::load_log_page(conn, admin.org_id, filter, page, PAGE_SIZE)
        })
        .await?;
    let (prev_url, next_url) = page_links("/activity", &query, &log);
    let csv_url = format!("/activity.csv?{}", query.query_string(1));
    let rows = LogRowsPartial {
        log,
        prev_url,
        next_url,
        csv_url,
    };
    partial_or_page(&req, &admin, StatusCode::OK, rows, |rows, layout| {
        ActivityFullPage {
            layout,
            log: rows.log,
            query,
            providers: state
                .ctx
                .catalogue
                .providers()
                .iter()
                .map(|p| (p.def.slug.clone(), p.def.name.clone()))
                .collect(),
            prev_url: rows.prev_url,
            next_url: rows.next_url,
            csv_url: rows.csv_url,
        }
    })
}

/// Entries per CSV export at most.
const CSV_LIMIT: i64 = 100_000;

pub async fn activity_csv(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, WebError> {
    let csv = oversight::log_csv(&state.ctx, admin.org_id(), query.filter(None)?, CSV_LIMIT).await?;
    Ok(super::download(
        "text/csv; charset=utf-8",
        "activity-log.csv",
        csv,
    ))
}

#[derive(Template)]
#[template(path = "integration_logs.html")]
struct LogsPartial {
    integration_id: String,
    log: LogPage,
    query: LogQuery,
    prev_url: Option<String>,
    next_url: Option<String>,
    csrf: String,
}

/// GET /integrations/{id}/logs: an integration's activity, filtered and paginated (the
/// integration page loads it with htmx; without JavaScript it is the whole page's link).
pub async fn integration_logs(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
    query: web::Query<LogQuery>,
) -> Result<HttpResponse, WebError> {
    let partial = logs_partial(&state, &admin, integration, query.into_inner()).await?;
    if !is_htmx(&req) {
        // The full page shows the activity with the same filters.
        let query = req.query_string();
        return Ok(see_other(&format!("/integrations/{integration}?{query}")));
    }
    html(StatusCode::OK, partial)
}

/// An integration's activity shows 10 entries a page.
pub(super) const ACTIVITY_PAGE: i64 = 10;

async fn logs_partial(
    state: &WebState,
    admin: &CurrentAdmin,
    integration: IntegrationId,
    query: LogQuery,
) -> Result<LogsPartial, WebError> {
    // Another organization's id finds no rows: the log is filtered by the org first.
    let filter = query.filter(Some(integration))?;
    let log = oversight::log_page(&state.ctx, admin.org_id(), filter, query.page()?, ACTIVITY_PAGE).await?;
    logs_view(admin, integration, query, log)
}

fn logs_view(
    admin: &CurrentAdmin,
    integration: IntegrationId,
    query: LogQuery,
    log: LogPage,
) -> Result<LogsPartial, WebError> {
    let (prev_url, next_url) = page_links(&format!("/integrations/{integration}/logs"), &query, &log);
    Ok(LogsPartial {
        integration_id: integration.to_text(),
        log,
        query,
        prev_url,
        next_url,
        csrf: admin.csrf()?,
    })
}

/// The activity section of the integration page (a page of its log, loaded with the page),
/// rendered in place.
pub(super) fn integration_logs_html(
    admin: &CurrentAdmin,
    integration: IntegrationId,
    query: LogQuery,
    log: LogPage,
) -> Result<String, WebError> {
    logs_view(admin, integration, query, log)?
        .render()
        .map_err(|e| WebError::Internal(format!("template: {e}")))
}

#[derive(Deserialize)]
pub struct ScheduleForm {
    schedule: String,
}

pub async fn set_schedule(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
    form: web::Form<ScheduleForm>,
) -> Result<HttpResponse, WebError> {
    let schedule =
        Schedule::parse(&form.schedule).ok_or_else(|| WebError::BadRequest("unknown schedule".into()))?;
    if !oversight::set_schedule(&state.ctx, &admin.admin, integration, schedule).await? {
        return Err(WebError::NotFound);
    }
    set_flash(
        &admin.session,
        "success",
        format!("Sync schedule: {}.", schedule.label()),
    )?;
    Ok(see_other(&format!("/integrations/{integration}")))
}

#[derive(Template)]
#[template(path = "gdpr.html")]
struct GdprPage {
    layout: Layout,
    ledger: Vec<ConsentEntry>,
}

pub async fn gdpr(state: web::Data<WebState>, admin: CurrentAdmin) -> Result<HttpResponse, WebError> {
    let ledger = oversight::consent_ledger(&state.ctx, admin.org_id()).await?;
    html(
        StatusCode::OK,
        GdprPage {
            layout: Layout::signed_in(&admin)?,
            ledger,
        },
    )
}

pub async fn gdpr_export(state: web::Data<WebState>, admin: CurrentAdmin) -> Result<HttpResponse, WebError> {
    let export = oversight::export(&state.ctx, admin.org_id()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"integration-data.json\"",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(export))
}

#[derive(Template)]
#[template(path = "erase.html")]
struct ErasePage {
    layout: Layout,
    integration_id: String,
    title: String,
    csrf: String,
}

pub async fn confirm_erase(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let detail = crate::integrations::detail(&state.ctx, admin.org_id(), integration)
        .await?
        .ok_or(WebError::NotFound)?;
    let title = format!("{} ({})", detail.provider_name, detail.account_name);
    let csrf = admin.csrf()?;
    html(
        StatusCode::OK,
        ErasePage {
            layout: Layout::signed_in(&admin)?,
            integration_id: detail.id.to_text(),
            title,
            csrf,
        },
    )
}

pub async fn erase(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let outcome = oversight::erase(&state.ctx, &admin.admin, integration)
        .await?
        .ok_or(WebError::NotFound)?;
    let text = match outcome.revocation_error {
        None => format!("The {} integration's data was erased.", outcome.provider_name),
        Some(_) => format!(
            "The {} integration's data was erased here; revoking access at {} failed, remove the app there too.",
            outcome.provider_name, outcome.provider_name
        ),
    };
    set_flash(&admin.session, "success", text)?;
    Ok(see_other("/integrations"))
}
