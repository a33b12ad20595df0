//! The case: the lasting record of one alert key, the thing a ticket mirrors.
//! Data only; how alerts change a case is `correlate`, how it is stored is `irene-store`.

use crate::{Resource, Severity};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    Open,
    Resolved,
}

impl CaseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Resolved => "resolved",
        }
    }
}

impl std::str::FromStr for CaseStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "open" => Ok(CaseStatus::Open),
            "resolved" => Ok(CaseStatus::Resolved),
            other => Err(format!(
                "unknown status {other:?}: expected open or resolved"
            )),
        }
    }
}

/// Why a case was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    /// The source said the problem is gone.
    Source,
    /// A complete scan of the scope no longer contains it.
    Scan,
    /// A person closed it.
    Manual,
    /// Silent for longer than the source's expiry.
    Expired,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Source => "source",
            Resolution::Scan => "scan",
            Resolution::Manual => "manual",
            Resolution::Expired => "expired",
        }
    }
}

impl std::str::FromStr for Resolution {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "source" => Ok(Resolution::Source),
            "scan" => Ok(Resolution::Scan),
            "manual" => Ok(Resolution::Manual),
            "expired" => Ok(Resolution::Expired),
            other => Err(format!("unknown resolution {other:?}")),
        }
    }
}

/// A ticket that mirrors the case in an output (filled once outputs exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub output: String,
    pub kind: String,
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub id: Uuid,
    pub key: String,
    pub title: String,
    pub source: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub severity: Severity,
    pub status: CaseStatus,
    pub resolution: Option<Resolution>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub count: i64,
    pub account: Option<String>,
    pub region: Option<String>,
    pub resource: Resource,
    pub labels: Vec<String>,
    /// The triage rule that decided the latest severity (`None`: the source's own).
    pub rule: Option<String>,
    pub last_alert_id: Uuid,
    pub tickets: Vec<Ticket>,
    pub updated_at: DateTime<Utc>,
    /// Set when triage, run again with what investigations found, raised the case: later
    /// alerts keep it at least this severe while it stays open (a reopen clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised: Option<Raised>,
}

/// A raise by triage on investigation findings (`enrichment.<investigator>.<field>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Raised {
    pub severity: Severity,
    /// The triage rule that raised it.
    pub rule: Option<String>,
    pub labels: Vec<String>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimelineKind {
    Opened,
    Occurrence,
    SeverityChanged,
    Resolved,
    Reopened,
    Notification,
    Investigation,
}

impl TimelineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TimelineKind::Opened => "opened",
            TimelineKind::Occurrence => "occurrence",
            TimelineKind::SeverityChanged => "severity_changed",
            TimelineKind::Resolved => "resolved",
            TimelineKind::Reopened => "reopened",
            TimelineKind::Notification => "notification",
            TimelineKind::Investigation => "investigation",
        }
    }
}

impl std::str::FromStr for TimelineKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "opened" => TimelineKind::Opened,
            "occurrence" => TimelineKind::Occurrence,
            "severity_changed" => TimelineKind::SeverityChanged,
            "resolved" => TimelineKind::Resolved,
            "reopened" => TimelineKind::Reopened,
            "notification" => TimelineKind::Notification,
            "investigation" => TimelineKind::Investigation,
            other => return Err(format!("unknown timeline kind {other:?}")),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_id: Option<Uuid>,
    /// Kind-specific details (`{"from": "low", "to": "high"}`, `{"resolution": "source"}`…).
    pub detail: serde_json::Value,
}
