//! Static files, embedded in the binary. URLs carry a content hash (`?v=`), so a matching
//! request is cached for a year; every response has an ETag for revalidation.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

pub const HTMX: &str = "htmx-2.0.11.min.js";

/// The fingerprinted URL of a static file, for templates.
pub fn url(file: &str) -> String {
    match Static::get(file) {
        Some(asset) => format!(
            "/static/{file}?v={}",
            &hex::encode(asset.metadata.sha256_hash())[..16]
        ),
        None => format!("/static/{file}"),
    }
}

pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let file = path.into_inner();
    let Some(asset) = Static::get(&file) else {
        return HttpResponse::NotFound().finish();
    };
    let hash = hex::encode(asset.metadata.sha256_hash());
    let etag = format!("\"{}\"", &hash[..32]);
    let fingerprinted = req
        .query_string()
        .strip_prefix("v=")
        .is_some_and(|v| v.len() >= 8 && hash.starts_with(v));
    let cache = if fingerprinted {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache));
    if not_modified {
        return response.finish();
    }
    response
        .content_type(content_type(&file))
        .body(asset.data.into_owned())
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
