#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Which security group or firewall each source's alert names, table-driven over the real
//! fixtures (decoded by the real decoders) and variants of them about security groups.

mod common;

use irene_cloud::aws::security_groups;
use irene_cloud::gcp::{firewall_of, parse_firewall, FirewallRef};
use irene_cloud::{cloud_of, Cloud};

/// (what, source, fixture text) → expected groups.
fn aws_cases() -> Vec<(&'static str, &'static str, String, Vec<&'static str>)> {
    let config =
        common::fixture("aws-config/eventbridge_config_rules_compliance_change_noncompliant.json");
    let prowler = common::fixture("prowler/prowler_aws_json_ocsf_fail_manual.json");
    let first: Vec<serde_json::Value> = serde_json::from_str(&prowler).unwrap();
    let prowler_one = first[0].to_string();
    vec![
        (
            "GuardDuty: the instance's interfaces' groups",
            "aws.guardduty",
            common::fixture("guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json"),
            vec!["sg-a534fcd9", "sg-f736fe8b"],
        ),
        (
            "Security Hub: Resources[].Id, an AwsEc2SecurityGroup ARN",
            "aws.securityhub",
            common::fixture("securityhub/asff_fsbp_ec2.2_default_sg_failed_new.json"),
            vec!["sg-1234123f"],
        ),
        (
            "Security Hub EC2.19 (same shape, another control)",
            "aws.securityhub",
            common::fixture("securityhub/asff_fsbp_ec2.2_default_sg_failed_new.json")
                .replace("EC2.2", "EC2.19")
                .replace("sg-1234123f", "sg-0a1b2c3d4e5f60718"),
            vec!["sg-0a1b2c3d4e5f60718"],
        ),
        (
            "AWS Config restricted-ssh: resourceId",
            "aws.config",
            config
                .replace(
                    "cw-loggroup-retention-period-check-conformance-pack-qayjyopmd",
                    "restricted-ssh",
                )
                .replace("AWS::Logs::LogGroup", "AWS::EC2::SecurityGroup")
                .replace("\"dev1\"", "\"sg-0123456789abcdef0\""),
            vec!["sg-0123456789abcdef0"],
        ),
        (
            "AWS Config about a log group: none",
            "aws.config",
            config,
            vec![],
        ),
        (
            "Prowler: resources[].uid, a security-group ARN",
            "prowler",
            prowler_one
                .replace(
                    "accessanalyzer_enabled",
                    "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22",
                )
                .replace(
                    "<resource_uid>",
                    "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0fedcba9876543210",
                )
                .replace("<region>", "eu-west-1"),
            vec!["sg-0fedcba9876543210"],
        ),
        ("Prowler about IAM: none", "prowler", prowler, vec![]),
    ]
}

#[test]
fn security_group_of_each_aws_source() {
    for (what, source, text, want) in aws_cases() {
        let alerts = common::decode(source, &text);
        assert!(!alerts.is_empty(), "{what}: no alert");
        for alert in alerts {
            assert_eq!(security_groups(&alert), want, "{what}");
            assert_eq!(cloud_of(&alert), Some(Cloud::Aws), "{what}");
        }
    }
}

#[test]
fn firewall_of_each_gcp_source() {
    let scc = common::fixture("gcp-scc/scc_sha_open_firewall_active.json");
    let cases: Vec<(&str, String, Option<FirewallRef>)> = vec![
        (
            "SCC OPEN_FIREWALL: resourceName with the numeric id, display name kept",
            scc.clone(),
            Some(FirewallRef {
                project: "test-project".into(),
                firewall: "4695668982209007936".into(),
                display_name: Some("open-cassandra-port-tcp-7199".into()),
            }),
        ),
        (
            "SCC OPEN_SSH_PORT naming the rule by name",
            scc.replace("OPEN_FIREWALL", "OPEN_SSH_PORT")
                .replace("firewalls/4695668982209007936", "firewalls/allow-ssh")
                .replace("\"open-cassandra-port-tcp-7199\"", "\"allow-ssh\""),
            Some(FirewallRef {
                project: "test-project".into(),
                firewall: "allow-ssh".into(),
                display_name: None,
            }),
        ),
        (
            "SCC about a bucket: none",
            scc.replace(
                "//compute.googleapis.com/projects/test-project/global/firewalls/4695668982209007936",
                "//storage.googleapis.com/my-bucket",
            )
            .replace("google.compute.Firewall", "google.cloud.storage.Bucket"),
            None,
        ),
    ];
    for (what, text, want) in cases {
        let alert = common::one("gcp.scc", &text);
        assert_eq!(cloud_of(&alert), Some(Cloud::Gcp), "{what}");
        assert_eq!(firewall_of(&alert), want, "{what}");
    }
}

#[test]
fn firewall_names_parse() {
    let table = [
        (
            "//compute.googleapis.com/projects/p/global/firewalls/f",
            Some(("p", "f")),
        ),
        ("projects/p/global/firewalls/f", Some(("p", "f"))),
        (
            "https://www.googleapis.com/compute/v1/projects/p/global/firewalls/f",
            Some(("p", "f")),
        ),
        (
            "//compute.googleapis.com/projects/p/zones/z/instances/i",
            None,
        ),
        (
            "//compute.googleapis.com/projects/p/global/firewalls/",
            None,
        ),
        ("", None),
    ];
    for (name, want) in table {
        let got = parse_firewall(name);
        assert_eq!(
            got.as_ref().map(|(p, f)| (p.as_str(), f.as_str())),
            want,
            "{name}"
        );
    }
}
