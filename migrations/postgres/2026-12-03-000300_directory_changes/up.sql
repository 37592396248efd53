-- The organization's directory change feed: every account created, updated, deactivated or
-- deleted by a sync, numbered per organization in commit order. The number is taken from the
-- organization's head row, whose update holds a lock until the writing transaction commits,
-- so a reader that pages by number never skips a change that commits late.
CREATE TABLE directory_feed_heads (
    org_id TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    last_seq BIGINT NOT NULL
);
CREATE TABLE directory_changes (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    email TEXT,
    change TEXT NOT NULL,
    at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, seq)
);
