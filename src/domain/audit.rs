//! An audit event and its place in its organization's hash chain. The hash is SHA-256 over
//! the previous event's hash (hex), a newline, and the event's canonical JSON: the object
//! `/audit.jsonl` exports without its `prev_hash` and `hash`, keys in this order, no spaces.
//! So anyone holding the export can recompute the chain.

use chrono::NaiveDateTime;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{IntegrationId, OrgId, UserId, text_enum};

text_enum! {
    /// What an audit event records. Stored in `audit_events.kind`.
    AuditKind {
        /// A new account connected, or a connection that failed.
        Connect => "connect",
        /// An integration connected again (new consent, new tokens).
        Reconnect => "reconnect",
        Disconnect => "disconnect",
        /// A GDPR erasure of an integration's data.
        Erasure => "erasure",
        /// "Test connection" by an admin.
        Test => "test",
        /// An admin reset a webhook's first-use handshake (Asana, Notion).
        WebhookReset => "webhook_reset",
        /// An admin's own account: password changed or reset, sessions signed out.
        Account => "account",
        /// Consent to a provider's scopes given (at connect) or withdrawn (at disconnect).
        Consent => "consent",
        /// An integration's sync schedule changed.
        Schedule => "schedule",
        /// An integration's settings changed (the GitHub organization its directory reads).
        Settings => "settings",
        /// A webhook endpoint added by an admin.
        WebhookEndpoint => "webhook_endpoint",
        /// A service token of the internal API created or revoked.
        ServiceToken => "service_token",
        /// An admin signed in or out.
        Session => "session",
        /// The operator re-encrypted the stored secrets under a new key.
        KeyRotation => "key_rotation",
        /// What the retention rules removed (how many, of which kinds).
        Retention => "retention",
    }
}

text_enum! {
    /// How what an audit event records ended. Stored in `audit_events.outcome`.
    AuditOutcome {
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

/// Who did what an audit event records, and from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    /// The admin's email, a service token's name, or "system".
    pub name: String,
    pub user_id: Option<UserId>,
    /// The client address of the admin's request (as the trusted proxy saw it).
    pub source: Option<String>,
}

impl Actor {
    /// The hub itself (the worker, a command line).
    pub fn system() -> Self {
        Actor {
            name: "system".into(),
            user_id: None,
            source: None,
        }
    }
}

/// The hash before an organization's first event (and the anchor while nothing was purged).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit event says, as hashed and exported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub seq: i64,
    pub org: OrgId,
    /// UTC, to the microsecond (what both databases keep).
    #[serde(with = "micros")]
    pub at: NaiveDateTime,
    pub kind: AuditKind,
    pub outcome: AuditOutcome,
    /// The admin's email, a service token's name, or "system".
    pub actor: String,
    pub integration: Option<IntegrationId>,
    pub provider: String,
    /// Where the request came from, when an admin's request did it.
    pub source: Option<String>,
    pub detail: String,
}

impl AuditRecord {
    /// The hash of this event following `prev_hash`.
    pub fn hash(&self, prev_hash: &str) -> String {
        let json = serde_json::to_string(self).expect("an audit record serializes");
        let mut digest = Sha256::new();
        digest.update(prev_hash.as_bytes());
        digest.update(b"\n");
        digest.update(json.as_bytes());
        hex::encode(digest.finalize())
    }
}

mod micros {
    use chrono::NaiveDateTime;
    use serde::Serializer;

    const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

    pub fn serialize<S: Serializer>(at: &NaiveDateTime, out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(&at.format(FORMAT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> AuditRecord {
        AuditRecord {
            seq: 1,
            org: OrgId::parse("3f1c2a9e-6a53-4d4e-9a7e-0d8a4f1b2c3d").unwrap(),
            at: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_micro_opt(22, 59, 1, 120)
                .unwrap(),
            kind: AuditKind::Connect,
            outcome: AuditOutcome::Succeeded,
            actor: "hr@example.com".into(),
            integration: None,
            provider: "slack".into(),
            source: Some("192.0.2.7".into()),
            detail: "Connected as \"Acme\"".into(),
        }
    }

    #[test]
    fn the_canonical_form_is_the_documented_json() {
        let json = serde_json::to_string(&record()).unwrap();
        assert_eq!(
            json,
            r#"{"seq":1,"org":"3f1c2a9e-6a53-4d4e-9a7e-0d8a4f1b2c3d","at":"2026-12-07T22:59:01.000120Z","kind":"connect","outcome":"succeeded","actor":"hr@example.com","integration":null,"provider":"slack","source":"192.0.2.7","detail":"Connected as \"Acme\""}"#
        );
        let digest = Sha256::digest(format!("{GENESIS_HASH}\n{json}").as_bytes());
        assert_eq!(record().hash(GENESIS_HASH), hex::encode(digest));
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = record().hash(GENESIS_HASH);
        assert_ne!(record().hash(&"1".repeat(64)), base);
        let changes: [fn(&mut AuditRecord); 6] = [
            |r| r.seq = 2,
            |r| r.at += chrono::Duration::microseconds(1),
            |r| r.actor.push('x'),
            |r| r.outcome = AuditOutcome::Failed,
            |r| r.source = None,
            |r| r.detail.clear(),
        ];
        for change in changes {
            let mut changed = record();
            change(&mut changed);
            assert_ne!(changed.hash(GENESIS_HASH), base, "{changed:?}");
        }
    }
}
