-- What a Google watch channel watches (calendar or drive), so renewal watches the same.
ALTER TABLE integration_webhooks ADD COLUMN channel_kind TEXT;
