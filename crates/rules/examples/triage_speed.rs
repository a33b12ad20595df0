//! How fast a realistic set of 1,000 triage rules judges alerts.
//!
//! `cargo run --release -p irene-rules --example triage_speed`
//!
//! Most rules are guarded by `alert.type` or `alert.source` (exact, lists, prefixes), some by
//! account or tags, some by nothing the index can use (titles, IPs, `raw`, negations). The
//! alerts look like GuardDuty findings, with a nested `raw`. Only `judge` is timed: alerts are
//! cloned before the clock starts, in batches ("cold": the alert is no longer in the CPU caches)
//! and one by one ("warm": judged right after it is made, as the pipeline does after decoding).
// Benchmark programs may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use irene_core::{Alert, IndicatorKind, Severity};
use irene_rules::{RuleFile, TriageRules};
use serde_json::json;
use std::time::{Duration, Instant};

const RULES: usize = 1_000;
const ALERTS: usize = 200_000;
const BATCH: usize = 10_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FAMILIES: &[&str] = &[
    "Recon:EC2",
    "Recon:IAMUser",
    "UnauthorizedAccess:EC2",
    "UnauthorizedAccess:IAMUser",
    "Policy:IAMUser",
    "CryptoCurrency:EC2",
    "Trojan:EC2",
    "Backdoor:EC2",
    "Discovery:S3",
    "Exfiltration:S3",
    "Impact:S3",
    "PrivilegeEscalation:IAMUser",
    "Persistence:IAMUser",
    "Stealth:IAMUser",
    "Execution:Runtime",
    "DefenseEvasion:Runtime",
];
const SOURCES: &[&str] = &[
    "aws.guardduty",
    "aws.securityhub",
    "gcp.scc",
    "prowler",
    "falco",
];
const ACCOUNTS: &[&str] = &[
    "111111111111",
    "222222222222",
    "333333333333",
    "444444444444",
    "555555555555",
    "prod-project",
    "dev-project",
];
const SEVERITIES: &[&str] = &["urgent", "high", "medium", "low", "info"];

/// 16 families × 25 names: 400 types.
fn types() -> Vec<String> {
    let mut out = Vec::new();
    for f in FAMILIES {
        for n in 0..25 {
            out.push(format!("{f}/Finding{n}"));
        }
    }
    out
}

