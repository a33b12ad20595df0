//! The `exposure` investigator: the alert's and the cloud lookup's targets, probed through the given [`Prober`].
//! Pure: no I/O of its own; must not pick an address the alert or the lookup did not name.
//!
//! Screenshots are taken (by the given [`Screenshotter`], when there is one) of every HTTP(S)
//! port that answered, attached and referenced as `attachment:<name>` in the summary.
//!
//! Targets: the cloud lookup's (`Context.targets`, when configured and it answers), plus the
//! alert's own: addresses from GuardDuty's `resource.instanceDetails.networkInterfaces[]`
//! (`publicIp`, `ipv6Addresses`), `localIpDetails` (network connection and port probe actions)
//! and Security Hub's `AwsEc2Instance.IpV4Addresses`/`IpV6Addresses`; ports from
//! `localPortDetails.port` (port probes, inbound network connections: an outbound one's local
//! port is ephemeral), SCC `sourceProperties`
//! (`ExternallyAccessibleProtocolsAndPorts[].ports`, ranges included) and a few rules that name
//! their port (`restricted-ssh`: 22, `restricted-common-ports`, Security Hub EC2.13/EC2.14).
//! Each alert address is probed on the alert's ports (and the lookup's open ports, if any). An
//! address without a port is not probed. The prober's caps (targets per alert, ports per
//! target, concurrency, total time) apply; the summary says when they cut.
//!
//! Findings (`enrichment.exposure.<field>`):
//! - `open`: bool, some port answered (open);
//! - `open_ports`: `[{address, port, service}]` of the open ones;
//! - `targets`: how many addresses were probed; `probed`: how many (address, port) pairs;
//! - `probes`: every probe as the prober answered (`address`, `port`, `state` =
//!   `open`/`closed`/`filtered`/`denied`, `reason`, `banner`, `service`, `http`);
//! - `http`: `[{url, status, title, server}]` of the ports that answered HTTP(S);
//! - `tls_self_signed`: bool, some HTTPS port showed a self-signed certificate;
//! - `rule`: `{id, open_to_world, gone}` from the cloud lookup, or null without one;
//!
//! When the cloud lookup says the rule no longer lets the world in (or is gone) and no probed
//! port connects, the outcome is `fixed`: the case resolves by scan with that reason (this is
//! what the periodic re-check, default every 6 h, finds). Without a cloud answer it never is.
//! - `denied`: how many pairs the probe policy refused (never connected to);
//! - `capped`: bool, a cap left targets or ports out;
//! - `screenshots`: how many screenshots are attached (`screenshot-<ip>-<port>.png`, IPv6
//!   colons written as `_`).
//!
//! Status: `nothing_found` when there is no target, `done` otherwise; a cloud lookup that may
//! work later (throttled, 5xx) leaves the outcome `incomplete`.

use crate::exposure_seams::{
    Exposure, LookupError, PortProbe, PortState, ProbeLimits, Prober, Screenshotter, TargetLookup,
};
use crate::{markdown, walk, Attachment, Context, Input, Investigator, Outcome};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

pub const NAME: &str = "exposure";

/// Screenshots asked for at once (the browser's `max_pages` caps the tabs open).
const SCREENSHOTS_AT_ONCE: usize = 4;

/// The investigator (named so beside the seams' `Exposure`, the cloud lookup's answer).
pub struct ExposureCheck {
    targets: Option<Arc<dyn TargetLookup>>,
    prober: Arc<dyn Prober>,
    screenshots: Option<Arc<dyn Screenshotter>>,
}

/// Raw paths (suffixes of `walk::leaves` paths) that hold an address of the alert's resource.
const ADDRESS_PATHS: &[&str] = &[
    "networkinterfaces/publicip",
    "networkinterfaces/ipv6addresses",
    "localipdetails/ipaddressv4",
    "localipdetails/ipaddressv6",
    "awsec2instance/ipv4addresses",
    "awsec2instance/ipv6addresses",
];

/// Raw paths that hold a port (or a port range, `"8000-8080"`) the alert says is exposed.
const PORT_PATHS: &[&str] = &[
    "localportdetails/port",
    "sourceproperties/externallyaccessibleprotocolsandports/ports",
];

