-- Web tamper watch: per `[[watch]]` page, its baseline and latest snapshot (JSON, opaque to the
-- store), when each was taken, and whether the latest differed from the baseline.

CREATE TABLE watches (
    name         TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    baseline     TEXT,
    baseline_at  INTEGER,
    current      TEXT,
    checked_at   INTEGER,
    changed      INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
