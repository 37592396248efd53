-- The pass that last wrote an account (created or changed it). A full pass lists every
-- account it writes, so it records as seen (directory_pass_seen) only those it left
-- unchanged: a first sync, all new, writes no seen rows at all.
ALTER TABLE directory_entries ADD COLUMN written_by_pass TEXT;