/// Rules whose name says their port.
const RULE_PORTS: &[(&str, &[u16])] = &[
    ("restricted-ssh", &[22]),
    ("restricted-common-ports", &[20, 21, 3389, 3306, 4333]),
    ("/ec2.13", &[22]),
    ("/ec2.14", &[3389]),
];

/// The alert's own addresses and ports (ports in order, ranges expanded up to `max_ports`;
/// the bool says a range was cut).
pub fn alert_targets(alert: &irene_core::Alert, max_ports: usize) -> (Vec<IpAddr>, Vec<u16>, bool) {
    let mut addresses: Vec<IpAddr> = Vec::new();
    let mut ports: Vec<u16> = Vec::new();
    let mut cut = false;
    // An outbound connection's local port is an ephemeral source port, not a service.
    let mut outbound = false;
    walk::leaves(&alert.raw, &mut |path, v| {
        if path.ends_with("networkconnectionaction/connectiondirection")
            && walk::text(v).is_some_and(|t| t.eq_ignore_ascii_case("OUTBOUND"))
        {
            outbound = true;
        }
    });
    let add_port = |p: u16, ports: &mut Vec<u16>| {
        if p != 0 && !ports.contains(&p) {
            ports.push(p);
        }
    };
    walk::leaves(&alert.raw, &mut |path, v| {
        let Some(text) = walk::text(v) else { return };
        if ADDRESS_PATHS.iter().any(|p| path.ends_with(p)) {
            if let Ok(ip) = text.parse::<IpAddr>() {
                if !addresses.contains(&ip) {
                    addresses.push(ip);
                }
            }
        } else if PORT_PATHS.iter().any(|p| path.ends_with(p))
            && !(outbound && path.contains("networkconnectionaction"))
        {
            match text.split_once('-') {
                Some((a, b)) => {
                    if let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                        let span = usize::from(b.saturating_sub(a)) + 1;
                        if span > max_ports {
                            cut = true;
                        }
                        for p in (a..=b).take(max_ports) {
                            add_port(p, &mut ports);
                        }
                    }
                }
                None => {
                    if let Ok(p) = text.parse::<u16>() {
                        add_port(p, &mut ports);
                    }
                }
            }
        } else if path.ends_with("configrulename")
            || path.ends_with("generatorid")
            || path.ends_with("securitycontrolid")
        {
            let lower = format!("/{}", text.to_ascii_lowercase());
            for (rule, rule_ports) in RULE_PORTS {
                if lower.contains(rule) {
                    for p in *rule_ports {
                        add_port(*p, &mut ports);
                    }
                }
            }
        }
    });
    (addresses, ports, cut)
}

/// One address to probe, its ports, and where it came from.
struct Planned {
    address: IpAddr,
    ports: Vec<u16>,
    origins: BTreeSet<String>,
}

fn plan(
    exposure: Option<&Exposure>,
    own: (Vec<IpAddr>, Vec<u16>),
    limits: &ProbeLimits,
    notes: &mut Vec<String>,
) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    let mut add = |address: IpAddr, ports: &[u16], origin: &str| {
        let i = match out.iter().position(|p| p.address == address) {
            Some(i) => i,
            None => {
                out.push(Planned {
                    address,
                    ports: Vec::new(),
                    origins: BTreeSet::new(),
                });
                out.len() - 1
            }
        };
        let t = &mut out[i];
        t.origins.insert(origin.to_string());
        for p in ports {
            if !t.ports.contains(p) {
                t.ports.push(*p);
            }
        }
    };
    let mut lookup_ports: Vec<u16> = Vec::new();
    if let Some(e) = exposure {
        for t in &e.targets {
            add(t.address, &t.ports, &t.origin);
        }
        for r in &e.open_ports {
            for p in (r.from..=r.to).take(limits.ports_per_target) {
                if !lookup_ports.contains(&p) {
                    lookup_ports.push(p);
                }
            }
        }
    }
    let (addresses, mut ports) = own;
    for p in lookup_ports {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    if !ports.is_empty() {
        for a in addresses {
            add(a, &ports, "alert");
        }
    }
    out.retain(|t| !t.ports.is_empty());
    if out.len() > limits.targets_per_alert {
        notes.push(format!(
            "{} addresses, only the first {} probed (targets per alert)",
            out.len(),
            limits.targets_per_alert
        ));
        out.truncate(limits.targets_per_alert);
    }
    let cut_ports = out
        .iter()
        .filter(|t| t.ports.len() > limits.ports_per_target)
        .count();
    if cut_ports > 0 {
        notes.push(format!(
            "{cut_ports} address(es) with more than {} ports: only the first {} probed (ports per target)",
            limits.ports_per_target, limits.ports_per_target
        ));
        for t in &mut out {
            t.ports.truncate(limits.ports_per_target);
        }
    }
    out
}

