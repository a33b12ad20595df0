//! Accepting a payload: undo its content encoding (bounded), check it splits into JSON items,
//! write it durably to the inbox and count it. Every transport calls this one function; it
//! must not decode (that is the pipeline's job) nor know which transport called.

use super::App;
use irene_sources::{decoder, names, split_payload, PayloadError};
use irene_store::NewInbox;
use std::io::Read;
use uuid::Uuid;

/// A payload as a transport received it.
#[derive(Debug, Clone)]
pub struct Payload<'a> {
    /// A decoder name or `auto`.
    pub source: &'a str,
    pub body: &'a [u8],
    /// `Content-Encoding` (`gzip`, `identity`), if any.
    pub encoding: Option<&'a str>,
    /// The transport's own id of this delivery (SQS message id, S3 key + ETag, Pub/Sub
    /// messageId, an `Idempotency-Key` header): the same key is accepted once.
    pub idempotency_key: Option<&'a str>,
    /// The payload is a complete scan of its scope (`?complete_scan=1`): the open cases of
    /// its source and scope that it does not contain resolve by scan.
    pub complete_scan: bool,
}

/// A payload on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The inbox id (for a duplicate: the id of the first delivery).
    pub id: Uuid,
    /// Items in the payload.
    pub accepted: usize,
    /// The idempotency key was seen before: nothing new was stored.
    pub duplicate: bool,
}

/// Why a payload was refused; nothing of it was stored.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("unknown source {name:?}; known sources: {known}")]
    UnknownSource { name: String, known: String },
    #[error("payload larger than the limit of {max} bytes")]
    TooLarge { max: usize },
    #[error("body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("Content-Encoding {0:?} is not supported (gzip or none)")]
    UnsupportedEncoding(String),
    #[error("payload is not usable JSON: {0}")]
    Payload(#[from] PayloadError),
    #[error("idempotency key must be 1 to 512 characters")]
    BadIdempotencyKey,
    #[error("not stored: {0}")]
    Unavailable(String),
}

impl AcceptError {
    /// The reason label of `irene_ingest_rejected_total` and the API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            AcceptError::UnknownSource { .. } => "unknown_source",
            AcceptError::TooLarge { .. } => "too_large",
            AcceptError::BadGzip(_) => "bad_gzip",
            AcceptError::UnsupportedEncoding(_) => "unsupported_encoding",
            AcceptError::Payload(e) => e.code(),
            AcceptError::BadIdempotencyKey => "invalid_idempotency_key",
            AcceptError::Unavailable(_) => "store_unavailable",
        }
    }
}

/// Counts a refused payload under `reason` (transports count their own refusals, e.g. auth).
pub fn count_rejected(reason: &'static str) {
    metrics::counter!("irene_ingest_rejected_total", "reason" => reason).increment(1);
}

impl App {
    /// Accepts one payload: answers only once it is durable (or refused, with what was wrong).
    pub async fn accept(&self, p: Payload<'_>) -> Result<Accepted, AcceptError> {
        metrics::counter!("irene_ingest_requests_total").increment(1);
        let result = self.accept_inner(p).await;
        match &result {
            Ok(a) if !a.duplicate => {
                metrics::counter!("irene_ingest_accepted_total").increment(a.accepted as u64)
            }
            Ok(_) => metrics::counter!("irene_ingest_duplicates_total").increment(1),
            Err(e) => count_rejected(e.code()),
        }
        result
    }

    async fn accept_inner(&self, p: Payload<'_>) -> Result<Accepted, AcceptError> {
        if decoder(p.source).is_none() {
            return Err(AcceptError::UnknownSource {
                name: p.source.to_string(),
                known: names().join(", "),
            });
        }
        if p.idempotency_key
            .is_some_and(|k| k.is_empty() || k.len() > 512)
        {
            return Err(AcceptError::BadIdempotencyKey);
        }
        if p.body.len() > self.max_body {
            return Err(AcceptError::TooLarge { max: self.max_body });
        }
        let body = decode_content(p.encoding, p.body, self.max_body)?;
        let items = split_payload(&body, &self.limits)?.len();
        let item = NewInbox {
            id: Uuid::now_v7(),
            source: p.source.to_string(),
            received_at: chrono::Utc::now(),
            body: body.into_owned(),
            items: items as i64,
            idempotency_key: p.idempotency_key.map(str::to_string),
            complete_scan: p.complete_scan,
        };
        let id = item.id;
        let held_by = self
            .intake
            .append(item)
            .await
            .map_err(AcceptError::Unavailable)?;
        Ok(Accepted {
            id: held_by.unwrap_or(id),
            accepted: items,
            duplicate: held_by.is_some(),
        })
    }
}

/// Undoes `gzip`, bounded so that a small bomb cannot fill memory.
fn decode_content<'a>(
    encoding: Option<&str>,
    body: &'a [u8],
    max: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, AcceptError> {
    let encoding = encoding.map(|s| s.trim().to_ascii_lowercase());
    match encoding.as_deref().unwrap_or("") {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(body)),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
            let mut reader = flate2::read::MultiGzDecoder::new(body).take(max as u64 + 1);
            reader
                .read_to_end(&mut out)
                .map_err(|e| AcceptError::BadGzip(e.to_string()))?;
            if out.len() > max {
                return Err(AcceptError::TooLarge { max });
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        other => Err(AcceptError::UnsupportedEncoding(other.to_string())),
    }
}
