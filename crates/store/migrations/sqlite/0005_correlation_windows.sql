-- The Sigma correlation windows, one row per correlation and group (its group-by values), so
-- that a commit loads and writes back only the windows its new events touch, in the same
-- transaction. Replaces the single `sigma_windows` row, whose windows are carried over.

CREATE TABLE correlation_windows (
    correlation  TEXT NOT NULL,             -- the correlation rule's id
    grp          TEXT NOT NULL,             -- its group-by values (as the correlator writes them)
    state        TEXT NOT NULL,             -- JSON, owned by irene-rules
    expires_at   INTEGER NOT NULL,          -- newest hit + timespan: pruned a day after
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (correlation, grp)
);
CREATE INDEX correlation_windows_expiry ON correlation_windows (expires_at);

-- The old state is {"correlations": {id: {"definition", "groups": {group: [{t (ms), r, v}]}}}}.
-- Its timespans are not in it: a carried-over window expires a week after its newest hit (the
-- next commit that touches it writes its true expiry).
INSERT INTO correlation_windows (correlation, grp, state, expires_at, updated_at)
SELECT c.key, g.key,
       json_object('definition', json_extract(c.value, '$.definition'), 'entries', json(g.value)),
       json_extract(g.value, '$[' || (json_array_length(g.value) - 1) || '].t') * 1000 + 604800000000,
       w.updated_at
FROM sigma_windows w, json_each(w.state, '$.correlations') c, json_each(c.value, '$.groups') g
WHERE json_array_length(g.value) > 0;

DROP TABLE sigma_windows;
