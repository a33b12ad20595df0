-- The sources page asks, per intake source, when its last payload came and how many came
-- lately: one index range per source instead of a scan of the whole inbox.

CREATE INDEX inbox_source ON inbox (source, received_at);
