//! The provider contracts: every call of the clients (the table in
//! src/providers/catalogue/endpoints.rs, which the clients build their requests from) checked
//! against the provider's own published API description (tests/contracts/, copied from
//! shared/contracts with their licences; for the member lists of the other providers, their
//! API references as restated in `REFERENCES`): the host and path exist, the verb matches, the
//! required parameters are sent, and one of the scopes that allow the call is among those the
//! catalogue asks for, for that call's feature.

use std::collections::BTreeSet;

use serde_json::Value;
use targetym_integrations::providers::catalogue::endpoints::{ENDPOINTS, Endpoint};
use targetym_integrations::providers::catalogue::{GOOGLE, MICROSOFT, SLACK, builtin_providers};

/// A call of a provider without a machine-readable description here, as its API reference
/// documents it.
struct Reference {
    id: &'static str,
    verb: &'static str,
    host: &'static str,
    path: &'static str,
    required: &'static [&'static str],
    known: &'static [&'static str],
    /// Any one allows the call; none when the access is set on the provider's app (Notion's
    /// capabilities, Zoom's app scopes), not asked for.
    scopes: &'static [&'static str],
}

const REFERENCES: &[Reference] = &[
    // docs.github.com/rest/orgs/members#list-organization-members
    Reference {
        id: "orgs/list-members",
        verb: "GET",
        host: "api.github.com",
        path: "/orgs/{org}/members",
        required: &[],
        known: &["filter", "role", "per_page", "page"],
        scopes: &["read:org", "admin:org"],
    },
    // docs.github.com/rest/orgs/orgs#list-organizations-for-the-authenticated-user
    Reference {
        id: "orgs/list-for-authenticated-user",
        verb: "GET",
        host: "api.github.com",
        path: "/user/orgs",
        required: &[],
        known: &["per_page", "page"],
        scopes: &["read:org", "user"],
    },
    // developers.asana.com/reference/getuser (`me` is a user_gid)
    Reference {
        id: "getUser",
        verb: "GET",
        host: "app.asana.com",
        path: "/api/1.0/users/me",
        required: &[],
        known: &["opt_fields", "opt_pretty"],
        scopes: &["users:read"],
    },
    // developers.asana.com/reference/getusersforworkspace
    Reference {
        id: "getUsersForWorkspace",
        verb: "GET",
        host: "app.asana.com",
        path: "/api/1.0/workspaces/{workspace_gid}/users",
        required: &[],
        known: &["opt_fields", "opt_pretty", "limit", "offset"],
        scopes: &["users:read"],
    },
    // developers.notion.com/reference/get-users
    Reference {
        id: "get-users",
        verb: "GET",
        host: "api.notion.com",
        path: "/v1/users",
        required: &[],
        known: &["start_cursor", "page_size"],
        scopes: &[],
    },
    // developer.atlassian.com/cloud/oauth/getting-started/making-calls-to-api
    Reference {
        id: "getAccessibleResources",
        verb: "GET",
        host: "api.atlassian.com",
        path: "/oauth/token/accessible-resources",
        required: &[],
        known: &[],
        scopes: &[],
    },
    // developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-users/#api-rest-api-3-users-search-get
    Reference {
        id: "getAllUsers",
        verb: "GET",
        host: "api.atlassian.com",
        path: "/ex/jira/{cloudid}/rest/api/3/users/search",
        required: &[],
        known: &["startAt", "maxResults"],
        scopes: &["read:jira-user"],
    },
    // linear.app/developers/graphql (users connection; every query needs `read`)
    Reference {
        id: "users",
        verb: "POST",
        host: "api.linear.app",
        path: "/graphql",
        required: &["query"],
        known: &["query", "variables", "operationName"],
        scopes: &["read"],
    },
    // developers.zoom.us/docs/api/users/#tag/users/GET/users
    Reference {
        id: "users",
        verb: "GET",
        host: "api.zoom.us",
        path: "/v2/users",
        required: &[],
        known: &[
            "status",
            "page_size",
            "role_id",
            "page_number",
            "include_fields",
            "next_page_token",
            "license",
        ],
        scopes: &[],
    },
    // dropbox.com/developers/documentation/http/teams#team-members-list
    Reference {
        id: "team/members/list_v2",
        verb: "POST",
        host: "api.dropboxapi.com",
        path: "/2/team/members/list_v2",
        required: &[],
        known: &["limit", "include_removed"],
        scopes: &["members.read"],
    },
    // dropbox.com/developers/documentation/http/teams#team-members-list-continue
    Reference {
        id: "team/members/list/continue_v2",
        verb: "POST",
        host: "api.dropboxapi.com",
        path: "/2/team/members/list/continue_v2",
        required: &["cursor"],
        known: &["cursor"],
        scopes: &["members.read"],
    },
];

