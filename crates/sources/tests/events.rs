//! The audit-log decoders' mappings, asserted field by field: CloudTrail records (delivery
//! files, single records, EventBridge) and GCP audit LogEntries (bare and through Pub/Sub).
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use base64::Engine;
use common::{decode, events, fixture};
use irene_core::Event;
use serde_json::{json, Value};

const CT: &str = "aws.cloudtrail";
const GCP: &str = "gcp.audit";

/// The fields a mapping row pins; `raw` is checked separately.
#[derive(Debug, PartialEq)]
struct Row<'a> {
    name: &'a str,
    account: Option<&'a str>,
    region: Option<&'a str>,
    principal: Option<&'a str>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    observed_at: Option<&'a str>,
    source_id: Option<&'a str>,
}

/// Compares an event with a row; times are compared as RFC 3339 UTC with the digits they need.
fn check(e: &Event, source: &str, want: &Row, what: &str) {
    assert_eq!(e.source, source, "{what}");
    let observed = e
        .observed_at
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    let got = Row {
        name: &e.name,
        account: e.account.as_deref(),
        region: e.region.as_deref(),
        principal: e.actor.principal.as_deref(),
        ip: e.actor.ip.as_deref(),
        user_agent: e.actor.user_agent.as_deref(),
        observed_at: observed.as_deref(),
        source_id: e.source_id.as_deref(),
    };
    assert_eq!(&got, want, "{what}");
}

fn one(name: &str, item: &Value) -> Event {
    let mut d = decode(name, item).unwrap_or_else(|e| panic!("{name} {item}: {e}"));
    assert!(
        d.alerts.is_empty(),
        "{name}: audit logs give events, not alerts"
    );
    assert_eq!(d.events.len(), 1, "{name} {item}");
    d.events.remove(0)
}

// ---------- CloudTrail ----------

