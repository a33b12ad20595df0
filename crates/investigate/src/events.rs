//! The narrow read access investigators have to stored audit-log events, and the rows it gives.
//! A trait only: the store implements it with its indexed queries; nothing here writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One stored event, as much as an investigation needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSummary {
    /// The store's id for the row (used to count an event once across queries).
    pub id: String,
    pub time: DateTime<Utc>,
    /// `eventSource:eventName` or GCP `methodName`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// CloudTrail `errorCode` / GCP status; `None` when the call succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// Reading stored events failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("reading events: {0}")]
pub struct ReadError(pub String);

/// Stored events by the indexes the store keeps. Both give events with
/// `since <= time < until`, newest first, at most `limit`.
#[async_trait::async_trait]
pub trait EventReader: Send + Sync {
    async fn events_by_principal(
        &self,
        principal: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError>;

    async fn events_by_ip(
        &self,
        ip: IpAddr,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<EventSummary>, ReadError>;
}

/// A reader with no events (for callers without an event store, and for tests).
pub struct NoEvents;

#[async_trait::async_trait]
impl EventReader for NoEvents {
    async fn events_by_principal(
        &self,
        _: &str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        Ok(Vec::new())
    }

    async fn events_by_ip(
        &self,
        _: IpAddr,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
        _: usize,
    ) -> Result<Vec<EventSummary>, ReadError> {
        Ok(Vec::new())
    }
}