fn referenced(endpoint: &Endpoint) -> Result<Documented, String> {
    let reference = REFERENCES
        .iter()
        .find(|r| r.id == endpoint.id && r.host == endpoint.host)
        .ok_or_else(|| format!("{} on {} is not in the references", endpoint.id, endpoint.host))?;
    if shape(reference.path) != shape(endpoint.path) {
        return Err(format!(
            "path {} is documented as {}",
            endpoint.path, reference.path
        ));
    }
    if reference.verb != endpoint.verb.as_str() {
        return Err(format!("{} is a {}", endpoint.id, reference.verb));
    }
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect();
    Ok(Documented {
        required: set(reference.required),
        known: set(reference.known),
        scopes: set(reference.scopes),
    })
}

fn description(path: &str) -> Value {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/contracts")
        .join(path);
    serde_json::from_slice(&std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
        .unwrap()
}

/// Slack's file predates granular bot scopes. For a bot token, Slack's current method pages
/// name these scopes (https://docs.slack.dev/reference/methods/<method>, "Required scopes",
/// bot token), which the test accepts beside the file's; the newer documented scope wins.
const SLACK_BOT_SCOPES: &[(&str, &[&str])] = &[
    ("chat.postMessage", &["chat:write"]),
    ("chat.scheduleMessage", &["chat:write"]),
    (
        "conversations.open",
        &["channels:manage", "groups:write", "im:write", "mpim:write"],
    ),
    ("conversations.create", &["channels:manage", "groups:write"]),
];

/// The scopes the catalogue asks for, per provider.
fn requested(provider: &str) -> BTreeSet<String> {
    builtin_providers()
        .into_iter()
        .find(|p| p.slug == provider)
        .unwrap()
        .default_scopes
        .into_iter()
        .collect()
}

/// The path parameters of a template (`{name}`, `{+name}`).
fn path_params(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.trim_start_matches('+').to_owned())
        .collect()
}

/// `{name}` and `{+name}` as one shape, to compare templates.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push_str("{}");
        rest = &rest[start + rest[start..].find('}').unwrap() + 1..];
    }
    out + rest
}

/// What the description says of one call: whether it exists as we call it, its required
/// parameters and the scopes that allow it. An `Err` names what is wrong.
struct Documented {
    required: BTreeSet<String>,
    /// Every parameter it takes (path, query and, for Slack, body).
    known: BTreeSet<String>,
    scopes: BTreeSet<String>,
}

fn slack_documented(spec: &Value, endpoint: &Endpoint) -> Result<Documented, String> {
    let host = spec["host"].as_str().unwrap();
    let base = spec["basePath"].as_str().unwrap();
    if endpoint.host != host {
        return Err(format!("host {} is not Slack's {host}", endpoint.host));
    }
    let path = endpoint
        .path
        .strip_prefix(base)
        .ok_or_else(|| format!("path {} is not under {base}", endpoint.path))?;
    let operation = spec["paths"][path][endpoint.verb.as_str().to_lowercase()].clone();
    if operation.is_null() {
        return Err(format!(
            "{} {path} is not in the description",
            endpoint.verb.as_str()
        ));
    }
    let known = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_owned))
        .collect();
    let required = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["required"] == true)
        .filter_map(|p| p["name"].as_str())
        // The token travels as the bearer header.
        .filter(|name| *name != "token")
        .map(str::to_owned)
        .collect();
    let mut scopes: BTreeSet<String> = operation["security"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["slackAuth"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    if let Some((_, modern)) = SLACK_BOT_SCOPES.iter().find(|(id, _)| *id == endpoint.id) {
        scopes.extend(modern.iter().map(|s| s.to_string()));
    }
    Ok(Documented {
        required,
        known,
        scopes,
    })
}

fn find_method<'a>(resources: &'a Value, id: &str) -> Option<&'a Value> {
    resources.as_object()?.values().find_map(|resource| {
        resource["methods"]
            .as_object()
            .and_then(|methods| methods.values().find(|m| m["id"] == id))
            .or_else(|| find_method(&resource["resources"], id))
    })
}

