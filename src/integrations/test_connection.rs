//! "Test connection": a fresh token and the provider's identity call, timed and recorded.

use std::time::Instant;

use super::health;
use super::provider_api::ProviderApi;
use crate::accounts::Admin;
use crate::context::AppContext;
use crate::db::audit::{self, NewAuditEvent};
use crate::db::{DbError, integrations};
use crate::domain::{AuditKind, IntegrationId};

pub struct TestResult {
    pub ok: bool,
    /// What happened, in a sentence.
    pub message: String,
    pub latency_ms: u128,
}

pub async fn test_connection(
    ctx: &AppContext,
    admin: &Admin,
    id: IntegrationId,
) -> Result<Option<TestResult>, DbError> {
    let org = admin.org_id;
    let Some(row) = ctx
        .db
        .run(move |conn| integrations::find_for_org(conn, org, id))
        .await?
    else {
        return Ok(None);
    };
    let started = Instant::now();
    let outcome = match ProviderApi::for_integration(ctx, admin.org_id, id).await {
        Ok(api) => {
            let name = api.provider.def.name.clone();
            health::identity_call(&api)
                .await
                .map(|account| {
                    format!(
                        "{name} answered for {}",
                        account.unwrap_or(row.external_account_name.clone())
                    )
                })
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    let latency_ms = started.elapsed().as_millis();
    let (ok, message) = match outcome {
        Ok(message) => (true, message),
        Err(error) => (false, error),
    };
    let (actor, logged) = (admin.actor(), message.clone());
    ctx.db
        .run(move |conn| {
            // The answer names the account: the trail, which outlives an erasure, does not.
            let detail = if ok {
                "The provider answered".to_owned()
            } else {
                format!("Connection test failed: {logged}")
            };
            let detail = format!("{detail} ({latency_ms} ms)");
            audit::append(
                conn,
                &NewAuditEvent::new(org, AuditKind::Test, &actor, &detail)
                    .succeeded_if(ok)
                    .about(row.id, &row.provider_slug),
            )
        })
        .await?;
    Ok(Some(TestResult {
        ok,
        message,
        latency_ms,
    }))
}