#[test]
fn cloudtrail_fixture_mappings() {
    // (file, event index in the file, expected)
    let table: Vec<(&str, usize, Row)> = vec![
        (
            "awsdocs_s3_delivery_iam_create_user.json",
            0,
            Row {
                name: "iam.amazonaws.com:CreateUser",
                account: Some("123456789012"), // no recipientAccountId in 1.0: the caller's
                region: Some("us-east-2"),
                principal: Some("arn:aws:iam::123456789012:user/Alice"),
                ip: Some("127.0.0.1"),
                user_agent: Some("aws-cli/1.3.2 Python/2.7.5 Windows/7"),
                observed_at: Some("2014-03-24T21:11:59Z"),
                source_id: None, // eventVersion 1.0 has no eventID
            },
        ),
        (
            "awsdocs_record_console_login_failure_iam_user.json",
            0,
            Row {
                name: "signin.amazonaws.com:ConsoleLogin",
                account: Some("111122223333"),
                region: Some("us-east-1"),
                principal: Some("anaya"), // an IAM user without an ARN: its user name
                ip: Some("192.0.2.0"),
                user_agent: Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/67.0.3396.99 Safari/537.36"),
                observed_at: Some("2022-11-10T16:24:34Z"),
                source_id: Some("d38ce1b3-4575-4cb8-a632-611b8243bfc3"),
            },
        ),
        (
            "awsdocs_record_console_login_root_success_no_mfa.json",
            0,
            Row {
                name: "signin.amazonaws.com:ConsoleLogin",
                account: Some("111122223333"),
                region: Some("us-east-1"),
                principal: Some("arn:aws:iam::111122223333:root"),
                ip: Some("192.0.2.0"),
                user_agent: Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.12; rv:62.0) Gecko/20100101 Firefox/62.0"),
                observed_at: Some("2022-11-10T16:24:34Z"),
                source_id: Some("deb1e1f9-c99b-4612-8e9f-21f93b5d79c0"),
            },
        ),
        (
            "awsdocs_s3_delivery_update_trail_error.json",
            0,
            Row {
                name: "cloudtrail.amazonaws.com:UpdateTrail",
                account: Some("123456789012"),
                region: Some("us-east-2"),
                principal: Some("arn:aws:iam::123456789012:user/Alice"),
                ip: Some("205.251.233.182"),
                user_agent: Some("aws-cli/1.10.32 Python/2.7.9 Windows/7 botocore/1.4.22"),
                observed_at: Some("2016-07-14T19:15:45Z"),
                source_id: Some("b7d4398e-b2f0-4faa-9c76-e2d316a8d67f"),
            },
        ),
        (
            "awsdocs_s3_delivery_insights_event.json",
            1,
            Row {
                name: "insight:ApiCallRateInsight:ssm.amazonaws.com:UpdateInstanceInformation",
                account: Some("123456789012"),
                region: Some("us-east-1"),
                principal: None,
                ip: None,
                user_agent: None,
                observed_at: Some("2019-11-14T00:52:00Z"),
                source_id: Some("EXAMPLEc-28be-486c-8928-49ce6EXAMPLE"),
            },
        ),
        (
            "panther_record_rds_modify_deletion_protection_disabled_from_tor_range_ip.json",
            0,
            Row {
                name: "rds.amazonaws.com:ModifyDBInstance",
                account: Some("123456789012"),
                region: Some("us-east-1"),
                principal: Some("arn:aws:sts::123456789012:assumed-role/CompromisedRole/attacker"),
                ip: Some("185.220.101.50"),
                user_agent: Some("python-requests/2.28.0"),
                observed_at: Some("2024-01-15T18:20:00Z"),
                source_id: Some("h3g4f5e6-d7c8-9012-3456-789012cdefgh"),
            },
        ),
        (
            "stratus_detonation_organizations_leave.json",
            1,
            Row {
                name: "organizations.amazonaws.com:LeaveOrganization",
                account: Some("307578594326"),
                region: Some("euiso-south-3r"),
                principal: Some("arn:aws:sts::307578594326:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1722587398902687000"),
                ip: Some("252.5.222.230"),
                user_agent: Some("stratus-red-team_fd969928-3c0d-4feb-bd56-34f9aee3e6eb"),
                observed_at: Some("2024-08-02T08:30:00Z"),
                source_id: Some("16903cbd-fdff-4818-82f2-d66ad09aaf57"),
            },
        ),
        (
            // The anonymized "08.1.250.216" is not an address (a leading zero): no actor IP.
            "stratus_detonation_cloudtrail_delete_trail.json",
            0,
            Row {
                name: "cloudtrail.amazonaws.com:DeleteTrail",
                account: Some("847129010505"),
                region: Some("megov-westwest-1r"),
                principal: Some("arn:aws:iam::847129010505:user/christophe"),
                ip: None,
                user_agent: Some("stratus-red-team_a007fa03-86e2-4130-be03-ee7b7b10edcc"),
                observed_at: Some("2024-07-31T12:46:41Z"),
                source_id: Some("ee73c230-44bc-4492-8542-cfb189eae287"),
            },
        ),
        (
            // A service acting: the service is the principal, and its name is not an IP.
            "invictus_s3_delivery_stop_logging_delete_flow_logs.json",
            23,
            Row {
                name: "sts.amazonaws.com:AssumeRole",
                account: Some("123837392027"),
                region: Some("us-east-1"),
                principal: Some("ec2.amazonaws.com"),
                ip: None,
                user_agent: Some("ec2.amazonaws.com"),
                observed_at: Some("2023-07-10T12:03:25Z"),
                source_id: Some("2e59bbc2-ff35-43a5-835a-ba9239af22b1"),
            },
        ),
        (
            // A user's call made through a service (invokedBy): the user is the principal.
            "invictus_s3_delivery_create_login_profile.json",
            0,
            Row {
                name: "health.amazonaws.com:DescribeEventAggregates",
                account: Some("123837392027"),
                region: Some("us-east-1"),
                principal: Some("arn:aws:iam::123837392027:user/bert-jan"),
                ip: None,
                user_agent: Some("AWS Internal"),
                observed_at: Some("2023-07-10T12:23:30Z"),
                source_id: Some("27c5df2d-9179-4690-bcc4-94bde49772cd"),
            },
        ),
        (
            "invictus_s3_delivery_excerpt_leave_org_delete_trail_put_bucket_policy.json",
            2,
            Row {
                name: "organizations.amazonaws.com:LeaveOrganization",
                account: Some("123837392027"),
                region: Some("us-east-1"),
                principal: Some("arn:aws:sts::123837392027:assumed-role/stratus-red-team-leave-org-role/aws-go-sdk-1688990515440126480"),
                ip: Some("192.168.10.20"),
                user_agent: Some("stratus-red-team_7d2a6913-ded3-49c6-a31c-0cdeebcc259c"),
                observed_at: Some("2023-07-10T12:02:05Z"),
                source_id: Some("be7f89b5-d456-4423-b3e6-0fb0b19bad7c"),
            },
        ),
    ];
    for (file, index, want) in table {
        let all = events("cloudtrail", file, CT);
        let e = all
            .get(index)
            .unwrap_or_else(|| panic!("{file}: no event {index}"));
        check(e, CT, &want, &format!("{file} #{index}"));
    }
}

