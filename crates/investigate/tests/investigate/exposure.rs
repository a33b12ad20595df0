use super::common::*;
use irene_investigate::exposure::{alert_targets, screenshot_name, ExposureCheck};
use irene_investigate::exposure_seams::{
    Exposure, HttpAnswer, LookupError, PortProbe, PortRange, PortState, ProbeLimits, Prober,
    Screenshotter, Target, TargetLookup, TlsInfo,
};
use irene_investigate::Status;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A prober answering from a table (anything else: closed), recording what it was asked.
#[derive(Default)]
struct TableProber {
    answers: HashMap<(IpAddr, u16), PortProbe>,
    limits: ProbeLimits,
    /// At most this many pairs are answered (a total-time cut), if set.
    answer_at_most: Option<usize>,
    asked: Mutex<Vec<(IpAddr, u16)>>,
}

fn probe_of(address: &str, port: u16, state: PortState) -> PortProbe {
    PortProbe {
        address: ip(address),
        port,
        state,
        reason: None,
        banner: None,
        service: None,
        http: None,
    }
}

impl TableProber {
    fn with(mut self, p: PortProbe) -> Self {
        self.answers.insert((p.address, p.port), p);
        self
    }
}

#[async_trait::async_trait]
impl Prober for TableProber {
    async fn probe(&self, address: IpAddr, port: u16) -> PortProbe {
        self.asked.lock().unwrap().push((address, port));
        self.answers
            .get(&(address, port))
            .cloned()
            .unwrap_or(PortProbe {
                reason: Some("connection refused".into()),
                ..probe_of(&address.to_string(), port, PortState::Closed)
            })
    }

    fn limits(&self) -> ProbeLimits {
        self.limits
    }

    async fn probe_all(&self, pairs: &[(IpAddr, u16)]) -> Vec<PortProbe> {
        let n = self.answer_at_most.unwrap_or(pairs.len()).min(pairs.len());
        let mut out = Vec::new();
        for (a, p) in &pairs[..n] {
            out.push(self.probe(*a, *p).await);
        }
        out
    }
}

struct Lookup(Result<Exposure, LookupError>);

#[async_trait::async_trait]
impl TargetLookup for Lookup {
    async fn lookup(&self, _: &irene_core::Alert) -> Result<Exposure, LookupError> {
        self.0.clone()
    }
}

struct Shots;

#[async_trait::async_trait]
impl Screenshotter for Shots {
    async fn screenshot(&self, url: &str) -> Result<Vec<u8>, String> {
        Ok(format!("PNG of {url}").into_bytes())
    }
}

const GD_PROBE: &str = "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json";
const SCC_FIREWALL: &str = "gcp-scc/scc_sha_open_firewall_active.json";

fn ssh_open() -> PortProbe {
    PortProbe {
        banner: Some("SSH-2.0-OpenSSH_7.4".into()),
        service: Some("ssh".into()),
        ..probe_of("54.91.89.220", 22, PortState::Open)
    }
}

fn web(address: &str, port: u16, title: &str) -> PortProbe {
    PortProbe {
        service: Some("https".into()),
        http: Some(HttpAnswer {
            url: format!("https://{address}:{port}/"),
            status: 200,
            title: Some(title.into()),
            server: Some("nginx".into()),
            redirects: vec![],
            tls: Some(TlsInfo {
                subject: "CN=rcgen self signed cert".into(),
                issuer: "CN=rcgen self signed cert".into(),
                sans: vec!["probe.test".into()],
                not_after: "4096-01-01T00:00:00Z".into(),
                self_signed: true,
            }),
        }),
        ..probe_of(address, port, PortState::Open)
    }
}

#[test]
fn the_alerts_own_addresses_and_ports_come_from_the_real_fixtures() {
    let cases: &[(&str, &str, &[&str], &[u16])] = &[
        ("aws.guardduty", GD_PROBE, &["54.91.89.220"], &[22, 81]),
        ("gcp.scc", SCC_FIREWALL, &[], &[7199]),
        // An outbound connection: its local port (39677) is ephemeral, not a service.
        (
            "aws.guardduty",
            "guardduty/eventbridge_pascalcase_unauthorizedaccess_ec2_torclient_NONSTANDARD.json",
            &[
                "198.51.100.1",
                "198.51.100.2",
                "198.51.100.3",
                "198.51.100.4",
                "10.0.0.23",
                "1234:5678:90ab:cdef:1234:5678:90ab:cde1",
            ],
            &[],
        ),
        (
            "aws.guardduty",
            // The instance's public IP, but no port: nothing of it is probed.
            "guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json",
            &["198.51.100.0"],
            &[],
        ),
    ];
    for (source, rel, addresses, ports) in cases {
        let (a, p, cut) = alert_targets(&alert(source, rel), 8);
        let want: Vec<IpAddr> = addresses.iter().map(|s| ip(s)).collect();
        assert_eq!(a, want, "{rel}");
        assert_eq!(p, *ports, "{rel}");
        assert!(!cut);
    }
}

