#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Google Cloud lookup against the Compute API stand-in (`irene_fakes::FakeGcpCompute`),
//! with the SCC `OPEN_FIREWALL` fixture decoded by the real decoder.

mod common;

use irene_cloud::gcp::GcpLookup;
use irene_cloud::{GcpConfig, TokenSource};
use irene_core::Alert;
use irene_fakes::{FakeGcpCompute, Fault, FaultKind, GcpFirewall, GcpInstance};
use irene_investigate::exposure_seams::{LookupError, PortRange, TargetLookup};
use std::net::IpAddr;

const PROJECT: &str = "test-project";
const TOKEN: &str = "ya29.test-token";

fn scc_alert() -> Alert {
    let text = common::fixture("gcp-scc/scc_sha_open_firewall_active.json");
    common::one("gcp.scc", &text)
}

fn lookup(fake: &FakeGcpCompute, token: &str) -> GcpLookup {
    GcpLookup::new(GcpConfig {
        enabled: true,
        token: TokenSource::Static(token.into()),
        endpoint: Some(fake.url()),
        ..Default::default()
    })
}

fn cassandra(id: &str) -> GcpFirewall {
    GcpFirewall {
        name: "open-cassandra-port-tcp-7199".into(),
        id: id.into(),
        network: "default".into(),
        source_ranges: vec!["0.0.0.0/0".into()],
        allowed: vec![
            ("tcp".into(), vec!["7199".into(), "9042-9043".into()]),
            ("udp".into(), vec!["53".into()]),
        ],
        target_tags: vec!["cassandra".into()],
        target_service_accounts: vec![],
        disabled: false,
    }
}

fn instance(name: &str, network: &str, nat: Option<&str>, tags: &[&str]) -> GcpInstance {
    GcpInstance {
        name: name.into(),
        zone: "us-central1-a".into(),
        network: network.into(),
        internal_ip: "10.128.0.2".into(),
        nat_ip: nat.map(str::to_string),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        service_accounts: vec![],
    }
}

async fn fake_world() -> FakeGcpCompute {
    let fake = FakeGcpCompute::start().await;
    fake.set_token(TOKEN);
    fake.put_firewall(PROJECT, cassandra("4695668982209007936"));
    fake.add_instance(
        PROJECT,
        instance("db-1", "default", Some("34.66.0.1"), &["cassandra"]),
    );
    fake.add_instance(PROJECT, instance("db-2", "default", None, &["cassandra"]));
    fake.add_instance(
        PROJECT,
        instance("db-other-vpc", "other", Some("34.66.0.3"), &["cassandra"]),
    );
    // Enough untagged instances for a second page, and a tagged one after them.
    for i in 0..505 {
        fake.add_instance(
            PROJECT,
            instance(&format!("web-{i}"), "default", Some("34.77.0.1"), &["web"]),
        );
    }
    fake.add_instance(
        PROJECT,
        instance("db-late", "default", Some("34.66.0.9"), &["cassandra", "x"]),
    );
    fake
}

#[tokio::test]
async fn scc_open_firewall_lists_tagged_instances_external_ips() {
    let fake = fake_world().await;
    let alert = scc_alert();
    let exposure = lookup(&fake, TOKEN).lookup(&alert).await.unwrap();
    assert_eq!(
        exposure.rule_id.as_deref(),
        Some("projects/test-project/global/firewalls/open-cassandra-port-tcp-7199")
    );
    assert!(exposure.open_to_world && !exposure.gone);
    assert_eq!(
        exposure.open_ports,
        vec![
            PortRange {
                from: 7199,
                to: 7199
            },
            PortRange {
                from: 9042,
                to: 9043
            }
        ]
    );
    let addrs: Vec<IpAddr> = exposure.targets.iter().map(|t| t.address).collect();
    assert_eq!(
        addrs,
        vec![
            "34.66.0.1".parse::<IpAddr>().unwrap(),
            "34.66.0.9".parse().unwrap()
        ],
        "tagged, on the rule's network, with an external IP (both pages read)"
    );
    let t = &exposure.targets[0];
    assert_eq!(t.ports, vec![7199, 9042, 9043]);
    assert_eq!(t.origin, "gcp");
    assert_eq!(
        t.resource.as_deref(),
        Some("projects/test-project/zones/us-central1-a/instances/db-1 (RUNNING)")
    );
    assert!(
        exposure.notes.iter().any(|n| n.contains("udp")),
        "{:?}",
        exposure.notes
    );
    // The token went along on every call; the list was paged.
    let reqs = fake.requests();
    assert!(reqs
        .iter()
        .all(|r| r.header("authorization") == Some(&*format!("Bearer {TOKEN}"))));
    assert!(reqs.iter().any(|r| r.query.contains("pageToken=")));
}

