-- What the platform tells the hub about its people: who is employed and who left (and
-- since when), by normalised email, so the People views can show leavers who still have
-- accounts in a connected service.
CREATE TABLE people_employment (
    org_id TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    status TEXT NOT NULL,
    since DATE,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (org_id, email)
);
