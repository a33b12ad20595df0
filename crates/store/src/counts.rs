//! What the console's counts read back: grouped counts, an hourly series, resolve times.
//! Plain data; the SQL that fills it is each backend's.

use chrono::{DateTime, Utc};
use irene_core::Severity;

/// How many of something share a name (a source, an alert type, a rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameCount {
    pub name: String,
    pub count: i64,
}

/// Alerts received in one hour (`hour` is its start, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourCount {
    pub hour: DateTime<Utc>,
    pub count: i64,
}

/// How long cases of one severity took from (re)opening to resolving.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolveTime {
    pub severity: Severity,
    /// Resolves counted.
    pub resolves: i64,
    pub mean_seconds: f64,
}

/// Alerts decided by one triage rule (`None`: no rule, the source's severity stood).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    pub rule: Option<String>,
    pub count: i64,
}
