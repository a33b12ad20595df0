-- Alerts of a time window in received order, read in pages (`alerts_scan`: rule replays).
CREATE INDEX alerts_received ON alerts (received_at, id);
