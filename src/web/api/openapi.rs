//! The OpenAPI 3.1 description of /api/v1 (a test checks it against the routes).

use actix_web::HttpResponse;
use serde_json::{Value, json};

pub(super) async fn openapi() -> HttpResponse {
    HttpResponse::Ok().json(openapi_document())
}

/// The OpenAPI 3.1 description of /api/v1 (a test checks it against the routes).
pub fn openapi_document() -> Value {
    let error = json!({ "$ref": "#/components/schemas/Error" });
    let errors = json!({
        "401": { "description": "missing, wrong or revoked service token", "content": { "application/json": { "schema": error } } },
        "403": { "description": "missing_scope: the connection was not granted the access this call needs (asked before calling the provider, or refused by it); `scopes` lists those that would allow it. An admin adds access on the integration's page", "content": { "application/json": { "schema": error } } },
        "404": { "description": "no such integration in the token's organization, or not one the token is limited to", "content": { "application/json": { "schema": error } } },
        "409": { "description": "the integration needs a reconnect", "content": { "application/json": { "schema": error } } },
        "429": { "description": "this service token is over its rate (error rate_limited), or the provider is rate limiting; wait Retry-After seconds", "content": { "application/json": { "schema": error } } },
        "502": { "description": "provider_auth: the provider refused the integration's credentials, also after a fresh token; an admin may need to reconnect it", "content": { "application/json": { "schema": error } } },
        "503": { "description": "the provider or storage is unavailable (provider_unavailable, unavailable); after repeated provider failures, at once with Retry-After", "content": { "application/json": { "schema": error } } },
    });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } });
    // A read through a provider's client: its answer, or the usual errors.
    let read = |summary: &str, answer: &str, wrong_provider: &str, schema: Value| {
        json!({ "get": {
            "summary": summary,
            "parameters": [id],
            "responses": { "200": { "description": answer, "content": { "application/json": { "schema": schema } } },
                "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                "422": { "description": wrong_provider }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
        } })
    };
    let list_of = |key: &str, schema: &str| {
        json!({ "type": "object", "properties": {
        key: { "type": "array", "items": { "$ref": format!("#/components/schemas/{schema}") } },
        "next_cursor": { "type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last" } } })
    };
    let cursor = json!({ "name": "cursor", "in": "query", "schema": { "type": "string" },
        "description": "the next_cursor of the page before (the provider's own cursor or page token)" });
    let limit = json!({ "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 1000 },
        "description": "items per page at most (the provider may return fewer)" });
    // A paginated read: one provider page per call.
    let page = |summary: &str, answer: &str, wrong_provider: &str, key: &str, schema: &str| {
        let mut op = read(summary, answer, wrong_provider, list_of(key, schema));
        op["get"]["parameters"] = json!([id, cursor, limit]);
        op["get"]["responses"]["400"] = json!({ "description": "a limit out of 1 to 1000" });
        op
    };
    // The proxy: the provider's answer with its own status, or our typed errors.
    let forward = json!({ "summary": "Forward to the provider's API with a fresh token",
        "responses": { "200": { "description": "the provider's answer, passed back" },
            "default": { "description": "the provider's answer with its own status, passed back" },
            "400": { "description": "the path leaves the provider's API, or the body could not be read" },
            "401": errors["401"], "403": errors["403"], "404": errors["404"], "409": errors["409"],
            "413": { "description": "a body larger than 1 MiB", "content": { "application/json": { "schema": error } } },
            "422": { "description": "refused by the provider (error provider_rejected)", "content": { "application/json": { "schema": error } } },
            "429": errors["429"], "502": errors["502"], "503": errors["503"] } });
    let not_slack = "not a Slack integration";
    let not_google = "not a Google integration";
    let mut document = json!({
        "openapi": "3.1.0",
        "info": { "title": "Targetym Integrations internal API", "version": "1.0.0",
                  "description": "For other Targetym services. Authenticate with a service token: `Authorization: Bearer tgi_…`." },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "serviceToken": [] }],
        "paths": {
            "/integrations": { "get": {
                "summary": "The organization's integrations and their status",
                "responses": { "200": { "description": "the integrations", "content": { "application/json": { "schema": { "type": "object",
                    "properties": { "integrations": { "type": "array", "items": { "$ref": "#/components/schemas/Integration" } } } } } } },
                    "401": errors["401"] },
            } },
            "/organization": { "get": {
                "summary": "The token's organization: our id, its name and the platform's external id",
                "responses": { "200": { "description": "the organization", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Organization" } } } },
                    "401": errors["401"] },
            } },
            "/people": { "get": {
                "summary": "The organization's people: the accounts of its directory syncs grouped by email, by email",
                "parameters": [cursor, limit],
                "responses": { "200": { "description": "one page of people", "content": { "application/json": { "schema": list_of("people", "Person") } } },
                    "400": { "description": "a limit out of 1 to 1000 or a cursor not given by this list" }, "401": errors["401"] },
            } },
            "/people/changes": { "get": {
                "summary": "The directory change feed (created, updated, deactivated, deleted) after `since`, in commit order: none is skipped or repeated between pages",
                "parameters": [{ "name": "since", "in": "query", "schema": { "type": "string" }, "description": "the next_cursor of the page before; none: from the start" }, limit],
                "responses": { "200": { "description": "the changes", "content": { "application/json": { "schema": { "type": "object", "properties": {
                    "changes": { "type": "array", "items": { "$ref": "#/components/schemas/DirectoryChange" } },
                    "next_cursor": { "type": "string", "description": "pass as ?since= (the same when nothing is new)" } } } } } },
                    "400": { "description": "a malformed since or limit" }, "401": errors["401"] },
            } },
            "/people/{email}/employment": { "put": {
                "summary": "Says whether a person works here or left (and since when); the people views then show leavers who still have accounts",
                "parameters": [{ "name": "email", "in": "path", "required": true, "schema": { "type": "string", "format": "email" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "required": ["status"], "additionalProperties": false, "properties": {
                    "status": { "type": "string", "enum": ["active", "leaver"] }, "since": { "type": "string", "format": "date" } } } } } },
                "responses": { "200": { "description": "recorded" }, "400": { "description": "a malformed email, status or date" }, "401": errors["401"] },
            } },
            "/organizations/{org}/integrations": { "get": {
                "summary": "The organization's integrations, the organization named by the platform's external id (or our id); 404 unless it is the token's",
                "parameters": [{ "name": "org", "in": "path", "required": true, "schema": { "type": "string" } }],
                "responses": { "200": { "description": "the integrations", "content": { "application/json": { "schema": { "type": "object",
                    "properties": { "integrations": { "type": "array", "items": { "$ref": "#/components/schemas/Integration" } } } } } } },
                    "401": errors["401"], "404": errors["404"] },
            } },
            "/integrations/{id}/slack/messages": { "post": {
                "summary": "Send a Slack message to a channel or a person, now or scheduled",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SlackMessage" } } } },
                "responses": { "200": { "description": "sent (channel, ts) or scheduled (scheduled_message_id)" },
                    "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                    "422": { "description": "refused by Slack or not a Slack integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
            } },
            "/integrations/{id}/slack/channels": {
                "get": page("The workspace's channels, one page (Slack's cursor)", "the channels", not_slack, "channels", "SlackChannel")["get"],
                "post": {
                    "summary": "Create a Slack channel",
                    "parameters": [id],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewSlackChannel" } } } },
                    "responses": { "200": { "description": "the channel", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SlackChannel" } } } },
                        "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                        "422": { "description": "refused by Slack (a taken or invalid name) or not a Slack integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
                },
            },
            "/integrations/{id}/slack/users": page("The workspace's members, one page (Slack's cursor)", "the members", not_slack, "users", "SlackUser"),
            "/integrations/{id}/slack/users/lookup": { "get": {
                "summary": "The Slack member with this email",
                "parameters": [id, { "name": "email", "in": "query", "required": true, "schema": { "type": "string", "format": "email" } }],
                "responses": { "200": { "description": "the member", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SlackUser" } } } },
                    "400": { "description": "no valid email" }, "401": errors["401"],
                    "404": { "description": "no such integration (error not_found), or no member with this email (error provider_not_found)", "content": { "application/json": { "schema": error } } },
                    "403": errors["403"], "409": errors["409"], "422": { "description": not_slack }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
            } },
            "/integrations/{id}/directory": page("The accounts the integration's provider lists, as the last directory syncs stored them, by external id (Slack, Google Workspace, Microsoft 365)", "the accounts", "no directory for this provider", "entries", "DirectoryEntry"),
            "/integrations/{id}/slack/team": read("The Slack workspace", "the workspace", not_slack, json!({ "$ref": "#/components/schemas/SlackTeam" })),
            "/integrations/{id}/calendar/calendars": page("The calendars in the connected user's list, one page (Google Workspace page tokens)", "the calendars", not_google, "calendars", "Calendar"),
            "/integrations/{id}/drive/files": page("The files and folders of the connected user's Drive, one page (Google page tokens)", "the files", not_google, "files", "DriveFile"),
            "/integrations/{id}/drive/folders": { "post": {
                "summary": "Create a Drive folder",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/NewFolder" } } } },
                "responses": { "200": { "description": "the folder", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/DriveFile" } } } },
                    "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                    "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
            } },
            "/integrations/{id}/drive/files/{file_id}/permissions": { "post": {
                "summary": "Share a Drive file or folder with a person",
                "parameters": [id, { "name": "file_id", "in": "path", "required": true, "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Share" } } } },
                "responses": { "200": { "description": "shared (the permission's id)" },
                    "400": { "description": "malformed request" }, "401": errors["401"],
                    "404": { "description": "no such integration (error not_found), or no such file (error provider_not_found)", "content": { "application/json": { "schema": error } } },
                    "403": errors["403"], "409": errors["409"], "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
            } },
            "/integrations/{id}/proxy/{path}": {
                "parameters": [id, { "name": "path", "in": "path", "required": true, "schema": { "type": "string" },
                    "description": "a path under the provider's API base (no `..`, no absolute URL, no encoded separators)" }],
                "description": "A successful answer must be JSON unless the request's Accept names another type (a file's bytes, say); one that is not (a proxy's HTML page, a cut or garbled body) answers 503 and counts as the provider failing. The call and its retries take at most twice PROVIDER_TIMEOUT_SECS; after repeated failures calls answer 503 with Retry-After at once (circuit open).",
                "get": forward.clone(), "post": forward.clone(), "put": forward.clone(), "patch": forward.clone(), "delete": forward,
            },
            "/integrations/{id}/calendar/events": {
                "get": {
                    "summary": "The events starting in [from, to), recurring ones expanded, in time order (Google Workspace)",
                    "parameters": [id,
                        { "name": "from", "in": "query", "required": true, "schema": { "type": "string", "format": "date-time" } },
                        { "name": "to", "in": "query", "required": true, "schema": { "type": "string", "format": "date-time" } },
                        { "name": "calendar_id", "in": "query", "schema": { "type": "string", "default": "primary" } },
                        cursor],
                    "responses": { "200": { "description": "the events", "content": { "application/json": { "schema": list_of("events", "Event") } } },
                        "400": { "description": "from and to missing, not RFC 3339, or not in order" }, "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                        "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
                },
                "post": {
                    "summary": "Create a calendar event with attendees (Google Workspace)",
                    "parameters": [id],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/CalendarEvent" } } } },
                    "responses": { "200": { "description": "the event", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Event" } } } },
                        "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                        "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
                },
            },
            "/integrations/{id}/email": { "post": {
                "summary": "Send a plain-text email from the connected account (Gmail)",
                "parameters": [id],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Email" } } } },
                "responses": { "200": { "description": "sent (id)" },
                    "400": { "description": "malformed request" }, "401": errors["401"], "404": errors["404"], "403": errors["403"], "409": errors["409"],
                    "422": { "description": "refused by the provider or not a Google integration" }, "429": errors["429"], "502": errors["502"], "503": errors["503"] },
            } },
            "/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } } },
        },
        "components": {
            "securitySchemes": { "serviceToken": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error", "message"], "properties": { "error": { "type": "string" }, "message": { "type": "string" },
                    "scopes": { "type": "array", "items": { "type": "string" }, "description": "with missing_scope: the scopes that would allow the call" } } },
                "Person": { "type": "object", "properties": {
                    "email": { "type": "string" }, "name": { "type": ["string", "null"] },
                    "accounts": { "type": "array", "items": { "type": "object", "properties": {
                        "integration_id": { "type": "string", "format": "uuid" }, "provider": { "type": "string" }, "external_id": { "type": "string" },
                        "state": { "type": "string" }, "last_seen": { "type": "string", "format": "date-time" } } } } } },
                "DirectoryChange": { "type": "object", "properties": {
                    "seq": { "type": "integer" }, "change": { "type": "string", "enum": ["created", "updated", "deactivated", "deleted"] },
                    "integration_id": { "type": "string", "format": "uuid" }, "external_id": { "type": "string" },
                    "email": { "type": ["string", "null"] }, "at": { "type": "string", "format": "date-time" } } },
                "DirectoryEntry": { "type": "object", "properties": {
                    "external_id": { "type": "string" }, "email": { "type": ["string", "null"], "description": "normalised: trimmed, lowercase" },
                    "name": { "type": ["string", "null"] }, "state": { "type": "string", "enum": ["active", "deactivated", "deleted"] },
                    "first_seen": { "type": "string", "format": "date-time" },
                    "last_seen": { "type": "string", "format": "date-time", "description": "the end of the last complete sync that listed the account (active), or of the last that wrote it" },
                    "changed": { "type": "string", "format": "date-time" } } },
                "Organization": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" },
                    "external_id": { "type": ["string", "null"] } } },
                "Integration": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "provider": { "type": "string" }, "status": { "type": "string" },
                    "account_id": { "type": "string" }, "account_name": { "type": "string" },
                    "granted_scopes": { "type": "array", "items": { "type": "string" } },
                    "connected_at": { "type": ["string", "null"], "format": "date-time" }, "last_error": { "type": ["string", "null"] } } },
                "CalendarEvent": { "type": "object", "required": ["summary", "start", "end"], "additionalProperties": false, "properties": {
                    "calendar_id": { "type": "string", "default": "primary" }, "summary": { "type": "string" },
                    "description": { "type": "string" }, "start": { "type": "string", "format": "date-time" },
                    "end": { "type": "string", "format": "date-time" },
                    "attendees": { "type": "array", "items": { "type": "string", "format": "email" } } } },
                "Email": { "type": "object", "required": ["to", "subject", "body"], "additionalProperties": false, "properties": {
                    "to": { "type": "string", "format": "email" }, "subject": { "type": "string" }, "body": { "type": "string" } } },
                "SlackMessage": { "type": "object", "required": ["text"], "additionalProperties": false, "properties": {
                    "channel": { "type": "string" }, "user": { "type": "string" }, "text": { "type": "string", "maxLength": 40000 },
                    "post_at": { "type": "integer", "description": "Unix seconds; with channel only" } } },
                "NewSlackChannel": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                    "name": { "type": "string", "maxLength": 80 }, "is_private": { "type": "boolean", "default": false } } },
                "SlackChannel": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "is_private": { "type": "boolean" } } },
                "SlackUser": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "real_name": { "type": ["string", "null"] },
                    "email": { "type": ["string", "null"] } } },
                "SlackTeam": { "type": "object", "properties": { "id": { "type": "string" }, "name": { "type": "string" } } },
                "Calendar": { "type": "object", "properties": {
                    "id": { "type": "string" }, "summary": { "type": "string" }, "primary": { "type": "boolean" } } },
                "Event": { "type": "object", "properties": {
                    "id": { "type": "string" }, "summary": { "type": "string" }, "start": { "type": "string" },
                    "end": { "type": "string" }, "html_link": { "type": ["string", "null"] } } },
                "DriveFile": { "type": "object", "properties": {
                    "id": { "type": "string" }, "name": { "type": "string" }, "mime_type": { "type": "string" } } },
                "NewFolder": { "type": "object", "required": ["name"], "additionalProperties": false, "properties": {
                    "name": { "type": "string", "maxLength": 1000 }, "parent": { "type": "string", "description": "a folder id; else the Drive's root" } } },
                "Share": { "type": "object", "required": ["email", "role"], "additionalProperties": false, "properties": {
                    "email": { "type": "string", "format": "email" }, "role": { "type": "string", "enum": ["reader", "commenter", "writer"] } } },
            },
        },
    });
    every_call_answers(&mut document, &errors);
    document
}

/// What every authenticated call can answer, whatever it does: a missing or wrong token (401),
/// a token over its rate (429), storage unavailable while the token is checked (503).
fn every_call_answers(document: &mut Value, errors: &Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut().filter_map(Value::as_object_mut) {
        for (method, operation) in item.iter_mut() {
            let public = operation.get("security") == Some(&json!([]));
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) || public {
                continue;
            }
            if let Some(responses) = operation["responses"].as_object_mut() {
                for status in ["401", "429", "503"] {
                    responses.entry(status).or_insert_with(|| errors[status].clone());
                }
            }
        }
    }
}
