DROP TABLE directory_targets;
