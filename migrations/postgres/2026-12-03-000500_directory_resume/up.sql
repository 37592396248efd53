-- Incremental directory sync: where the provider can list only what changed since the last
-- complete pass (Microsoft Graph's delta link, Google People's sync token), the token that
-- resumes from there; and which of the provider's lists the pass reads (`source`), since a
-- pass's cursors belong to one list. A pass that starts from a resume token is incremental:
-- it never marks absences.
ALTER TABLE directory_syncs ADD COLUMN resume_token TEXT;
ALTER TABLE directory_syncs ADD COLUMN source TEXT;
