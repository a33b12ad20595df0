-- Outputs: the outbox (one row per delivery a case change implies, written in the same
-- transaction as the change), the ticket each output keeps per case, and batch-job runs.

CREATE TABLE outbox (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,   -- delivery id; order within a lane
    case_id      TEXT,                                -- NULL for digests
    output       TEXT NOT NULL,
    action       TEXT NOT NULL,
    case_doc     TEXT,                                -- the case as it was (folded repeats: latest)
    detail       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',     -- pending | sending | done | dead
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER NOT NULL,
    lease_owner  TEXT,
    lease_until  INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_error   TEXT,
    note         TEXT
);
CREATE INDEX outbox_due ON outbox (next_at, seq) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_lane ON outbox (case_id, output, seq) WHERE state IN ('pending', 'sending');
CREATE UNIQUE INDEX outbox_fold ON outbox (case_id, output) WHERE state = 'pending' AND action = 'repeat';
CREATE INDEX outbox_state ON outbox (state, seq);

CREATE TABLE tickets (
    case_id     TEXT NOT NULL,
    output      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reference   TEXT NOT NULL,                       -- '' while only an intent is recorded
    url         TEXT,
    data        TEXT NOT NULL,
    touched_at  INTEGER NOT NULL,                    -- last successful delivery on it
    PRIMARY KEY (case_id, output)
);
CREATE INDEX tickets_reference ON tickets (output, reference);

CREATE TABLE job_runs (
    name      TEXT PRIMARY KEY,
    last_run  INTEGER NOT NULL
);