#[tokio::test]
async fn a_port_probe_finding_is_probed_on_its_own_address_without_cloud_credentials() {
    let prober = Arc::new(TableProber::default().with(ssh_open()));
    let inv = ExposureCheck::new(None, prober.clone(), None);
    let out = run(&inv, &alert("aws.guardduty", GD_PROBE)).await;
    assert_eq!(out.status, Status::Done, "{out:?}");
    assert!(out.incomplete.is_none());
    let f = &out.findings;
    assert_eq!(f["open"], true);
    assert_eq!(
        f["open_ports"],
        serde_json::json!([{"address": "54.91.89.220", "port": 22, "service": "ssh"}])
    );
    assert_eq!(f["targets"], 1);
    assert_eq!(f["probed"], 2);
    assert_eq!(f["probes"][1]["state"], "closed");
    assert_eq!(f["denied"], 0);
    assert_eq!(f["rule"], serde_json::Value::Null);
    assert_eq!(f["capped"], false);
    assert_eq!(
        *prober.asked.lock().unwrap(),
        vec![(ip("54.91.89.220"), 22), (ip("54.91.89.220"), 81)]
    );
    let s = &out.summary;
    assert!(s.contains("| 54.91.89.220 | 22 | open | ssh |"), "{s}");
    assert!(s.contains("| 54.91.89.220 | 81 | closed |"), "{s}");
    assert!(
        s.contains("<details>") && s.contains("SSH-2.0-OpenSSH\\_7.4"),
        "{s}"
    );
    assert!(
        s.contains("no cloud credentials: only the alert's own addresses were probed"),
        "{s}"
    );
}

#[tokio::test]
async fn an_open_firewall_without_a_lookup_has_nothing_to_probe() {
    let inv = ExposureCheck::new(None, Arc::new(TableProber::default()), None);
    let out = run(&inv, &alert("gcp.scc", SCC_FIREWALL)).await;
    assert_eq!(out.status, Status::NothingFound, "{out:?}");
    assert_eq!(out.findings["targets"], 0);
    assert!(
        out.summary.contains("no cloud credentials"),
        "{}",
        out.summary
    );
}

#[tokio::test]
async fn the_lookups_targets_and_rule_are_probed_and_screenshotted() {
    let exposure = Exposure {
        rule_id: Some("projects/test-project/global/firewalls/open-cassandra-port-tcp-7199".into()),
        open_to_world: true,
        gone: false,
        open_ports: vec![PortRange {
            from: 7199,
            to: 7199,
        }],
        targets: vec![
            Target {
                address: ip("203.0.113.7"),
                ports: vec![7199, 443],
                origin: "gcp".into(),
                resource: Some("instance-1".into()),
            },
            Target {
                address: ip("10.0.0.5"),
                ports: vec![7199],
                origin: "gcp".into(),
                resource: None,
            },
        ],
        notes: vec![],
    };
    let prober = TableProber::default()
        .with(web("203.0.113.7", 443, "Cassandra Admin"))
        .with(PortProbe {
            reason: Some("private (10.0.0.0/8)".into()),
            ..probe_of("10.0.0.5", 7199, PortState::Denied)
        });
    let inv = ExposureCheck::new(
        Some(Arc::new(Lookup(Ok(exposure)))),
        Arc::new(prober),
        Some(Arc::new(Shots)),
    );
    let out = run(&inv, &alert("gcp.scc", SCC_FIREWALL)).await;
    assert_eq!(out.status, Status::Done, "{out:?}");
    let f = &out.findings;
    assert_eq!(f["targets"], 2);
    assert_eq!(f["denied"], 1);
    assert_eq!(f["tls_self_signed"], true);
    assert_eq!(f["rule"]["open_to_world"], true);
    assert_eq!(f["http"][0]["title"], "Cassandra Admin");
    assert_eq!(f["screenshots"], 1);
    assert_eq!(out.attachments.len(), 1);
    assert_eq!(out.attachments[0].name, "screenshot-203.0.113.7-443.png");
    assert_eq!(out.attachments[0].content_type, "image/png");
    let s = &out.summary;
    assert!(
        s.contains("![screenshot 203.0.113.7:443](attachment:screenshot-203.0.113.7-443.png)"),
        "{s}"
    );
    assert!(s.contains("denied: private (10.0.0.0/8)"), "{s}");
    assert!(s.contains("200 Cassandra Admin"), "{s}");
    assert!(s.contains("allows traffic from anywhere"), "{s}");
    assert!(!s.contains("no cloud credentials"), "{s}");
    assert_eq!(
        screenshot_name(ip("2001:db8::1"), 8443),
        "screenshot-2001_db8__1-8443.png"
    );
}

