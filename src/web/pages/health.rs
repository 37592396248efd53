use actix_web::{HttpResponse, web};

use crate::web::WebState;
use crate::web::errors::WebError;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// The database answers: this instance can serve.
pub async fn readyz(state: web::Data<WebState>) -> Result<HttpResponse, WebError> {
    state
        .ctx
        .db
        .ping()
        .await
        .map_err(|e| WebError::Unavailable(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ready"))
}

pub async fn metrics(state: web::Data<WebState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.ctx.metrics.render())
}
