DROP TABLE directory_pass_seen;
DROP TABLE directory_syncs;
DROP TABLE directory_entries;
