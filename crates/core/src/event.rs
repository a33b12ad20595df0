//! One audit-log record (CloudTrail, GCP audit log…), normalized just enough to be indexed.
//! Detection over events belongs to `irene-rules`; storage to `irene-store`.

use crate::Actor;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The decoder that produced it (`aws.cloudtrail`, `gcp.audit`).
    pub source: String,
    /// The source's id for the record (CloudTrail `eventID`, GCP `insertId`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// What happened (`eventSource:eventName`, GCP `methodName`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    pub raw: serde_json::Value,
}