#[tokio::test]
async fn by_name_when_the_id_is_unknown_then_gone_when_deleted() {
    let fake = fake_world().await;
    fake.put_firewall(PROJECT, cassandra("1")); // the finding's id no longer matches
    let lookup = lookup(&fake, TOKEN);
    let alert = scc_alert();
    let exposure = lookup.lookup(&alert).await.unwrap();
    assert!(exposure.open_to_world);
    fake.delete_firewall(PROJECT, "open-cassandra-port-tcp-7199");
    let gone = lookup.lookup(&alert).await.unwrap();
    assert!(gone.gone && !gone.open_to_world, "{gone:#?}");
}

#[tokio::test]
async fn closed_rules_are_not_open_to_the_world() {
    let fake = fake_world().await;
    let lookup = lookup(&fake, TOKEN);
    let alert = scc_alert();
    let mut fw = cassandra("4695668982209007936");
    fw.source_ranges = vec!["10.0.0.0/8".into()];
    fake.put_firewall(PROJECT, fw.clone());
    let e = lookup.lookup(&alert).await.unwrap();
    assert!(!e.open_to_world && !e.gone && e.targets.is_empty());
    fw.source_ranges = vec!["0.0.0.0/0".into()];
    fw.disabled = true;
    fake.put_firewall(PROJECT, fw);
    let e = lookup.lookup(&alert).await.unwrap();
    assert!(!e.open_to_world, "a disabled rule opens nothing");
}

#[tokio::test]
async fn untargeted_rule_applies_to_every_instance_of_its_network() {
    let fake = FakeGcpCompute::start().await;
    let mut fw = cassandra("4695668982209007936");
    fw.target_tags.clear();
    fw.allowed = vec![("all".into(), vec![])];
    fake.put_firewall(PROJECT, fw);
    fake.add_instance(PROJECT, instance("a", "default", Some("34.1.1.1"), &[]));
    fake.add_instance(PROJECT, instance("b", "other", Some("34.1.1.2"), &[]));
    let e = lookup(&fake, "any").lookup(&scc_alert()).await.unwrap();
    assert_eq!(e.open_ports, vec![PortRange { from: 0, to: 65535 }]);
    assert_eq!(e.targets.len(), 1);
    assert_eq!(e.targets[0].address, "34.1.1.1".parse::<IpAddr>().unwrap());
    assert!(
        e.notes.iter().any(|n| n.contains("more ports")),
        "{:?}",
        e.notes
    );
}

#[tokio::test]
async fn errors_wrong_token_is_failed_and_503_is_transient() {
    let fake = fake_world().await;
    let got = lookup(&fake, "wrong").lookup(&scc_alert()).await;
    assert!(
        matches!(&got, Err(LookupError::Failed(m)) if m.contains("401")),
        "{got:?}"
    );
    fake.fault(Fault::new(FaultKind::Status(503)));
    let got = lookup(&fake, TOKEN).lookup(&scc_alert()).await;
    assert!(matches!(got, Err(LookupError::Transient(_))), "{got:?}");
}
