DROP TABLE api_token_integrations;
ALTER TABLE api_tokens DROP COLUMN restricted;
