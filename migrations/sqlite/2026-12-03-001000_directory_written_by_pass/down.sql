ALTER TABLE directory_entries DROP COLUMN written_by_pass;
