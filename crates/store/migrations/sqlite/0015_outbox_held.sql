-- Deliveries held back by a silence: state 'held', and what holds them. Released (back to
-- 'pending') when the silence ends and the case is still open; else 'dropped'.

ALTER TABLE outbox ADD COLUMN held_by TEXT;
CREATE INDEX outbox_held ON outbox (held_by, seq) WHERE state = 'held';
