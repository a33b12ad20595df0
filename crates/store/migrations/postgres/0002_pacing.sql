-- Shared rate limits (one row per key, e.g. a GitHub credential's hash): the next free turn,
-- a provider's hold, and the turns taken in the last hour (the hourly budget). Kept in the
-- database so that every instance on it shares them (the row is locked while a turn is taken).
CREATE TABLE pacing (
    key         TEXT PRIMARY KEY,
    next_at     BIGINT NOT NULL DEFAULT 0,   -- micros: the earliest next turn
    held_until  BIGINT NOT NULL DEFAULT 0    -- micros: nothing before this (a provider's limit)
);

CREATE TABLE pacing_turns (
    key  TEXT NOT NULL,
    at   BIGINT NOT NULL                     -- micros: when the turn was (or will be) taken
);
CREATE INDEX pacing_turns_key_at ON pacing_turns (key, at);
