ALTER TABLE integration_webhooks DROP COLUMN handshake_opened_at;
ALTER TABLE integration_webhooks DROP COLUMN dropped_count;
