//! The OpenAPI document, status code by status code: every operation of the API's router lists
//! what its handler can answer (taken from the API's own error table, ApiFailure), and nothing
//! it cannot; and every call that reaches a provider really answers the documented 502 when
//! the provider refuses the credentials.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::ResponseError;
use reqwest::StatusCode;
use serde_json::Value;
use targetym_integrations::db::DbError;
use targetym_integrations::integrations::provider_api::ApiError;
use targetym_integrations::web::api::{ApiFailure, ROUTES, openapi_document};

use crate::internal_api::{api, google_integration, provider_actions, service_token};
use crate::oauth_helpers::first_integration;

fn status(failure: ApiFailure) -> u16 {
    failure.status_code().as_u16()
}

/// Every way a provider call fails. A new variant does not compile here until it is listed,
/// so the document cannot miss its status.
fn provider_failures() -> Vec<ApiError> {
    let all = vec![
        ApiError::UnknownIntegration,
        ApiError::NeedsReconnect(String::new()),
        ApiError::Auth(String::new()),
        ApiError::RateLimited { retry_after: None },
        ApiError::ProviderDown(String::new()),
        ApiError::CircuitOpen {
            retry_after: Duration::ZERO,
        },
        ApiError::BadRequest(String::new()),
        ApiError::NotFound,
        ApiError::Forbidden(String::new()),
        ApiError::ResyncRequired,
        ApiError::MissingScope { scopes: Vec::new() },
    ];
    for failure in &all {
        match failure {
            ApiError::UnknownIntegration
            | ApiError::NeedsReconnect(_)
            | ApiError::Auth(_)
            | ApiError::RateLimited { .. }
            | ApiError::ProviderDown(_)
            | ApiError::CircuitOpen { .. }
            | ApiError::BadRequest(_)
            | ApiError::NotFound
            | ApiError::Forbidden(_)
            | ApiError::ResyncRequired
            | ApiError::MissingScope { .. } => {}
        }
    }
    all
}

/// What the handler of a documented operation can answer (besides a panic's 500).
fn answers(path: &str, operation: &Value) -> BTreeSet<u16> {
    if path == "/openapi.json" {
        return BTreeSet::from([200]);
    }
    // The service token is checked (storage may fail there) and rated on every call.
    let mut codes = BTreeSet::from([
        200,
        status(ApiFailure::Unauthorized),
        status(ApiFailure::TokenOverRate { retry_after_secs: 1 }),
        status(ApiFailure::Storage(DbError::Cancelled)),
    ]);
    let proxy = path.contains("/proxy/");
    let query = operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
    if proxy || query || operation.get("requestBody").is_some() {
        codes.insert(status(ApiFailure::BadRequest("")));
    }
    if path.contains("{org}") {
        codes.insert(status(ApiFailure::UnknownOrganization));
    }
    // Every route of one integration builds its provider's client, and calls it.
    if path.starts_with("/integrations/{id}/") {
        codes.insert(status(ApiFailure::UnknownIntegration));
        codes.extend(
            provider_failures()
                .into_iter()
                .map(|e| status(ApiFailure::Provider(e))),
        );
        if !proxy {
            codes.insert(status(ApiFailure::WrongProvider("")));
        }
    }
    if proxy {
        codes.insert(status(ApiFailure::PathOutsideApi));
        codes.insert(status(ApiFailure::TooLarge));
    }
    codes
}

