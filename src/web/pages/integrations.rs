//! The integrations settings page: one card per catalogue provider, filterable by category
//! and name (htmx swaps the cards; without JavaScript the same form reloads the page).

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, VARY};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, html, is_htmx};
use crate::integrations::{self, CardFilter, ProviderCard};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::CurrentAdmin;

#[derive(Deserialize)]
pub struct FilterQuery {
    category: Option<String>,
    q: Option<String>,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct SettingsPage {
    layout: Layout,
    cards: Vec<ProviderCard>,
    categories: Vec<String>,
    category: String,
    q: String,
    csrf: String,
}

#[derive(Template)]
#[template(path = "integrations_cards.html")]
struct CardsPartial {
    cards: Vec<ProviderCard>,
    category: String,
    q: String,
    csrf: String,
}

pub async fn settings(
    req: HttpRequest,
    state: web::Data<WebState>,
    admin: CurrentAdmin,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, WebError> {
    let FilterQuery { category, q } = query.into_inner();
    let (category, q) = (category.unwrap_or_default(), q.unwrap_or_default());
    let filter = CardFilter {
        category: Some(category.clone()),
        query: Some(q.clone()),
    };
    let page = integrations::settings_page(&state.ctx, admin.org_id(), &filter).await?;
    let csrf = admin.csrf()?;
    let mut response = if is_htmx(&req) {
        html(
            StatusCode::OK,
            CardsPartial {
                cards: page.cards,
                category,
                q,
                csrf,
            },
        )?
    } else {
        let layout = Layout::signed_in(&admin)?;
        html(
            StatusCode::OK,
            SettingsPage {
                layout,
                cards: page.cards,
                categories: page.categories,
                category,
                q,
                csrf,
            },
        )?
    };
    response
        .headers_mut()
        .insert(VARY, HeaderValue::from_static("HX-Request"));
    Ok(response)
}
