-- The audit trail, apart from the operational log (jobs and webhook deliveries): who did what,
-- kept for AUDIT_RETENTION_DAYS. Each organization's events form a hash chain: `seq` counts
-- them from 1, `prev_hash` is the hash of the event before (or of the chain's anchor), `hash`
-- is SHA-256 over prev_hash and the event's content (see src/audit/chain.rs).
CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_user_id TEXT,
    integration_id TEXT,
    provider_slug TEXT NOT NULL,
    source TEXT,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    prev_hash TEXT,
    hash TEXT,
    UNIQUE (org_id, seq)
);
CREATE INDEX audit_events_org_created_idx ON audit_events (org_id, created_at);

-- Each organization's chain: its last event (appends lock this row, so they take turns) and
-- its anchor, the last purged event (0 and 64 zeros while nothing was purged).
CREATE TABLE audit_chains (
    org_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    head_seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL,
    head_at TIMESTAMP,
    anchor_seq BIGINT NOT NULL,
    anchor_hash TEXT NOT NULL,
    anchor_at TIMESTAMP
);

-- Every audit entry of the old shared log moves here, in time order, with the actor's email
-- as it is now. The app hashes them into their chains at its next start, once: this row says
-- that is still to do (and nothing else is ever sealed after the fact).
INSERT INTO audit_events (id, org_id, seq, kind, outcome, actor, actor_user_id, integration_id,
                          provider_slug, source, detail, created_at)
SELECT l.id, l.org_id,
       ROW_NUMBER() OVER (PARTITION BY l.org_id ORDER BY l.created_at, l.id),
       l.kind, l.status,
       COALESCE(u.email, CASE WHEN l.actor_user_id IS NULL THEN 'system' ELSE 'a removed admin' END),
       l.actor_user_id, l.integration_id, l.provider_slug, NULL,
       -- "Connected as <account>": the trail outlives an erasure, so it names no account.
       CASE WHEN l.kind = 'connect' AND l.message LIKE 'Connected as %' THEN 'Connected'
            WHEN l.error IS NULL THEN l.message
            ELSE l.message || ': ' || l.error END,
       l.created_at
FROM integration_sync_logs l LEFT JOIN users u ON u.id = l.actor_user_id
WHERE l.kind IN ('connect', 'disconnect', 'erasure', 'test', 'webhook_reset', 'account');
DELETE FROM integration_sync_logs
WHERE kind IN ('connect', 'disconnect', 'erasure', 'test', 'webhook_reset', 'account');

-- A service token's calls since its last use summary in the audit trail (each call is in the
-- activity log; the trail gets a summary a day).
ALTER TABLE api_tokens ADD COLUMN calls_unsummarized BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN failures_unsummarized BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN summarized_at TIMESTAMP;

CREATE TABLE audit_seal_pending (id INTEGER PRIMARY KEY);
INSERT INTO audit_seal_pending (id) VALUES (1);
