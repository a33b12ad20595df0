-- Reputation API answers, kept until they expire so that the same subject is not asked twice,
-- and each provider's requests per UTC day, so that a restart does not reset a daily quota.
CREATE TABLE intel_cache (
    provider    TEXT NOT NULL,
    subject     TEXT NOT NULL,          -- an IP or a domain, as text
    answer      TEXT NOT NULL,          -- the normalised verdict, JSON
    fetched_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX intel_cache_expiry ON intel_cache (expires_at);

CREATE TABLE intel_usage (
    provider  TEXT NOT NULL,
    day       TEXT NOT NULL,            -- YYYY-MM-DD, UTC
    used      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (provider, day)
);