fn rule_set(rng: &mut Rng, types: &[String]) -> String {
    let mut text = String::new();
    for i in 0..RULES {
        let t = &types[rng.below(types.len())];
        let t2 = &types[rng.below(types.len())];
        let a = ACCOUNTS[rng.below(ACCOUNTS.len())];
        let a2 = ACCOUNTS[rng.below(ACCOUNTS.len())];
        let s = SOURCES[rng.below(SOURCES.len())];
        let f = FAMILIES[rng.below(FAMILIES.len())];
        let when = match rng.below(100) {
            // exact type, usually with a condition on account, tags or raw
            0..=29 => format!(r#"alert.type == "{t}" && alert.account in ["{a}", "{a2}"]"#),
            30..=44 => format!(r#"alert.type == "{t}" && alert.resource.tags.env == "prod""#),
            45..=54 => format!(
                r#"alert.type == "{t}" && alert.raw.detail.service.count > {}"#,
                rng.below(50)
            ),
            55..=59 => format!(r#"alert.type == "{t}""#),
            // lists of types
            60..=71 => {
                format!(r#"alert.type in ["{t}", "{t2}"] && alert.region != "eu-central-1""#)
            }
            // prefixes
            72..=79 => format!(
                r#"alert.type.startsWith("{f}/") && alert.resource.tags.team == "t{}""#,
                rng.below(20)
            ),
            // sources
            80..=85 => format!(
                r#"alert.source == "{s}" && alert.title.contains("word{}")"#,
                rng.below(100)
            ),
            // accounts and tags: the index reads these too
            86..=89 => format!(
                r#"alert.account == "{a}" && alert.title.contains("word{}")"#,
                rng.below(100)
            ),
            90..=92 => format!(
                r#"alert.resource.tags.owner == "o{}" && alert.severity == "high""#,
                rng.below(50)
            ),
            // nothing the index can use: evaluated for every alert
            93 => format!(
                r#"alert.title.contains("word{}") && alert.region == "us-east-1""#,
                rng.below(100)
            ),
            94 => format!(
                r#"alert.ips.exists(ip, ip.startsWith("10.{}."))"#,
                rng.below(256)
            ),
            95 => format!(r#"has(alert.resource.tags.quarantine) && alert.account != "{a}""#),
            96 => format!(
                r#"alert.resource.tags.env != "prod" && alert.actor.principal.endsWith("/bot{}")"#,
                rng.below(30)
            ),
            97 => format!(
                r#"alert.source_severity_label == "CRITICAL" && alert.description.contains("word{}")"#,
                rng.below(100)
            ),
            98 => format!(
                r#"!(alert.type.startsWith("{f}")) && alert.title.endsWith("word{}")"#,
                rng.below(100)
            ),
            _ => format!(
                r#"alert.raw.detail.service.action.actionType == "PORT_PROBE" && alert.raw.detail.service.count > {}"#,
                1000 + rng.below(1000)
            ),
        };
        let severity = SEVERITIES[rng.below(SEVERITIES.len())];
        text.push_str(&format!("- name: rule-{i}\n  when: '{when}'\n"));
        if rng.below(5) > 0 {
            text.push_str(&format!("  severity: {severity}\n"));
        }
        if rng.below(4) == 0 {
            text.push_str("  labels: [team-a]\n");
        }
        if rng.below(10) == 0 {
            text.push_str(&format!("  key: \"rule-{i}/{{{{alert.account}}}}\"\n"));
        }
    }
    text
}

fn alert(rng: &mut Rng, types: &[String], i: usize) -> Alert {
    let t = &types[rng.below(types.len())];
    let account = ACCOUNTS[rng.below(ACCOUNTS.len())];
    let raw = json!({
        "version": "0",
        "id": format!("ev-{i}"),
        "detail-type": "GuardDuty Finding",
        "source": "aws.guardduty",
        "account": account,
        "region": "eu-west-1",
        "detail": {
            "schemaVersion": "2.0",
            "accountId": account,
            "region": "eu-west-1",
            "id": format!("f-{i}"),
            "type": t,
            "severity": 5.0,
            "title": format!("The EC2 instance has an unprotected port word{}", i % 100),
            "resource": {
                "resourceType": "Instance",
                "instanceDetails": {
                    "instanceId": format!("i-{i:08x}"),
                    "instanceType": "t3.micro",
                    "tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "t3"}],
                    "networkInterfaces": [{
                        "privateIpAddress": "10.0.1.12",
                        "publicIp": "198.51.100.7",
                        "securityGroups": [{"groupId": "sg-1", "groupName": "web"}],
                        "subnetId": "subnet-1",
                        "vpcId": "vpc-1"
                    }]
                }
            },
            "service": {
                "serviceName": "guardduty",
                "archived": false,
                "count": rng.below(100),
                "eventFirstSeen": "2024-05-01T10:00:00Z",
                "eventLastSeen": "2024-05-01T11:00:00Z",
                "action": {
                    "actionType": "PORT_PROBE",
                    "portProbeAction": {
                        "blocked": false,
                        "portProbeDetails": [{
                            "localPortDetails": {"port": 22, "portName": "SSH"},
                            "remoteIpDetails": {
                                "ipAddressV4": "203.0.113.9",
                                "country": {"countryName": "Nowhere"},
                                "organization": {"asn": "64500", "asnOrg": "Example"}
                            }
                        }]
                    }
                }
            },
            "createdAt": "2024-05-01T10:00:00Z",
            "updatedAt": "2024-05-01T11:00:00Z"
        }
    });
    let mut a = Alert::new(
        SOURCES[rng.below(SOURCES.len())],
        t.clone(),
        format!("f-{i}"),
        format!("The EC2 instance has an unprotected port word{}", i % 100),
        Severity::Medium,
        raw,
    );
    a.account = Some(account.to_string());
    a.region = Some("eu-west-1".into());
    a.resource.id = Some(format!("i-{i:08x}"));
    a.resource.kind = Some("Instance".into());
    a.resource
        .tags
        .insert("env".into(), ["prod", "dev"][rng.below(2)].into());
    a.resource
        .tags
        .insert("team".into(), format!("t{}", rng.below(20)));
    a.actor.ip = Some("203.0.113.9".into());
    a.add_indicator(IndicatorKind::Ip, "203.0.113.9");
    a.add_indicator(IndicatorKind::Ip, "10.0.1.12");
    a
}

fn main() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let types = types();
    let text = rule_set(&mut rng, &types);
    let started = Instant::now();
    let set = match TriageRules::compile(&[RuleFile::new("speed.yaml", text)]) {
        Ok(set) => set,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            std::process::exit(1);
        }
    };
    println!(
        "{} rules compiled in {:.0?}; {} evaluated for every alert",
        set.len(),
        started.elapsed(),
        set.always_evaluated().len()
    );

    // a few thousand distinct alerts, cloned before the clock starts
    let templates: Vec<Alert> = (0..4_000).map(|i| alert(&mut rng, &types, i)).collect();

    // cold: batches of 10,000 fresh clones, judged one after the other (the alerts are no
    // longer in the CPU caches when judged)
    let mut decided = 0usize;
    let mut timed = Duration::ZERO;
    let mut next = 0usize;
    let mut judged = 0usize;
    while judged < ALERTS {
        let batch: Vec<Alert> = (0..BATCH)
            .map(|_| {
                next = (next + 1) % templates.len();
                templates[next].clone()
            })
            .collect();
        let mut out = Vec::with_capacity(BATCH);
        let t = Instant::now();
        for a in batch {
            out.push(set.judge(a));
        }
        timed += t.elapsed();
        // dropping the judged alerts is the caller's business, not judging's
        decided += out.iter().filter(|j| j.rule.is_some()).count();
        drop(std::hint::black_box(out));
        judged += BATCH;
    }
    report("cold", judged, timed, decided);

    // warm: each alert judged right after it is made, as the pipeline does after decoding
    let mut decided = 0usize;
    let mut timed = Duration::ZERO;
    for i in 0..ALERTS {
        let a = templates[i % templates.len()].clone();
        let t = Instant::now();
        let j = set.judge(a);
        timed += t.elapsed();
        decided += usize::from(j.rule.is_some());
        std::hint::black_box(j);
    }
    report("warm", ALERTS, timed, decided);

    // for comparison: CEL on every rule in order, without the index and direct evaluation
    let n = 10_000;
    let mut decided = 0usize;
    let mut timed = Duration::ZERO;
    for i in 0..n {
        let a = templates[i % templates.len()].clone();
        let t = Instant::now();
        let j = set.judge_naive(a);
        timed += t.elapsed();
        decided += usize::from(j.rule.is_some());
        std::hint::black_box(j);
    }
    report("naive (every rule in CEL)", n, timed, decided);
}

fn report(mode: &str, judged: usize, timed: Duration, decided: usize) {
    let rate = judged as f64 / timed.as_secs_f64();
    println!(
        "{mode}: judged {judged} alerts in {timed:.2?}: {rate:.0} alerts/s ({:.1} µs each), \
         {:.0}% decided by a rule",
        timed.as_secs_f64() * 1e6 / judged as f64,
        100.0 * decided as f64 / judged as f64
    );
}
