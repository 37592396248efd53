//! The integrations settings page: one card per catalogue provider, filterable by category
//! and name (htmx swaps the cards; without JavaScript the same form reloads the page).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use super::{Layout, partial_or_page};
use crate::integrations::{self, CardFilter, ProviderCard};
use crate::web::WebState;
use crate::web::errors::WebError;
use crate::web::session::SignedIn;

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
    signed_in: SignedIn,
    query: web::Query<FilterQuery>,
) -> Result<HttpResponse, WebError> {
    let FilterQuery { category, q } = query.into_inner();
    let (category, q) = (category.unwrap_or_default(), q.unwrap_or_default());
    let filter = CardFilter {
        category: Some(category.clone()),
        query: Some(q.clone()),
    };
    let (admin, mine) = signed_in
        .load(&state, |conn, admin| {
            integrations::load_settings(conn, admin.org_id)
        })
        .await?;
    let page = integrations::settings_page(&state.ctx, mine, &filter);
    let csrf = admin.csrf()?;
    let cards = CardsPartial {
        cards: page.cards,
        category,
        q,
        csrf,
    };
    partial_or_page(&req, &admin, StatusCode::OK, cards, |cards, layout| {
        SettingsPage {
            layout,
            cards: cards.cards,
            categories: page.categories,
            category: cards.category,
            q: cards.q,
            csrf: cards.csrf,
        }
    })
}
