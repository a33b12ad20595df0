use super::common::*;
use irene_investigate::threat_context::ThreatContext;
use irene_investigate::Status;
use serde_json::json;

#[tokio::test]
async fn what_the_sources_say() {
    let inv = ThreatContext::new(feeds_arc());
    // (decoder, fixture, field, expected value)
    let cases: &[(&str, &str, &str, serde_json::Value)] = &[
        (
            "aws.guardduty",
            "guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json",
            "threat_lists",
            json!(["GeneratedFindingThreatListName"]),
        ),
        (
            "aws.guardduty",
            "guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json",
            "threat_names",
            json!(["GeneratedFindingThreatName"]),
        ),
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            "threat_lists",
            json!(["ProofPoint"]),
        ),
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            "threat_names",
            json!(["Scanner"]),
        ),
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            "org",
            json!("NexG Co."),
        ),
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            "asn",
            json!(17877),
        ),
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            "country",
            json!("South Korea"),
        ),
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            "tor",
            json!(false),
        ),
        (
            "aws.securityhub",
            "securityhub/awsdocs_asff_from_guardduty.json",
            "org",
            json!("CenturyLink"),
        ),
        (
            "aws.securityhub",
            "securityhub/awsdocs_asff_from_guardduty.json",
            "asn",
            json!(209),
        ),
        (
            "aws.securityhub",
            "securityhub/awsdocs_asff_from_guardduty.json",
            "country",
            json!("United States"),
        ),
        (
            "gcp.scc",
            "gcp-scc/scc_etd_malware_bad_domain_active_example.json",
            "indicator_ips",
            json!(["161.97.182.121"]),
        ),
        (
            "gcp.scc",
            "gcp-scc/scc_etd_malware_bad_domain_active_example.json",
            "indicator_domains",
            json!(["download-update.online"]),
        ),
        (
            "gcp.scc",
            "gcp-scc/scc_etd_malware_bad_domain_active_example.json",
            "threat_names",
            json!(["bad_domain"]),
        ),
        (
            "gcp.scc",
            "gcp-scc/scc_etd_c2_bad_ip_active.json",
            "threat_names",
            json!(["bad_ip"]),
        ),
    ];
    for (source, file, field, want) in cases {
        let out = run(&inv, &alert(source, file)).await;
        assert_eq!(out.status, Status::Done, "{file}");
        assert_eq!(
            &out.findings[*field], want,
            "{file} {field}: {}",
            out.findings
        );
    }
}

#[tokio::test]
async fn guardduty_tor_finding_types_and_tor_listed_ips_say_tor() {
    let inv = ThreatContext::new(feeds_arc());
    // The NONSTANDARD PascalCase TorIPCaller sample: its type says Tor (its IP 1.2.3.4 is not
    // in the excerpt).
    let a = alert(
        "aws.guardduty",
        "guardduty/eventbridge_pascalcase_discovery_rds_toripcaller_NONSTANDARD.json",
    );
    let out = run(&inv, &a).await;
    assert_eq!(out.findings["tor"], true, "{}", out.findings);
    assert_eq!(out.findings["tor_ips"], json!([]));
}

#[tokio::test]
async fn sigma_hit_on_cloudtrail_checks_the_callers_ip_against_tor() {
    let ev = events(
        "aws.cloudtrail",
        "cloudtrail/panther_record_rds_modify_deletion_protection_disabled_from_tor_range_ip.json",
    );
    let hit = sigma_hit(&ev[0]);
    // 185.220.101.50 is in a Tor range but not in the 50-line excerpt: not Tor there…
    let out = run(&ThreatContext::new(feeds_arc()), &hit).await;
    assert_eq!(out.findings["tor"], false);
    assert_eq!(out.status, Status::NothingFound);
    // …and Tor once the exit list has it.
    let mut feeds = fixture_feeds();
    feeds
        .add_body(
            "tor",
            &irene_investigate::FeedFormat::IpLines,
            b"185.220.101.50\n",
        )
        .expect("add");
    let out = run(&ThreatContext::new(std::sync::Arc::new(feeds)), &hit).await;
    assert_eq!(out.findings["tor"], true);
    assert_eq!(out.findings["tor_ips"], json!(["185.220.101.50"]));
    assert_eq!(out.status, Status::Done);
}

#[tokio::test]
async fn security_hub_threat_intel_indicators() {
    // The AWS docs' GuardDuty ASFF finding, with ThreatIntelIndicators added in the shape the
    // ASFF reference gives (no fixture carries them).
    let mut item = super::common::json("securityhub/awsdocs_asff_from_guardduty.json");
    item["ThreatIntelIndicators"] = json!([
        {"Type": "IPV4_ADDRESS", "Value": "185.220.101.18", "Category": "BACKDOOR", "Source": "ExampleFeed"},
        {"Type": "DOMAIN", "Value": "evil.example", "Category": "COMMAND_AND_CONTROL", "Source": "ExampleFeed"}
    ]);
    let a = super::common::alerts_of("aws.securityhub", &item).remove(0);
    let out = run(&ThreatContext::new(feeds_arc()), &a).await;
    let f = &out.findings;
    assert_eq!(f["threat_lists"], json!(["ExampleFeed"]), "{f}");
    assert_eq!(
        f["threat_names"],
        json!(["BACKDOOR", "COMMAND_AND_CONTROL"])
    );
    assert_eq!(f["indicator_ips"], json!(["185.220.101.18"]));
    assert_eq!(f["indicator_domains"], json!(["evil.example"]));
    assert_eq!(f["tor"], true);
    assert_eq!(f["tor_ips"], json!(["185.220.101.18"]));
}
