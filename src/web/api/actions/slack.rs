//! Slack: messages (now, scheduled, direct), channels, users and the team.

use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{json_body, page_json, page_query, query, slack_api};
use crate::domain::{Email, IntegrationId};
use crate::providers::catalogue::SLACK;
use crate::web::WebState;
use crate::web::api::ApiPath;
use crate::web::api::errors::ApiFailure;
use crate::web::api::{Service, answer};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackMessage {
    /// A channel id, or
    channel: Option<String>,
    /// a user id (a direct message).
    user: Option<String>,
    text: String,
    /// Unix seconds: schedule instead of sending now.
    post_at: Option<i64>,
}

pub(in crate::web::api) async fn slack_message(
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let message: SlackMessage = json_body(
        &body,
        "expected {\"channel\" or \"user\", \"text\", optional \"post_at\"}",
    )?;
    if message.text.trim().is_empty() || message.text.len() > 40_000 {
        return Err(ApiFailure::BadRequest("text must be 1 to 40,000 characters"));
    }
    if let Some(at) = message.post_at
        && !schedulable(at, chrono::Utc::now().timestamp())
    {
        return Err(ApiFailure::BadRequest(
            "post_at must be a Unix time in the future, at most 120 days ahead (Slack's limit)",
        ));
    }
    let slack = slack_api(&state, &service.0, id).await?;
    let result = match (&message.channel, &message.user, message.post_at) {
        (Some(channel), None, None) => slack.post_message(channel, &message.text).await.map(|m| json!(m)),
        (None, Some(user), None) => slack.send_dm(user, &message.text).await.map(|m| json!(m)),
        (Some(channel), None, Some(at)) => slack
            .schedule_message(channel, &message.text, at)
            .await
            .map(|id| json!({ "scheduled_message_id": id })),
        _ => {
            return Err(ApiFailure::BadRequest(
                "give exactly one of channel or user (post_at only with channel)",
            ));
        }
    };
    answer(&state, &service.0, (id, SLACK), "Slack message", started, result).await
}

/// Slack schedules messages up to 120 days ahead (chat.scheduleMessage, `time_too_far`).
const MAX_SCHEDULE_AHEAD_SECS: i64 = 120 * 24 * 3600;

fn schedulable(post_at: i64, now: i64) -> bool {
    post_at > now && post_at.abs_diff(now) <= MAX_SCHEDULE_AHEAD_SECS.unsigned_abs()
}

/// GET …/slack/channels?cursor=&limit=: one page of the channels the app sees (Slack's
/// cursor pagination).
pub(in crate::web::api) async fn slack_channels(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let page = page_query(&req, 200)?;
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack
        .channels_page(&page)
        .await
        .map(|channels| page_json("channels", channels));
    answer(&state, &service.0, (id, SLACK), "Slack channels", started, result).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    name: String,
    #[serde(default)]
    is_private: bool,
}

/// POST …/slack/channels: a new channel (Slack checks the name's characters).
pub(in crate::web::api) async fn slack_new_channel(
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let channel: NewChannel = json_body(&body, "expected {\"name\", optional \"is_private\"}")?;
    if channel.name.trim().is_empty() || channel.name.chars().count() > 80 {
        return Err(ApiFailure::BadRequest("name must be 1 to 80 characters"));
    }
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.create_channel(&channel.name, channel.is_private).await;
    answer(&state, &service.0, (id, SLACK), "Slack channel", started, result).await
}

/// GET …/slack/users?cursor=&limit=: one page of the workspace's members.
pub(in crate::web::api) async fn slack_users(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let page = page_query(&req, 200)?;
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack
        .users_page(&page)
        .await
        .map(|users| page_json("users", users));
    answer(&state, &service.0, (id, SLACK), "Slack users", started, result).await
}

#[derive(Deserialize)]
pub struct UserLookup {
    email: String,
}

/// GET …/slack/users/lookup?email=: the member with this email (404 `provider_not_found`
/// when there is none).
pub(in crate::web::api) async fn slack_user_by_email(
    req: HttpRequest,
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    const EXPECTED: &str = "expected ?email= with a valid address";
    let started = Instant::now();
    let lookup: UserLookup = query(&req, EXPECTED)?;
    let email = Email::parse(&lookup.email).map_err(|_| ApiFailure::BadRequest(EXPECTED))?;
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.lookup_user_by_email(email.as_str()).await;
    answer(
        &state,
        &service.0,
        (id, SLACK),
        "Slack user lookup",
        started,
        result,
    )
    .await
}

/// GET …/slack/team: the workspace's id and name.
pub(in crate::web::api) async fn slack_team(
    state: web::Data<WebState>,
    service: Service,
    ApiPath(id): ApiPath<IntegrationId>,
) -> Result<HttpResponse, ApiFailure> {
    let started = Instant::now();
    let slack = slack_api(&state, &service.0, id).await?;
    let result = slack.team_info().await;
    answer(&state, &service.0, (id, SLACK), "Slack team", started, result).await
}
