use super::common::*;
use irene_investigate::reputation::Reputation;
use irene_investigate::Status;

const IAM_CALLER: &str =
    "guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json";

/// The real GuardDuty finding with its remote IP replaced by `ip` (no fixture's remote IP is in
/// the excerpts, which are a few dozen lines of each list; the finding is otherwise unchanged).
fn guardduty_from(ip: &str) -> irene_core::Alert {
    let mut item = json(IAM_CALLER);
    item["service"]["action"]["awsApiCallAction"]["remoteIpDetails"]["ipAddressV4"] = ip.into();
    alerts_of("aws.guardduty", &item).remove(0)
}

#[tokio::test]
async fn guardduty_remote_ips_against_the_fixture_lists() {
    let inv = Reputation::new(feeds_arc(), None);
    // (remote IP, status, tor, lists)
    let cases: &[(&str, Status, bool, &[&str])] = &[
        ("185.220.101.18", Status::Done, true, &["tor"]), // Tor excerpt
        ("192.9.135.73", Status::Done, false, &["feodo"]), // Feodo CSV
        // inside DROP's 1.10.16.0/20, which FireHOL level 1 aggregates too
        (
            "1.10.20.5",
            Status::Done,
            false,
            &["firehol_level1", "spamhaus_drop"],
        ),
        ("198.51.100.0", Status::NothingFound, false, &[]), // clean (the fixture's own)
    ];
    for (ip, status, tor, lists) in cases {
        let out = run(&inv, &guardduty_from(ip)).await;
        assert_eq!(&out.status, status, "{ip}: {}", out.summary);
        assert_eq!(out.findings["tor"], *tor, "{ip}");
        assert_eq!(out.findings["listed"], !lists.is_empty(), "{ip}");
        assert_eq!(out.findings["lists"], serde_json::json!(lists), "{ip}");
        if !lists.is_empty() {
            let mut per_ip: Vec<String> =
                serde_json::from_value(out.findings["ips"][ip].clone()).expect("names");
            per_ip.sort();
            assert_eq!(per_ip, *lists, "{ip}");
            assert!(
                out.summary.contains(ip) && out.summary.contains("| IP |"),
                "{}",
                out.summary
            );
        }
    }
}

#[tokio::test]
async fn the_real_port_probe_is_clean_and_a_finding_without_ips_finds_nothing() {
    let inv = Reputation::new(feeds_arc(), None);
    let a = alert(
        "aws.guardduty",
        "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
    );
    let out = run(&inv, &a).await;
    assert_eq!(out.status, Status::NothingFound);
    assert_eq!(out.findings["checked"], 2);
    let a = alert("gcp.scc", "gcp-scc/scc_etd_c2_bad_ip_active.json");
    assert_eq!(run(&inv, &a).await.status, Status::NothingFound);
}

#[tokio::test]
async fn no_feed_loaded_is_a_failure_not_a_clean_bill() {
    let inv = Reputation::new(std::sync::Arc::new(irene_investigate::FeedSet::new()), None);
    let out = run(&inv, &guardduty_from("185.220.101.18")).await;
    assert!(
        matches!(out.status, Status::Failed { .. }),
        "{:?}",
        out.status
    );
}
