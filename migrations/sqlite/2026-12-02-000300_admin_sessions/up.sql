-- Signed-in admin sessions, kept on the server so that signing out (or a removal, or a
-- password change) ends them everywhere: the cookie names a session, this row says whether it
-- is still open. `id` is the SHA-256 of the session id the cookie carries, so the table holds
-- nothing a browser could present.
CREATE TABLE admin_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    ended_at TIMESTAMP
);
CREATE INDEX admin_sessions_user_idx ON admin_sessions (user_id, ended_at);
