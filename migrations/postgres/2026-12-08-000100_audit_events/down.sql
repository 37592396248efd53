INSERT INTO integration_sync_logs (id, org_id, integration_id, provider_slug, kind, status,
                                   message, attempts, max_attempts, actor_user_id,
                                   started_at, finished_at, created_at)
SELECT id, org_id, integration_id, provider_slug, kind, outcome, detail, 1, 1, actor_user_id,
       created_at, created_at, created_at
FROM audit_events
WHERE kind IN ('connect', 'disconnect', 'erasure', 'test', 'webhook_reset', 'account');
ALTER TABLE api_tokens DROP COLUMN summarized_at;
ALTER TABLE api_tokens DROP COLUMN failures_unsummarized;
ALTER TABLE api_tokens DROP COLUMN calls_unsummarized;
DROP TABLE audit_seal_pending;
DROP TABLE audit_chains;
DROP TABLE audit_events;