fn google_documented(endpoint: &Endpoint) -> Result<Documented, String> {
    let file = match endpoint.id.split('.').next().unwrap() {
        "calendar" => "google/calendar.v3.json",
        "drive" => "google/drive.v3.json",
        "gmail" => "google/gmail.v1.json",
        "people" => "google/people.v1.json",
        "directory" => "google/admin.directory_v1.json",
        other => return Err(format!("no description for the {other} API")),
    };
    let doc = description(file);
    let root = url::Url::parse(doc["rootUrl"].as_str().unwrap()).unwrap();
    if root.host_str() != Some(endpoint.host) {
        return Err(format!(
            "host {} is not the API's {}",
            endpoint.host,
            root.host_str().unwrap()
        ));
    }
    let method = find_method(&doc["resources"], endpoint.id)
        .ok_or_else(|| format!("{} is not in {file}", endpoint.id))?;
    let documented = format!(
        "{}{}{}",
        root.path(),
        doc["servicePath"].as_str().unwrap(),
        method["path"].as_str().unwrap()
    );
    if shape(&documented) != shape(endpoint.path) {
        return Err(format!("path {} is documented as {documented}", endpoint.path));
    }
    if method["httpMethod"] != endpoint.verb.as_str() {
        return Err(format!("{} is a {}", endpoint.id, method["httpMethod"]));
    }
    let required = method["parameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, p)| p["required"] == true)
        .map(|(name, _)| name.clone())
        .collect();
    let scopes = method["scopes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    // The method's own parameters and the API's standard ones (`fields`, `alt`, ...).
    let known = [&method["parameters"], &doc["parameters"]]
        .into_iter()
        .filter_map(Value::as_object)
        .flat_map(|params| params.keys().cloned())
        .collect();
    Ok(Documented {
        required,
        known,
        scopes,
    })
}

/// Microsoft publishes no machine-readable description of Graph here: its calls as the Graph
/// reference pages say them, transcribed (https://learn.microsoft.com/en-us/graph/api/user-delta:
/// "HTTP request", "Query parameters", "Permissions"; and /en-us/graph/delta-query-users):
/// (id, verb, host, path, parameters, scopes any one of which allows it).
type GraphCall = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
const GRAPH_DOCUMENTED: &[GraphCall] = &[(
    "user.delta",
    "GET",
    "graph.microsoft.com",
    "/v1.0/users/delta",
    &["$select", "$filter", "$expand", "$deltatoken", "$skiptoken"],
    &[
        "User.Read.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ],
)];

fn graph_documented(endpoint: &Endpoint) -> Result<Documented, String> {
    let (_, verb, host, path, params, scopes) =
        GRAPH_DOCUMENTED
            .iter()
            .find(|(id, ..)| *id == endpoint.id)
            .ok_or_else(|| format!("{} is not among the transcribed Graph calls", endpoint.id))?;
    if endpoint.host != *host || endpoint.path != *path || endpoint.verb.as_str() != *verb {
        return Err(format!(
            "{} {}{} is documented as {verb} {host}{path}",
            endpoint.verb.as_str(),
            endpoint.host,
            endpoint.path
        ));
    }
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
    Ok(Documented {
        required: BTreeSet::new(),
        known: strings(params),
        scopes: strings(scopes),
    })
}

/// Everything wrong with one call, as sentences.
fn problems(slack_spec: &Value, endpoint: &Endpoint) -> Vec<String> {
    let documented = match endpoint.provider {
        p if p == SLACK => slack_documented(slack_spec, endpoint),
        p if p == GOOGLE => google_documented(endpoint),
        p if p == MICROSOFT => graph_documented(endpoint),
        _ => referenced(endpoint),
    };
    let documented = match documented {
        Ok(documented) => documented,
        Err(problem) => return vec![problem],
    };
    let mut problems = Vec::new();
    let sent: BTreeSet<String> = endpoint
        .parameters()
        .filter(|(_, always)| *always)
        .map(|(name, _)| name.to_owned())
        .chain(path_params(endpoint.path))
        .collect();
    for missing in documented.required.difference(&sent) {
        problems.push(format!("the required parameter {missing} is not sent"));
    }
    for (name, _) in endpoint.parameters() {
        if !documented.known.contains(name) {
            problems.push(format!("it sends {name}, which the description does not know"));
        }
    }
    let feature = endpoint.feature();
    let allowed: Vec<&str> = feature
        .scopes
        .iter()
        .copied()
        .filter(|s| documented.scopes.contains(*s))
        .collect();
    // No scope named (access set on the provider's app, or any token may call it).
    if allowed.is_empty() && !documented.scopes.is_empty() {
        problems.push(format!(
            "no scope of the feature {} ({:?}) allows it; one of {:?} does",
            feature.key, feature.scopes, documented.scopes
        ));
    }
    let asked = requested(endpoint.provider);
    if let Some(not_asked) = allowed.iter().find(|s| !asked.contains(**s)) {
        problems.push(format!("the catalogue does not ask for {not_asked}"));
    }
    problems
}

#[test]
fn every_call_of_the_clients_is_what_the_provider_documents() {
    let slack = description("slack/slack_web_openapi_v2_without_examples.json");
    assert!(ENDPOINTS.len() >= 20, "the table lists every call");
    let report: Vec<String> = ENDPOINTS
        .iter()
        .flat_map(|endpoint| {
            problems(&slack, endpoint)
                .into_iter()
                .map(move |p| format!("{} {}: {p}", endpoint.provider, endpoint.id))
        })
        .collect();
    assert!(report.is_empty(), "{}", report.join("\n"));
}

/// The checks themselves catch what the issue found on the old code: Gmail on
/// www.googleapis.com, People on www.googleapis.com, calendarList with calendar.events
/// alone, team.info without team:read.
#[test]
fn the_checks_catch_a_wrong_host_path_verb_scope_or_missing_parameter() {
    use targetym_integrations::providers::catalogue::endpoints::*;
    let slack = description("slack/slack_web_openapi_v2_without_examples.json");
    let wrong = |endpoint: Endpoint| problems(&slack, &endpoint);
    let gmail_on_www = Endpoint {
        host: "www.googleapis.com",
        ..GOOGLE_SEND_MAIL
    };
    assert!(wrong(gmail_on_www)[0].contains("is not the API's gmail.googleapis.com"));
    let people_on_www = Endpoint {
        id: "people.people.get",
        host: "www.googleapis.com",
        path: "/v1/people/me",
        ..GOOGLE_CALENDAR_LIST
    };
    assert!(!wrong(people_on_www).is_empty());
    let events_only = Endpoint {
        feature: "drive",
        ..GOOGLE_CALENDAR_LIST
    };
    assert!(wrong(events_only)[0].contains("no scope of the feature drive"));
    let team_without_team_read = Endpoint {
        feature: "post-messages",
        ..SLACK_TEAM_INFO
    };
    assert!(wrong(team_without_team_read)[0].contains("one of"));
    let not_a_method = Endpoint {
        path: "/api/team.information",
        ..SLACK_TEAM_INFO
    };
    assert!(wrong(not_a_method)[0].contains("not in the description"));
    let wrong_verb = Endpoint {
        verb: Verb::Get,
        ..SLACK_POST_MESSAGE
    };
    assert!(wrong(wrong_verb)[0].contains("not in the description"));
    let without_email = Endpoint {
        sends: &[],
        ..SLACK_LOOKUP_USER
    };
    assert!(wrong(without_email)[0].contains("required parameter email"));
    let without_page_token = Endpoint {
        sends: &[],
        ..GOOGLE_CHANGES_WATCH
    };
    assert!(wrong(without_page_token)[0].contains("required parameter pageToken"));
    let misspelt = Endpoint {
        sends: &["timeMin", "timeMax", "singleEvents", "orderBy", "page_token?"],
        ..GOOGLE_EVENTS_LIST
    };
    assert!(wrong(misspelt)[0].contains("sends page_token"));
    let graph_beta = Endpoint {
        path: "/beta/users/delta",
        ..GRAPH_USERS_DELTA
    };
    assert!(wrong(graph_beta)[0].contains("is documented as GET graph.microsoft.com/v1.0/users/delta"));
    let graph_top = Endpoint {
        sends: &["$select?", "$top?"],
        ..GRAPH_USERS_DELTA
    };
    assert!(wrong(graph_top)[0].contains("sends $top"));
}

/// A call cannot escape the table: outside the HTTP core, requests are built only from its
/// entries, except the calls that are not an API's (listed with why).
#[test]
fn requests_are_built_from_the_table() {
    const ELSEWHERE: &[(&str, &str)] = &[
        (
            "src/integrations/health.rs",
            "each provider's identity call, from the catalogue's identity_url (Test connection)",
        ),
        (
            "src/web/api/proxy.rs",
            "the proxy: the caller's own path, confined to the API base",
        ),
    ];
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut offenders = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if relative.starts_with("src/integrations/provider_api/")
                || ELSEWHERE.iter().any(|(file, _)| *file == relative)
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if ["ApiRequest::get(", "ApiRequest::post_json(", "= ApiRequest {"]
                .iter()
                .any(|needle| text.contains(needle))
            {
                offenders.push(relative);
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "build provider requests with ProviderApi::request(&ENDPOINT): {offenders:?}"
    );
}