#[test]
fn cloudtrail_every_record_of_every_file_is_one_event() {
    let table = [
        ("awsdocs_record_console_login_failure_iam_user.json", 1),
        ("awsdocs_record_console_login_failure_root.json", 1),
        ("awsdocs_record_console_login_root_success_no_mfa.json", 1),
        (
            "awsdocs_s3_delivery_ec2_start_instances_eventversion_1.0.json",
            1,
        ),
        ("awsdocs_s3_delivery_iam_create_user.json", 1),
        ("awsdocs_s3_delivery_insights_event.json", 2),
        ("awsdocs_s3_delivery_update_trail_error.json", 1),
        ("invictus_s3_delivery_console_login_success.json", 12),
        ("invictus_s3_delivery_create_login_profile.json", 17),
        (
            "invictus_s3_delivery_excerpt_leave_org_delete_trail_put_bucket_policy.json",
            3,
        ),
        (
            "invictus_s3_delivery_excerpt_sg_ingress_world_open_share_snapshot_ami.json",
            5,
        ),
        (
            "invictus_s3_delivery_iam_backdoor_create_access_key_put_bucket_policy.json",
            68,
        ),
        (
            "invictus_s3_delivery_stop_logging_delete_flow_logs.json",
            26,
        ),
        (
            "panther_record_rds_modify_deletion_protection_disabled_from_tor_range_ip.json",
            1,
        ),
        ("stratus_detonation_cloudtrail_delete_trail.json", 1),
        ("stratus_detonation_cloudtrail_put_event_selectors.json", 1),
        ("stratus_detonation_cloudtrail_stop_logging.json", 1),
        ("stratus_detonation_console_login_without_mfa.json", 1),
        (
            "stratus_detonation_iam_backdoor_user_create_access_key.json",
            1,
        ),
        ("stratus_detonation_iam_create_admin_user.json", 3),
        ("stratus_detonation_organizations_leave.json", 3),
        ("stratus_detonation_sg_open_port_22_ingress.json", 1),
        ("stratus_detonation_share_ebs_snapshot.json", 1),
        ("stratus_detonation_vpc_remove_flow_logs.json", 1),
    ];
    let files = common::files("cloudtrail");
    assert_eq!(
        files.len(),
        table.len(),
        "a fixture is missing from this table"
    );
    for (file, count) in table {
        let items = fixture("cloudtrail", file);
        // Each record, in order, is the raw of its event: the record as received.
        let records: Vec<Value> = items
            .iter()
            .flat_map(|i| match i.get("Records") {
                Some(Value::Array(list)) => list.clone(),
                _ => vec![i.clone()],
            })
            .collect();
        let got = events("cloudtrail", file, CT);
        assert_eq!(got.len(), count, "{file}");
        let raws: Vec<Value> = got.into_iter().map(|e| e.raw).collect();
        assert_eq!(raws, records, "{file}");
    }
}

/// A record with the given `userIdentity` (and an unusable source address).
fn ct_record(identity: Value) -> Value {
    json!({
        "eventVersion": "1.09", "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "eu-west-1",
        "sourceIPAddress": "AWS Internal", "userIdentity": identity,
        "eventID": "e-1", "recipientAccountId": "111122223333"
    })
}

