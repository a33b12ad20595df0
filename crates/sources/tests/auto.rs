//! `auto` must pick, for every fixture item, exactly the decoder named for the fixture (audit
//! logs included, bare or in their transport envelopes), and must leave look-alike payloads of
//! other sources (S3 notifications, other EventBridge events, non-audit log entries) alone.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use base64::Engine;
use common::{decode, files, items, DIRS};
use irene_sources::{decoder, names};
use serde_json::json;

fn recognizers(item: &serde_json::Value) -> Vec<&'static str> {
    names()
        .into_iter()
        .filter(|n| *n != "auto")
        .filter(|n| decoder(n).unwrap().recognizes(item))
        .collect()
}

#[test]
fn auto_gives_the_named_decoders_result_for_every_fixture() {
    let mut checked = 0;
    for (dir, name) in DIRS {
        for path in files(dir) {
            for (i, item) in items(&path).iter().enumerate() {
                let what = format!("{} item {i}", path.display());
                assert_eq!(decode("auto", item), decode(name, item), "{what}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 50, "only {checked} items checked");
}

#[test]
fn exactly_one_decoder_recognizes_each_fixture_item() {
    for (dir, name) in DIRS {
        for path in files(dir) {
            for (i, item) in items(&path).iter().enumerate() {
                assert_eq!(
                    recognizers(item),
                    vec![*name],
                    "{} item {i}",
                    path.display()
                );
            }
        }
    }
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::STANDARD.encode(v.to_string())
}

/// Payloads that look like the audit logs (same wrappers, same field names) but are not.
fn look_alikes() -> Vec<(&'static str, serde_json::Value)> {
    let s3_notification = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2024-05-01T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "b"}, "object": {"key": "k"}}
    }]});
    let request_log = json!({
        "insertId": "r1", "logName": "projects/p/logs/appengine.googleapis.com%2Frequest_log",
        "protoPayload": {"@type": "type.googleapis.com/google.appengine.logging.v1.RequestLog",
            "method": "GET", "resource": "/", "ip": "203.0.113.9"},
        "timestamp": "2024-05-01T10:00:00Z"
    });
    vec![
        ("S3 event notification", s3_notification.clone()),
        (
            "S3 event notification, bare record",
            s3_notification["Records"][0].clone(),
        ),
        (
            "SQS messages",
            json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:111122223333:q", "body": "{}"}]}),
        ),
        ("an empty delivery file", json!({"Records": []})),
        (
            "CloudTrail's SNS notice of a delivery",
            json!({"s3Bucket": "b",
            "s3ObjectKey": ["AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/x.json.gz"]}),
        ),
        (
            "a CloudTrail digest file",
            json!({"awsAccountId": "111122223333",
            "digestStartTime": "2024-05-01T10:00:00Z", "digestEndTime": "2024-05-01T11:00:00Z",
            "digestS3Bucket": "b", "digestSignatureAlgorithm": "SHA256withRSA", "logFiles": []}),
        ),
        (
            "another EventBridge event",
            json!({"version": "0", "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification", "account": "111122223333",
            "detail": {"instance-id": "i-1", "state": "running"}}),
        ),
        (
            "a custom event borrowing CloudTrail's detail-type",
            json!({"source": "myapp",
            "detail-type": "AWS API Call via CloudTrail", "detail": {"eventName": "x"}}),
        ),
        ("a request log entry", request_log.clone()),
        (
            "a jsonPayload entry from an audit log sink",
            json!({"insertId": "j",
            "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity",
            "jsonPayload": {"methodName": "x"}}),
        ),
        (
            "a request log entry through Pub/Sub",
            json!({"message": {"data": b64(&request_log),
            "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}),
        ),
    ]
}

#[test]
fn auto_leaves_look_alikes_alone() {
    for (what, item) in look_alikes() {
        assert_eq!(recognizers(&item), Vec::<&str>::new(), "{what}");
        let err = decode("auto", &item).expect_err(what);
        assert_eq!(err.path, "", "{what}");
        assert!(
            err.message
                .starts_with("no decoder recognizes this payload"),
            "{what}: {err}"
        );
    }
}

#[test]
fn the_named_audit_decoders_refuse_look_alikes() {
    let want: &[(&str, &str, &str)] = &[
        (
            "S3 event notification",
            "aws.cloudtrail",
            "/Records/0/eventSource",
        ),
        (
            "S3 event notification, bare record",
            "aws.cloudtrail",
            "/eventSource",
        ),
        ("SQS messages", "aws.cloudtrail", "/Records/0/eventName"),
        (
            "another EventBridge event",
            "aws.cloudtrail",
            "/detail-type",
        ),
        ("a request log entry", "gcp.audit", "/protoPayload/@type"),
        (
            "a jsonPayload entry from an audit log sink",
            "gcp.audit",
            "/protoPayload",
        ),
        (
            "a request log entry through Pub/Sub",
            "gcp.audit",
            "/message/data/protoPayload/@type",
        ),
    ];
    let all = look_alikes();
    for (what, name, path) in want {
        let item = &all.iter().find(|(w, _)| w == what).unwrap().1;
        let err = decode(name, item).expect_err(what);
        assert_eq!(err.path, *path, "{what}: {err}");
    }
    // An empty delivery file holds nothing to lose: named, it decodes to no events.
    let empty = &all
        .iter()
        .find(|(w, _)| *w == "an empty delivery file")
        .unwrap()
        .1;
    assert_eq!(
        decode("aws.cloudtrail", empty).map(|d| d.events.len()),
        Ok(0)
    );
}

#[test]
fn pubsub_envelopes_of_audit_logs_go_to_gcp_audit() {
    let mut checked = 0;
    for path in files("gcp-audit") {
        for item in items(&path) {
            let push = json!({"message": {"data": b64(&item), "messageId": "1",
                "publishTime": "2024-05-01T10:00:00Z"},
                "subscription": "projects/p/subscriptions/s"});
            assert_eq!(recognizers(&push), vec!["gcp.audit"], "{}", path.display());
            let via_auto = decode("auto", &push).unwrap();
            assert_eq!(
                via_auto,
                decode("gcp.audit", &item).unwrap(),
                "{}",
                path.display()
            );
            assert_eq!(
                via_auto.events[0].raw, item,
                "raw is the entry, not the envelope"
            );
            checked += 1;
        }
    }
    assert!(checked >= 9, "{checked}");
    // Data that is not JSON at all is claimed by SCC, so that the sender learns what is wrong.
    let text = json!({"message": {"data": "dGVzdA=="}});
    assert_eq!(recognizers(&text), vec!["gcp.scc"]);
}

#[test]
fn eventbridge_cloudtrail_events_go_to_cloudtrail_only() {
    let record = json!({"eventVersion": "1.08", "eventSource": "guardduty.amazonaws.com",
        "eventName": "DeleteDetector", "eventTime": "2024-05-01T10:00:00Z"});
    for (source, detail_type) in [
        ("aws.guardduty", "AWS API Call via CloudTrail"),
        ("aws.securityhub", "AWS API Call via CloudTrail"),
        ("aws.config", "AWS API Call via CloudTrail"),
        ("aws.signin", "AWS Console Sign In via CloudTrail"),
        ("aws.signin", "AWS Console Signin via CloudTrail"),
        ("aws.s3", "AWS Console Action via CloudTrail"),
        ("aws.kms", "AWS Service Event via CloudTrail"),
        ("aws.cloudtrail", "AWS Insight via CloudTrail"),
    ] {
        let event = json!({"version": "0", "id": "e", "source": source,
            "detail-type": detail_type, "account": "111122223333", "region": "us-east-1",
            "time": "2024-05-01T10:00:01Z", "resources": [], "detail": record});
        assert_eq!(
            recognizers(&event),
            vec!["aws.cloudtrail"],
            "{source} {detail_type}"
        );
    }
}

#[test]
fn auto_error_names_the_keys_it_saw() {
    let table = [
        (
            json!({"zeta": 1, "alpha": {"key": "k"}}),
            "at the top level: no decoder recognizes this payload (top-level keys: \"alpha\", \"zeta\"); name the source in the URL instead of auto",
        ),
        (
            json!({}),
            "at the top level: no decoder recognizes this payload (no keys); name the source in the URL instead of auto",
        ),
        (
            json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3"}]}),
            "at the top level: no decoder recognizes this payload (top-level keys: \"Records\"); name the source in the URL instead of auto",
        ),
        // A delivery file is recognized by its first record: then the decoder says what is wrong.
        (
            json!({"Records": [{"eventVersion": "1.08", "eventSource": "iam.amazonaws.com"}]}),
            "at /Records/0/eventName: missing required field (expected a non-empty string)",
        ),
        (
            json!(["not", "an", "object"]),
            "at the top level: no decoder recognizes this payload: expected an object, found an array",
        ),
    ];
    for (item, want) in table {
        assert_eq!(
            decode("auto", &item).map(|_| ()).unwrap_err().to_string(),
            want
        );
    }
    let many: serde_json::Map<String, serde_json::Value> =
        (0..25).map(|i| (format!("k{i:02}"), json!(i))).collect();
    let err = decode("auto", &serde_json::Value::Object(many)).unwrap_err();
    assert!(err.message.contains("\"k19\", … 5 more"), "{err}");
}

#[test]
fn registry_names() {
    assert_eq!(
        names(),
        vec![
            "aws.guardduty",
            "aws.securityhub",
            "gcp.scc",
            "aws.config",
            "aws.cloudtrail",
            "gcp.audit",
            "prowler",
            "falco",
            "generic",
            "irene.tamper",
            "auto"
        ]
    );
    for name in names() {
        assert_eq!(decoder(name).map(|d| d.name()), Some(name));
    }
    assert!(decoder("aws.nope").is_none());
    assert!(decoder("").is_none());
    assert!(decoder("AUTO").is_none());
}
