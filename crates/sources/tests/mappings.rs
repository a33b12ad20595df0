//! The mappings that matter most, asserted one by one: severities, resolved states, keys,
//! casing, envelopes and `raw`.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use base64::Engine;
use common::{alerts, decode, fixture};
use irene_core::{Alert, AlertState, Indicator, IndicatorKind, Severity};
use serde_json::{json, Value};

fn one(name: &str, item: &Value) -> Alert {
    let mut decoded = decode(name, item).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded.alerts.len(), 1, "{name}");
    decoded.alerts.remove(0)
}

fn without_raw(mut a: Alert) -> Alert {
    a.raw = Value::Null;
    a
}

// ---------- GuardDuty ----------

fn guardduty_finding(severity: Value) -> Value {
    json!({
        "schemaVersion": "2.0", "accountId": "111122223333", "region": "eu-west-1",
        "id": "abc", "type": "Recon:EC2/PortProbeUnprotectedPort", "severity": severity,
        "resource": {"resourceType": "Instance", "instanceDetails": {"instanceId": "i-1",
            "tags": [{"key": "role", "value": "honeypot"}]}},
        "service": {"archived": false, "action": {"actionType": "NETWORK_CONNECTION",
            "networkConnectionAction": {"connectionDirection": "INBOUND",
                "remoteIpDetails": {"ipAddressV4": "203.0.113.9"}}}},
        "updatedAt": "2024-05-01T10:00:00Z"
    })
}

#[test]
fn guardduty_severity_table() {
    let table = [
        (json!(10), Severity::Urgent, "10"),
        (json!(9.0), Severity::Urgent, "9.0"),
        (json!(8.9), Severity::High, "8.9"),
        (json!(7), Severity::High, "7"),
        (json!(6.9), Severity::Medium, "6.9"),
        (json!(4), Severity::Medium, "4"),
        (json!(3.9), Severity::Low, "3.9"),
        (json!(1), Severity::Low, "1"),
        (json!("5.0"), Severity::Medium, "5.0"),
    ];
    for (score, want, label) in table {
        let a = one("aws.guardduty", &guardduty_finding(score.clone()));
        assert_eq!(a.source_severity, want, "{score}");
        assert_eq!(a.source_severity_label.as_deref(), Some(label), "{score}");
    }
}

