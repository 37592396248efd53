-- Directory sync (issue 15): who has an account in each connected service.
--
-- One row per account an integration's provider lists. `email` is normalised (trimmed,
-- lowercase) for matching people across services; `content_hash` covers what is kept, so an
-- unchanged account is not rewritten. Accounts a complete pass no longer lists become
-- `deactivated`, never silently dropped.
CREATE TABLE directory_entries (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    email TEXT,
    name TEXT,
    state TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    changed_at TIMESTAMP NOT NULL,
    UNIQUE (integration_id, external_id)
);
CREATE INDEX directory_entries_org_email_idx ON directory_entries (org_id, email);

-- The sync of one integration's directory: the full pass in progress and its checkpoint (the
-- cursor of the next page), so a sync killed half-way resumes where it stopped, on any
-- instance; a pass is complete only when its last page was read.
CREATE TABLE directory_syncs (
    integration_id TEXT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    pass_id TEXT,
    next_cursor TEXT,
    pages_read INTEGER NOT NULL,
    entries_seen INTEGER NOT NULL,
    entries_written INTEGER NOT NULL,
    started_at TIMESTAMP,
    completed_at TIMESTAMP,
    last_error TEXT,
    updated_at TIMESTAMP NOT NULL
);

-- The accounts a pass in progress has listed so far (emptied when the pass completes): what
-- it did not list is absent.
CREATE TABLE directory_pass_seen (
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    PRIMARY KEY (integration_id, external_id)
);