#[test]
fn cloudtrail_principal_by_identity_type() {
    let table = [
        (
            json!({"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}),
            Some("arn:aws:iam::111122223333:root"),
        ),
        (
            json!({"type": "Root", "principalId": "111122223333", "accountId": "111122223333"}),
            Some("111122223333"),
        ),
        (
            json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "userName": "alice"}),
            Some("alice"),
        ),
        (
            json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:session",
                "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/r", "userName": "r"}}}),
            Some("AROAEXAMPLE:session"),
        ),
        (
            json!({"type": "AssumedRole", "sessionContext": {"sessionIssuer": {"arn": "arn:aws:iam::111122223333:role/r"}}}),
            Some("arn:aws:iam::111122223333:role/r"),
        ),
        (
            json!({"type": "FederatedUser", "principalId": "111122223333:bob", "arn": "arn:aws:sts::111122223333:federated-user/bob"}),
            Some("arn:aws:sts::111122223333:federated-user/bob"),
        ),
        (
            json!({"type": "AWSService", "invokedBy": "cloudformation.amazonaws.com"}),
            Some("cloudformation.amazonaws.com"),
        ),
        (
            json!({"type": "AWSAccount", "principalId": "AIDAEXAMPLE", "accountId": "444455556666"}),
            Some("AIDAEXAMPLE"),
        ),
        (
            json!({"type": "IdentityCenterUser", "accountId": "111122223333",
                "onBehalfOf": {"userId": "544894e8-80c1-707f-60e3-3ba6510dfac1", "identityStoreArn": "arn:aws:identitystore::111122223333:identitystore/d-1"}}),
            Some("544894e8-80c1-707f-60e3-3ba6510dfac1"),
        ),
        (
            json!({"type": "Unknown", "principalId": "", "userName": "HIDDEN_DUE_TO_SECURITY_REASONS"}),
            Some("HIDDEN_DUE_TO_SECURITY_REASONS"),
        ),
        (json!({}), None),
    ];
    for (identity, want) in table {
        let e = one(CT, &ct_record(identity.clone()));
        assert_eq!(e.actor.principal.as_deref(), want, "{identity}");
        assert_eq!(e.actor.ip, None, "\"AWS Internal\" is not an address");
    }
}

#[test]
fn cloudtrail_source_address_is_an_ip_only_when_it_is_one() {
    let table = [
        ("198.51.100.7", Some("198.51.100.7")),
        ("2001:db8::1", Some("2001:db8::1")),
        ("ec2.amazonaws.com", None),
        ("AWS Internal", None),
        ("", None),
    ];
    for (address, want) in table {
        let mut r = ct_record(json!({"type": "IAMUser", "userName": "alice"}));
        r["sourceIPAddress"] = json!(address);
        assert_eq!(one(CT, &r).actor.ip.as_deref(), want, "{address}");
    }
}

/// A record wrapped as EventBridge delivers it (AWS's documented envelope).
fn eventbridge(detail_type: &str, source: &str, detail: &Value) -> Value {
    json!({
        "version": "0", "id": "6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
        "detail-type": detail_type, "source": source, "account": "999988887777",
        "time": "2030-01-01T00:00:00Z", "region": "ap-south-1", "resources": [],
        "detail": detail
    })
}

#[test]
fn cloudtrail_through_eventbridge() {
    for (file, source, detail_type) in [
        (
            "stratus_detonation_cloudtrail_delete_trail.json",
            "aws.cloudtrail",
            "AWS API Call via CloudTrail",
        ),
        (
            "awsdocs_record_console_login_root_success_no_mfa.json",
            "aws.signin",
            "AWS Console Sign In via CloudTrail",
        ),
    ] {
        let record = fixture("cloudtrail", file).remove(0);
        let event = eventbridge(detail_type, source, &record);
        let wrapped = one(CT, &event);
        assert_eq!(wrapped, one(CT, &record), "{file}: the record decides");
        assert_eq!(
            wrapped.raw, record,
            "{file}: raw is the record, not the envelope"
        );
        assert_eq!(one("auto", &event), wrapped, "{file}");
    }
    // The envelope fills what the record lacks: account, region, time.
    let bare = json!({"eventVersion": "1.08", "eventSource": "kms.amazonaws.com",
        "eventName": "RotateKey", "eventType": "AwsServiceEvent",
        "userIdentity": {"type": "AWSService", "invokedBy": "kms.amazonaws.com", "accountId": "111122223333"}});
    let e = one(
        CT,
        &eventbridge("AWS Service Event via CloudTrail", "aws.kms", &bare),
    );
    assert_eq!(e.name, "kms.amazonaws.com:RotateKey");
    assert_eq!(e.account.as_deref(), Some("999988887777"));
    assert_eq!(e.region.as_deref(), Some("ap-south-1"));
    assert_eq!(
        e.observed_at.map(|t| t.to_rfc3339()).as_deref(),
        Some("2030-01-01T00:00:00+00:00")
    );
    assert_eq!(e.actor.principal.as_deref(), Some("kms.amazonaws.com"));
    // An Insight through EventBridge.
    let insight = fixture("cloudtrail", "awsdocs_s3_delivery_insights_event.json").remove(0)
        ["Records"][0]
        .clone();
    let e = one(
        CT,
        &eventbridge("AWS Insight via CloudTrail", "aws.cloudtrail", &insight),
    );
    assert_eq!(
        e.name,
        "insight:ApiCallRateInsight:ssm.amazonaws.com:UpdateInstanceInformation"
    );
    assert_eq!(e.account.as_deref(), Some("123456789012"));
}

