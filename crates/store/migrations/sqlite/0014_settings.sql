-- Settings as versioned documents: per kind (triage, sigma, routes, templates, silences), every
-- version ever written, whole (its files as JSON `[{name, text}]`), with author, time and
-- comment. The current version of a kind is its highest; the table's rowid only grows, so its
-- maximum tells a worker whether anything changed since it last looked.

CREATE TABLE settings_versions (
    kind        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    author      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    files       TEXT NOT NULL,
    PRIMARY KEY (kind, version)
);
