//! The member-list calls of the providers other than Slack and Google (directory sync), as
//! each documents them (sources in shared/PROVIDERS.md and the provider's API reference).

use super::endpoints::{Endpoint, Verb};
use super::{ASANA, DROPBOX, GITHUB, JIRA, LINEAR, NOTION, ZOOM};

const fn call(
    provider: &'static str,
    id: &'static str,
    verb: Verb,
    host: &'static str,
    path: &'static str,
    sends: &'static [&'static str],
) -> Endpoint {
    Endpoint {
        provider,
        id,
        verb,
        host,
        path,
        sends,
        // The RPC and GraphQL calls take their parameters as the JSON body's keys.
        params_in_body: matches!(verb, Verb::Post),
        feature: "directory",
    }
}

/// GitHub `orgs/list-members`: paged by the `Link` header (`page` in the next link).
pub const GITHUB_ORG_MEMBERS: Endpoint = call(
    GITHUB,
    "orgs/list-members",
    Verb::Get,
    "api.github.com",
    "/orgs/{org}/members",
    &["per_page", "page?"],
);
/// GitHub `orgs/list-for-authenticated-user`: the organizations the admin may choose from.
pub const GITHUB_USER_ORGS: Endpoint = call(
    GITHUB,
    "orgs/list-for-authenticated-user",
    Verb::Get,
    "api.github.com",
    "/user/orgs",
    &["per_page"],
);
/// Asana `getUser` of `me`: its workspaces (the directory reads the first).
pub const ASANA_ME_WORKSPACES: Endpoint = call(
    ASANA,
    "getUser",
    Verb::Get,
    "app.asana.com",
    "/api/1.0/users/me",
    &["opt_fields"],
);
/// Asana `getUsersForWorkspace`: paged by `next_page.offset`.
pub const ASANA_WORKSPACE_USERS: Endpoint = call(
    ASANA,
    "getUsersForWorkspace",
    Verb::Get,
    "app.asana.com",
    "/api/1.0/workspaces/{workspace_gid}/users",
    &["opt_fields", "limit", "offset?"],
);
/// Notion `get-users`: paged by `has_more` / `next_cursor`.
pub const NOTION_USERS: Endpoint = call(
    NOTION,
    "get-users",
    Verb::Get,
    "api.notion.com",
    "/v1/users",
    &["page_size", "start_cursor?"],
);
/// Atlassian's sites the token reaches (the first is the directory's).
pub const JIRA_ACCESSIBLE_RESOURCES: Endpoint = call(
    JIRA,
    "getAccessibleResources",
    Verb::Get,
    "api.atlassian.com",
    "/oauth/token/accessible-resources",
    &[],
);
/// Jira `users/search`: offset paged (`startAt`); a short page is the last.
pub const JIRA_USERS_SEARCH: Endpoint = call(
    JIRA,
    "getAllUsers",
    Verb::Get,
    "api.atlassian.com",
    "/ex/jira/{cloudid}/rest/api/3/users/search",
    &["startAt", "maxResults"],
);
/// Linear's GraphQL `users` connection (`first`, `after`, `includeDisabled` as variables).
pub const LINEAR_USERS: Endpoint = call(
    LINEAR,
    "users",
    Verb::Post,
    "api.linear.app",
    "/graphql",
    &["query", "variables"],
);
/// Zoom `users`: paged by `next_page_token`, one listing per `status`.
pub const ZOOM_USERS: Endpoint = call(
    ZOOM,
    "users",
    Verb::Get,
    "api.zoom.us",
    "/v2/users",
    &["status", "page_size", "next_page_token?"],
);
/// Dropbox `team/members/list_v2`: the first page and its `cursor`.
pub const DROPBOX_MEMBERS_LIST: Endpoint = call(
    DROPBOX,
    "team/members/list_v2",
    Verb::Post,
    "api.dropboxapi.com",
    "/2/team/members/list_v2",
    &["limit"],
);
/// Dropbox `team/members/list/continue_v2`: the next page, while `has_more`.
pub const DROPBOX_MEMBERS_CONTINUE: Endpoint = call(
    DROPBOX,
    "team/members/list/continue_v2",
    Verb::Post,
    "api.dropboxapi.com",
    "/2/team/members/list/continue_v2",
    &["cursor"],
);
