use super::common::*;
use irene_investigate::ips_of;

#[test]
fn ips_of_real_alerts() {
    // (decoder, fixture, IPs expected in order)
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "aws.guardduty",
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
            &["221.132.75.236", "71.6.167.142"],
        ),
        (
            "aws.guardduty",
            "guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json",
            &["198.51.100.0"],
        ),
        (
            "gcp.scc",
            "gcp-scc/scc_etd_malware_bad_domain_active_example.json",
            &["161.97.182.121"],
        ),
        // the local side (172.31.43.6) is the victim and is left out
        (
            "aws.securityhub",
            "securityhub/awsdocs_asff_from_guardduty.json",
            &["199.241.229.197"],
        ),
        ("gcp.scc", "gcp-scc/scc_etd_c2_bad_ip_active.json", &[]),
    ];
    for (source, file, want) in cases {
        let a = alert(source, file);
        let got: Vec<String> = ips_of(&a).iter().map(|i| i.to_string()).collect();
        for w in *want {
            assert!(got.contains(&w.to_string()), "{file}: {got:?}");
        }
        assert!(
            !got.iter()
                .any(|g| g.starts_with("172.31.") || g.starts_with("10.")),
            "{file}: {got:?}"
        );
        if want.is_empty() {
            assert!(got.is_empty(), "{file}: {got:?}");
        }
    }
}

#[test]
fn ips_of_a_sigma_hit_is_the_callers_ip_and_skips_non_ips() {
    let ev = events(
        "aws.cloudtrail",
        "cloudtrail/panther_record_rds_modify_deletion_protection_disabled_from_tor_range_ip.json",
    );
    let a = sigma_hit(&ev[0]);
    let got: Vec<String> = ips_of(&a).iter().map(|i| i.to_string()).collect();
    assert_eq!(got, ["185.220.101.50"]);
    let mut b = a.clone();
    b.actor.ip = Some("AWS Internal".into());
    b.indicators.clear();
    b.raw = serde_json::json!({"event": {"sourceIPAddress": "ec2.amazonaws.com"}});
    assert!(ips_of(&b).is_empty());
}