#[test]
fn cloudtrail_one_bad_record_holds_the_file_back_whole() {
    let mut file = fixture(
        "cloudtrail",
        "invictus_s3_delivery_excerpt_leave_org_delete_trail_put_bucket_policy.json",
    )
    .remove(0);
    let good = decode(CT, &file).unwrap().events.len();
    assert_eq!(good, 3);
    file["Records"][1]
        .as_object_mut()
        .unwrap()
        .remove("eventName");
    let err = decode(CT, &file).unwrap_err();
    assert_eq!(err.path, "/Records/1/eventName");
    // Through auto too: the file is still recognized (by its first record) and refused whole.
    assert_eq!(decode("auto", &file).unwrap_err(), err);
}

// ---------- GCP audit logs ----------

#[test]
fn gcp_audit_fixture_mappings() {
    let table: Vec<(&str, Row)> = vec![
        (
            // No protoPayload @type in this export: recognized by its cloudaudit log name.
            "gcp_audit_bigquery_jobcompleted_data_access.json",
            Row {
                name: "jobservice.jobcompleted",
                account: Some("test-project"),
                region: None,
                principal: Some("robot@test-project.iam.gserviceaccount.com"),
                ip: Some("2620:15c:0:200:1a75:e914:115b:e970"),
                user_agent: Some("google-cloud-sdk357.0.0 (gzip),gzip(gfe)"),
                observed_at: Some("2021-11-25T21:56:00.276607Z"),
                source_id: Some("jpllvgecd7bx"),
            },
        ),
        (
            "gcp_audit_compute_subnetwork_patch_disable_flow_logs.json",
            Row {
                name: "v1.compute.subnetworks.patch",
                account: Some("1234"),
                region: Some("us-central1"),
                principal: Some("test-user@example.com"),
                ip: Some("203.0.113.255"),
                user_agent: Some("<redacted>"),
                observed_at: Some("2022-09-20T13:41:37.380381Z"),
                source_id: Some("1234567891234567891"),
            },
        ),
        (
            "gcp_audit_iam_create_service_account.json",
            Row {
                name: "google.iam.admin.v1.CreateServiceAccount",
                account: Some("1234"),
                region: None,
                principal: Some("test@example.com"),
                ip: Some("203.0.113.255"),
                user_agent: Some("<redacted>"),
                observed_at: Some("2022-05-03T01:46:26.287102061Z"),
                source_id: Some("2ihezydi73o"),
            },
        ),
        (
            "gcp_audit_iam_serviceaccount_setiampolicy_token_creator.json",
            Row {
                name: "google.iam.admin.v1.SetIAMPolicy",
                account: Some("my-project"),
                region: None,
                principal: Some("admin@example.com"),
                ip: Some("203.0.113.255"),
                user_agent: Some("<redacted>"),
                observed_at: Some("2022-05-02T21:52:50.425669508Z"),
                source_id: Some("ivg77odhkvt"),
            },
        ),
        (
            // Denied by VPC Service Controls: no authenticated principal at all.
            "gcp_audit_vpcsc_policy_denied_storage_get.json",
            Row {
                name: "google.storage.objects.get",
                account: Some("1234"),
                region: None,
                principal: None,
                ip: Some("203.0.113.255"),
                user_agent: None,
                observed_at: Some("2022-02-15T21:51:50.071173943Z"),
                source_id: Some("1lpqk13d1fdt"),
            },
        ),
        (
            // Workspace: no project; the organization of the log name.
            "gcp_audit_workspace_login_failure.json",
            Row {
                name: "google.login.LoginService.loginFailure",
                account: Some("organizations/123"),
                region: None,
                principal: Some("test-user@example.com"),
                ip: Some("203.0.113.255"),
                user_agent: None,
                observed_at: Some("2021-09-24T16:16:57.183212Z"),
                source_id: Some("-nahbepd4l1x"),
            },
        ),
        (
            "gcp_audit_pubsub_create_topic.json",
            Row {
                name: "google.pubsub.v1.Publisher.CreateTopic",
                account: Some("test-project"),
                region: None,
                principal: Some("robot@test-project.iam.gserviceaccount.com"),
                ip: Some("192.168.0.1"),
                user_agent: Some("google-cloud-sdk"),
                observed_at: Some("2020-06-30T16:14:47.593398572Z"),
                source_id: Some("9frck8cf9j"),
            },
        ),
    ];
    for (file, want) in table {
        let items = fixture("gcp-audit", file);
        assert_eq!(items.len(), 1, "{file}");
        let e = one(GCP, &items[0]);
        check(&e, GCP, &want, file);
        assert_eq!(e.raw, items[0], "{file}: raw is the entry as received");
    }
}

