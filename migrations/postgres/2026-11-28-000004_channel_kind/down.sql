ALTER TABLE integration_webhooks DROP COLUMN channel_kind;
