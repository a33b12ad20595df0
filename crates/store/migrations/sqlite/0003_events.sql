-- Audit-log events (CloudTrail, GCP audit logs), kept raw for a retention period and indexed
-- for the questions an investigator asks: by source IP, principal, account, event name, time.

CREATE TABLE events (
    id           TEXT PRIMARY KEY,            -- UUIDv7
    inbox_id     TEXT NOT NULL,
    item_index   INTEGER NOT NULL,
    source       TEXT NOT NULL,
    source_id    TEXT,                        -- CloudTrail eventID, GCP insertId
    name         TEXT NOT NULL,
    account      TEXT,
    region       TEXT,
    principal    TEXT,
    source_ip    TEXT,
    user_agent   TEXT,
    observed_at  INTEGER NOT NULL,            -- the event's own time (else when received)
    received_at  INTEGER NOT NULL,
    detections   TEXT NOT NULL,               -- JSON array of the Sigma rule ids it matched
    raw          TEXT NOT NULL                -- the record as received
);
-- A record delivered twice (CloudTrail delivers at least once) is kept once.
CREATE UNIQUE INDEX events_source_id ON events (source, source_id) WHERE source_id IS NOT NULL;
CREATE INDEX events_time ON events (observed_at DESC, id DESC);
CREATE INDEX events_ip ON events (source_ip, observed_at DESC) WHERE source_ip IS NOT NULL;
CREATE INDEX events_principal ON events (principal, observed_at DESC) WHERE principal IS NOT NULL;
CREATE INDEX events_account ON events (account, observed_at DESC) WHERE account IS NOT NULL;
CREATE INDEX events_name ON events (name, observed_at DESC);
CREATE INDEX events_received ON events (received_at);
