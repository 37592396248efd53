ALTER TABLE directory_syncs DROP COLUMN source;
ALTER TABLE directory_syncs DROP COLUMN resume_token;
