-- Deliveries acknowledged but not stored because their endpoint or channel is stopped (its
-- integration disconnected or erased), and when a first-use handshake window opened (Asana,
-- Notion: a secret is learned only within 10 minutes of it).
ALTER TABLE integration_webhooks ADD COLUMN dropped_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE integration_webhooks ADD COLUMN handshake_opened_at TIMESTAMP;

-- Slack routes of disconnected integrations go (they kept routing a workspace to its old
-- organization); the other endpoints of disconnected integrations stop.
DELETE FROM integration_webhooks
WHERE provider_slug = 'slack'
  AND integration_id IN (SELECT id FROM integrations WHERE status = 'disconnected');
UPDATE integration_webhooks SET status = 'stopped'
WHERE status <> 'stopped'
  AND integration_id IN (SELECT id FROM integrations WHERE status = 'disconnected');

-- Slack routes are bound when a workspace is connected from now on: bind the workspaces held
-- by exactly one integration that have no route yet.
INSERT INTO integration_webhooks
    (id, org_id, integration_id, provider_slug, external_id, status, rate_limit_per_minute,
     created_at, updated_at)
SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2)
             || '-a' || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
       i.org_id, i.id, 'slack', i.external_account_id, 'active', 3000,
       CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM integrations i
WHERE i.provider_slug = 'slack'
  AND i.status <> 'disconnected'
  AND NOT EXISTS (SELECT 1 FROM integration_webhooks w
                  WHERE w.provider_slug = 'slack' AND w.external_id = i.external_account_id)
  AND NOT EXISTS (SELECT 1 FROM integrations o
                  WHERE o.provider_slug = 'slack' AND o.external_account_id = i.external_account_id
                    AND o.status <> 'disconnected' AND o.id <> i.id);
