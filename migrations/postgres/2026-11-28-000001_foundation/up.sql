-- Ids are UUIDs as text (portable schema), timestamps are UTC without a zone.

CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

-- One row, written once: the first-run setup is done for good.
CREATE TABLE instance_setup (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    completed_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    last_login_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_org_idx ON users (org_id);

CREATE TABLE integration_providers (
    slug TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    brand_color TEXT NOT NULL,
    auth_kind TEXT NOT NULL,
    authorize_url TEXT NOT NULL,
    token_url TEXT NOT NULL,
    revoke_url TEXT,
    identity_url TEXT,
    issuer TEXT,
    jwks_url TEXT,
    api_base_url TEXT NOT NULL,
    default_scopes TEXT NOT NULL,
    scope_separator TEXT NOT NULL,
    pkce BOOLEAN NOT NULL,
    token_auth_method TEXT NOT NULL,
    extra_auth_params TEXT NOT NULL,
    webhook_kind TEXT NOT NULL,
    docs_url TEXT NOT NULL,
    position INTEGER NOT NULL,
    builtin BOOLEAN NOT NULL,
    enabled BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider_slug TEXT NOT NULL REFERENCES integration_providers (slug),
    status TEXT NOT NULL,
    external_account_id TEXT NOT NULL,
    external_account_name TEXT NOT NULL,
    granted_scopes TEXT NOT NULL,
    connected_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    connected_at TIMESTAMP,
    disconnected_at TIMESTAMP,
    last_refresh_at TIMESTAMP,
    last_sync_at TIMESTAMP,
    last_error TEXT,
    last_error_at TIMESTAMP,
    next_refresh_at TIMESTAMP,
    refresh_failures INTEGER NOT NULL DEFAULT 0,
    sync_interval_minutes INTEGER,
    next_sync_at TIMESTAMP,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    lease_generation BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (org_id, provider_slug, external_account_id)
);
-- The settings page: an org's integrations by provider.
CREATE INDEX integrations_org_provider_idx ON integrations (org_id, provider_slug);
-- The refresh scan: live integrations by due time.
CREATE INDEX integrations_refresh_due_idx ON integrations (next_refresh_at) WHERE status IN ('connected', 'degraded', 'refreshing');
CREATE INDEX integrations_sync_due_idx ON integrations (next_sync_at) WHERE sync_interval_minutes IS NOT NULL;
-- Webhook routing: provider + external account (e.g. a Slack team id).
CREATE INDEX integrations_account_idx ON integrations (provider_slug, external_account_id);

CREATE TABLE integration_credentials (
    integration_id TEXT PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    access_token BYTEA NOT NULL,
    refresh_token BYTEA,
    token_type TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE integration_webhooks (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    integration_id TEXT REFERENCES integrations (id) ON DELETE CASCADE,
    provider_slug TEXT NOT NULL REFERENCES integration_providers (slug),
    external_id TEXT NOT NULL,
    resource_id TEXT,
    key_id TEXT,
    secret BYTEA,
    status TEXT NOT NULL,
    expires_at TIMESTAMP,
    received_count BIGINT NOT NULL DEFAULT 0,
    rejected_count BIGINT NOT NULL DEFAULT 0,
    last_event_at TIMESTAMP,
    rate_limit_per_minute INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (provider_slug, external_id)
);
CREATE INDEX integration_webhooks_integration_idx ON integration_webhooks (integration_id);
CREATE INDEX integration_webhooks_expiry_idx ON integration_webhooks (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE integration_sync_logs (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    integration_id TEXT REFERENCES integrations (id) ON DELETE SET NULL,
    provider_slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    message TEXT NOT NULL,
    error TEXT,
    dedup_key TEXT,
    payload BYTEA,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    next_attempt_at TIMESTAMP,
    lease_owner TEXT,
    lease_expires_at TIMESTAMP,
    actor_user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    duration_ms BIGINT,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (provider_slug, dedup_key)
);
CREATE INDEX sync_logs_org_created_idx ON integration_sync_logs (org_id, created_at);
CREATE INDEX sync_logs_integration_created_idx ON integration_sync_logs (integration_id, created_at);
CREATE INDEX sync_logs_queue_idx ON integration_sync_logs (next_attempt_at) WHERE status IN ('queued', 'running');
CREATE INDEX sync_logs_created_idx ON integration_sync_logs (created_at);

CREATE TABLE integration_consents (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users (id) ON DELETE SET NULL,
    provider_slug TEXT NOT NULL REFERENCES integration_providers (slug),
    integration_id TEXT REFERENCES integrations (id) ON DELETE SET NULL,
    scopes TEXT NOT NULL,
    consent_text_version TEXT NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    granted_at TIMESTAMP NOT NULL,
    withdrawn_at TIMESTAMP
);
CREATE INDEX consents_org_idx ON integration_consents (org_id, granted_at);
CREATE INDEX consents_integration_idx ON integration_consents (integration_id);

CREATE TABLE integration_oauth_states (
    id TEXT PRIMARY KEY,
    state_hash TEXT NOT NULL UNIQUE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_slug TEXT NOT NULL REFERENCES integration_providers (slug),
    integration_id TEXT REFERENCES integrations (id) ON DELETE CASCADE,
    consent_id TEXT REFERENCES integration_consents (id) ON DELETE SET NULL,
    session_binding TEXT NOT NULL,
    key_id TEXT,
    pkce_verifier BYTEA,
    nonce TEXT,
    scopes TEXT NOT NULL,
    redirect_after TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    consumed_at TIMESTAMP
);
CREATE INDEX oauth_states_expiry_idx ON integration_oauth_states (expires_at);