impl ExposureCheck {
    pub fn new(
        targets: Option<Arc<dyn TargetLookup>>,
        prober: Arc<dyn Prober>,
        screenshots: Option<Arc<dyn Screenshotter>>,
    ) -> Self {
        ExposureCheck {
            targets,
            prober,
            screenshots,
        }
    }

    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        let prober = ctx.prober.clone()?;
        Some(Arc::new(ExposureCheck::new(
            ctx.targets.clone(),
            prober,
            ctx.screenshots.clone(),
        )))
    }
}

fn state_text(p: &PortProbe) -> String {
    let s = match p.state {
        PortState::Open => "open",
        PortState::Closed => "closed",
        PortState::Filtered => "filtered",
        PortState::Denied => "denied",
    };
    match (&p.state, &p.reason) {
        (PortState::Denied, Some(r)) => format!("{s}: {r}"),
        _ => s.to_string(),
    }
}

pub fn screenshot_name(address: IpAddr, port: u16) -> String {
    format!(
        "screenshot-{}-{port}.png",
        address.to_string().replace(':', "_")
    )
}

#[async_trait::async_trait]
impl Investigator for ExposureCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn investigate(&self, input: &Input<'_>) -> Outcome {
        let limits = self.prober.limits();
        let mut notes: Vec<String> = Vec::new();
        let mut incomplete: Option<String> = None;
        let exposure = match &self.targets {
            None => {
                notes.push(
                    "no cloud credentials: only the alert's own addresses were probed".into(),
                );
                None
            }
            Some(lookup) => match lookup.lookup(input.alert).await {
                Ok(e) => {
                    notes.extend(e.notes.iter().cloned());
                    Some(e)
                }
                Err(LookupError::NotApplicable(why)) => {
                    notes.push(format!("cloud lookup not applicable ({why}): only the alert's own addresses were probed"));
                    None
                }
                Err(LookupError::Transient(why)) => {
                    notes.push(format!("cloud lookup failed for now ({why}): only the alert's own addresses were probed"));
                    incomplete = Some(format!("cloud lookup: {why}"));
                    None
                }
                Err(LookupError::Failed(why)) => {
                    notes.push(format!(
                        "cloud lookup failed ({why}): only the alert's own addresses were probed"
                    ));
                    None
                }
            },
        };
        let (addresses, ports, range_cut) = alert_targets(input.alert, limits.ports_per_target);
        if range_cut {
            notes.push(format!(
                "a port range of the alert was cut to its first {} ports (ports per target)",
                limits.ports_per_target
            ));
        }
        let capped_before = notes.len();
        let planned = plan(exposure.as_ref(), (addresses, ports), &limits, &mut notes);
        let capped = range_cut || notes.len() > capped_before;
        let rule = exposure.as_ref().and_then(|e| {
            e.rule_id
                .as_ref()
                .map(|id| json!({"id": id, "open_to_world": e.open_to_world, "gone": e.gone}))
        });
        if planned.is_empty() {
            let mut summary = String::from("No address and port to probe in this alert.");
            for n in &notes {
                summary.push_str(&format!("\n\n_{}_", markdown::escape(n)));
            }
            let out = Outcome::nothing_found(
                json!({"open": false, "open_ports": [], "targets": 0, "probed": 0, "probes": [],
                       "http": [], "tls_self_signed": false, "rule": rule, "denied": 0,
                       "capped": capped, "screenshots": 0}),
                summary,
            );
            return match (incomplete, fixed_reason(exposure.as_ref(), &[])) {
                (Some(why), _) => out.incomplete(why),
                (None, Some(fixed)) => out.fixed(fixed),
                (None, None) => out,
            };
        }
        let pairs: Vec<(IpAddr, u16)> = planned
            .iter()
            .flat_map(|t| t.ports.iter().map(move |p| (t.address, *p)))
            .collect();
        let probes = self.prober.probe_all(&pairs).await;
        let mut capped = capped;
        if probes.len() < pairs.len() {
            capped = true;
            notes.push(format!(
                "{} of {} ports not probed: the total time cap ({}s) was reached",
                pairs.len() - probes.len(),
                pairs.len(),
                limits.total_secs
            ));
        }

        // Screenshots of the pages that answered, several at once (the screenshotter caps its
        // own pages), in probe order.
        let mut attachments = Vec::new();
        if let Some(shooter) = &self.screenshots {
            use futures_util::stream::{self, StreamExt};
            // owned, so that the futures borrow nothing from this (async-trait) frame
            let pages: Vec<(IpAddr, u16, String)> = probes
                .iter()
                .filter(|p| p.state == PortState::Open)
                .filter_map(|p| p.http.as_ref().map(|h| (p.address, p.port, h.url.clone())))
                .collect();
            let shots: Vec<_> = stream::iter(pages)
                .map(|(address, port, url)| {
                    let shooter = Arc::clone(shooter);
                    async move {
                        let shot = shooter.screenshot(&url).await;
                        (address, port, url, shot)
                    }
                })
                .buffered(SCREENSHOTS_AT_ONCE)
                .collect()
                .await;
            for (address, port, url, shot) in shots {
                match shot {
                    Ok(png) => attachments.push(Attachment {
                        name: screenshot_name(address, port),
                        content_type: "image/png".into(),
                        bytes: png,
                    }),
                    Err(e) => notes.push(format!("no screenshot of {url}: {e}")),
                }
            }
        }

        let open: Vec<&PortProbe> = probes
            .iter()
            .filter(|p| p.state == PortState::Open)
            .collect();
        let denied = probes
            .iter()
            .filter(|p| p.state == PortState::Denied)
            .count();
        let http: Vec<Value> = probes
            .iter()
            .filter_map(|p| p.http.as_ref())
            .map(
                |h| json!({"url": h.url, "status": h.status, "title": h.title, "server": h.server}),
            )
            .collect();
        let self_signed = probes
            .iter()
            .filter_map(|p| p.http.as_ref()?.tls.as_ref())
            .any(|t| t.self_signed);
        let findings = json!({
            "open": !open.is_empty(),
            "open_ports": open.iter().map(|p| json!({"address": p.address, "port": p.port, "service": p.service})).collect::<Vec<_>>(),
            "targets": planned.len(),
            "probed": probes.len(),
            "probes": probes,
            "http": http,
            "tls_self_signed": self_signed,
            "rule": rule,
            "denied": denied,
            "capped": capped,
            "screenshots": attachments.len(),
        });
        let summary = summary(&planned, &probes, exposure.as_ref(), &notes, &attachments);
        let mut out = Outcome::done(findings, summary);
        out.attachments = attachments;
        match (incomplete, fixed_reason(exposure.as_ref(), &probes)) {
            (Some(why), _) => out.incomplete(why),
            (None, Some(fixed)) => out.fixed(fixed),
            (None, None) => out,
        }
    }
}

