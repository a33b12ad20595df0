//! How fast the passive investigators run: reputation + geoip + threat_context on generated
//! GuardDuty-shaped alerts, against a 100k-CIDR feed set and a small mmdb pair.
//! `cargo run --release -p irene-investigate --example passive_speed`
// Benchmark programs may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use chrono::{TimeZone, Utc};
use irene_core::{Alert, Case, CaseStatus, Severity};
use irene_investigate::events::NoEvents;
use irene_investigate::feeds::{FeedFormat, FeedSet};
use irene_investigate::{registry, Context, GeoDb, Input};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn ip(&mut self) -> Ipv4Addr {
        Ipv4Addr::from((self.next() >> 32) as u32 | 0x0100_0000)
    }
}

#[derive(Serialize)]
struct City {
    country: BTreeMap<&'static str, &'static str>,
}

#[derive(Serialize)]
struct Asn {
    autonomous_system_number: u32,
    autonomous_system_organization: &'static str,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // 100k CIDRs over five feeds, prefix lengths /16 to /32.
    let t = Instant::now();
    let mut bodies = vec![String::new(); 5];
    for i in 0..100_000 {
        let len = 16 + (rng.next() % 17) as u8;
        let net = ipnet::Ipv4Net::new(rng.ip(), len)?.trunc();
        writeln!(bodies[i % 5], "{net}")?;
    }
    let mut feeds = FeedSet::new();
    for (i, body) in bodies.iter().enumerate() {
        let name = if i == 0 {
            "tor".to_string()
        } else {
            format!("feed{i}")
        };
        feeds.add_body(&name, &FeedFormat::CidrLines, body.as_bytes())?;
    }
    println!(
        "feed set: 100000 CIDRs parsed and indexed in {:?}",
        t.elapsed()
    );

    let mut city = mmdb_writer::Writer::new("GeoLite2-City");
    let mut asn = mmdb_writer::Writer::new("GeoLite2-ASN");
    for a in 1..=200u32 {
        let net: ipnet::IpNet = format!("{a}.0.0.0/8").parse()?;
        city.insert(
            net,
            &City {
                country: [("iso_code", "NL")].into(),
            },
        )?;
        asn.insert(
            net,
            &Asn {
                autonomous_system_number: a,
                autonomous_system_organization: "Org",
            },
        )?;
    }
    let geo = GeoDb::from_bytes(Some(city.to_bytes()?), Some(asn.to_bytes()?))?;
    let ctx = Context::new(Arc::new(feeds), Some(Arc::new(geo)));
    let investigators: Vec<_> = registry(&ctx)
        .into_iter()
        .filter(|i| i.name() != "actor_history")
        .collect();

    let alerts: Vec<Alert> = (0..2_000)
        .map(|i| {
            let remote = rng.ip().to_string();
            let raw = serde_json::json!({"service": {
                "action": {"networkConnectionAction": {"remoteIpDetails": {
                    "ipAddressV4": remote,
                    "organization": {"asn": "209", "org": "Org"},
                    "country": {"countryName": "Netherlands"}}}},
                "additionalInfo": {"threatListName": "ProofPoint", "threatName": "Scanner"}}});
            let mut a = Alert::new(
                "aws.guardduty",
                "Recon:EC2/PortProbeUnprotectedPort",
                format!("k{i}"),
                "probe",
                Severity::Low,
                raw,
            );
            a.actor.ip = Some(rng.ip().to_string());
            a
        })
        .collect();
    let now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .ok_or("time")?;
    let case = Case {
        id: uuid::Uuid::nil(),
        key: "k".into(),
        title: "t".into(),
        source: "aws.guardduty".into(),
        kind: "x".into(),
        severity: Severity::Low,
        status: CaseStatus::Open,
        resolution: None,
        first_seen: now,
        last_seen: now,
        count: 1,
        account: None,
        region: None,
        resource: Default::default(),
        labels: vec![],
        rule: None,
        last_alert_id: uuid::Uuid::nil(),
        tickets: vec![],
        updated_at: now,
        raised: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let rounds = 5;
    let t = Instant::now();
    let mut listed = 0usize;
    rt.block_on(async {
        for _ in 0..rounds {
            for alert in &alerts {
                let input = Input {
                    case: &case,
                    alert,
                    now,
                    events: &NoEvents,
                    watches: &irene_investigate::NoWatches,
                };
                for inv in &investigators {
                    let out = inv.investigate(&input).await;
                    if out.findings["listed"] == true {
                        listed += 1;
                    }
                }
            }
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let n = (rounds * alerts.len()) as f64;
    println!(
        "{} alerts x (reputation + geoip + threat_context): {:.0} alerts/s, {:.0} investigations/s ({} listed)",
        n,
        n / secs,
        n * investigators.len() as f64 / secs,
        listed
    );
    let feeds = ctx.feeds.load();
    let t = Instant::now();
    let mut hits = 0usize;
    for _ in 0..1_000_000 {
        hits += feeds.match_ip(std::net::IpAddr::V4(rng.ip())).len();
    }
    println!(
        "match_ip: {:.0} lookups/s over 100k CIDRs ({hits} hits)",
        1e6 / t.elapsed().as_secs_f64()
    );
    Ok(())
}
