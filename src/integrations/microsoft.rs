//! Microsoft Graph for the directory: the tenant's users through a delta query
//! (https://learn.microsoft.com/en-us/graph/delta-query-users). The first read lists every
//! user page by page (`@odata.nextLink`); its last page carries `@odata.deltaLink`, from which
//! a later read lists only the users changed or removed since. Links are absolute URLs holding
//! Graph's opaque tokens: they are followed only at the endpoint's own host and path.

use serde_json::Value;

use super::provider_api::{ApiError, ProviderApi};
use crate::providers::catalogue::endpoints::GRAPH_USERS_DELTA;

/// What the hub keeps of a user.
const SELECT: &str = "id,displayName,mail,userPrincipalName,accountEnabled";

pub struct Graph<'a> {
    api: ProviderApi<'a>,
}

/// A user as a delta page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphUser {
    pub id: String,
    /// `mail`, else `userPrincipalName`.
    pub email: Option<String>,
    pub name: Option<String>,
    /// `accountEnabled: false`.
    pub disabled: bool,
    /// Listed as removed (`@removed`): only the id is said.
    pub removed: Option<Removal>,
}

/// Why Graph lists a user as removed (`@removed.reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// `deleted`: deleted for good.
    Deleted,
    /// `changed` (soft-deleted, restorable) or any other reason.
    Other,
}

/// One page of a delta read and what follows it.
#[derive(Debug, Clone)]
pub struct DeltaPage {
    pub users: Vec<GraphUser>,
    pub next: DeltaNext,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeltaNext {
    /// `@odata.nextLink`: the next page of this read.
    Page(String),
    /// `@odata.deltaLink`: the read is complete; the next one starts here.
    Delta(String),
}

fn user(item: &Value) -> Option<GraphUser> {
    let text = |key: &str| {
        item.get(key)
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    let removed = item
        .get("@removed")
        .map(|removed| match removed.get("reason").and_then(Value::as_str) {
            Some("deleted") => Removal::Deleted,
            _ => Removal::Other,
        });
    Some(GraphUser {
        id: text("id")?,
        email: text("mail").or_else(|| text("userPrincipalName")),
        name: text("displayName"),
        disabled: item.get("accountEnabled").and_then(Value::as_bool) == Some(false),
        removed,
    })
}

impl<'a> Graph<'a> {
    pub fn new(api: ProviderApi<'a>) -> Graph<'a> {
        Graph { api }
    }

    /// One page of users: the first of a full read (`link` `None`), or the page at a
    /// next or delta link Graph gave. A link (given or received) outside the endpoint's host
    /// and path is refused, never followed.
    pub async fn users_delta_page(&self, link: Option<&str>) -> Result<DeltaPage, ApiError> {
        let request = match link {
            None => self.api.request(&GRAPH_USERS_DELTA, &[]).query("$select", SELECT),
            Some(link) => self
                .api
                .request_at_link(&GRAPH_USERS_DELTA, link)
                .ok_or_else(foreign_link)?,
        };
        let answer = self.api.send(&request).await?.json()?;
        let link = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
        let next = match (link("@odata.nextLink"), link("@odata.deltaLink")) {
            (Some(next), _) => DeltaNext::Page(next),
            (None, Some(delta)) => DeltaNext::Delta(delta),
            (None, None) => {
                return Err(ApiError::ProviderDown(
                    "Microsoft Graph's page has neither a next nor a delta link".into(),
                ));
            }
        };
        let (DeltaNext::Page(link) | DeltaNext::Delta(link)) = &next;
        if self.api.request_at_link(&GRAPH_USERS_DELTA, link).is_none() {
            return Err(foreign_link());
        }
        let users = answer
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(user)
            .collect();
        Ok(DeltaPage { users, next })
    }
}

/// The link itself holds Graph's tokens: it is not repeated in the error.
fn foreign_link() -> ApiError {
    ApiError::BadRequest(
        "Microsoft Graph gave a link outside its users delta endpoint; it was not followed".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_removals_and_disabled_accounts_are_read_as_graph_says() {
        let full = user(&json!({
            "id": "u1", "displayName": "Ada", "mail": null,
            "userPrincipalName": "ada@acme.example", "accountEnabled": false,
        }))
        .unwrap();
        assert_eq!(full.email.as_deref(), Some("ada@acme.example"));
        assert!(full.disabled && full.removed.is_none());
        let deleted = user(&json!({ "id": "u2", "@removed": { "reason": "deleted" } })).unwrap();
        assert_eq!(deleted.removed, Some(Removal::Deleted));
        let changed = user(&json!({ "id": "u3", "@removed": { "reason": "changed" } })).unwrap();
        assert_eq!(changed.removed, Some(Removal::Other));
        assert!(user(&json!({ "displayName": "no id" })).is_none());
    }
}