#[test]
fn guardduty_fields_and_casing() {
    let camel = guardduty_finding(json!(5));
    let a = one("aws.guardduty", &camel);
    assert_eq!(a.key, "abc");
    assert_eq!(a.kind, "Recon:EC2/PortProbeUnprotectedPort");
    assert_eq!(a.account.as_deref(), Some("111122223333"));
    assert_eq!(a.resource.id.as_deref(), Some("i-1"));
    assert_eq!(
        a.resource.tags.get("role").map(String::as_str),
        Some("honeypot")
    );
    assert_eq!(a.actor.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(
        a.indicators,
        vec![Indicator::new(IndicatorKind::Ip, "203.0.113.9")]
    );
    assert_eq!(
        a.link.as_deref(),
        Some("https://console.aws.amazon.com/guardduty/home?region=eu-west-1#/findings?search=id%3Dabc")
    );
    // The same finding with PascalCase keys (as `get-findings` writes) decodes the same.
    let pascal = json!({
        "SchemaVersion": "2.0", "AccountId": "111122223333", "Region": "eu-west-1",
        "Id": "abc", "Type": "Recon:EC2/PortProbeUnprotectedPort", "Severity": 5,
        "Resource": {"ResourceType": "Instance", "InstanceDetails": {"InstanceId": "i-1",
            "Tags": [{"Key": "role", "Value": "honeypot"}]}},
        "Service": {"Archived": false, "Action": {"ActionType": "NETWORK_CONNECTION",
            "NetworkConnectionAction": {"ConnectionDirection": "INBOUND",
                "RemoteIpDetails": {"IpAddressV4": "203.0.113.9"}}}},
        "UpdatedAt": "2024-05-01T10:00:00Z"
    });
    assert_eq!(
        without_raw(one("aws.guardduty", &pascal)),
        without_raw(a.clone())
    );
    // An outbound connection's remote address is an indicator, not the actor.
    let mut outbound = camel.clone();
    outbound["service"]["action"]["networkConnectionAction"]["connectionDirection"] =
        json!("OUTBOUND");
    let b = one("aws.guardduty", &outbound);
    assert_eq!(b.actor.ip, None);
    assert_eq!(b.indicators, a.indicators);
}

#[test]
fn guardduty_archived_is_resolved() {
    let table = [
        (
            "raw_finding_pentest_s3_parrotlinux_sample_archived.json",
            AlertState::Resolved,
        ),
        (
            "raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json",
            AlertState::Resolved,
        ),
        ("raw_finding_canary_ec2_integtest.json", AlertState::Active),
        (
            "eventbridge_backdoor_ec2_cc_activity_dns_example.json",
            AlertState::Active,
        ),
        (
            "getfindings_cli_policy_s3_bucketblockpublicaccessdisabled.json",
            AlertState::Active,
        ),
    ];
    for (file, want) in table {
        let got: Vec<AlertState> = alerts("guardduty", file, "aws.guardduty")
            .iter()
            .map(|a| a.state)
            .collect();
        assert_eq!(got, vec![want], "{file}");
    }
}

#[test]
fn guardduty_raw_is_the_event_or_the_listed_finding() {
    let event = fixture(
        "guardduty",
        "eventbridge_backdoor_ec2_cc_activity_dns_example.json",
    )
    .remove(0);
    assert_eq!(one("aws.guardduty", &event).raw, event);
    let list = fixture(
        "guardduty",
        "getfindings_cli_policy_s3_bucketblockpublicaccessdisabled.json",
    )
    .remove(0);
    assert_eq!(one("aws.guardduty", &list).raw, list["Findings"][0]);
}

// ---------- Security Hub (ASFF) ----------

fn asff(extra: Value) -> Value {
    let mut f = json!({
        "SchemaVersion": "2018-10-08", "Id": "finding-1",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "GeneratorId": "gen", "AwsAccountId": "111122223333", "Title": "T",
        "Severity": {"Label": "HIGH"},
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::b", "Region": "us-east-2",
            "Tags": {"team": "blue"}}],
        "Compliance": {"Status": "FAILED"}, "Workflow": {"Status": "NEW"}, "RecordState": "ACTIVE",
        "UpdatedAt": "2024-01-02T03:04:05Z"
    });
    if let (Some(f), Value::Object(extra)) = (f.as_object_mut(), extra) {
        f.extend(extra);
    }
    f
}

#[test]
fn securityhub_severity_table() {
    let table = [
        (
            json!({"Label": "CRITICAL"}),
            Severity::Urgent,
            Some("CRITICAL"),
        ),
        (json!({"Label": "HIGH"}), Severity::High, Some("HIGH")),
        (
            json!({"Label": "MEDIUM", "Normalized": 95}),
            Severity::Medium,
            Some("MEDIUM"),
        ),
        (json!({"Label": "LOW"}), Severity::Low, Some("LOW")),
        (
            json!({"Label": "INFORMATIONAL"}),
            Severity::Info,
            Some("INFORMATIONAL"),
        ),
        (json!({"Normalized": 95}), Severity::Urgent, Some("95")),
        (json!({"Normalized": 70}), Severity::High, Some("70")),
        (json!({"Normalized": 40}), Severity::Medium, Some("40")),
        (json!({"Normalized": 1}), Severity::Low, Some("1")),
        (json!({"Normalized": 0}), Severity::Info, Some("0")),
        (
            json!({"Product": 80, "Original": "8"}),
            Severity::High,
            Some("8"),
        ),
        (
            json!({"Label": "WEIRD", "Normalized": 50}),
            Severity::Medium,
            Some("WEIRD"),
        ),
    ];
    for (sev, want, label) in table {
        let a = one("aws.securityhub", &asff(json!({"Severity": sev.clone()})));
        assert_eq!(a.source_severity, want, "{sev}");
        assert_eq!(a.source_severity_label.as_deref(), label, "{sev}");
    }
}

