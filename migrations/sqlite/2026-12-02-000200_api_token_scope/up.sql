-- A service token may be limited to chosen integrations of its organization. `restricted`
-- says so on the token itself, so that erasing the last chosen integration leaves a token
-- that reaches nothing rather than everything.
ALTER TABLE api_tokens ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE api_token_integrations (
    token_id TEXT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, integration_id)
);
