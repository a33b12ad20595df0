-- Console accounts: local users (argon2id hashes, never the password), their sessions (only the
-- SHA-256 of the cookie value is kept, so a copy of the database signs no one in) and the
-- sign-in attempts the rate limit counts. Removing a user deletes its sessions in the same
-- transaction (the code does it: foreign keys are not enforced).

CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_name);

CREATE TABLE login_attempts (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    at   INTEGER NOT NULL,
    name TEXT NOT NULL,
    ip   TEXT NOT NULL,
    ok   INTEGER NOT NULL
);
CREATE INDEX login_attempts_name ON login_attempts (name, at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, at);
