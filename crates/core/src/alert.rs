//! The normalized alert: one finding from any source, with its original JSON kept untouched.
//! Holds data only; decoding belongs to `irene-sources`, judging to `irene-rules`.

use crate::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    #[default]
    Active,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Active => "active",
            AlertState::Resolved => "resolved",
        }
    }
}

/// What the alert is about: an instance, a bucket, a security group, a project, a pod…
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Resource {
    /// The source's identifier (an ARN, a GCP resource name, an instance id…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The source's kind of resource (`Instance`, `AwsS3Bucket`, `google.compute.Firewall`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Who did it, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn is_empty(&self) -> bool {
        self.principal.is_none() && self.ip.is_none() && self.user_agent.is_none()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndicatorKind {
    Ip,
    Domain,
    Url,
    Hash,
    Email,
}

/// An observable worth investigating (an IP to look up, a domain, a file hash…).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Indicator {
    pub kind: IndicatorKind,
    pub value: String,
}

impl Indicator {
    pub fn new(kind: IndicatorKind, value: impl Into<String>) -> Self {
        Indicator {
            kind,
            value: value.into(),
        }
    }
}

/// One normalized finding. `raw` is the JSON item the decoder was given, untouched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The decoder that produced it (`aws.guardduty`, `gcp.scc`, `generic`…).
    pub source: String,
    /// The source's own kind of finding (GuardDuty type, SCC category, Config rule…).
    #[serde(rename = "type")]
    pub kind: String,
    /// The source's identity for this problem; the default case key.
    pub key: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The source's severity mapped to Irene's five levels; the default triage verdict.
    pub source_severity: Severity,
    /// The source's severity as the source wrote it (`8`, `HIGH`, `Critical`…), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_severity_label: Option<String>,
    pub state: AlertState,
    #[serde(default)]
    pub resource: Resource,
    /// AWS account id or GCP project.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default)]
    pub actor: Actor,
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// When the source saw it. `None` when the payload does not say; the pipeline then
    /// uses the time the payload was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<DateTime<Utc>>,
    /// A link to the finding in the source's own console, when it can be built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub raw: serde_json::Value,
}

impl Alert {
    /// A minimal active alert; decoders fill the rest field by field.
    pub fn new(
        source: impl Into<String>,
        kind: impl Into<String>,
        key: impl Into<String>,
        title: impl Into<String>,
        source_severity: Severity,
        raw: serde_json::Value,
    ) -> Self {
        Alert {
            source: source.into(),
            kind: kind.into(),
            key: key.into(),
            title: title.into(),
            description: String::new(),
            source_severity,
            source_severity_label: None,
            state: AlertState::Active,
            resource: Resource::default(),
            account: None,
            region: None,
            actor: Actor::default(),
            indicators: Vec::new(),
            observed_at: None,
            link: None,
            raw,
        }
    }

    /// Adds an indicator once (sorted, deduplicated by `finish_indicators`).
    pub fn add_indicator(&mut self, kind: IndicatorKind, value: impl Into<String>) {
        let value = value.into();
        if value.is_empty() {
            return;
        }
        self.indicators.push(Indicator::new(kind, value));
    }

    /// Sorts and deduplicates indicators so that output is stable.
    pub fn finish_indicators(&mut self) {
        self.indicators.sort();
        self.indicators.dedup();
    }
}
