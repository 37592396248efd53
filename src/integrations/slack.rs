//! Slack's Web API for the platform: messages (to a channel, to a person, scheduled),
//! channels, users, the team. Every call goes through the shared HTTP core.

use serde_json::{Value, json};

use super::provider_api::{ApiError, ApiRequest, Page, PageRequest, ProviderApi};
use crate::providers::catalogue::endpoints::*;

pub struct Slack<'a> {
    api: ProviderApi<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PostedMessage {
    pub channel: String,
    pub ts: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub is_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Team {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub real_name: Option<String>,
    pub email: Option<String>,
    /// Deactivated in the workspace.
    #[serde(skip)]
    pub deleted: bool,
    /// An app's bot user, not a person.
    #[serde(skip)]
    pub is_bot: bool,
}

fn text(value: &Value, pointer: &str) -> Result<String, ApiError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ApiError::ProviderDown(format!("Slack's answer has no {pointer}")))
}

fn user(member: &Value) -> Option<User> {
    Some(User {
        id: member.get("id")?.as_str()?.to_owned(),
        name: member
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        real_name: member
            .pointer("/profile/real_name")
            .or_else(|| member.get("real_name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        email: member
            .pointer("/profile/email")
            .and_then(Value::as_str)
            .map(str::to_owned),
        deleted: member.get("deleted").and_then(Value::as_bool).unwrap_or(false),
        is_bot: member.get("is_bot").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn channel(c: &Value) -> Option<Channel> {
    Some(Channel {
        id: c.get("id")?.as_str()?.to_owned(),
        name: c.get("name")?.as_str()?.to_owned(),
        is_private: c.get("is_private").and_then(Value::as_bool).unwrap_or(false),
    })
}

impl<'a> Slack<'a> {
    pub fn new(api: ProviderApi<'a>) -> Slack<'a> {
        Slack { api }
    }

    async fn call(&self, request: ApiRequest) -> Result<Value, ApiError> {
        self.api.send(&request).await?.json()
    }

    /// chat.postMessage (not repeated on failure: it would post twice).
    pub async fn post_message(&self, channel: &str, text_body: &str) -> Result<PostedMessage, ApiError> {
        let answer = self
            .call(
                self.api
                    .request(&SLACK_POST_MESSAGE, &[])
                    .json(&json!({ "channel": channel, "text": text_body })),
            )
            .await?;
        Ok(PostedMessage {
            channel: text(&answer, "/channel")?,
            ts: text(&answer, "/ts")?,
        })
    }

    /// conversations.open: the direct-message channel with a person (the same one each time).
    pub async fn open_dm(&self, user_id: &str) -> Result<String, ApiError> {
        let mut request = self
            .api
            .request(&SLACK_OPEN_DM, &[])
            .json(&json!({ "users": user_id }));
        request.retry_safe = true;
        text(&self.call(request).await?, "/channel/id")
    }

    pub async fn send_dm(&self, user_id: &str, text_body: &str) -> Result<PostedMessage, ApiError> {
        let channel = self.open_dm(user_id).await?;
        self.post_message(&channel, text_body).await
    }

    /// chat.scheduleMessage: `post_at` in Unix seconds. Returns the scheduled message id.
    pub async fn schedule_message(
        &self,
        channel: &str,
        text_body: &str,
        post_at: i64,
    ) -> Result<String, ApiError> {
        let body = json!({ "channel": channel, "text": text_body, "post_at": post_at });
        let answer = self
            .call(self.api.request(&SLACK_SCHEDULE_MESSAGE, &[]).json(&body))
            .await?;
        text(&answer, "/scheduled_message_id")
    }

    /// One page of a cursor-paginated read method (Slack's `cursor` and `limit`), the items
    /// under `key` parsed by `item`.
    async fn one_page<T>(
        &self,
        method: &'static Endpoint,
        key: &str,
        item: impl Fn(&Value) -> Option<T>,
        page: &PageRequest,
    ) -> Result<Page<T>, ApiError> {
        let mut request = self
            .api
            .request(method, &[])
            .query("limit", page.limit.to_string());
        if let Some(cursor) = page.cursor.as_deref().filter(|c| !c.is_empty()) {
            request = request.query("cursor", cursor);
        }
        let answer = self.call(request).await?;
        let items = answer
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(item)
            .collect();
        let next_cursor = answer
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned);
        Ok(Page { items, next_cursor })
    }

    /// conversations.list, one page.
    pub async fn channels_page(&self, page: &PageRequest) -> Result<Page<Channel>, ApiError> {
        self.one_page(&SLACK_LIST_CHANNELS, "channels", channel, page)
            .await
    }

    pub async fn create_channel(&self, name: &str, is_private: bool) -> Result<Channel, ApiError> {
        let body = json!({ "name": name, "is_private": is_private });
        let answer = self
            .call(self.api.request(&SLACK_CREATE_CHANNEL, &[]).json(&body))
            .await?;
        Ok(Channel {
            id: text(&answer, "/channel/id")?,
            name: text(&answer, "/channel/name")?,
            is_private,
        })
    }

    /// users.list, one page.
    pub async fn users_page(&self, page: &PageRequest) -> Result<Page<User>, ApiError> {
        self.one_page(&SLACK_LIST_USERS, "members", user, page).await
    }

    pub async fn lookup_user_by_email(&self, email: &str) -> Result<User, ApiError> {
        let answer = self
            .call(self.api.request(&SLACK_LOOKUP_USER, &[]).query("email", email))
            .await?;
        answer.get("user").and_then(user).ok_or(ApiError::NotFound)
    }

    /// team.info: the workspace.
    pub async fn team_info(&self) -> Result<Team, ApiError> {
        let answer = self.call(self.api.request(&SLACK_TEAM_INFO, &[])).await?;
        Ok(Team {
            id: text(&answer, "/team/id")?,
            name: text(&answer, "/team/name")?,
        })
    }
}
