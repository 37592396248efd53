//! Slack Web API methods. Parameters come from the query string and from a form or JSON body,
//! as Slack accepts all three.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Answer, ApiError, Call, page, slack_error, slack_ok};

/// Slack refuses `post_at` more than 120 days ahead.
const MAX_SCHEDULE_AHEAD_SECS: i64 = 120 * 24 * 3600;

/// The workspace's memory: channels made through `conversations.create` and id counters.
#[derive(Default)]
pub(super) struct Workspace {
    created_channels: Vec<Channel>,
    /// The members `users.list` answers, when a test set them (else Ada and Bob).
    pub members: Option<Vec<Value>>,
    messages_posted: u64,
    messages_scheduled: u64,
}

#[derive(Clone)]
struct Channel {
    id: String,
    name: String,
    is_private: bool,
}

impl Channel {
    fn new(id: &str, name: &str, is_private: bool) -> Self {
        let (id, name) = (id.to_owned(), name.to_owned());
        Self { id, name, is_private }
    }

    fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "is_private": self.is_private })
    }
}

struct Member {
    id: &'static str,
    name: &'static str,
    real_name: &'static str,
    email: &'static str,
}

const MEMBERS: [Member; 2] = [
    Member {
        id: "U-ADA",
        name: "ada",
        real_name: "Ada Lovelace",
        email: "ada@acme.example",
    },
    Member {
        id: "U-BOB",
        name: "bob",
        real_name: "Bob Martin",
        email: "bob@acme.example",
    },
];

impl Member {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "real_name": self.real_name,
            "profile": { "email": self.email, "real_name": self.real_name },
            "deleted": false,
            "is_bot": false,
        })
    }
}

impl Workspace {
    fn channels(&self) -> Vec<Channel> {
        let mut channels = vec![
            Channel::new("C-GENERAL", "general", false),
            Channel::new("C-HR", "hr", false),
        ];
        channels.extend(self.created_channels.iter().cloned());
        channels
    }
}

/// POST /api/chat.postMessage
pub(super) fn post_message(workspace: &mut Workspace, call: &Call) -> Answer {
    let params = Params::of(call);
    let (channel, text) = params.message()?;
    workspace.messages_posted += 1;
    let ts = format!(
        "{}.{:06}",
        chrono::Utc::now().timestamp(),
        workspace.messages_posted
    );
    let mut message = json!({ "type": "message", "text": text, "user": "U-MOCK", "ts": ts });
    if let Some(blocks) = params.get("blocks") {
        message["blocks"] = blocks.clone();
    }
    slack_ok(json!({ "channel": channel, "ts": ts, "message": message }))
}

/// POST /api/chat.scheduleMessage
pub(super) fn schedule_message(workspace: &mut Workspace, call: &Call) -> Answer {
    let params = Params::of(call);
    let (channel, _) = params.message()?;
    let post_at = params.int("post_at").ok_or(slack_error("invalid_time"))?;
    let now = chrono::Utc::now().timestamp();
    if post_at <= now {
        return Err(slack_error("time_in_past"));
    }
    if post_at > now + MAX_SCHEDULE_AHEAD_SECS {
        return Err(slack_error("time_too_far"));
    }
    workspace.messages_scheduled += 1;
    slack_ok(json!({
        "channel": channel,
        "scheduled_message_id": format!("Q{}", workspace.messages_scheduled),
        "post_at": post_at,
    }))
}

/// POST /api/conversations.open: the same users always get the same DM channel.
pub(super) fn open_conversation(_: &mut Workspace, call: &Call) -> Answer {
    let params = Params::of(call);
    let mut users: Vec<&str> = params
        .text("users")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .collect();
    users.retain(|user| !user.is_empty());
    if users.is_empty() {
        return Err(slack_error("users_not_found"));
    }
    users.sort_unstable();
    let digest = hex::encode_upper(Sha256::digest(users.join(",").as_bytes()));
    slack_ok(json!({ "channel": { "id": format!("D-{}", &digest[..10]) } }))
}

