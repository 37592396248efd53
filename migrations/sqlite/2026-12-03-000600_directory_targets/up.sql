-- Which part of a provider's accounts an integration's directory reads, chosen by an admin
-- after connecting (GitHub: the organization). Without a row, a provider that needs one skips
-- its directory.
CREATE TABLE directory_targets (
    integration_id TEXT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    target TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
