-- A case's deliveries in every state, newest first (the console's case page, `?case=`).
CREATE INDEX outbox_case ON outbox (case_id, seq);