#[test]
fn securityhub_state_table() {
    let table = [
        (json!({}), AlertState::Active),
        (
            json!({"Workflow": {"Status": "RESOLVED"}}),
            AlertState::Resolved,
        ),
        (json!({"RecordState": "ARCHIVED"}), AlertState::Resolved),
        (
            json!({"Compliance": {"Status": "PASSED"}}),
            AlertState::Resolved,
        ),
        (
            json!({"Compliance": {"Status": "WARNING"}}),
            AlertState::Active,
        ),
        (
            json!({"Compliance": {"Status": "NOT_AVAILABLE"}}),
            AlertState::Active,
        ),
        (
            json!({"Workflow": {"Status": "SUPPRESSED"}}),
            AlertState::Active,
        ),
        (
            json!({"Workflow": {"Status": "NOTIFIED"}}),
            AlertState::Active,
        ),
    ];
    for (extra, want) in table {
        assert_eq!(
            one("aws.securityhub", &asff(extra.clone())).state,
            want,
            "{extra}"
        );
    }
    let fixtures = [
        ("asff_fsbp_s3.2_passed_resolved.json", AlertState::Resolved),
        (
            "eventbridge_custom_action_cis_1.6_passed_resolved.json",
            AlertState::Resolved,
        ),
        (
            "asff_fsbp_ec2.2_default_sg_failed_new.json",
            AlertState::Active,
        ),
        (
            "eventbridge_imported_cis_1.3_warning.json",
            AlertState::Active,
        ),
        (
            "awsdocs_asff_fsbp_cloudtrail.2_failed.json",
            AlertState::Active,
        ),
    ];
    for (file, want) in fixtures {
        let got: Vec<AlertState> = alerts("securityhub", file, "aws.securityhub")
            .iter()
            .map(|a| a.state)
            .collect();
        assert_eq!(got, vec![want], "{file}");
    }
}

