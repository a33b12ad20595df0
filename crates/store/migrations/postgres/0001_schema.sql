-- Irene's shared store on PostgreSQL: the meaning of SQLite's migrations 0001-0021 in one
-- schema, with the same representation so that the row mapping is the same: ids TEXT (UUIDs as
-- text), times BIGINT microseconds since the Unix epoch (UTC), JSON documents TEXT, bytes BYTEA.
-- Several processes share it: work is claimed with leases (FOR UPDATE SKIP LOCKED).

-- Pipeline: inbox (raw payloads, durable before 202), alerts, cases, timelines, quarantine.
CREATE TABLE inbox (
    id              TEXT PRIMARY KEY,          -- UUIDv7: sorts by arrival
    source          TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    body            BYTEA NOT NULL,            -- the payload exactly as received (after gzip)
    items           BIGINT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending',   -- pending | done
    lease_owner     TEXT,
    lease_until     BIGINT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    processed_at    BIGINT,
    idempotency_key TEXT,                      -- the transport's own id of a delivery
    complete_scan   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';
CREATE UNIQUE INDEX inbox_idempotency ON inbox (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX inbox_source ON inbox (source, received_at);

CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    inbox_id     TEXT NOT NULL,
    item_index   BIGINT NOT NULL,
    source       TEXT NOT NULL,
    type         TEXT NOT NULL,
    case_key     TEXT NOT NULL,
    case_id      TEXT,
    severity     TEXT NOT NULL,
    state        TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    doc          TEXT NOT NULL               -- the judged alert as JSON, raw included
);
CREATE INDEX alerts_case ON alerts (case_id, received_at);
CREATE INDEX alerts_received ON alerts (received_at, id);
CREATE INDEX alerts_actor_principal ON alerts ((doc::jsonb #>> '{alert,actor,principal}'))
    WHERE (doc::jsonb #>> '{alert,actor,principal}') IS NOT NULL;
CREATE INDEX alerts_actor_ip ON alerts ((doc::jsonb #>> '{alert,actor,ip}'))
    WHERE (doc::jsonb #>> '{alert,actor,ip}') IS NOT NULL;

-- A key is unique among all cases (open or resolved): two instances that both open a case for
-- one new key collide here, and the second one's commit is retried as an occurrence.
CREATE TABLE cases (
    id            TEXT PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    severity_rank BIGINT NOT NULL,           -- 0 info … 4 urgent
    status        TEXT NOT NULL,
    last_seen     BIGINT NOT NULL,
    search        TEXT NOT NULL,             -- lower-cased title, key, type, account for `q`
    doc           TEXT NOT NULL              -- the whole case as JSON
);
CREATE INDEX cases_last_seen ON cases (last_seen DESC, id DESC);
CREATE INDEX cases_open ON cases (source, last_seen) WHERE status = 'open';
CREATE INDEX cases_type_resource
    ON cases ((doc::jsonb ->> 'type'), (doc::jsonb #>> '{resource,id}'));
CREATE INDEX cases_source ON cases (source, last_seen DESC, id DESC);
CREATE INDEX cases_severity ON cases (severity_rank DESC, last_seen DESC, id DESC);

CREATE TABLE timeline (
    seq       BIGSERIAL PRIMARY KEY,
    case_id   TEXT NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    alert_id  TEXT,
    detail    TEXT NOT NULL
);
CREATE INDEX timeline_case ON timeline (case_id, seq);
CREATE INDEX timeline_kind_at ON timeline (kind, at);

CREATE TABLE quarantine (
    id          TEXT PRIMARY KEY,
    inbox_id    TEXT NOT NULL,
    item_index  BIGINT NOT NULL,
    source      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    error       TEXT NOT NULL,
    raw         TEXT NOT NULL,               -- the item as received (JSON text)
    state       TEXT NOT NULL DEFAULT 'quarantined'   -- quarantined | requeued
);
CREATE INDEX quarantine_state ON quarantine (state, id);

-- Outputs: the outbox (one row per delivery a case change implies, written in the same
-- transaction as the change), the ticket each output keeps per case, and batch-job runs.
CREATE TABLE outbox (
    seq          BIGSERIAL PRIMARY KEY,               -- delivery id; order within a lane
    case_id      TEXT,                                -- NULL for digests
    output       TEXT NOT NULL,
    action       TEXT NOT NULL,
    case_doc     TEXT,                                -- the case as it was (folded repeats: latest)
    detail       TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',     -- pending | sending | done | dead | held | dropped
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_error   TEXT,
    note         TEXT,
    held_by      TEXT                                 -- what holds it back (state 'held')
);
CREATE INDEX outbox_due ON outbox (next_at, seq) WHERE state IN ('pending', 'sending');
CREATE INDEX outbox_lane ON outbox (case_id, output, seq) WHERE state IN ('pending', 'sending');
CREATE UNIQUE INDEX outbox_fold ON outbox (case_id, output) WHERE state = 'pending' AND action = 'repeat';
CREATE INDEX outbox_state ON outbox (state, seq);
CREATE INDEX outbox_held ON outbox (held_by, seq) WHERE state = 'held';
CREATE INDEX outbox_case ON outbox (case_id, seq);

CREATE TABLE tickets (
    case_id     TEXT NOT NULL,
    output      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    reference   TEXT NOT NULL,                       -- '' while only an intent is recorded
    url         TEXT,
    data        TEXT NOT NULL,
    touched_at  BIGINT NOT NULL,                     -- last successful delivery on it
    PRIMARY KEY (case_id, output)
);
CREATE INDEX tickets_reference ON tickets (output, reference);

CREATE TABLE job_runs (
    name      TEXT PRIMARY KEY,
    last_run  BIGINT NOT NULL
);

-- Audit-log events, kept raw for a retention period and indexed for an investigator's questions.
CREATE TABLE events (
    id           TEXT PRIMARY KEY,            -- UUIDv7
    inbox_id     TEXT NOT NULL,
    item_index   BIGINT NOT NULL,
    source       TEXT NOT NULL,
    source_id    TEXT,                        -- CloudTrail eventID, GCP insertId
    name         TEXT NOT NULL,
    account      TEXT,
    region       TEXT,
    principal    TEXT,
    source_ip    TEXT,
    user_agent   TEXT,
    observed_at  BIGINT NOT NULL,             -- the event's own time (else when received)
    received_at  BIGINT NOT NULL,
    detections   TEXT NOT NULL,               -- JSON array of the Sigma rule ids it matched
    raw          TEXT NOT NULL                -- the record as received
);
CREATE UNIQUE INDEX events_source_id ON events (source, source_id) WHERE source_id IS NOT NULL;
CREATE INDEX events_time ON events (observed_at DESC, id DESC);
CREATE INDEX events_ip ON events (source_ip, observed_at DESC) WHERE source_ip IS NOT NULL;
CREATE INDEX events_principal ON events (principal, observed_at DESC) WHERE principal IS NOT NULL;
CREATE INDEX events_account ON events (account, observed_at DESC) WHERE account IS NOT NULL;
CREATE INDEX events_name ON events (name, observed_at DESC);
CREATE INDEX events_received ON events (received_at);

-- The Sigma correlation windows, one row per correlation and group, loaded (locked) and written
-- back by the commit whose new events touch them.
CREATE TABLE correlation_windows (
    correlation  TEXT NOT NULL,             -- the correlation rule's id
    grp          TEXT NOT NULL,             -- its group-by values (as the correlator writes them)
    state        TEXT NOT NULL,             -- JSON, owned by irene-rules
    expires_at   BIGINT NOT NULL,           -- newest hit + timespan: pruned a day after
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (correlation, grp)
);
CREATE INDEX correlation_windows_expiry ON correlation_windows (expires_at);

-- Investigations: one job per investigator a case change calls for, claimed with a lease,
-- finished once; and the files their outcomes attach.
CREATE TABLE investigations (
    id           TEXT PRIMARY KEY,                     -- UUIDv7
    case_id      TEXT NOT NULL,
    investigator TEXT NOT NULL,
    trigger      TEXT NOT NULL,                        -- open | reopen | …
    batch        TEXT NOT NULL,                        -- one id per trigger: its jobs, one note
    state        TEXT NOT NULL DEFAULT 'pending',      -- pending | running | done
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    created_at   BIGINT NOT NULL,
    started_at   BIGINT,
    finished_at  BIGINT,
    status       TEXT,                                 -- done | nothing_found | failed
    reason       TEXT,                                 -- why it failed
    findings     TEXT,                                 -- JSON
    summary      TEXT,                                 -- markdown
    same_since   BIGINT,
    fixed        TEXT
);
CREATE INDEX investigations_due ON investigations (next_at, id) WHERE state IN ('pending', 'running');
CREATE INDEX investigations_case ON investigations (case_id, id);
CREATE INDEX investigations_batch ON investigations (batch);
CREATE INDEX investigations_state ON investigations (state, id);
CREATE INDEX investigations_case_investigator
    ON investigations (case_id, investigator, created_at DESC);

CREATE TABLE attachments (
    id               TEXT PRIMARY KEY,                 -- UUIDv7
    investigation_id TEXT NOT NULL,
    case_id          TEXT NOT NULL,
    name             TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    bytes            BYTEA NOT NULL
);
CREATE INDEX attachments_investigation ON attachments (investigation_id);

-- Threat-intel feeds: the last good copy of each and how the last attempt went.
CREATE TABLE feeds (
    name           TEXT PRIMARY KEY,
    url            TEXT NOT NULL,
    format         TEXT NOT NULL,
    etag           TEXT,
    last_modified  TEXT,
    body           BYTEA,                -- NULL until a first good copy
    entries        BIGINT NOT NULL DEFAULT 0,
    fetched_at     BIGINT,               -- when the copy was last known current (200 or 304)
    checked_at     BIGINT NOT NULL,      -- the last attempt
    last_error     TEXT                  -- NULL when the last attempt succeeded
);

-- Reputation API answers until they expire, and each provider's requests per UTC day.
CREATE TABLE intel_cache (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,
    answer      TEXT NOT NULL,          -- the normalised verdict, JSON
    fetched_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX intel_cache_expiry ON intel_cache (expires_at);

CREATE TABLE intel_usage (
    provider  TEXT NOT NULL,
    day       TEXT NOT NULL,            -- YYYY-MM-DD, UTC
    used      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, day)
);

-- Web tamper watch: per page, its baseline and latest snapshot, and their screenshots.
CREATE TABLE watches (
    name         TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    baseline     TEXT,
    baseline_at  BIGINT,
    current      TEXT,
    checked_at   BIGINT,
    changed      BOOLEAN NOT NULL DEFAULT FALSE,
    last_error   TEXT
);

CREATE TABLE watch_images (
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('baseline', 'current')),
    taken_at  BIGINT NOT NULL,
    png       BYTEA NOT NULL,
    PRIMARY KEY (name, kind)
);

-- Settings as versioned documents, every version whole. `seq` only grows (SQLite's rowid):
-- its maximum tells a worker whether anything changed since it last looked.
CREATE TABLE settings_versions (
    seq         BIGSERIAL NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    version     BIGINT NOT NULL,
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    files       TEXT NOT NULL,
    PRIMARY KEY (kind, version)
);

-- The audit log: every action a person or a token took, newest last; rows are only added.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    at      BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- Console accounts, their sessions (the SHA-256 of the cookie only), sign-in attempts.
CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled   BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE login_attempts (
    id   BIGSERIAL PRIMARY KEY,
    at   BIGINT NOT NULL,
    name TEXT NOT NULL,
    ip   TEXT NOT NULL,
    ok   BIGINT NOT NULL
);
CREATE INDEX login_attempts_name ON login_attempts (name, at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);
