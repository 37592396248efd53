-- More than one admin per organization (issue 13).
--
-- The platform's own id of an organization, so other services can address it without keeping
-- ours; unique when set.
ALTER TABLE organizations ADD COLUMN external_id TEXT;
CREATE UNIQUE INDEX organizations_external_id_idx ON organizations (external_id);

-- A removed admin keeps their row, so the audit log and the consent ledger keep naming who
-- acted; they can no longer sign in, and their sessions end at removal.
ALTER TABLE users ADD COLUMN removed_at TIMESTAMP;

-- Invitations to become an admin: a one-time link, stored as the SHA-256 of its token.
CREATE TABLE admin_invitations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    accepted_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX admin_invitations_org_idx ON admin_invitations (org_id, created_at);
