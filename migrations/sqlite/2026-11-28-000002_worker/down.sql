DROP INDEX integrations_lease_idx;
ALTER TABLE integrations DROP COLUMN last_validated_at;
ALTER TABLE integrations DROP COLUMN refresh_sent_at;
ALTER TABLE integrations DROP COLUMN refresh_sent;
