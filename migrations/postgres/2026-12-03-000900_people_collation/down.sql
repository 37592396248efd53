ALTER TABLE directory_entries ALTER COLUMN email TYPE TEXT COLLATE "default";
ALTER TABLE people_employment ALTER COLUMN email TYPE TEXT COLLATE "default";