#[test]
fn securityhub_type_precedence_and_fields() {
    let table = [
        (
            json!({"Compliance": {"Status": "FAILED", "SecurityControlId": "S3.1"},
                "ProductFields": {"ControlId": "X.1"}}),
            "S3.1",
        ),
        (
            json!({"ProductFields": {"ControlId": "EC2.2", "aws/securityhub/ControlId": "Y"}}),
            "EC2.2",
        ),
        (
            json!({"ProductFields": {"aws/securityhub/ControlId": "IAM.1"}}),
            "IAM.1",
        ),
        (json!({}), "gen"),
    ];
    for (extra, want) in table {
        assert_eq!(
            one("aws.securityhub", &asff(extra.clone())).kind,
            want,
            "{extra}"
        );
    }
    let a = one(
        "aws.securityhub",
        &asff(json!({
            "Network": {"Direction": "IN", "SourceIpV4": "198.51.100.4", "DestinationIpV4": "10.0.0.5"},
            "ThreatIntelIndicators": [{"Type": "DOMAIN", "Value": "bad.example"},
                                      {"Type": "HASH_SHA256", "Value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]
        })),
    );
    assert_eq!(a.key, "finding-1");
    assert_eq!(a.account.as_deref(), Some("111122223333"));
    assert_eq!(a.region.as_deref(), Some("us-east-2"));
    assert_eq!(a.resource.kind.as_deref(), Some("AwsS3Bucket"));
    assert_eq!(
        a.resource.tags.get("team").map(String::as_str),
        Some("blue")
    );
    assert_eq!(a.actor.ip.as_deref(), Some("198.51.100.4"));
    let kinds: Vec<IndicatorKind> = a.indicators.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        vec![
            IndicatorKind::Ip,
            IndicatorKind::Ip,
            IndicatorKind::Domain,
            IndicatorKind::Hash
        ]
    );
    assert_eq!(
        a.observed_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-01-02T03:04:05+00:00")
    );
    assert_eq!(
        a.link.as_deref(),
        Some("https://us-east-2.console.aws.amazon.com/securityhub/home?region=us-east-2#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253Afinding-1")
    );
}

#[test]
fn securityhub_event_with_many_findings_gives_one_alert_each() {
    let event = json!({
        "version": "0", "source": "aws.securityhub", "detail-type": "Security Hub Findings - Imported",
        "account": "999999999999", "region": "eu-north-1",
        "detail": {"findings": [asff(json!({"Id": "a"})), asff(json!({"Id": "b", "AwsAccountId": null, "Resources": []}))]}
    });
    let decoded = decode("aws.securityhub", &event).unwrap();
    let keys: Vec<&str> = decoded.alerts.iter().map(|a| a.key.as_str()).collect();
    assert_eq!(keys, vec!["a", "b"]);
    assert_eq!(decoded.alerts[0].raw, event["detail"]["findings"][0]);
    // The envelope fills in what a finding leaves out.
    assert_eq!(decoded.alerts[1].account.as_deref(), Some("999999999999"));
    assert_eq!(decoded.alerts[1].region.as_deref(), Some("eu-north-1"));
    let list = json!({"Findings": [asff(json!({"Id": "c"}))]});
    assert_eq!(decode("aws.securityhub", &list).unwrap().alerts[0].key, "c");
}

// ---------- AWS Config ----------

fn config_event(compliance: &str) -> Value {
    json!({
        "version": "0", "detail-type": "Config Rules Compliance Change", "source": "aws.config",
        "account": "111122223333", "region": "eu-west-1", "time": "2024-03-01T00:00:00Z",
        "detail": {
            "resourceId": "sg-1", "awsRegion": "eu-west-1", "awsAccountId": "111122223333",
            "configRuleName": "restricted-ssh", "resourceType": "AWS::EC2::SecurityGroup",
            "messageType": "ComplianceChangeNotification",
            "newEvaluationResult": {"complianceType": compliance, "annotation": "port 22 open"}
        }
    })
}

#[test]
fn config_compliance_table() {
    let table = [
        ("NON_COMPLIANT", AlertState::Active, Severity::Medium),
        ("COMPLIANT", AlertState::Resolved, Severity::Medium),
        ("NOT_APPLICABLE", AlertState::Resolved, Severity::Medium),
        ("INSUFFICIENT_DATA", AlertState::Active, Severity::Info),
    ];
    for (compliance, state, severity) in table {
        let a = one("aws.config", &config_event(compliance));
        assert_eq!(
            (a.state, a.source_severity),
            (state, severity),
            "{compliance}"
        );
        assert_eq!(
            a.key,
            "aws.config/111122223333/eu-west-1/restricted-ssh/AWS::EC2::SecurityGroup/sg-1"
        );
        assert_eq!(a.kind, "restricted-ssh");
        assert_eq!(a.resource.id.as_deref(), Some("sg-1"));
        // No evaluation time in the message: the event time stands.
        assert_eq!(
            a.observed_at.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-03-01T00:00:00+00:00")
        );
    }
    let fixtures = [
        (
            "awsdocs_sns_compliance_change_notification_compliant.json",
            AlertState::Resolved,
        ),
        (
            "eventbridge_config_rules_compliance_change_compliant_first_evaluation.json",
            AlertState::Resolved,
        ),
        (
            "eventbridge_config_rules_compliance_change_noncompliant.json",
            AlertState::Active,
        ),
    ];
    for (file, want) in fixtures {
        let got: Vec<AlertState> = alerts("aws-config", file, "aws.config")
            .iter()
            .map(|a| a.state)
            .collect();
        assert_eq!(got, vec![want], "{file}");
    }
}

#[test]
fn config_sns_message_as_string_or_object() {
    let object = fixture(
        "aws-config",
        "awsdocs_sns_compliance_change_notification_compliant.json",
    )
    .remove(0);
    let mut string = object.clone();
    string["Message"] = Value::String(object["Message"].to_string());
    let a = one("aws.config", &object);
    let b = one("aws.config", &string);
    assert_eq!(b.raw, string);
    assert_eq!(without_raw(a), without_raw(b));
}

// ---------- Prowler ----------

#[test]
fn prowler_status_table() {
    let table = [
        (
            "prowler_aws_json_ocsf_fail_manual.json",
            vec![
                (AlertState::Active, Severity::Low),
                (AlertState::Active, Severity::Info),
                (AlertState::Active, Severity::Medium),
                (AlertState::Active, Severity::Info),
                (AlertState::Active, Severity::Info),
            ],
        ),
        (
            "prowler_gcp_json_ocsf_pass_fail.json",
            vec![
                (AlertState::Resolved, Severity::Medium),
                (AlertState::Active, Severity::Medium),
                (AlertState::Resolved, Severity::Urgent),
                (AlertState::Resolved, Severity::Urgent),
                (AlertState::Active, Severity::Urgent),
            ],
        ),
        (
            "prowler_aws_json_asff_passed.json",
            vec![(AlertState::Resolved, Severity::Low)],
        ),
    ];
    for (file, want) in table {
        let got: Vec<(AlertState, Severity)> = alerts("prowler", file, "prowler")
            .iter()
            .map(|a| (a.state, a.source_severity))
            .collect();
        assert_eq!(got, want, "{file}");
    }
    let asff = &alerts("prowler", "prowler_aws_json_asff_passed.json", "prowler")[0];
    assert_eq!(asff.source, "prowler");
    assert_eq!(asff.kind, "rds_instance_minor_version_upgrade_enabled");
    let ocsf = &alerts("prowler", "prowler_gcp_json_ocsf_pass_fail.json", "prowler")[1];
    assert_eq!(ocsf.kind, "artifacts_container_analysis_enabled");
    assert_eq!(ocsf.account.as_deref(), Some("<project_id>"));
    assert_eq!(ocsf.region.as_deref(), Some("global"));
}

// ---------- GCP SCC ----------

fn scc(state: &str, severity: Option<&str>) -> Value {
    let mut finding = json!({
        "name": "organizations/1/sources/2/findings/f1", "state": state, "category": "OPEN_FIREWALL",
        "resourceName": "//compute.googleapis.com/projects/prod-1/global/firewalls/9",
        "eventTime": "2024-02-02T02:02:02Z",
        "access": {"callerIp": "198.51.100.77", "principalEmail": "mallory@example.com"},
        "indicator": {"ipAddresses": ["203.0.113.5"], "domains": ["c2.example"]}
    });
    if let Some(s) = severity {
        finding["severity"] = json!(s);
    }
    json!({"notificationConfigName": "organizations/1/notificationConfigs/n", "finding": finding,
           "resource": {"name": "//compute.googleapis.com/projects/prod-1/global/firewalls/9",
                        "type": "google.compute.Firewall", "displayName": "allow-all"}})
}

#[test]
fn scc_state_and_severity_table() {
    let table = [
        (
            "ACTIVE",
            Some("CRITICAL"),
            AlertState::Active,
            Severity::Urgent,
        ),
        ("ACTIVE", Some("HIGH"), AlertState::Active, Severity::High),
        (
            "ACTIVE",
            Some("MEDIUM"),
            AlertState::Active,
            Severity::Medium,
        ),
        ("ACTIVE", Some("LOW"), AlertState::Active, Severity::Low),
        (
            "ACTIVE",
            Some("SEVERITY_UNSPECIFIED"),
            AlertState::Active,
            Severity::Info,
        ),
        ("ACTIVE", None, AlertState::Active, Severity::Info),
        (
            "INACTIVE",
            Some("HIGH"),
            AlertState::Resolved,
            Severity::High,
        ),
    ];
    for (state, sev, want_state, want_sev) in table {
        let a = one("gcp.scc", &scc(state, sev));
        assert_eq!(
            (a.state, a.source_severity),
            (want_state, want_sev),
            "{state} {sev:?}"
        );
    }
    let a = one("gcp.scc", &scc("ACTIVE", Some("HIGH")));
    assert_eq!(a.key, "organizations/1/sources/2/findings/f1");
    assert_eq!(a.kind, "OPEN_FIREWALL");
    assert_eq!(a.title, "OPEN_FIREWALL on allow-all");
    assert_eq!(a.account.as_deref(), Some("prod-1"));
    assert_eq!(a.resource.kind.as_deref(), Some("google.compute.Firewall"));
    assert_eq!(a.actor.ip.as_deref(), Some("198.51.100.77"));
    assert_eq!(a.actor.principal.as_deref(), Some("mallory@example.com"));
    assert_eq!(
        a.indicators,
        vec![
            Indicator::new(IndicatorKind::Ip, "198.51.100.77"),
            Indicator::new(IndicatorKind::Ip, "203.0.113.5"),
            Indicator::new(IndicatorKind::Domain, "c2.example"),
        ]
    );
}

#[test]
fn scc_through_pubsub_push_in_every_base64_flavour() {
    let message = fixture("gcp-scc", "scc_etd_malware_bad_domain_active_example.json").remove(0);
    let direct = one("gcp.scc", &message);
    let bytes = serde_json::to_vec(&message).unwrap();
    let engines = [
        base64::engine::general_purpose::STANDARD.encode(&bytes),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(&bytes),
        base64::engine::general_purpose::URL_SAFE.encode(&bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
    ];
    for data in engines {
        let push = json!({"message": {"data": data, "messageId": "1", "publishTime": "2024-01-15T10:31:05Z"},
                          "subscription": "projects/p/subscriptions/s"});
        assert!(irene_sources::decoder("gcp.scc").unwrap().recognizes(&push));
        let a = one("auto", &push);
        assert_eq!(a, direct, "raw is the notification the envelope carried");
    }
}

// ---------- Falco ----------

#[test]
fn falco_priority_table() {
    let table = [
        ("Emergency", Severity::Urgent),
        ("Alert", Severity::Urgent),
        ("Critical", Severity::Urgent),
        ("Error", Severity::High),
        ("Warning", Severity::Medium),
        ("Notice", Severity::Low),
        ("Informational", Severity::Info),
        ("Debug", Severity::Info),
    ];
    for (priority, want) in table {
        let item = json!({"rule": "R", "priority": priority, "output": "o", "hostname": "h",
                          "output_fields": {"container.id": "c1", "fd.rip": "203.0.113.1", "ka.user.name": "bob"}});
        let a = one("falco", &item);
        assert_eq!(a.source_severity, want, "{priority}");
        assert_eq!(a.source_severity_label.as_deref(), Some(priority));
        assert_eq!(a.key, "falco/R/h/c1");
        assert_eq!(a.actor.principal.as_deref(), Some("bob"));
        assert_eq!(
            a.indicators,
            vec![Indicator::new(IndicatorKind::Ip, "203.0.113.1")]
        );
    }
}

// ---------- generic ----------

#[test]
fn generic_full_and_defaults() {
    let full = json!({
        "key": "k-1", "title": "Something", "type": "canary", "severity": "CRITICAL",
        "description": "d", "state": "resolved",
        "resource": {"id": "r", "kind": "vm", "name": "n", "tags": {"env": "prod"}},
        "account": "acct", "region": "eu", "observed_at": "2024-06-01T12:00:00+02:00",
        "actor": {"principal": "p", "ip": "2001:db8::1", "user_agent": "curl"},
        "indicators": ["198.51.100.1", "https://x.example/a", "evil.example",
                       "d41d8cd98f00b204e9800998ecf8427e", {"kind": "email", "value": "a@b.example"}],
        "link": "https://console.example/k-1", "extra": {"kept": "in raw"}
    });
    let a = one("generic", &full);
    assert_eq!(
        (a.source.as_str(), a.kind.as_str(), a.key.as_str()),
        ("generic", "canary", "k-1")
    );
    assert_eq!(a.source_severity, Severity::Urgent);
    assert_eq!(a.source_severity_label.as_deref(), Some("CRITICAL"));
    assert_eq!(a.state, AlertState::Resolved);
    assert_eq!(a.resource.tags.get("env").map(String::as_str), Some("prod"));
    assert_eq!(a.actor.ip.as_deref(), Some("2001:db8::1"));
    assert_eq!(
        a.observed_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2024-06-01T10:00:00+00:00")
    );
    let kinds: Vec<IndicatorKind> = a.indicators.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        vec![
            IndicatorKind::Ip,
            IndicatorKind::Ip,
            IndicatorKind::Domain,
            IndicatorKind::Url,
            IndicatorKind::Hash,
            IndicatorKind::Email
        ]
    );
    assert_eq!(a.raw, full);

    let minimal = one("generic", &json!({"key": "k", "title": "t"}));
    assert_eq!(
        (
            minimal.kind.as_str(),
            minimal.source_severity,
            minimal.state
        ),
        ("generic", Severity::Medium, AlertState::Active)
    );
    for (label, want) in [
        ("urgent", Severity::Urgent),
        ("High", Severity::High),
        ("low", Severity::Low),
        ("info", Severity::Info),
        ("INFORMATIONAL", Severity::Info),
    ] {
        let a = one(
            "generic",
            &json!({"key": "k", "title": "t", "severity": label}),
        );
        assert_eq!(a.source_severity, want, "{label}");
    }
}
