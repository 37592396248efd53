DROP TABLE admin_invitations;
ALTER TABLE users DROP COLUMN removed_at;
DROP INDEX organizations_external_id_idx;
ALTER TABLE organizations DROP COLUMN external_id;
