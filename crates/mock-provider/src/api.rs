//! Slack-shaped (`/api/…`), Google-shaped (Calendar, Drive, Gmail, People) and Microsoft
//! Graph-shaped (`/v1.0/users/delta`) API endpoints, so the app's provider clients can be
//! tested offline.
//!
//! Every call goes through [`serve`]: it is recorded ([`ApiCall`]), counted, delayed, failed on
//! purpose when a [`Behaviour`](super::Behaviour) knob says so, and checked for an active bearer
//! token before the endpoint itself runs.

mod changelog;
mod directories;
mod google;
mod graph;
mod identities;
mod people_directory;
pub mod scopes;
mod slack;

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{Handler, HttpRequest, HttpResponse, Resource, web};
use serde_json::{Value, json};

use super::Shared;
use super::resources::bearer_token;
use super::state::State;

/// One request to an API endpoint, as received (whatever the answer was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    pub method: String,
    /// The API host the call was sent to (`/hosts/{host}/…`), `None` at the root.
    pub host: Option<String>,
    /// The path on that host.
    pub path: String,
    /// The raw query string, without the `?`.
    pub query: String,
    /// The raw body, lossily decoded as UTF-8.
    pub body: String,
    /// The raw `Authorization` header value.
    pub authorization: Option<String>,
}

/// What the API endpoints remember.
#[derive(Default)]
pub(super) struct ApiData {
    calls: Vec<ApiCall>,
    slack: slack::Workspace,
    google: google::Account,
    graph: graph::Tenant,
    directories: directories::Directories,
}

impl ApiData {
    pub fn calls(&self) -> Vec<ApiCall> {
        self.calls.clone()
    }

    /// Sets the users the Workspace directory (Admin SDK `users.list`) answers.
    pub fn set_google_directory(&mut self, users: Vec<Value>) {
        self.google.directory = users;
    }

    /// Sets the domain's profiles People's `listDirectoryPeople` answers (`resourceName`
    /// `people/{id}`, `names`, `emailAddresses`): changes are logged for sync-token reads, and
    /// people no longer there count as deleted.
    pub fn set_google_people(&mut self, people: Vec<Value>) {
        self.google.people.0.set(people, "deleted");
    }

    /// Sync tokens given so far expire.
    pub fn expire_google_sync_tokens(&mut self) {
        self.google.people.0.expire_tokens();
    }

    /// Sets the users Graph's `users/delta` answers (`id`, `displayName`, `mail`,
    /// `userPrincipalName`, `accountEnabled`): changes are logged for delta reads, and users no
    /// longer there count as removed for reason `changed` (soft-deleted).
    pub fn set_graph_users(&mut self, users: Vec<Value>) {
        self.graph.users.set(users, "changed");
    }

    /// Removes one Graph user for `reason` (`deleted`, `changed`); false when there is none.
    pub fn remove_graph_user(&mut self, id: &str, reason: &str) -> bool {
        self.graph.users.remove(id, reason)
    }

    /// Delta tokens given so far expire (a delta read from one is a 410).
    pub fn expire_graph_delta_tokens(&mut self) {
        self.graph.users.expire_tokens();
    }

    /// The host Graph's next and delta links name (`graph.microsoft.com`).
    pub fn set_graph_link_host(&mut self, host: &str) {
        self.graph.link_host = host.to_owned();
    }

    /// Sets the members Slack's `users.list` answers (JSON as Slack shapes them).
    pub fn set_slack_members(&mut self, members: Vec<Value>) {
        self.slack.members = Some(members);
    }

    /// Sets the members a provider's member list answers (GitHub, Asana, Notion, Jira,
    /// Linear, Zoom, Dropbox: JSON as that provider shapes them).
    pub fn set_directory(&mut self, provider: &str, members: Vec<Value>) {
        self.directories.set(provider, members);
    }

    /// Points GitHub's `Link` pages at another base (`None`: this server).
    pub fn set_link_base(&mut self, base: Option<String>) {
        self.directories.link_base = base;
    }

    /// The decoded RFC 5322 messages sent through Gmail, oldest first.
    pub fn sent_emails(&self) -> Vec<String> {
        self.google.sent_emails.clone()
    }
}

/// Every API endpoint at the root (the proxy forwards there, under the API base).
pub(super) fn routes(config: &mut web::ServiceConfig) {
    config
        .configure(slack_routes)
        .configure(calendar_drive_routes)
        .configure(gmail_routes)
        .configure(admin_routes)
        .configure(people_routes)
        .configure(identity_routes);
}