/// Why the exposure is fixed, if it is: the cloud says the rule no longer lets the world in
/// (or is gone) AND no probed port connects. Without a cloud answer nothing is concluded:
/// a closed port alone may be a service restarting.
fn fixed_reason(exposure: Option<&Exposure>, probes: &[PortProbe]) -> Option<String> {
    let e = exposure?;
    let rule = e.rule_id.as_deref()?;
    if (e.open_to_world && !e.gone) || probes.iter().any(|p| p.state == PortState::Open) {
        return None;
    }
    let mut reason = if e.gone {
        format!("{rule} is gone")
    } else {
        format!("{rule} no longer allows 0.0.0.0/0 or ::/0")
    };
    let states: Vec<String> = probes
        .iter()
        .take(5)
        .map(|p| {
            let state = match p.state {
                PortState::Closed => "refused",
                PortState::Filtered => "no answer",
                PortState::Denied => "not probed (denied)",
                PortState::Open => "open",
            };
            format!("{}:{} {state}", p.address, p.port)
        })
        .collect();
    if !states.is_empty() {
        reason.push_str("; ");
        reason.push_str(&states.join(", "));
        if probes.len() > 5 {
            reason.push_str(&format!(" (and {} more)", probes.len() - 5));
        }
    }
    Some(reason)
}

