//! The seam between the `reputation` investigator and reputation APIs: a [`Subject`] in, a
//! normalised [`Verdict`] or a [`ProviderError`] out. Types and the trait only: no client, no key.
//!
//! The clients (AbuseIPDB, VirusTotal, GreyNoise, OTX) live in `irene-intel`; they cache, pace
//! and count their requests themselves. The investigator only asks and reads the answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The built-in providers' names (in config, in findings, in the cache).
pub const ABUSEIPDB: &str = "abuseipdb";
pub const VIRUSTOTAL: &str = "virustotal";
pub const GREYNOISE: &str = "greynoise";
pub const OTX: &str = "otx";

/// What a provider is asked about. A domain is already checked by [`crate::domains_of`]
/// (lower-case labels of letters, digits and hyphens): never a URL, never free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    Ip(IpAddr),
    Domain(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Ip(ip) => write!(f, "{ip}"),
            Subject::Domain(d) => f.write_str(d),
        }
    }
}

/// One provider's answer about one subject, normalised.
///
/// `details` keeps the provider's own fields that matter (documented per provider in
/// `irene-intel`); the investigator's aggregates read `abuseConfidenceScore` (AbuseIPDB, also
/// in `score`), `malicious` (VirusTotal: engines that say malicious), `classification`
/// (GreyNoise: `malicious`, `suspicious`, `benign`, `unknown`) and `pulse_count` (OTX).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The provider's opinion, when it has one (`None`: it does not judge, or does not know).
    pub malicious: Option<bool>,
    /// 0–100, when the provider scores.
    pub score: Option<u8>,
    /// One line for the summary table ("confidence 87%, 112 reports").
    pub label: String,
    pub details: serde_json::Value,
    /// Answered from the cache, not asked now.
    #[serde(default)]
    pub cached: bool,
    /// When the provider gave this answer.
    pub fetched_at: DateTime<Utc>,
}

/// Why a provider gave no answer. Messages name no key and no URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// It asked us to slow down (429) or our own pace forbids asking before `retry_after`.
    #[error("rate-limited until {retry_after}")]
    RateLimited { retry_after: DateTime<Utc> },
    /// Today's quota is used up (our count or the provider's): nothing is asked until `until`.
    #[error("daily quota used until {until}")]
    QuotaExhausted { until: DateTime<Utc> },
    /// The key was refused (401/403).
    #[error("the API key was refused")]
    Unauthorized,
    /// It could not answer now (5xx, timeout, connection refused): asking later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// It answered something unusable (an unexpected status, a body that does not parse).
    #[error("failed: {0}")]
    Failed(String),
}

impl ProviderError {
    /// Whether asking again later may give the answer (the investigation is then incomplete).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. } | ProviderError::Unavailable(_)
        )
    }
}

/// A reputation API. `lookup` may answer from a cache, wait a little for its pace, or refuse
/// at once when its quota or a rate limit forbids asking; it never retries for long.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// Its name in config, findings and the cache ([`ABUSEIPDB`], …).
    fn name(&self) -> &'static str;
    /// Whether it can say anything about this kind of subject.
    fn handles(&self, subject: &Subject) -> bool;
    async fn lookup(&self, subject: &Subject, now: DateTime<Utc>)
        -> Result<Verdict, ProviderError>;
}

/// Whether an address is worth asking a provider about: globally routed unicast. Private,
/// loopback, link-local, shared (CGNAT), documentation, benchmarking, multicast, reserved and
/// unspecified addresses are skipped (no provider knows them, and asking would leak them).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_unspecified()
                || v4.is_multicast()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_table() {
        let cases = [
            ("8.8.8.8", true),
            ("185.220.101.33", true),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("192.168.1.1", false),
            ("127.0.0.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("198.18.0.1", false),
            ("0.1.2.3", false),
            ("255.255.255.255", false),
            ("224.0.0.1", false),
            ("2606:4700::1111", true),
            ("::1", false),
            ("fd00::1", false),
            ("fe80::1", false),
            ("2001:db8::7", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:8.8.4.4", true),
        ];
        for (ip, want) in cases {
            assert_eq!(is_public(ip.parse().expect(ip)), want, "{ip}");
        }
    }

    #[test]
    fn only_waits_and_outages_are_transient() {
        let t = DateTime::<Utc>::UNIX_EPOCH;
        assert!(ProviderError::RateLimited { retry_after: t }.is_transient());
        assert!(ProviderError::Unavailable("503".into()).is_transient());
        assert!(!ProviderError::QuotaExhausted { until: t }.is_transient());
        assert!(!ProviderError::Unauthorized.is_transient());
        assert!(!ProviderError::Failed("400".into()).is_transient());
    }
}