/// A minimal audit entry with the given labels, caller and authentication.
fn gcp_entry(labels: Value, caller_ip: &str, auth: Value, log_name: &str) -> Value {
    json!({
        "insertId": "i-1", "logName": log_name, "timestamp": "2024-05-01T10:00:00Z",
        "resource": {"type": "gce_instance", "labels": labels},
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "serviceName": "compute.googleapis.com", "methodName": "v1.compute.instances.insert",
            "authenticationInfo": auth,
            "requestMetadata": {"callerIp": caller_ip, "callerSuppliedUserAgent": "ua"}}
    })
}

#[test]
fn gcp_audit_account_region_actor_table() {
    const ACTIVITY: &str = "projects/log-project/logs/cloudaudit.googleapis.com%2Factivity";
    let email =
        json!({"principalEmail": "a@example.com", "principalSubject": "user:a@example.com"});
    let table = [
        // labels, callerIp, authenticationInfo, logName → account, region, principal, ip
        (
            json!({"project_id": "p1", "zone": "us-central1-a"}),
            "198.51.100.7",
            email.clone(),
            ACTIVITY,
            (
                Some("p1"),
                Some("us-central1"),
                Some("a@example.com"),
                Some("198.51.100.7"),
            ),
        ),
        (
            json!({"project_id": "p1", "location": "europe-west1"}),
            "private",
            json!({"principalSubject": "serviceAccount:sa@p1.iam.gserviceaccount.com"}),
            ACTIVITY,
            (
                Some("p1"),
                Some("europe-west1"),
                Some("serviceAccount:sa@p1.iam.gserviceaccount.com"),
                None,
            ),
        ),
        (
            json!({"region": "asia-east1"}),
            "gce-internal-ip",
            json!({"principalEmail": ""}),
            ACTIVITY,
            (Some("log-project"), Some("asia-east1"), None, None),
        ),
        (
            json!({}),
            "2001:db8::5",
            email.clone(),
            "folders/42/logs/cloudaudit.googleapis.com%2Factivity",
            (
                Some("folders/42"),
                None,
                Some("a@example.com"),
                Some("2001:db8::5"),
            ),
        ),
    ];
    for (labels, caller_ip, auth, log_name, want) in table {
        let item = gcp_entry(labels.clone(), caller_ip, auth, log_name);
        let e = one(GCP, &item);
        assert_eq!(
            (
                e.account.as_deref(),
                e.region.as_deref(),
                e.actor.principal.as_deref(),
                e.actor.ip.as_deref()
            ),
            want,
            "{labels} {caller_ip}"
        );
        assert_eq!(e.actor.user_agent.as_deref(), Some("ua"));
        assert_eq!(e.source_id.as_deref(), Some("i-1"));
        assert_eq!(e.name, "v1.compute.instances.insert");
    }
}

#[test]
fn gcp_audit_through_pubsub_push() {
    let entry = fixture(
        "gcp-audit",
        "gcp_audit_workspace_login_success_suspicious.json",
    )
    .remove(0);
    let bare = one(GCP, &entry);
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        let push = json!({
            "message": {
                "attributes": {"logging.googleapis.com/timestamp": "2022-02-15T20:27:03.029221Z"},
                "data": engine.encode(entry.to_string()),
                "messageId": "4012345678901234", "publishTime": "2022-02-15T21:46:31.1Z"
            },
            "subscription": "projects/p/subscriptions/audit-push"
        });
        let e = one(GCP, &push);
        assert_eq!(e, bare);
        assert_eq!(e.raw, entry);
        assert_eq!(one("auto", &push), bare);
    }
    assert_eq!(bare.name, "google.login.LoginService.loginSuccess");
    assert_eq!(bare.account.as_deref(), Some("organizations/123"));
    assert_eq!(bare.actor.principal.as_deref(), Some("test@example.com"));
}
