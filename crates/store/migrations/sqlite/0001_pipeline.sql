-- Irene's embedded store: inbox (raw payloads, durable before 202), alerts, cases and their
-- timelines, quarantine. Times are integer microseconds since the Unix epoch (UTC).

CREATE TABLE inbox (
    id           TEXT PRIMARY KEY,          -- UUIDv7: sorts by arrival
    source       TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    body         BLOB NOT NULL,             -- the payload exactly as received (after gzip)
    items        INTEGER NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',   -- pending | done
    lease_owner  TEXT,
    lease_until  INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    processed_at INTEGER
);
CREATE INDEX inbox_pending ON inbox (id) WHERE state = 'pending';

CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    inbox_id     TEXT NOT NULL,
    item_index   INTEGER NOT NULL,
    source       TEXT NOT NULL,
    type         TEXT NOT NULL,
    case_key     TEXT NOT NULL,
    case_id      TEXT,
    severity     TEXT NOT NULL,
    state        TEXT NOT NULL,
    received_at  INTEGER NOT NULL,
    doc          TEXT NOT NULL               -- the judged alert as JSON, raw included
);
CREATE INDEX alerts_case ON alerts (case_id, received_at);

CREATE TABLE cases (
    id            TEXT PRIMARY KEY,
    key           TEXT NOT NULL UNIQUE,
    source        TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,          -- 0 info … 4 urgent
    status        TEXT NOT NULL,
    last_seen     INTEGER NOT NULL,
    search        TEXT NOT NULL,             -- lower-cased title, key, type, account for `q`
    doc           TEXT NOT NULL              -- the whole case as JSON
);
CREATE INDEX cases_last_seen ON cases (last_seen DESC, id DESC);
CREATE INDEX cases_open ON cases (source, last_seen) WHERE status = 'open';

CREATE TABLE timeline (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id   TEXT NOT NULL,
    at        INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    alert_id  TEXT,
    detail    TEXT NOT NULL
);
CREATE INDEX timeline_case ON timeline (case_id, seq);

CREATE TABLE quarantine (
    id          TEXT PRIMARY KEY,
    inbox_id    TEXT NOT NULL,
    item_index  INTEGER NOT NULL,
    source      TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    error       TEXT NOT NULL,
    raw         TEXT NOT NULL,               -- the item as received (JSON text)
    state       TEXT NOT NULL DEFAULT 'quarantined'   -- quarantined | requeued
);
CREATE INDEX quarantine_state ON quarantine (state, id);
