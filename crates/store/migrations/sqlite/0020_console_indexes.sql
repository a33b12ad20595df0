-- Indexes for the console's lists: intake figures per source, the case list by source (any
-- status) and by severity.

-- The sources page asks, per intake source, when its last payload came and how many came
-- lately: one index range per source instead of a scan of the whole inbox.

CREATE INDEX inbox_source ON inbox (source, received_at);

-- The case list filtered by source (any status) walks this index in its own order instead of
-- scanning every case by last_seen (150 ms at 100k cases for a source with none).
CREATE INDEX cases_source ON cases (source, last_seen DESC, id DESC);

-- The case list sorted by severity.
CREATE INDEX cases_severity ON cases (severity_rank DESC, last_seen DESC, id DESC);
