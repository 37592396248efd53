-- SQLite compares text byte by byte already (BINARY): nothing to change.
SELECT 1;
