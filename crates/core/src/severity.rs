//! The five severities and the label mapping every source shares.
//! Knows nothing of any particular source's numeric scale (decoders own those).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Five levels. `Ord` puts `Info` lowest and `Urgent` highest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Urgent,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Urgent,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Urgent => "urgent",
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
            Severity::Info => "info",
        }
    }

    /// Maps the labels sources use (Security Hub, SCC, Sigma, Prowler, Falco priorities, …)
    /// case-insensitively: critical→urgent, high→high, medium→medium, low→low,
    /// informational/unspecified→info. Unknown labels give `None`.
    pub fn from_source_label(label: &str) -> Option<Severity> {
        let l = label.trim().to_ascii_lowercase();
        Some(match l.as_str() {
            "urgent" | "critical" | "emergency" | "alert" | "fatal" => Severity::Urgent,
            "high" | "error" | "severe" => Severity::High,
            "medium" | "moderate" | "warning" | "warn" => Severity::Medium,
            "low" | "notice" => Severity::Low,
            "info"
            | "informational"
            | "information"
            | "debug"
            | "unspecified"
            | "severity_unspecified"
            | "none"
            | "unknown" => Severity::Info,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}: expected one of urgent, high, medium, low, info")]
pub struct ParseSeverityError(pub String);

impl FromStr for Severity {
    type Err = ParseSeverityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "urgent" => Ok(Severity::Urgent),
            "high" => Ok(Severity::High),
            "medium" => Ok(Severity::Medium),
            "low" => Ok(Severity::Low),
            "info" => Ok(Severity::Info),
            other => Err(ParseSeverityError(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_parse() {
        assert!(Severity::Urgent > Severity::High);
        assert!(Severity::Low > Severity::Info);
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(s));
        }
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn source_labels() {
        let table = [
            ("CRITICAL", Some(Severity::Urgent)),
            ("HIGH", Some(Severity::High)),
            ("Medium", Some(Severity::Medium)),
            ("low", Some(Severity::Low)),
            ("INFORMATIONAL", Some(Severity::Info)),
            ("SEVERITY_UNSPECIFIED", Some(Severity::Info)),
            ("bogus", None),
        ];
        for (label, want) in table {
            assert_eq!(Severity::from_source_label(label), want, "{label}");
        }
    }
}
