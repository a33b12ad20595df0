//! Google Cloud: the firewall an alert names (SCC `OPEN_FIREWALL`, `OPEN_SSH_PORT`… and
//! Prowler's GCP firewall checks), what it opens to the world, and the instances it applies to.
//!
//! Compute Engine REST v1 with an OAuth access token (scope `compute.readonly`):
//! `firewalls.get` for direction, source ranges, allowed protocols and ports, target tags and
//! service accounts; then `instances.aggregatedList` (all zones, paged), filtered here to the
//! instances on the firewall's network that carry a target tag or service account (or all of
//! them when the rule names neither), for their external IPs (`accessConfigs[].natIP`,
//! `ipv6AccessConfigs[].externalIpv6`).

use crate::config::{GcpConfig, TokenSource};
use crate::ports::{expand, merge, PortSet, PushRange};
use irene_core::Alert;
use irene_investigate::exposure_seams::{Exposure, LookupError, Target, TargetLookup};
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::OnceCell;

pub const DEFAULT_ENDPOINT: &str = "https://compute.googleapis.com";
const SCOPE: &str = "https://www.googleapis.com/auth/compute.readonly";
/// Pages of `instances.aggregatedList` read at most (500 instances each).
const MAX_PAGES: usize = 20;

/// The firewall an alert is about: its project and its name (or numeric id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallRef {
    pub project: String,
    pub firewall: String,
    /// The rule's display name when the resource name carries its numeric id (SCC does).
    pub display_name: Option<String>,
}

impl FirewallRef {
    pub fn path(&self) -> String {
        format!(
            "projects/{}/global/firewalls/{}",
            self.project, self.firewall
        )
    }
}

/// `//compute.googleapis.com/projects/P/global/firewalls/F` (or without the host, or a
/// `https://www.googleapis.com/compute/v1/…` self link) → (P, F).
pub fn parse_firewall(name: &str) -> Option<(String, String)> {
    let at = name.find("projects/")?;
    let rest = &name[at + "projects/".len()..];
    let mut parts = rest.split('/');
    let project = parts.next()?;
    if parts.next()? != "global" || parts.next()? != "firewalls" {
        return None;
    }
    let firewall = parts.next()?;
    if project.is_empty() || firewall.is_empty() || parts.next().is_some() {
        return None;
    }
    Some((project.to_string(), firewall.to_string()))
}

