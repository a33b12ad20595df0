//! Every IP an alert names: the actor's, its IP indicators, and the remote IPs in its raw finding.
//! Reads the alert only; must not judge the IPs (listing and geolocation are investigators' work).

use crate::walk;
use irene_core::{Alert, IndicatorKind};
use std::net::IpAddr;

/// Raw paths (suffixes of `walk::leaves` paths) that hold a remote or acting IP.
const IP_PATHS: &[&str] = &[
    // GuardDuty (camelCase and PascalCase), Security Hub `Action.*.RemoteIpDetails` and its
    // flattened `ProductFields`; port probes are `portprobedetails/remoteipdetails/…`.
    "remoteipdetails/ipaddressv4",
    "remoteipdetails/ipaddressv6",
    // SCC `indicator.ipAddresses`, SSH brute force attempts.
    "indicator/ipaddresses",
    "properties/attempts/sourceip",
    // Security Hub `Network.SourceIpV4/6` and `ThreatIntelIndicators[].Value` (IPs only parse).
    "network/sourceipv4",
    "network/sourceipv6",
    "threatintelindicators/value",
    // Sigma hits carry the event: CloudTrail `sourceIPAddress`, GCP `callerIp`.
    "event/sourceipaddress",
    "event/protopayload/requestmetadata/callerip",
];

/// Every IP the alert names, deduplicated, in order: actor IP, IP indicators, raw paths.
/// Values that are not IPs (`AWS Internal`, hostnames) are skipped; so are local sides
/// (`localIpDetails`), which are the victim, not the actor.
pub fn ips_of(alert: &Alert) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut push = |s: &str| {
        if let Ok(ip) = s.trim().parse::<IpAddr>() {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    };
    if let Some(ip) = &alert.actor.ip {
        push(ip);
    }
    for ind in &alert.indicators {
        if ind.kind == IndicatorKind::Ip {
            push(&ind.value);
        }
    }
    walk::leaves(&alert.raw, &mut |path, v| {
        if path.contains("localipdetails") {
            return;
        }
        if IP_PATHS.iter().any(|p| path.ends_with(p)) {
            if let Some(s) = walk::text(v) {
                push(&s);
            }
        }
    });
    out
}
