//! The connect flow in the audit trail: a connection or reconnection made, failed or refused,
//! by the admin who started it, from where the browser came back.

use crate::db::audit::{self, NewAuditEvent};
use crate::db::oauth_states::StateRow;
use crate::db::{DbConnection, DbError};
use crate::domain::{AuditKind, AuditOutcome, IntegrationId};

/// Records the flow of `state` (on the caller's connection, in its transaction if any).
/// `integration`: the integration connected, or the one a failed reconnection was for.
pub(super) fn record(
    conn: &mut DbConnection,
    state: &StateRow,
    integration: Option<IntegrationId>,
    outcome: AuditOutcome,
    detail: &str,
    source: Option<String>,
) -> Result<(), DbError> {
    let actor = audit::admin_actor(conn, state.user_id, source)?;
    // A state made to reconnect names its integration.
    let kind = match state.integration_id {
        Some(_) => AuditKind::Reconnect,
        None => AuditKind::Connect,
    };
    audit::append(
        conn,
        &NewAuditEvent {
            outcome,
            integration_id: integration,
            provider_slug: &state.provider_slug,
            ..NewAuditEvent::new(state.org_id, kind, &actor, detail)
        },
    )
    .map(drop)
}
