//! An integration's page: what it is connected to, its state, its history, and the actions
//! Reconnect and Disconnect.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::oversight::{ACTIVITY_PAGE, LogQuery, integration_logs_html};
use super::{Layout, html, partial_or_page, see_other, set_flash};
use crate::domain::IntegrationId;
use crate::integrations::directory::{self, ChoiceError, OrgChoice};
use crate::integrations::webhook_endpoints::{self as admin_hooks, CreatedEndpoint, EndpointError};
use crate::integrations::{self, ActivityQuery, IntegrationDetail, TestResult};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::ids::{EventId, IdPath};
use crate::web::session::{CurrentAdmin, SignedIn};

async fn load(
    state: &WebState,
    admin: &CurrentAdmin,
    integration: IntegrationId,
) -> Result<IntegrationDetail, WebError> {
    integrations::detail(&state.ctx, admin.org_id(), integration)
        .await?
        .ok_or(WebError::NotFound)
}

#[derive(Template)]
#[template(path = "integration.html")]
struct DetailPage {
    layout: Layout,
    detail: IntegrationDetail,
    csrf: String,
    logs_html: String,
    /// GitHub: the organization the directory reads, and the ones to choose from.
    directory_org: Option<OrgChoice>,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<WebState>,
    signed_in: SignedIn,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    // The activity's filters and page come with the page's address.
    let query: LogQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let activity = ActivityQuery {
        filter: query.filter(Some(integration))?,
        page: query.page()?,
        per_page: ACTIVITY_PAGE,
    };
    let (admin, read) = signed_in
        .load(&state, move |conn, admin| {
            integrations::load_detail_page(conn, admin.org_id, integration, activity)
        })
        .await?;
    let (read, log) = read.ok_or(WebError::NotFound)?;
    let detail = integrations::detail_view(&state.ctx, read);
    let csrf = admin.csrf()?;
    let logs_html = integration_logs_html(&admin, integration, query, log)?;
    let directory_org =
        directory::github_org_choice(&state.ctx, admin.org_id(), integration, &detail.provider_slug).await?;
    html(
        StatusCode::OK,
        DetailPage {
            layout: Layout::signed_in(&admin)?,
            detail,
            csrf,
            logs_html,
            directory_org,
        },
    )
}

#[derive(serde::Deserialize)]
pub struct OrganizationForm {
    organization: String,
}

/// POST /integrations/{id}/directory/organization: the GitHub organization the directory reads.
pub async fn choose_organization(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
    form: web::Form<OrganizationForm>,
) -> Result<HttpResponse, WebError> {
    let chosen =
        directory::choose_github_org(&state.ctx, &admin.admin, integration, &form.organization).await;
    match chosen {
        Ok(()) => set_flash(
            &admin.session,
            "success",
            format!("The directory reads the members of {}.", form.organization),
        )?,
        Err(ChoiceError::NotFound) => return Err(WebError::NotFound),
        Err(ChoiceError::Db(e)) => return Err(e.into()),
        Err(e @ (ChoiceError::NotOffered(_) | ChoiceError::Api(_))) => {
            set_flash(&admin.session, "error", e.to_string())?
        }
    }
    Ok(see_other(&format!("/integrations/{integration}")))
}

#[derive(Template)]
#[template(path = "webhook_created.html")]
struct WebhookCreatedPage {
    layout: Layout,
    integration_id: String,
    created: CreatedEndpoint,
}

#[derive(serde::Deserialize)]
pub struct WebhookForm {
    secret: Option<String>,
}