/// The firewall an alert names: SCC's `resourceName` (`alert.resource.id`), else any firewall
/// resource name in the raw finding, else Prowler's GCP firewall checks (name and project).
pub fn firewall_of(alert: &Alert) -> Option<FirewallRef> {
    let display = alert
        .resource
        .name
        .clone()
        .or_else(|| {
            alert
                .raw
                .pointer("/finding/resource/display_name")
                .or_else(|| alert.raw.pointer("/resource/displayName"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .filter(|n| !n.is_empty());
    let from_id = alert.resource.id.as_deref().and_then(parse_firewall);
    let found = from_id.or_else(|| {
        let mut strings = Vec::new();
        strings_in(&alert.raw, &mut strings, 0);
        strings.iter().find_map(|s| parse_firewall(s))
    });
    if let Some((project, firewall)) = found {
        let display_name = display.filter(|d| *d != firewall);
        return Some(FirewallRef {
            project,
            firewall,
            display_name,
        });
    }
    // Prowler (GCP): `resources[].uid` is the numeric id, `name` the rule's name, the project
    // is the account; only for its firewall checks.
    let is_firewall = alert.resource.kind.as_deref().is_some_and(|k| {
        k.eq_ignore_ascii_case("firewall")
            || k.eq_ignore_ascii_case("compute.googleapis.com/Firewall")
    }) || alert.kind.starts_with("compute_firewall");
    if alert.source == "prowler" && is_firewall {
        let project = alert.account.clone().filter(|p| !p.is_empty())?;
        let firewall = display.or_else(|| alert.resource.id.clone())?;
        return Some(FirewallRef {
            project,
            firewall,
            display_name: None,
        });
    }
    None
}

fn strings_in(v: &serde_json::Value, out: &mut Vec<String>, depth: usize) {
    if depth > 16 || out.len() > 256 {
        return;
    }
    match v {
        serde_json::Value::String(s) if s.contains("/global/firewalls/") => out.push(s.clone()),
        serde_json::Value::Object(m) => m.values().for_each(|v| strings_in(v, out, depth + 1)),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings_in(v, out, depth + 1)),
        _ => {}
    }
}

// The parts of the Compute API's JSON that are read (https://cloud.google.com/compute/docs/reference/rest/v1/firewalls).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Firewall {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub network: String,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub source_ranges: Vec<String>,
    #[serde(default)]
    pub target_tags: Vec<String>,
    #[serde(default)]
    pub target_service_accounts: Vec<String>,
    #[serde(default)]
    pub allowed: Vec<Allowed>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Allowed {
    #[serde(rename = "IPProtocol", default)]
    pub ip_protocol: String,
    #[serde(default)]
    pub ports: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AggregatedList {
    #[serde(default)]
    items: std::collections::BTreeMap<String, ScopedList>,
    #[serde(default)]
    next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ScopedList {
    #[serde(default)]
    instances: Vec<Instance>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Instance {
    #[serde(default)]
    name: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    tags: Tags,
    #[serde(default)]
    service_accounts: Vec<ServiceAccount>,
    #[serde(default)]
    network_interfaces: Vec<Nic>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct Tags {
    #[serde(default)]
    items: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ServiceAccount {
    #[serde(default)]
    email: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Nic {
    #[serde(default)]
    network: String,
    #[serde(default)]
    access_configs: Vec<AccessConfig>,
    #[serde(default)]
    ipv6_access_configs: Vec<AccessConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessConfig {
    #[serde(default, rename = "natIP")]
    nat_ip: Option<String>,
    #[serde(default)]
    external_ipv6: Option<String>,
}

/// What a firewall opens to the world: TCP ranges (all-protocol rules included) per family,
/// and notes on the rest.
pub fn world_ingress(fw: &Firewall) -> (PortSet, PortSet, Vec<String>) {
    let mut v4 = PortSet::new();
    let mut v6 = PortSet::new();
    let mut notes = Vec::new();
    if fw.disabled || fw.direction.as_deref().is_some_and(|d| d != "INGRESS") {
        return (v4, v6, notes);
    }
    let world4 = fw.source_ranges.iter().any(|r| r == "0.0.0.0/0");
    let world6 = fw.source_ranges.iter().any(|r| r == "::/0");
    if !world4 && !world6 {
        return (v4, v6, notes);
    }
    for a in &fw.allowed {
        let proto = a.ip_protocol.to_ascii_lowercase();
        if proto != "tcp" && proto != "all" && proto != "6" {
            notes.push(format!(
                "{} also allows {proto} {} from the world (not probed)",
                fw.name,
                a.ports.join(",")
            ));
            continue;
        }
        let ranges: Vec<(u16, u16)> = if a.ports.is_empty() {
            vec![(0, 65535)]
        } else {
            a.ports.iter().filter_map(|p| port_range(p)).collect()
        };
        for (from, to) in ranges {
            if world4 {
                v4.add(from, to);
            }
            if world6 {
                v6.add(from, to);
            }
        }
    }
    (v4, v6, notes)
}

/// `"22"` or `"8000-9000"`.
fn port_range(p: &str) -> Option<(u16, u16)> {
    match p.split_once('-') {
        Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
        None => {
            let n = p.trim().parse().ok()?;
            Some((n, n))
        }
    }
}

/// `…/projects/p/global/networks/n` → `projects/p/global/networks/n`, to compare a rule's
/// network with an interface's whatever the host and version prefix.
fn network_key(url: &str) -> &str {
    url.find("projects/").map_or(url, |i| &url[i..])
}

/// Looks up firewalls with the Compute API.
pub struct GcpLookup {
    config: GcpConfig,
    http: reqwest::Client,
    adc: OnceCell<Arc<dyn gcp_auth::TokenProvider>>,
}

impl GcpLookup {
    pub fn new(config: GcpConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("irene/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        GcpLookup {
            config,
            http,
            adc: OnceCell::new(),
        }
    }

    fn endpoint(&self) -> &str {
        self.config
            .endpoint
            .as_deref()
            .unwrap_or(DEFAULT_ENDPOINT)
            .trim_end_matches('/')
    }

    async fn token(&self) -> Result<String, LookupError> {
        match &self.config.token {
            TokenSource::Static(t) => Ok(t.clone()),
            TokenSource::Env(var) => std::env::var(var).map_err(|_| {
                LookupError::NotApplicable(format!("no Google Cloud token: ${var} is not set"))
            }),
            TokenSource::Adc => {
                let provider = self
                    .adc
                    .get_or_try_init(|| async { gcp_auth::provider().await })
                    .await
                    .map_err(|e| {
                        LookupError::NotApplicable(format!("no Google Cloud credentials: {e}"))
                    })?;
                let token = provider
                    .token(&[SCOPE])
                    .await
                    .map_err(|e| LookupError::Transient(format!("Google Cloud token: {e}")))?;
                Ok(token.as_str().to_string())
            }
        }
    }

    /// GET a Compute API path; `Ok(None)` for 404.
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<T>, LookupError> {
        let url = format!("{}/compute/v1/{path}", self.endpoint());
        let resp = self
            .http
            .get(&url)
            .bearer_auth(token)
            .query(query)
            .send()
            .await
            .map_err(|e| LookupError::Transient(format!("GET {path}: {e}")))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            let body = resp.text().await.unwrap_or_default();
            let message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    v.pointer("/error/message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| body.chars().take(200).collect());
            let text = format!("GET {path}: HTTP {status}: {message}");
            return Err(if status == 429 || status >= 500 {
                LookupError::Transient(text)
            } else {
                LookupError::Failed(text)
            });
        }
        resp.json::<T>()
            .await
            .map(Some)
            .map_err(|e| LookupError::Failed(format!("GET {path}: unexpected answer: {e}")))
    }

    async fn instances(
        &self,
        token: &str,
        project: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Instance>, LookupError> {
        let path = format!("projects/{project}/aggregated/instances");
        let mut all = Vec::new();
        let mut page: Option<String> = None;
        for n in 0.. {
            if n == MAX_PAGES {
                notes.push(format!(
                    "only the first {MAX_PAGES} pages of instances in {project} were read"
                ));
                break;
            }
            let mut query = vec![("maxResults", "500")];
            if let Some(p) = page.as_deref() {
                query.push(("pageToken", p));
            }
            let list: AggregatedList = self.get(token, &path, &query).await?.unwrap_or_default();
            for (_, scoped) in list.items {
                all.extend(scoped.instances);
            }
            match list.next_page_token.filter(|t| !t.is_empty()) {
                Some(t) => page = Some(t),
                None => break,
            }
        }
        Ok(all)
    }
}

#[async_trait::async_trait]
impl TargetLookup for GcpLookup {
    async fn lookup(&self, alert: &Alert) -> Result<Exposure, LookupError> {
        let Some(fref) = firewall_of(alert) else {
            return Err(LookupError::NotApplicable(
                "the alert names no firewall rule".into(),
            ));
        };
        let token = self.token().await?;
        let mut fw: Option<Firewall> = self.get(&token, &fref.path(), &[]).await?;
        let mut rule_id = fref.path();
        // SCC names the rule by its numeric id; the API documents the name.
        if fw.is_none() {
            if let Some(name) = &fref.display_name {
                let by_name = FirewallRef {
                    firewall: name.clone(),
                    ..fref.clone()
                };
                fw = self.get(&token, &by_name.path(), &[]).await?;
                if fw.is_some() {
                    rule_id = by_name.path();
                }
            }
        }
        let Some(fw) = fw else {
            return Ok(Exposure {
                rule_id: Some(rule_id),
                gone: true,
                open_to_world: false,
                notes: vec![format!("{} no longer exists", fref.path())],
                ..Default::default()
            });
        };
        if !fw.name.is_empty() {
            rule_id = format!("projects/{}/global/firewalls/{}", fref.project, fw.name);
        }
        let (v4, v6, mut notes) = world_ingress(&fw);
        let mut exposure = Exposure {
            rule_id: Some(rule_id.clone()),
            open_to_world: !v4.is_empty() || !v6.is_empty(),
            gone: false,
            open_ports: merge(&v4, &v6),
            targets: Vec::new(),
            notes: Vec::new(),
        };
        if !exposure.open_to_world {
            notes.push(if fw.disabled {
                format!("{rule_id} is disabled")
            } else {
                format!("{rule_id} allows nothing from 0.0.0.0/0 or ::/0")
            });
            exposure.notes = notes;
            return Ok(exposure);
        }
        let (ports4, cut4) = expand(&v4);
        let (ports6, cut6) = expand(&v6);
        if cut4 || cut6 {
            notes.push(format!(
                "{rule_id} opens more ports to the world than are listed as probe targets"
            ));
        }
        let network = network_key(&fw.network);
        let instances = self.instances(&token, &fref.project, &mut notes).await?;
        for inst in instances {
            let tagged = (fw.target_tags.is_empty() && fw.target_service_accounts.is_empty())
                || inst.tags.items.iter().any(|t| fw.target_tags.contains(t))
                || inst
                    .service_accounts
                    .iter()
                    .any(|sa| fw.target_service_accounts.contains(&sa.email));
            if !tagged {
                continue;
            }
            let zone = inst.zone.rsplit('/').next().unwrap_or("");
            for nic in &inst.network_interfaces {
                if !network.is_empty() && network_key(&nic.network) != network {
                    continue;
                }
                let v4s = nic
                    .access_configs
                    .iter()
                    .filter_map(|a| a.nat_ip.as_deref());
                let v6s = nic
                    .ipv6_access_configs
                    .iter()
                    .filter_map(|a| a.external_ipv6.as_deref());
                for ip in v4s.chain(v6s) {
                    let Ok(address) = ip.parse::<IpAddr>() else {
                        continue;
                    };
                    let ports = if address.is_ipv4() { &ports4 } else { &ports6 };
                    if ports.is_empty() && !exposure.open_ports.is_empty() && address.is_ipv6() {
                        continue;
                    }
                    if exposure.targets.iter().any(|t| t.address == address) {
                        continue;
                    }
                    exposure.targets.push(Target {
                        address,
                        ports: ports.clone(),
                        origin: "gcp".into(),
                        resource: Some(format!(
                            "projects/{}/zones/{zone}/instances/{} ({})",
                            fref.project, inst.name, inst.status
                        )),
                    });
                }
            }
        }
        if exposure.targets.is_empty() {
            notes.push(format!(
                "{rule_id} is open to the world but no instance it applies to has an external IP"
            ));
        }
        exposure.notes = notes;
        Ok(exposure)
    }
}
