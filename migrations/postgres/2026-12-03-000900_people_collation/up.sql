-- People are paged by email, merged from two tables (directory accounts and what the platform
-- said of employment): both compare emails byte by byte, as SQLite does, whatever the
-- database's collation (en_US would sort "a.c@" after "ab@").
ALTER TABLE directory_entries ALTER COLUMN email TYPE TEXT COLLATE "C";
ALTER TABLE people_employment ALTER COLUMN email TYPE TEXT COLLATE "C";
