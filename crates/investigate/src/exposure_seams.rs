//! The seams of the exposure checks: what the cloud says sits behind an open security group or
//! firewall (`TargetLookup`), and what touching a target finds (`Prober`, `Screenshotter`).
//! Types and traits only: the binary's crates implement them (irene-cloud, irene-probe,
//! irene-browser); the `exposure` investigator uses them and stays free of I/O itself.

use irene_core::Alert;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One address to check, with the ports that are open to the internet on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub address: IpAddr,
    pub ports: Vec<u16>,
    /// Where it came from: `alert` (the alert's own addresses and ports), `aws`, `gcp`.
    pub origin: String,
    /// What it is: an instance id, a network interface, an Elastic IP…
    pub resource: Option<String>,
}

/// What the cloud lookup found for an alert: the rule that opens the ports and the targets
/// behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Exposure {
    /// The security group or firewall looked up (`sg-0abc`, `projects/p/global/firewalls/f`).
    pub rule_id: Option<String>,
    /// Whether it still allows any port from anywhere (`0.0.0.0/0`, `::/0`); `false` when the
    /// rule is gone (then `gone` is true).
    pub open_to_world: bool,
    pub gone: bool,
    /// The ports open to the world (`[22, 3389]`; `[0..=65535]` is written as its range).
    pub open_ports: Vec<PortRange>,
    pub targets: Vec<Target>,
    /// What the comment should say about the lookup (no credentials, a cap that cut, …).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

/// Why a lookup could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing to look up for this alert, or no credentials for its cloud/account.
    #[error("not applicable: {0}")]
    NotApplicable(String),
    /// It may work later (throttled, 5xx, timeout).
    #[error("{0}")]
    Transient(String),
    #[error("{0}")]
    Failed(String),
}

/// Looks up what an alert about an open security group or firewall exposes.
#[async_trait::async_trait]
pub trait TargetLookup: Send + Sync {
    async fn lookup(&self, alert: &Alert) -> Result<Exposure, LookupError>;
}

/// How a port answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortState {
    Open,
    /// Refused (RST).
    Closed,
    /// No answer within the timeout.
    Filtered,
    /// Not tried: the address is denied by the probe policy (`reason` says which rule).
    Denied,
}

/// What an HTTP(S) GET of `/` answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpAnswer {
    pub url: String,
    pub status: u16,
    pub title: Option<String>,
    pub server: Option<String>,
    /// Each hop of the redirect chain (`Location`s followed, all within the policy).
    pub redirects: Vec<String>,
    pub tls: Option<TlsInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    /// RFC 3339.
    pub not_after: String,
    pub self_signed: bool,
}

/// One (address, port) probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortProbe {
    pub address: IpAddr,
    pub port: u16,
    pub state: PortState,
    /// Why it was denied or failed, when it was.
    pub reason: Option<String>,
    /// The first bytes the service sent, printable, capped.
    pub banner: Option<String>,
    /// A guess from the port and the banner (`ssh`, `http`, `https`, `rdp`…).
    pub service: Option<String>,
    pub http: Option<HttpAnswer>,
}

/// The caps a prober works within, which the `exposure` investigator applies and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeLimits {
    /// At most this many addresses per alert.
    pub targets_per_alert: usize,
    /// At most this many ports per address.
    pub ports_per_target: usize,
    /// Probes (each one connection at a time) at once.
    pub concurrency: usize,
    /// Every probe of one alert within this many seconds; those not finished by then are left
    /// out. Keep it below the investigator timeout (`[investigate] timeout`, 30 s by default).
    pub total_secs: u64,
}

impl Default for ProbeLimits {
    fn default() -> Self {
        ProbeLimits {
            targets_per_alert: 16,
            ports_per_target: 8,
            concurrency: 8,
            total_secs: 25,
        }
    }
}

/// Touches a target: TCP connect, banner, HTTP(S). Implementations enforce the probe policy
/// (denied ranges, caps) on every connection and redirect hop.
#[async_trait::async_trait]
pub trait Prober: Send + Sync {
    async fn probe(&self, address: IpAddr, port: u16) -> PortProbe;

    /// Its caps (the investigator cuts targets and ports by them and says so).
    fn limits(&self) -> ProbeLimits {
        ProbeLimits::default()
    }

    /// Probes each (address, port), in the order given; implementations run
    /// `limits().concurrency` at once and stop at `limits().total_secs`, leaving out the pairs
    /// not probed by then (the answer may be shorter than `pairs`). The default: one by one.
    async fn probe_all(&self, pairs: &[(IpAddr, u16)]) -> Vec<PortProbe> {
        let mut out = Vec::with_capacity(pairs.len());
        for (address, port) in pairs {
            out.push(self.probe(*address, *port).await);
        }
        out
    }
}

/// Takes a screenshot of a page (PNG bytes) in a headless browser whose every request obeys
/// the probe policy.
#[async_trait::async_trait]
pub trait Screenshotter: Send + Sync {
    async fn screenshot(&self, url: &str) -> Result<Vec<u8>, String>;
}