/// slack.com
pub(super) fn slack_routes(config: &mut web::ServiceConfig) {
    config
        .service(slack_write("/api/chat.postMessage", slack::post_message))
        .service(slack_write("/api/chat.scheduleMessage", slack::schedule_message))
        .service(slack_write("/api/conversations.open", slack::open_conversation))
        .service(slack_write(
            "/api/conversations.create",
            slack::create_conversation,
        ))
        .service(slack_read("/api/conversations.list", slack::list_conversations))
        .service(slack_read("/api/users.list", slack::list_users))
        .service(slack_read(
            "/api/users.lookupByEmail",
            slack::lookup_user_by_email,
        ))
        .service(slack_read("/api/team.info", slack::team_info));
}

/// www.googleapis.com: Calendar and Drive.
pub(super) fn calendar_drive_routes(config: &mut web::ServiceConfig) {
    config
        .service(google_get(
            "/calendar/v3/users/me/calendarList",
            google::calendar_list,
        ))
        .service(
            google_get("/calendar/v3/calendars/{calendar}/events", google::list_events)
                .route(web::post().to(google(google::insert_event))),
        )
        .service(
            google_get("/drive/v3/files", google::list_files)
                .route(web::post().to(google(google::create_file))),
        )
        .route(
            "/drive/v3/files/{file}/permissions",
            web::post().to(google(google::create_permission)),
        );
}

/// admin.googleapis.com: the Workspace directory.
pub(super) fn admin_routes(config: &mut web::ServiceConfig) {
    config.service(google_get(
        "/admin/directory/v1/users",
        google::list_directory_users,
    ));
}

/// gmail.googleapis.com
pub(super) fn gmail_routes(config: &mut web::ServiceConfig) {
    config.route(
        "/gmail/v1/users/{user}/messages/send",
        web::post().to(google(google::send_message)),
    );
}

/// people.googleapis.com
pub(super) fn people_routes(config: &mut web::ServiceConfig) {
    config
        .service(google_get("/v1/people/me", google::people_me))
        .service(google_get(
            "/v1/people:listDirectoryPeople",
            |account: &mut google::Account, call: &Call| {
                people_directory::list_directory_people(&mut account.people, call)
            },
        ));
}

/// graph.microsoft.com: the directory's delta query (the identity call is at the root).
pub(super) fn graph_routes(config: &mut web::ServiceConfig) {
    config.service(web::resource("/v1.0/users/delta").route(web::get().to(
        |req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>| {
            serve(Style::Google, Call { req, body }, shared, |api, call| {
                graph::users_delta(&mut api.graph, call)
            })
        },
    )));
}

/// The other providers' identity calls.
fn identity_routes(config: &mut web::ServiceConfig) {
    config
        .service(google_get("/v1.0/me", identities::graph_me))
        .service(google_get("/api/1.0/users/me", identities::asana_me))
        .service(google_get("/v1/users/me", identities::notion_me))
        .service(google_get(
            "/oauth/token/accessible-resources",
            identities::jira_sites,
        ))
        .service(google_get(
            "/ex/jira/{cloud}/rest/api/3/myself",
            identities::jira_myself,
        ))
        .route("/graphql", web::post().to(google(identities::linear_graphql)))
        .service(google_get("/v2/users/me", identities::zoom_me))
        .route(
            "/2/users/get_current_account",
            web::post().to(google(identities::dropbox_account)),
        )
        .service(google_get("/user", identities::github_user));
}

/// The member lists of the other providers, each at its API host (`/hosts/{host}`).
pub(super) fn directory_hosts(config: &mut web::ServiceConfig) {
    use directories as d;
    let get = |path: &str, endpoint| web::resource(path).route(web::get().to(members(endpoint)));
    let post = |path: &str, endpoint| web::resource(path).route(web::post().to(members(endpoint)));
    config
        .service(
            web::scope("/hosts/api.github.com")
                .service(get("/orgs/{org}/members", d::github_members))
                .service(get("/organizations/{id}/members", d::github_members))
                .service(get("/user/orgs", d::github_orgs)),
        )
        .service(
            web::scope("/hosts/app.asana.com")
                .service(get("/api/1.0/users/me", d::asana_me))
                .service(get("/api/1.0/workspaces/{workspace_gid}/users", d::asana_users)),
        )
        .service(web::scope("/hosts/api.notion.com").service(get("/v1/users", d::notion_users)))
        .service(
            web::scope("/hosts/api.atlassian.com")
                .service(google_get(
                    "/oauth/token/accessible-resources",
                    identities::jira_sites,
                ))
                .service(get("/ex/jira/{cloud}/rest/api/3/users/search", d::jira_users)),
        )
        .service(web::scope("/hosts/api.linear.app").service(post("/graphql", d::linear_users)))
        .service(web::scope("/hosts/api.zoom.us").service(get("/v2/users", d::zoom_users)))
        .service(
            web::scope("/hosts/api.dropboxapi.com")
                .service(post("/2/team/members/list_v2", d::dropbox_members))
                .service(post("/2/team/members/list/continue_v2", d::dropbox_members)),
        );
}

