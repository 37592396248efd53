//! The audit trail: who did what (connections, disconnections, erasures, tests, webhook
//! resets, account actions), filtered by actor, kind, provider and dates; whether its hash
//! chain checks out; and its exports (CSV, and JSON Lines with the hashes).

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::oversight::{BAD_PAGE, MAX_PAGE, date_range, non_empty};
use super::{Layout, download, html};
use crate::domain::{AuditKind, format_time};
use crate::integrations::oversight::{self, AuditFilter, AuditPage, ChainCheck};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::{CurrentAdmin, SignedIn};

/// The trail's query: filters (empty = any) and the page.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    provider: String,
    /// YYYY-MM-DD, inclusive.
    #[serde(default)]
    from: String,
    /// YYYY-MM-DD, inclusive.
    #[serde(default)]
    to: String,
    page: Option<i64>,
}

const BAD_KIND: &str = "Choose an event kind from the list.";

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, WebError> {
        let (from, to) = date_range(&self.from, &self.to)?;
        Ok(AuditFilter {
            actor: non_empty(&self.actor),
            kind: non_empty(&self.kind)
                .map(|k| AuditKind::parse(&k).ok_or(WebError::InvalidInput(BAD_KIND)))
                .transpose()?,
            integration_id: None,
            provider: non_empty(&self.provider),
            from,
            to,
        })
    }

    fn page(&self) -> Result<i64, WebError> {
        Some(self.page.unwrap_or(1))
            .filter(|p| (1..=MAX_PAGE).contains(p))
            .ok_or(WebError::InvalidInput(BAD_PAGE))
    }

    fn query_string(&self, page: i64) -> String {
        serde_urlencoded::to_string([
            ("actor", self.actor.as_str()),
            ("kind", self.kind.as_str()),
            ("provider", self.provider.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("page", &page.to_string()),
        ])
        .unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditTrailPage {
    layout: Layout,
    trail: AuditPage,
    query: AuditQuery,
    kinds: &'static [AuditKind],
    providers: Vec<(String, String)>,
    /// "Chain verified up to …", or where it breaks.
    chain: (bool, String),
    prev_url: Option<String>,
    next_url: Option<String>,
    export_query: String,
}

/// GET /audit
pub async fn page(
    state: web::Data<WebState>,
    signed_in: SignedIn,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let query = query.into_inner();
    let (filter, page) = (query.filter()?, query.page()?);
    let checks = state.audit_checks.clone();
    let (admin, trail) = signed_in
        .load(&state, move |conn, admin| {
            oversight::load_audit_page(conn, admin.org_id, filter, page, &checks)
        })
        .await?;
    let chain = match &trail.check {
        ChainCheck::Empty => (true, "No audit event yet.".to_owned()),
        ChainCheck::Verified { events, up_to } => (
            true,
            format!(
                "Chain verified up to {} ({events} event{}).",
                format_time(*up_to),
                if *events == 1 { "" } else { "s" }
            ),
        ),
        ChainCheck::Broken { seq, reason } => (
            false,
            format!("The chain is broken at event {seq}: {reason}. Tell your operator (`audit verify`)."),
        ),
    };
    let link = |page: i64| format!("/audit?{}", query.query_string(page));
    let prev_url = (trail.page > 1).then(|| link(trail.page - 1));
    let next_url = (trail.page < trail.pages.min(MAX_PAGE)).then(|| link(trail.page + 1));
    let export_query = query.query_string(1);
    html(
        StatusCode::OK,
        AuditTrailPage {
            layout: Layout::signed_in(&admin)?,
            trail,
            query,
            kinds: AuditKind::ALL,
            providers: state
                .ctx
                .catalogue
                .providers()
                .iter()
                .map(|p| (p.def.slug.clone(), p.def.name.clone()))
                .collect(),
            chain,
            prev_url,
            next_url,
            export_query,
        },
    )
}

/// GET /audit.csv
pub async fn csv(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let body = oversight::export_audit(&state.ctx, admin.org_id(), query.filter()?, false).await?;
    Ok(download("text/csv; charset=utf-8", "audit-trail.csv", body))
}

/// GET /audit.jsonl: one event a line, oldest first, with `prev_hash` and `hash`.
pub async fn jsonl(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, WebError> {
    let body = oversight::export_audit(&state.ctx, admin.org_id(), query.filter()?, true).await?;
    Ok(download(
        "application/jsonl; charset=utf-8",
        "audit-trail.jsonl",
        body,
    ))
}
