//! The seam between the consumer and whatever stores payloads (in Irene: `App::accept` and the
//! quarantine): the payload handed over, its answer, and the two kinds of failure. No AWS here.

use async_trait::async_trait;
use serde_json::Value;

/// A payload read from the queue or from S3.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    /// The decoder name (`[[sqs]] source`, default `auto`).
    pub source: &'a str,
    pub body: &'a [u8],
    /// `Some("gzip")` when the body is gzip-compressed (the sink undoes it, bounded).
    pub encoding: Option<&'a str>,
    /// `s3:<bucket>/<key>@<etag>` for an object, `sqs:<event id or message id>` for an event
    /// (hashed as `sha256:<hex>` beyond 512 bytes): the same key is accepted once.
    pub idempotency_key: &'a str,
}

/// The sink has the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    /// It had it already (same idempotency key): nothing new was stored.
    pub duplicate: bool,
}

/// Why the sink does not have a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The payload itself is unusable (not JSON, bad gzip, too large, unknown source): it is
    /// quarantined with this reason and its message deleted; it would fail again.
    #[error("{0}")]
    Rejected(String),
    /// Not stored for now (the store is down, full): the message stays in the queue.
    #[error("{0}")]
    Unavailable(String),
}

/// Where payloads go. `accept` must answer Ok only once the payload is durable: the message is
/// deleted right after.
#[async_trait]
pub trait Sink: Send + Sync {
    async fn accept(&self, payload: Payload<'_>) -> Result<Accepted, SinkError>;
    /// Records what could not be taken — an object too large, gone, or refused, a malformed
    /// message — with `reason` and `detail` (bucket, key, size, message id, the body), durably:
    /// the message is deleted right after.
    async fn quarantine(&self, source: &str, reason: &str, detail: &Value)
        -> Result<(), SinkError>;
}