/// The body of an endpoint: runs under the state lock, once the call has been admitted.
type Endpoint<D> = fn(&mut D, &Call) -> Answer;

pub(super) type Answer = Result<HttpResponse, ApiError>;

/// An endpoint's refusal, in its provider's style.
#[derive(Debug)]
pub(super) enum ApiError {
    /// HTTP 200 with `{"ok": false, "error": code}`.
    Slack(&'static str),
    /// This status with `{"error": {"code": status, "message": message}}`.
    Google(StatusCode, String),
}

impl ApiError {
    fn into_response(self) -> HttpResponse {
        match self {
            ApiError::Slack(code) => HttpResponse::Ok().json(json!({ "ok": false, "error": code })),
            ApiError::Google(status, message) => HttpResponse::build(status)
                .json(json!({ "error": { "code": status.as_u16(), "message": message } })),
        }
    }
}

type Args = (HttpRequest, web::Bytes, web::Data<Shared>);

fn slack_write(path: &str, endpoint: Endpoint<slack::Workspace>) -> Resource {
    web::resource(path).route(web::post().to(slack(endpoint)))
}

fn slack_read(path: &str, endpoint: Endpoint<slack::Workspace>) -> Resource {
    slack_write(path, endpoint).route(web::get().to(slack(endpoint)))
}

fn google_get(path: &str, endpoint: Endpoint<google::Account>) -> Resource {
    web::resource(path).route(web::get().to(google(endpoint)))
}

fn slack(endpoint: Endpoint<slack::Workspace>) -> impl Handler<Args, Output = HttpResponse> {
    move |req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>| {
        serve(Style::Slack, Call { req, body }, shared, move |api, call| {
            endpoint(&mut api.slack, call)
        })
    }
}

fn google(endpoint: Endpoint<google::Account>) -> impl Handler<Args, Output = HttpResponse> {
    move |req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>| {
        serve(Style::Google, Call { req, body }, shared, move |api, call| {
            endpoint(&mut api.google, call)
        })
    }
}

fn members(endpoint: Endpoint<directories::Directories>) -> impl Handler<Args, Output = HttpResponse> {
    move |req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>| {
        serve(Style::Google, Call { req, body }, shared, move |api, call| {
            endpoint(&mut api.directories, call)
        })
    }
}

/// How a provider answers failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    /// HTTP 200 with `{"ok": false, "error": …}` for application errors.
    Slack,
    /// An HTTP error status with `{"error": {"code": …, "message": …}}`.
    Google,
}

/// A request as the endpoints see it.
pub(super) struct Call {
    req: HttpRequest,
    body: web::Bytes,
}

impl Call {
    /// A `{name}` segment of the route.
    fn path_param(&self, name: &str) -> &str {
        self.req.match_info().get(name).unwrap_or_default()
    }

    /// A query-string parameter (the first, if repeated).
    fn query(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.req.query_string().as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    fn query_pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        url::form_urlencoded::parse(self.req.query_string().as_bytes()).into_owned()
    }

    fn body(&self) -> &[u8] {
        &self.body
    }

    fn is_json(&self) -> bool {
        let content_type = self.req.headers().get(CONTENT_TYPE);
        let content_type = content_type
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        content_type.to_ascii_lowercase().starts_with("application/json")
    }

    fn record(&self) -> ApiCall {
        let authorization = self.req.headers().get(AUTHORIZATION);
        let full = self.req.path();
        let (host, path) = match full.strip_prefix("/hosts/").and_then(|rest| rest.split_once('/')) {
            Some((host, path)) => (Some(host), full.len() - path.len() - 1),
            None => (None, 0),
        };
        let path = &full[path..];
        ApiCall {
            method: self.req.method().to_string(),
            host: host.map(str::to_owned),
            path: path.to_owned(),
            query: self.req.query_string().to_owned(),
            body: String::from_utf8_lossy(&self.body).into_owned(),
            authorization: authorization.map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
        }
    }
}

/// Records the call, applies the knobs and the bearer check, then runs the endpoint.
async fn serve(
    style: Style,
    call: Call,
    shared: web::Data<Shared>,
    endpoint: impl FnOnce(&mut ApiData, &Call) -> Answer,
) -> HttpResponse {
    let delay_ms = {
        let mut state = shared.lock();
        shared.api().calls.push(call.record());
        state.counters.api_calls += 1;
        state.behaviour.api_delay_ms
    };
    if delay_ms > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let mut state = shared.lock();
    match refusal(&mut state, style, &call) {
        Some(response) => response,
        None => endpoint(&mut shared.api(), &call).unwrap_or_else(ApiError::into_response),
    }
}