/// Where a document and the router's handlers disagree, one line each.
fn disagreements(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for route in ROUTES {
        let path = route
            .path
            .strip_prefix("/api/v1")
            .unwrap()
            .replace("{tail:.*}", "{path}");
        let methods = match route.method {
            "ANY" => vec!["get", "post", "put", "patch", "delete"],
            "GET" => vec!["get"],
            "POST" => vec!["post"],
            "PUT" => vec!["put"],
            other => panic!("a route method this test does not know: {other}"),
        };
        for method in methods {
            let operation = &doc["paths"][&path][method];
            let Some(responses) = operation["responses"].as_object() else {
                problems.push(format!("{method} {path}: not documented"));
                continue;
            };
            let documented: BTreeSet<u16> = responses.keys().filter_map(|k| k.parse().ok()).collect();
            let expected = answers(&path, operation);
            let missing: Vec<_> = expected.difference(&documented).collect();
            let extra: Vec<_> = documented.difference(&expected).collect();
            if !missing.is_empty() {
                problems.push(format!("{method} {path}: can answer {missing:?}, not documented"));
            }
            if !extra.is_empty() {
                problems.push(format!("{method} {path}: documents {extra:?}, never answered"));
            }
            for (code, response) in responses {
                if response["description"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("{method} {path}: {code} has no description"));
                }
            }
        }
    }
    problems
}

#[test]
fn every_operation_documents_what_its_handler_can_answer_and_nothing_else() {
    let doc = openapi_document();
    let problems = disagreements(&doc);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The check sees a missing answer (the 502 this test was written for) and an extra one.
    let mut without_502 = doc.clone();
    let responses = &mut without_502["paths"]["/integrations/{id}/slack/team"]["get"]["responses"];
    responses.as_object_mut().unwrap().remove("502");
    assert_eq!(
        disagreements(&without_502),
        ["get /integrations/{id}/slack/team: can answer [502], not documented"]
    );
    let mut with_418 = doc;
    with_418["paths"]["/organization"]["get"]["responses"]["418"] =
        serde_json::json!({ "description": "teapot" });
    assert_eq!(
        disagreements(&with_418),
        ["get /organization: documents [418], never answered"]
    );
}

#[tokio::test]
async fn every_provider_call_answers_the_documented_502_when_the_provider_refuses_the_credentials() {
    // A refused token is not a provider outage: keep the breaker out of the way; and only the
    // API refreshes tokens here (the actor would take the expired token's claim meanwhile).
    let t = crate::oauth_helpers::oauth_app_with(|b| {
        b.var("BREAKER_THRESHOLD", "1000").var("WORKER_ENABLED", "false")
    })
    .await;
    assert_eq!(t.connect("slack").await.callback.status(), StatusCode::OK);
    let slack_id = first_integration(&t.app).await;
    let google_id = google_integration(&t).await;
    // A seeded integration has no refresh schedule yet; the callback would have set one.
    let seeded = targetym_integrations::domain::IntegrationId::parse(&google_id).unwrap();
    t.app
        .ctx
        .db
        .run(move |conn| {
            use diesel::prelude::*;
            use targetym_integrations::db::schema::integrations as i;
            diesel::update(i::table.find(seeded))
                .set(i::next_refresh_at.eq(targetym_integrations::db::now() + chrono::Duration::hours(1)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    let token = service_token(&t, &t.admin, "openapi-502").await;
    let doc = openapi_document();
    let mut calls = provider_actions();
    calls.push((reqwest::Method::GET, "proxy/team.info", None, "slack"));
    for (method, action, body, provider) in calls {
        let id = if provider == "slack" {
            &slack_id
        } else {
            &google_id
        };
        // Refused, then refused again after the forced refresh.
        t.mock.set_behaviour(|b| b.api_unauthorized_next = 2);
        let path = format!("/api/v1/integrations/{id}/{action}");
        let res = api(&t, Some(&token), method.clone(), &path, body).await;
        let status = res.status();
        let answer: Value = res.json().await.unwrap();
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{method} {action}: {answer}");
        assert_eq!(answer["error"], "provider_auth", "{method} {action}");
        let documented = action
            .split('?')
            .next()
            .unwrap()
            .replace("file-1", "{file_id}")
            .replace("proxy/team.info", "proxy/{path}");
        let operation =
            &doc["paths"][format!("/integrations/{{id}}/{documented}")][method.as_str().to_lowercase()];
        assert!(
            operation["responses"]["502"]["description"].is_string(),
            "{method} {action}: 502 not documented"
        );
    }
}
