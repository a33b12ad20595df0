-- Investigations: since when a result has been the same as the runs before it ("unchanged
-- since …" on the ticket), whether it found the problem fixed (the case then resolves by
-- scan), and the index periodic re-runs and a case's latest findings use.

ALTER TABLE investigations ADD COLUMN same_since INTEGER;
ALTER TABLE investigations ADD COLUMN fixed TEXT;
CREATE INDEX investigations_case_investigator
    ON investigations (case_id, investigator, created_at DESC);
