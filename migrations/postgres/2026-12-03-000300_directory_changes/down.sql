DROP TABLE directory_changes;
DROP TABLE directory_feed_heads;
