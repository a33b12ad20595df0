//! Decoders: the bytes of one source become Irene alerts (and, for audit logs, events).
//! Pure: no I/O, no clock, no randomness, no async; bad input is a `DecodeError`, never a panic.

mod auto;
mod cloudtrail;
mod config;
mod envelope;
mod falco;
mod fields;
mod gcp_audit;
mod generic;
mod guardduty;
mod json;
pub mod payload;
mod prowler;
mod registry;
mod scc;
mod securityhub;
mod tamper;

pub use payload::{split_payload, Limits, PayloadError};
pub use registry::{decoder, names};

/// What one item decodes to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    pub alerts: Vec<irene_core::Alert>,
    pub events: Vec<irene_core::Event>,
}

impl Decoded {
    pub(crate) fn alerts(alerts: Vec<irene_core::Alert>) -> Self {
        Decoded {
            alerts,
            events: Vec::new(),
        }
    }

    pub(crate) fn events(events: Vec<irene_core::Event>) -> Self {
        Decoded {
            alerts: Vec::new(),
            events,
        }
    }
}

/// One source's decoder. Implement it and add it to the registry; nothing else changes.
pub trait Decoder: Send + Sync {
    /// The name clients use in `POST /api/v1/ingest/{source}` (`aws.guardduty`, …).
    fn name(&self) -> &'static str;
    /// Whether this item is in this decoder's format; used by `auto`. Must be precise.
    fn recognizes(&self, item: &serde_json::Value) -> bool;
    /// Decodes one item (as split by `split_payload`).
    fn decode(&self, item: &serde_json::Value) -> Result<Decoded, DecodeError>;
}

/// An item that is valid JSON but not something the decoder can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {}: {message}", display_path(path))]
pub struct DecodeError {
    /// JSON pointer (RFC 6901) into the item; empty for the item as a whole.
    pub path: String,
    pub message: String,
}

impl DecodeError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        DecodeError {
            path: path.into(),
            message: message.into(),
        }
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "the top level"
    } else {
        path
    }
}
