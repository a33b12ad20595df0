//! The exposure probes: [`Probe`], the `Prober` the `exposure` investigator is given, and its
//! [`ProbeConfig`]. Touches only addresses the policy allows; must not pick its own targets (the alert and cloud lookup do).
//!
//! # Layout
//!
//! - `policy.rs`: [`Policy`], which addresses may be probed (deny by default for what is not
//!   public; `allow`/`deny` CIDR lists; deny beats allow beats the defaults).
//! - `tcp.rs`: connect (open / closed / filtered), banner, service guess.
//! - `http.rs`: GET `/` with hand-followed redirects (each hop resolved once, checked, pinned),
//!   title, `Server`, TLS certificate details (accepted, never trusted).
//!
//! A probe of (address, port): policy check (denied: no connection at all) → TCP connect →
//! banner (for ports that are not known HTTP ports) → for HTTP(S) ports, or a banner that
//! looks like HTTP/TLS, or a silent unknown port: GET `/` (the port's usual scheme first,
//! then the other; plain HTTP first on an unknown port).

pub mod policy;

mod http;
mod tcp;

pub use policy::{BadCidr, Denied, Policy};

use futures_util::StreamExt;
use irene_investigate::exposure_seams::{PortProbe, PortState, ProbeLimits, Prober};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::time::Duration;

/// How probes run (`[probe]` in the binary's config); every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// TCP connect timeout, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How long to wait for a banner, in milliseconds.
    pub banner_wait_ms: u64,
    /// The most banner bytes read.
    pub banner_bytes: usize,
    /// One HTTP request (each redirect hop), in milliseconds.
    pub http_timeout_ms: u64,
    /// The most body bytes read (for the title).
    pub body_bytes: usize,
    /// Redirects followed, each hop checked against the policy.
    pub max_redirects: usize,
    pub ports_per_target: usize,
    pub targets_per_alert: usize,
    /// Probes (connections) at once.
    pub concurrency: usize,
    /// Every probe of one alert within this, in seconds.
    pub total_secs: u64,
    /// CIDRs (or bare addresses) opened despite the default deny ranges.
    pub allow: Vec<String>,
    /// CIDRs never probed; beats `allow`.
    pub deny: Vec<String>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        let l = ProbeLimits::default();
        ProbeConfig {
            connect_timeout_ms: 3000,
            banner_wait_ms: 2000,
            banner_bytes: 256,
            http_timeout_ms: 5000,
            body_bytes: 64 * 1024,
            max_redirects: 5,
            ports_per_target: l.ports_per_target,
            targets_per_alert: l.targets_per_alert,
            concurrency: l.concurrency,
            total_secs: l.total_secs,
            allow: Vec::new(),
            deny: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("[probe] allow: {0}")]
    Allow(BadCidr),
    #[error("[probe] deny: {0}")]
    Deny(BadCidr),
    #[error("[probe] {0} must be at least 1")]
    Zero(&'static str),
}

/// The prober: policy first, then TCP, banner, HTTP(S).
#[derive(Debug, Clone)]
pub struct Probe {
    cfg: ProbeConfig,
    policy: Policy,
}

impl Probe {
    pub fn new(cfg: ProbeConfig) -> Result<Self, ConfigError> {
        let parse = |l: &[String]| {
            l.iter()
                .map(|s| policy::parse_cidr(s))
                .collect::<Result<Vec<_>, _>>()
        };
        let allow = parse(&cfg.allow).map_err(ConfigError::Allow)?;
        let deny = parse(&cfg.deny).map_err(ConfigError::Deny)?;
        for (name, v) in [
            ("ports_per_target", cfg.ports_per_target),
            ("targets_per_alert", cfg.targets_per_alert),
            ("concurrency", cfg.concurrency),
            ("banner_bytes", cfg.banner_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(Probe {
            policy: Policy::new(allow, deny),
            cfg,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn http_limits(&self) -> http::HttpLimits {
        http::HttpLimits {
            timeout: Duration::from_millis(self.cfg.http_timeout_ms),
            body_cap: self.cfg.body_bytes,
            max_redirects: self.cfg.max_redirects,
        }
    }
}

#[async_trait::async_trait]
impl Prober for Probe {
    async fn probe(&self, address: IpAddr, port: u16) -> PortProbe {
        let mut out = PortProbe {
            address,
            port,
            state: PortState::Denied,
            reason: None,
            banner: None,
            service: None,
            http: None,
        };
        if let Err(d) = self.policy.check(address) {
            out.reason = Some(d.why);
            return out;
        }
        let ip = policy::canonical(address);
        let c = tcp::connect(ip, port, Duration::from_millis(self.cfg.connect_timeout_ms)).await;
        out.state = c.state;
        out.reason = c.reason;
        let Some(mut stream) = c.stream else {
            return out;
        };
        let known_http = tcp::http_scheme(port);
        let banner = if known_http.is_some() {
            Vec::new()
        } else {
            tcp::read_banner(
                &mut stream,
                Duration::from_millis(self.cfg.banner_wait_ms),
                self.cfg.banner_bytes,
            )
            .await
        };
        drop(stream);
        out.banner = tcp::printable(&banner);
        out.service = tcp::guess_service(port, &banner).map(str::to_string);
        let schemes: &[&str] = match (known_http, out.service.as_deref(), banner.is_empty()) {
            (Some("https"), _, _) | (None, Some("tls"), _) => &["https", "http"],
            (Some(_), _, _) | (None, Some("http"), _) => &["http", "https"],
            // A silent port nobody knows: it may be a web server on an odd port (plain
            // first: a TLS server refuses plain text at once, while a plain server may wait
            // for the end of a request that a ClientHello never sends).
            (None, None, true) => &["http", "https"],
            _ => &[],
        };
        let limits = self.http_limits();
        let mut first_error = None;
        for scheme in schemes {
            match http::get(&self.policy, ip, port, scheme, &limits).await {
                Ok((answer, stopped)) => {
                    out.service = Some(if answer.tls.is_some() || *scheme == "https" {
                        "https".into()
                    } else {
                        "http".into()
                    });
                    out.http = Some(answer);
                    out.reason = stopped;
                    first_error = None;
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(format!("{scheme}: {e}"));
                }
            }
        }
        // Only a port that should have spoken HTTP says why it did not.
        if known_http.is_some() {
            if let Some(e) = first_error {
                out.reason = Some(e);
            }
        }
        out
    }

    fn limits(&self) -> ProbeLimits {
        ProbeLimits {
            targets_per_alert: self.cfg.targets_per_alert,
            ports_per_target: self.cfg.ports_per_target,
            concurrency: self.cfg.concurrency,
            total_secs: self.cfg.total_secs,
        }
    }

    async fn probe_all(&self, pairs: &[(IpAddr, u16)]) -> Vec<PortProbe> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(self.cfg.total_secs);
        let jobs: Vec<_> = pairs
            .iter()
            .copied()
            .enumerate()
            .map(|(i, (a, p))| async move { (i, self.probe(a, p).await) })
            .collect();
        let mut running =
            futures_util::stream::iter(jobs).buffer_unordered(self.cfg.concurrency.max(1));
        let mut slots: Vec<Option<PortProbe>> = vec![None; pairs.len()];
        while let Ok(Some((i, p))) = tokio::time::timeout_at(deadline, running.next()).await {
            if let Some(slot) = slots.get_mut(i) {
                *slot = Some(p);
            }
        }
        slots.into_iter().flatten().collect()
    }
}
