-- Investigations: one job per investigator a case change calls for (written in the change's
-- transaction), claimed with a lease, finished once; and the files their outcomes attach.

CREATE TABLE investigations (
    id           TEXT PRIMARY KEY,                     -- UUIDv7
    case_id      TEXT NOT NULL,
    investigator TEXT NOT NULL,
    trigger      TEXT NOT NULL,                        -- open | reopen | …
    batch        TEXT NOT NULL,                        -- one id per trigger: its jobs, one note
    state        TEXT NOT NULL DEFAULT 'pending',      -- pending | running | done
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    finished_at  INTEGER,
    status       TEXT,                                 -- done | nothing_found | failed
    reason       TEXT,                                 -- why it failed
    findings     TEXT,                                 -- JSON
    summary      TEXT                                  -- markdown
);
CREATE INDEX investigations_due ON investigations (next_at, id) WHERE state IN ('pending', 'running');
CREATE INDEX investigations_case ON investigations (case_id, id);
CREATE INDEX investigations_batch ON investigations (batch);
CREATE INDEX investigations_state ON investigations (state, id);

CREATE TABLE attachments (
    id               TEXT PRIMARY KEY,                 -- UUIDv7
    investigation_id TEXT NOT NULL,
    case_id          TEXT NOT NULL,
    name             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    bytes            BLOB NOT NULL
);
CREATE INDEX attachments_investigation ON attachments (investigation_id);