#[tokio::test]
async fn lookup_failures_fall_back_to_the_alert_and_transient_ones_ask_again() {
    let cases: &[(LookupError, bool, &str)] = &[
        (
            LookupError::Transient("throttled".into()),
            true,
            "failed for now",
        ),
        (
            LookupError::Failed("access denied".into()),
            false,
            "access denied",
        ),
        (
            LookupError::NotApplicable("no account".into()),
            false,
            "not applicable",
        ),
    ];
    for (err, incomplete, says) in cases {
        let inv = ExposureCheck::new(
            Some(Arc::new(Lookup(Err(err.clone())))),
            Arc::new(TableProber::default().with(ssh_open())),
            None,
        );
        let out = run(&inv, &alert("aws.guardduty", GD_PROBE)).await;
        assert_eq!(out.status, Status::Done, "{err:?}");
        assert_eq!(out.incomplete.is_some(), *incomplete, "{err:?}");
        assert!(out.summary.contains(says), "{err:?}: {}", out.summary);
        assert_eq!(out.findings["open"], true);
    }
}

#[tokio::test]
async fn caps_cut_and_the_summary_says_so() {
    let limits = ProbeLimits {
        targets_per_alert: 1,
        ports_per_target: 1,
        concurrency: 1,
        total_secs: 7,
    };
    let exposure = Exposure {
        targets: vec![
            Target {
                address: ip("203.0.113.7"),
                ports: vec![22, 80],
                origin: "aws".into(),
                resource: None,
            },
            Target {
                address: ip("203.0.113.8"),
                ports: vec![22],
                origin: "aws".into(),
                resource: None,
            },
        ],
        ..Exposure::default()
    };
    let prober = Arc::new(TableProber {
        limits,
        ..TableProber::default()
    });
    let inv = ExposureCheck::new(Some(Arc::new(Lookup(Ok(exposure)))), prober.clone(), None);
    let out = run(&inv, &alert("aws.guardduty", GD_PROBE)).await;
    assert_eq!(out.findings["capped"], true);
    assert_eq!(*prober.asked.lock().unwrap(), vec![(ip("203.0.113.7"), 22)]);
    assert!(out.summary.contains("targets per alert"), "{}", out.summary);
    assert!(out.summary.contains("ports per target"), "{}", out.summary);

    // The total-time cut: the prober answered fewer pairs than asked.
    let prober = Arc::new(TableProber {
        answer_at_most: Some(1),
        ..TableProber::default()
    });
    let inv = ExposureCheck::new(None, prober, None);
    let out = run(&inv, &alert("aws.guardduty", GD_PROBE)).await;
    assert_eq!(out.findings["probed"], 1);
    assert_eq!(out.findings["capped"], true);
    assert!(out.summary.contains("total time cap"), "{}", out.summary);
}

#[tokio::test]
async fn exposure_is_available_only_with_a_prober() {
    use irene_investigate::{investigator, registry, Context};
    let mut ctx = Context::new(feeds_arc(), None);
    assert!(investigator("exposure", &ctx).is_none());
    ctx.prober = Some(Arc::new(TableProber::default()));
    let names: Vec<&str> = registry(&ctx).iter().map(|i| i.name()).collect();
    assert!(names.contains(&"exposure"), "{names:?}");
    // An alert with an address but no port: nothing is probed.
    let inv = investigator("exposure", &ctx).unwrap();
    let a = alert(
        "aws.guardduty",
        "guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json",
    );
    let out = run(inv.as_ref(), &a).await;
    assert_eq!(out.status, Status::NothingFound, "{out:?}");
}

#[tokio::test]
async fn a_closed_rule_with_nothing_answering_is_fixed_and_says_why() {
    let rule = "projects/test-project/global/firewalls/open-cassandra-port-tcp-7199";
    let exposure = |open_to_world: bool, gone: bool| Exposure {
        rule_id: Some(rule.into()),
        open_to_world,
        gone,
        open_ports: vec![],
        targets: vec![Target {
            address: ip("203.0.113.7"),
            ports: vec![7199],
            origin: "gcp".into(),
            resource: None,
        }],
        notes: vec![],
    };
    let a = alert("gcp.scc", SCC_FIREWALL);
    // (what, the cloud says, the port answers, fixed with)
    let table: Vec<(&str, Option<Exposure>, PortState, Option<String>)> = vec![
        (
            "closed to the world, nothing answers",
            Some(exposure(false, false)),
            PortState::Closed,
            Some(format!(
                "{rule} no longer allows 0.0.0.0/0 or ::/0; 203.0.113.7:7199 refused"
            )),
        ),
        (
            "the firewall is gone",
            Some(exposure(false, true)),
            PortState::Filtered,
            Some(format!("{rule} is gone; 203.0.113.7:7199 no answer")),
        ),
        (
            "closed but the port still answers",
            Some(exposure(false, false)),
            PortState::Open,
            None,
        ),
        (
            "still open to the world",
            Some(exposure(true, false)),
            PortState::Closed,
            None,
        ),
        (
            "no cloud answer: never concluded",
            None,
            PortState::Closed,
            None,
        ),
    ];
    for (what, cloud, state, want) in table {
        let prober = TableProber::default().with(probe_of("203.0.113.7", 7199, state));
        let lookup: Option<Arc<dyn TargetLookup>> = match cloud {
            Some(e) => Some(Arc::new(Lookup(Ok(e)))),
            None => None,
        };
        let inv = ExposureCheck::new(lookup, Arc::new(prober), None);
        let out = run(&inv, &a).await;
        assert_eq!(out.fixed, want, "{what}");
    }
}
