-- A refresh token that was sent to the provider and whose answer is not stored yet:
-- "<owner> <sha256 of the token>". Nobody sends it again; after a crash the integration
-- needs a reconnect rather than risk a reuse that would revoke the grant.
ALTER TABLE integrations ADD COLUMN refresh_sent TEXT;
ALTER TABLE integrations ADD COLUMN refresh_sent_at TIMESTAMP;
ALTER TABLE integrations ADD COLUMN last_validated_at TIMESTAMP;
CREATE INDEX integrations_lease_idx ON integrations (lease_owner) WHERE lease_owner IS NOT NULL;