fn summary(
    planned: &[Planned],
    probes: &[PortProbe],
    exposure: Option<&Exposure>,
    notes: &[String],
    attachments: &[Attachment],
) -> String {
    let open = probes.iter().filter(|p| p.state == PortState::Open).count();
    let mut s = format!(
        "**{open} open** of {} port(s) probed on {} address(es).",
        probes.len(),
        planned.len()
    );
    if let Some(e) = exposure {
        if let Some(id) = &e.rule_id {
            let state = if e.gone {
                "is gone".to_string()
            } else if e.open_to_world {
                "allows traffic from anywhere".to_string()
            } else {
                "no longer allows traffic from anywhere".to_string()
            };
            s.push_str(&format!(" `{}` {state}.", id.replace('`', "'")));
        }
    }
    s.push_str("\n\n");
    let rows: Vec<Vec<String>> = probes
        .iter()
        .map(|p| {
            let origin = planned
                .iter()
                .find(|t| t.address == p.address)
                .map(|t| t.origins.iter().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            let title = p
                .http
                .as_ref()
                .map(|h| {
                    let mut t = format!("{}", h.status);
                    if let Some(title) = &h.title {
                        t.push_str(&format!(" {title}"));
                    }
                    if !h.redirects.is_empty() {
                        t.push_str(&format!(" (after {} redirect(s))", h.redirects.len()));
                    }
                    t
                })
                .unwrap_or_default();
            vec![
                p.address.to_string(),
                p.port.to_string(),
                state_text(p),
                p.service.clone().unwrap_or_default(),
                title,
                origin,
            ]
        })
        .collect();
    s.push_str(&markdown::table(
        &["Address", "Port", "State", "Service", "HTTP", "From"],
        &rows,
    ));
    let details: Vec<Vec<String>> = probes
        .iter()
        .filter(|p| {
            p.banner.is_some()
                || p.http.is_some()
                || (p.reason.is_some() && p.state != PortState::Denied)
        })
        .map(|p| {
            let mut d = Vec::new();
            if let Some(b) = &p.banner {
                d.push(format!("banner: {b}"));
            }
            if let Some(h) = &p.http {
                if let Some(server) = &h.server {
                    d.push(format!("Server: {server}"));
                }
                if !h.redirects.is_empty() {
                    d.push(format!("redirects: {}", h.redirects.join(" → ")));
                }
                if let Some(t) = &h.tls {
                    d.push(format!(
                        "TLS: subject {}, issuer {}, SANs {}, expires {}{}",
                        t.subject,
                        t.issuer,
                        t.sans.join(" "),
                        t.not_after,
                        if t.self_signed { ", self-signed" } else { "" }
                    ));
                }
            }
            if let Some(r) = &p.reason {
                d.push(r.clone());
            }
            vec![format!("{}:{}", p.address, p.port), d.join("; ")]
        })
        .collect();
    if !details.is_empty() {
        s.push_str(&format!(
            "\n<details><summary>Banners, redirects and certificates</summary>\n\n{}\n</details>\n",
            markdown::table(&["Target", "Details"], &details)
        ));
    }
    for a in attachments {
        if let Some(rest) = a.name.strip_prefix("screenshot-") {
            let label = rest
                .trim_end_matches(".png")
                .rsplit_once('-')
                .map(|(ip, port)| format!("{}:{port}", ip.replace('_', ":")))
                .unwrap_or_default();
            s.push_str(&format!("\n![screenshot {label}](attachment:{})\n", a.name));
        }
    }
    for n in notes {
        s.push_str(&format!("\n_{}_\n", markdown::escape(n)));
    }
    s
}
