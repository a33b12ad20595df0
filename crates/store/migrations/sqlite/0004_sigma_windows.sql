-- The Sigma correlation rules' window state, saved with every pipeline commit so that a
-- restart resumes exactly where the last committed payload left the windows.
CREATE TABLE sigma_windows (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    state       TEXT NOT NULL,          -- JSON, owned by irene-rules (WindowState)
    updated_at  INTEGER NOT NULL
);