/// POST /api/conversations.create
pub(super) fn create_conversation(workspace: &mut Workspace, call: &Call) -> Answer {
    let params = Params::of(call);
    let name = params.text("name").ok_or(slack_error("invalid_name_required"))?;
    if !is_valid_channel_name(name) {
        return Err(slack_error("invalid_name_specials"));
    }
    if workspace.channels().iter().any(|channel| channel.name == name) {
        return Err(slack_error("name_taken"));
    }
    let id = format!("C-{}", workspace.created_channels.len() + 1);
    let channel = Channel::new(&id, name, params.flag("is_private"));
    let body = json!({ "channel": channel.to_json() });
    workspace.created_channels.push(channel);
    slack_ok(body)
}

/// GET or POST /api/conversations.list
pub(super) fn list_conversations(workspace: &mut Workspace, call: &Call) -> Answer {
    let channels: Vec<Value> = workspace.channels().iter().map(Channel::to_json).collect();
    paged(&Params::of(call), "channels", &channels)
}

/// GET or POST /api/users.list
pub(super) fn list_users(workspace: &mut Workspace, call: &Call) -> Answer {
    // Borrowed: a test's directory may hold 100,000 members.
    match &workspace.members {
        Some(members) => paged(&Params::of(call), "members", members),
        None => {
            let members: Vec<Value> = MEMBERS.iter().map(Member::to_json).collect();
            paged(&Params::of(call), "members", &members)
        }
    }
}

/// GET or POST /api/users.lookupByEmail
pub(super) fn lookup_user_by_email(_: &mut Workspace, call: &Call) -> Answer {
    let params = Params::of(call);
    let email = params.text("email").unwrap_or_default();
    match MEMBERS
        .iter()
        .find(|member| member.email.eq_ignore_ascii_case(email))
    {
        Some(member) => slack_ok(json!({ "user": member.to_json() })),
        None => Err(slack_error("users_not_found")),
    }
}

/// GET or POST /api/team.info
pub(super) fn team_info(_: &mut Workspace, _: &Call) -> Answer {
    slack_ok(json!({ "team": { "id": "T-MOCK", "name": "Mock Workspace", "domain": "mock" } }))
}

/// Cursor pagination (`limit`, `cursor`); the cursor is the index of the next item.
fn paged(params: &Params, key: &str, items: &[Value]) -> Answer {
    let limit = params.int("limit").and_then(|limit| usize::try_from(limit).ok());
    match page(items, params.text("cursor"), limit) {
        Some((items, next)) => {
            let next_cursor = next.unwrap_or_default();
            slack_ok(json!({ key: items, "response_metadata": { "next_cursor": next_cursor } }))
        }
        None => Err(slack_error("invalid_cursor")),
    }
}

/// Slack channel names: lowercase letters, digits, `-` and `_`, at most 80.
fn is_valid_channel_name(name: &str) -> bool {
    name.len() <= 80
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// A method's parameters: the query string, then the body (JSON or form) on top.
struct Params(Map<String, Value>);

impl Params {
    fn of(call: &Call) -> Self {
        let mut params: Map<String, Value> = call.query_pairs().map(|(k, v)| (k, Value::String(v))).collect();
        if call.is_json() {
            if let Ok(Value::Object(body)) = serde_json::from_slice(call.body()) {
                params.extend(body);
            }
        } else {
            let form = url::form_urlencoded::parse(call.body()).into_owned();
            params.extend(form.map(|(k, v)| (k, Value::String(v))));
        }
        Self(params)
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|value| !is_blank(value))
    }

    /// A non-empty string parameter.
    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// An integer, sent as a JSON number or as text.
    fn int(&self, name: &str) -> Option<i64> {
        match self.get(name)? {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean, sent as JSON `true` or as `true` / `1`.
    fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            Some(Value::Bool(flag)) => *flag,
            Some(Value::String(text)) => matches!(text.as_str(), "true" | "1"),
            _ => false,
        }
    }

    /// The channel and text of a message; a message needs a channel, and text or blocks.
    fn message(&self) -> Result<(&str, &str), ApiError> {
        let channel = self.text("channel").ok_or(slack_error("channel_not_found"))?;
        match (self.text("text"), self.get("blocks")) {
            (None, None) => Err(slack_error("no_text")),
            (text, _) => Ok((channel, text.unwrap_or_default())),
        }
    }
}

fn is_blank(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(text) => text.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}
