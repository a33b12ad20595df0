-- The audit log: every action a person or a token took through the console or the API
-- (resolve, reopen, silence, redrive, settings applied, sign-in, …), newest last. Rows are
-- only added; `detail` is free text the caller wrote (a reason, a count), never a secret.

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
