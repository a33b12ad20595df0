-- Threat-intel feeds: the last good copy of each (body, validators for conditional requests)
-- and how the last attempt went. A failed or empty download never replaces the copy.
CREATE TABLE feeds (
    name           TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    format         TEXT NOT NULL,
    etag           TEXT,
    last_modified  TEXT,
    body           BLOB,                 -- NULL until a first good copy
    entries        INTEGER NOT NULL DEFAULT 0,
    fetched_at     INTEGER,              -- when the copy was last known current (200 or 304)
    checked_at     INTEGER NOT NULL,     -- the last attempt
    last_error     TEXT                  -- NULL when the last attempt succeeded
);