/// POST /integrations/{id}/webhooks: a new endpoint; its secret is shown on this answer only.
pub async fn add_webhook(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
    form: web::Form<WebhookForm>,
) -> Result<HttpResponse, WebError> {
    match admin_hooks::create_endpoint(&state.ctx, &admin.admin, integration, form.secret.as_deref()).await {
        Ok(created) => {
            let page = WebhookCreatedPage {
                layout: Layout::signed_in(&admin)?,
                integration_id: integration.to_text(),
                created,
            };
            let mut response = html(StatusCode::CREATED, page)?;
            response.headers_mut().insert(
                actix_web::http::header::CACHE_CONTROL,
                actix_web::http::header::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(EndpointError::NotFound) => Err(WebError::NotFound),
        Err(EndpointError::Invalid(message)) => {
            set_flash(&admin.session, "error", message)?;
            Ok(see_other(&format!("/integrations/{integration}")))
        }
        Err(EndpointError::Db(e)) => Err(e.into()),
    }
}

/// POST /integrations/{id}/webhooks/{webhook}/handshake: a new first-use handshake window.
pub async fn reset_handshake(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let webhook = req.match_info().query("webhook");
    match admin_hooks::reset_handshake(&state.ctx, &admin.admin, integration, webhook).await {
        Ok(()) => {
            set_flash(
                &admin.session,
                "success",
                "The handshake is reset: register the webhook at the provider again within 10 minutes.",
            )?;
            Ok(see_other(&format!("/integrations/{integration}")))
        }
        Err(EndpointError::NotFound | EndpointError::Invalid(_)) => Err(WebError::NotFound),
        Err(EndpointError::Db(e)) => Err(e.into()),
    }
}

/// POST /integrations/{id}/events/{event}/replay: queues a stored event again.
pub async fn replay(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
    IdPath(event): IdPath<EventId>,
) -> Result<HttpResponse, WebError> {
    let event = event.to_text();
    if !admin_hooks::replay(&state.ctx, Some((admin.org_id(), integration)), &event).await? {
        return Err(WebError::NotFound);
    }
    set_flash(&admin.session, "success", "The event is queued again.")?;
    Ok(see_other(&format!("/integrations/{integration}")))
}

#[derive(Template)]
#[template(path = "disconnect.html")]
struct DisconnectPage {
    layout: Layout,
    detail: IntegrationDetail,
    csrf: String,
}

#[derive(Template)]
#[template(path = "disconnect_dialog.html")]
struct DisconnectDialog {
    detail: IntegrationDetail,
    csrf: String,
}

pub async fn confirm_disconnect(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let detail = load(&state, &admin, integration).await?;
    if !detail.can_disconnect {
        return Err(WebError::NotFound);
    }
    let csrf = admin.csrf()?;
    let dialog = DisconnectDialog { detail, csrf };
    partial_or_page(&req, &admin, StatusCode::OK, dialog, |dialog, layout| {
        DisconnectPage {
            layout,
            detail: dialog.detail,
            csrf: dialog.csrf,
        }
    })
}

pub async fn disconnect(
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let outcome = integrations::disconnect(&state.ctx, &admin.admin, integration).await?;
    let text = match &outcome.revocation_error {
        None => format!(
            "{} ({}) is disconnected.",
            outcome.provider_name, outcome.account_name
        ),
        Some(_) => format!(
            "{} ({}) is disconnected here. Revoking access at {} failed; you may also remove the app in your {} settings.",
            outcome.provider_name, outcome.account_name, outcome.provider_name, outcome.provider_name
        ),
    };
    set_flash(&admin.session, "success", text)?;
    let mut response = see_other("/integrations");
    response.headers_mut().insert(
        actix_web::http::header::HeaderName::from_static("hx-redirect"),
        actix_web::http::header::HeaderValue::from_static("/integrations"),
    );
    Ok(response)
}

#[derive(Template)]
#[template(path = "test_result.html")]
struct TestResultPartial {
    result: TestResult,
    /// The id of the element it replaces (the page's, or a card's).
    target: String,
}

#[derive(Template)]
#[template(path = "test_result_page.html")]
struct TestResultPage {
    layout: Layout,
    integration_id: String,
    result: TestResult,
    target: String,
}

/// POST /integrations/{id}/test: the result in place (htmx) or as a page.
pub async fn test(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    IdPath(integration): IdPath<IntegrationId>,
) -> Result<HttpResponse, WebError> {
    let result = integrations::test_connection(&state.ctx, &admin.admin, integration)
        .await?
        .ok_or(WebError::NotFound)?;
    // htmx names the element the result replaces (the page's, or a card's).
    let target = req
        .headers()
        .get("hx-target")
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .unwrap_or("test-result")
        .to_owned();
    let partial = TestResultPartial { result, target };
    partial_or_page(&req, &admin, StatusCode::OK, partial, |partial, layout| {
        TestResultPage {
            layout,
            integration_id: integration.to_text(),
            result: partial.result,
            target: "test-result".to_owned(),
        }
    })
}
