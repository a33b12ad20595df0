-- The transport's own id of a delivery (SQS message id, S3 key + ETag, Pub/Sub messageId, an
-- Idempotency-Key header): a payload delivered again under the same key is stored once.
ALTER TABLE inbox ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX inbox_idempotency ON inbox (idempotency_key) WHERE idempotency_key IS NOT NULL;
