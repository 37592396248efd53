//! The connect dialog, the start of the flow, and the callback page.

use actix_session::Session;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, html, partial_or_page};
use crate::domain::IntegrationId;
use crate::integrations::{self, CallbackError, CallbackParams, ConnectRequest, ConnectView, StateProblem};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::{self, CurrentAdmin};

#[derive(Deserialize)]
pub struct ReconnectQuery {
    integration: Option<String>,
    /// A feature to tick (Add access).
    add: Option<String>,
}

#[derive(Template)]
#[template(path = "connect.html")]
struct ConnectPage {
    layout: Layout,
    view: ConnectView,
    csrf: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "connect_dialog.html")]
struct ConnectDialog {
    view: ConnectView,
    csrf: String,
    error: Option<String>,
}

fn reconnect_id(raw: Option<&str>) -> Result<Option<IntegrationId>, WebError> {
    match raw.filter(|r| !r.is_empty()) {
        Some(raw) => IntegrationId::parse(raw).map(Some).ok_or(WebError::NotFound),
        None => Ok(None),
    }
}

/// GET /integrations/{slug}/connect: the dialog (htmx) or the same as a page.
pub async fn dialog(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    slug: web::Path<String>,
    query: web::Query<ReconnectQuery>,
) -> Result<HttpResponse, WebError> {
    let reconnect = reconnect_id(query.integration.as_deref())?;
    let add = query.add.as_deref();
    let view = integrations::connect_view(&state.ctx, &admin.admin, &slug, reconnect, add).await?;
    render_connect(&req, &admin, view, None, StatusCode::OK)
}

fn render_connect(
    req: &HttpRequest,
    admin: &CurrentAdmin,
    view: ConnectView,
    error: Option<String>,
    status: StatusCode,
) -> Result<HttpResponse, WebError> {
    let csrf = admin.csrf()?;
    let dialog = ConnectDialog { view, csrf, error };
    partial_or_page(req, admin, status, dialog, |dialog, layout| ConnectPage {
        layout,
        view: dialog.view,
        csrf: dialog.csrf,
        error: dialog.error,
    })
}

#[derive(Deserialize)]
pub struct ConnectForm {
    consent: Option<String>,
    integration: Option<String>,
    /// `feature.<key>=yes` for each feature ticked (and the CSRF token).
    #[serde(flatten)]
    fields: std::collections::HashMap<String, String>,
}

impl ConnectForm {
    /// The keys of the features ticked.
    fn features(&self) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(_, value)| value.as_str() == "yes")
            .filter_map(|(name, _)| name.strip_prefix("feature."))
            .map(str::to_owned)
            .collect()
    }
}

/// POST /integrations/{slug}/connect: records the consent, answers 303 to the provider.
pub async fn start(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    slug: web::Path<String>,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, WebError> {
    let reconnect = reconnect_id(form.integration.as_deref())?;
    if form.consent.as_deref() != Some("yes") {
        let view = integrations::connect_view(&state.ctx, &admin.admin, &slug, reconnect, None).await?;
        let error = Some("Tick the box to confirm that you consent to this access.".to_owned());
        return render_connect(&req, &admin, view, error, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let session_id = session::session_id(&admin.session).ok_or(WebError::SignInRequired)?;
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let url = integrations::start_connect(
        &state.ctx,
        ConnectRequest {
            admin: &admin.admin,
            slug: &slug,
            session_id: &session_id,
            ip_address: state.client_ip(&req).map(|ip| ip.to_string()),
            user_agent,
            reconnect,
            features: form.features(),
        },
    )
    .await?;
    // The authorization URL carries the state: never cache this answer.
    Ok(HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, url))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Template)]
#[template(path = "callback.html")]
struct CallbackPage {
    layout: Layout,
    outcome: CallbackView,
}

enum CallbackView {
    Connected {
        provider: String,
        account: String,
        integration_id: String,
    },
    Failed {
        provider: String,
        slug: String,
        reason: String,
    },
    InvalidState {
        message: &'static str,
    },
}

/// GET /integrations/callback: where every provider sends the browser back.
pub async fn callback(
    req: HttpRequest,
    state: web::Data<WebState>,
    session: Session,
    query: web::Query<CallbackParams>,
) -> Result<HttpResponse, WebError> {
    let session_id = session::session_id(&session);
    let result = integrations::complete_callback(
        &state.ctx,
        query.into_inner(),
        session_id.as_deref(),
        state.client_ip(&req).map(|ip| ip.to_string()),
    )
    .await;
    let (status, outcome) = match result {
        Ok(done) => (
            StatusCode::OK,
            CallbackView::Connected {
                provider: done.provider_name,
                account: done.account_name,
                integration_id: done.integration_id.to_text(),
            },
        ),
        Err(CallbackError::InvalidState(problem)) => {
            tracing::info!(problem = ?problem, "callback refused");
            (
                StatusCode::BAD_REQUEST,
                CallbackView::InvalidState {
                    message: state_message(problem),
                },
            )
        }
        Err(CallbackError::Failed {
            slug,
            provider_name,
            reason,
        }) => (
            StatusCode::BAD_GATEWAY,
            CallbackView::Failed {
                provider: provider_name,
                slug,
                reason,
            },
        ),
        Err(CallbackError::Refused {
            slug,
            provider_name,
            reason,
        }) => (
            StatusCode::CONFLICT,
            CallbackView::Failed {
                provider: provider_name,
                slug,
                reason,
            },
        ),
        Err(CallbackError::Db(e)) => return Err(e.into()),
    };
    let mut response = html(
        status,
        CallbackPage {
            layout: Layout::anonymous(&session)?,
            outcome,
        },
    )?;
    response.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

fn state_message(problem: StateProblem) -> &'static str {
    match problem {
        StateProblem::Missing | StateProblem::Unknown => {
            "This sign-in link is not one we started. Nothing was connected."
        }
        StateProblem::Expired => {
            "This connection attempt took longer than 10 minutes and has expired. Nothing was connected."
        }
        StateProblem::AlreadyUsed => {
            "This connection attempt has already been completed. Nothing more was changed."
        }
        StateProblem::OtherSession => {
            "This connection attempt was started in another browser session. Start it again from this browser."
        }
    }
}