/// The answer when the call is not to reach its endpoint: a forced failure (`api_fail_next`,
/// then `api_unauthorized_next`) or a missing or inactive bearer token.
fn refusal(state: &mut State, style: Style, call: &Call) -> Option<HttpResponse> {
    let behaviour = &mut state.behaviour;
    if behaviour.api_fail_after > 0 {
        behaviour.api_fail_after -= 1;
    } else if !behaviour.api_fail_next.is_empty() {
        let status = behaviour.api_fail_next.remove(0);
        return Some(forced_failure(style, status, behaviour.api_retry_after_secs));
    }
    let token = bearer_token(&call.req);
    if behaviour.api_unauthorized_next > 0 {
        behaviour.api_unauthorized_next -= 1;
        return Some(unauthorized(style, token.is_some()));
    }
    let valid = token.is_some_and(|token| state.is_active_access_token(token));
    if !valid {
        return Some(unauthorized(style, token.is_some()));
    }
    let granted = token
        .and_then(|t| state.access_token_scope(t))
        .unwrap_or_default();
    let record = call.record();
    let allowed = scopes::allowed(&record.method, &record.path, call.body())?;
    if allowed
        .iter()
        .any(|scope| super::state::has_scope(granted, scope))
    {
        return None;
    }
    Some(missing_scope(style, &allowed, granted))
}

/// The provider's refusal of a token without the scope the method needs.
fn missing_scope(style: Style, allowed: &[String], granted: &str) -> HttpResponse {
    match style {
        Style::Slack => HttpResponse::Ok().json(json!({
            "ok": false,
            "error": "missing_scope",
            "needed": allowed.join(","),
            "provided": granted.replace(' ', ","),
        })),
        Style::Google => HttpResponse::Forbidden().json(json!({ "error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "errors": [{ "message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions" }],
            "status": "PERMISSION_DENIED",
            "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "domain": "googleapis.com" }],
        } })),
    }
}

fn unauthorized(style: Style, token_present: bool) -> HttpResponse {
    match style {
        // Slack tells a missing token from a bad one, and answers both with HTTP 200.
        Style::Slack if token_present => slack_error("invalid_auth").into_response(),
        Style::Slack => slack_error("not_authed").into_response(),
        Style::Google => HttpResponse::Unauthorized()
            .insert_header((
                WWW_AUTHENTICATE,
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            ))
            .json(json!({ "error": {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED",
            } })),
    }
}

fn forced_failure(style: Style, status: u16, retry_after_secs: u64) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status == StatusCode::UNAUTHORIZED && style == Style::Google {
        return unauthorized(style, true);
    }
    let body = match (style, status) {
        (Style::Slack, StatusCode::TOO_MANY_REQUESTS) => json!({ "ok": false, "error": "ratelimited" }),
        (Style::Slack, StatusCode::SERVICE_UNAVAILABLE) => {
            json!({ "ok": false, "error": "service_unavailable" })
        }
        (Style::Slack, _) => json!({ "ok": false, "error": "internal_error" }),
        (Style::Google, StatusCode::TOO_MANY_REQUESTS) => json!({ "error": {
            "code": 429,
            "message": "Rate Limit Exceeded",
            "errors": [{ "reason": "rateLimitExceeded" }],
        } }),
        (Style::Google, _) => {
            return google_error(status, status.canonical_reason().unwrap_or("Error")).into_response();
        }
    };
    let mut response = HttpResponse::build(status);
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.insert_header((RETRY_AFTER, retry_after_secs));
    }
    response.json(body)
}

/// Slack's success shape: HTTP 200, `"ok": true` plus `fields`.
fn slack_ok(mut fields: Value) -> Answer {
    fields["ok"] = Value::Bool(true);
    Ok(HttpResponse::Ok().json(fields))
}

fn slack_error(code: &'static str) -> ApiError {
    ApiError::Slack(code)
}

fn google_error(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError::Google(status, message.into())
}

/// A page of `items` starting at `cursor` (an index in decimal; absent or empty means 0) and
/// the cursor of the next page, if any. `None` for a cursor that is not an index.
fn page<T: Clone>(
    items: &[T],
    cursor: Option<&str>,
    limit: Option<usize>,
) -> Option<(Vec<T>, Option<String>)> {
    const DEFAULT_LIMIT: usize = 100;
    let start = match cursor.filter(|cursor| !cursor.is_empty()) {
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&start| start <= items.len())?,
        None => 0,
    };
    let limit = limit.filter(|&limit| limit > 0).unwrap_or(DEFAULT_LIMIT);
    let end = start.saturating_add(limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Some((items[start..end].to_vec(), next))
}
