//! Bad input gets a clear error with a position or a JSON pointer, and never a panic.
//! Covers body splitting (encoding, depth, syntax, shapes) and every decoder's type checks.
// Tests may unwrap, expect and read fixture files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use common::{files, items, DIRS};
use irene_sources::{decoder, names, split_payload, Limits, PayloadError};
use serde_json::{json, Value};

fn split(body: &[u8]) -> Result<Vec<Value>, PayloadError> {
    split_payload(body, &Limits::default())
}

fn nested_objects(depth: usize) -> String {
    format!(
        "{}{{}}{}",
        "{\"a\":".repeat(depth - 1),
        "}".repeat(depth - 1)
    )
}

#[test]
fn split_payload_accepts_the_usual_shapes() {
    let table: Vec<(Vec<u8>, usize)> = vec![
        (br#"{"a":1}"#.to_vec(), 1),
        (br#"  [{"a":1},{"b":2}] "#.to_vec(), 2),
        (b"\xEF\xBB\xBF{\"a\":1}".to_vec(), 1),
        (b"{\"a\":1}\n{\"b\":2}\n".to_vec(), 2),
        (
            b"{\"a\":1}\r\n[{\"b\":2},{\"c\":3}]\r\n{\"d\":4}".to_vec(),
            4,
        ),
        (br#"{"a":1}{"b":2}"#.to_vec(), 2),
        (b"[]".to_vec(), 0),
        (br#"{"Records":[{"x":1},{"y":2}]}"#.to_vec(), 1),
        (nested_objects(64).into_bytes(), 1),
        (
            format!("{{\"s\":\"{}\"}}", "[{".repeat(10_000)).into_bytes(),
            1,
        ),
        (
            br#"{"s":"\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\"}"#
                .to_vec(),
            1,
        ),
    ];
    for (body, want) in table {
        let got = split(&body).map(|items| items.len());
        assert_eq!(got, Ok(want), "{}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn split_payload_errors() {
    let deep = "[".repeat(100_000);
    let deep_after_line = format!("{{\"a\":1}}\n  {}", "{\"a\":".repeat(70));
    let table: Vec<(Vec<u8>, PayloadError, &str)> = vec![
        (b"".to_vec(), PayloadError::Empty, "empty"),
        (b" \n\t ".to_vec(), PayloadError::Empty, "empty"),
        (b"\xEF\xBB\xBF".to_vec(), PayloadError::Empty, "empty"),
        (
            b"{\"a\":\"\xff\"}".to_vec(),
            PayloadError::InvalidUtf8 { offset: 6 },
            "invalid_utf8",
        ),
        (
            b"\xEF\xBB\xBF{\"a\":\"\xc3\"}".to_vec(),
            PayloadError::InvalidUtf8 { offset: 9 },
            "invalid_utf8",
        ),
        (
            deep.clone().into_bytes(),
            PayloadError::TooDeep {
                max: 64,
                line: 1,
                column: 65,
            },
            "too_deep",
        ),
        (
            nested_objects(65).into_bytes(),
            PayloadError::TooDeep {
                max: 64,
                line: 1,
                column: 321,
            },
            "too_deep",
        ),
        (
            deep_after_line.into_bytes(),
            PayloadError::TooDeep {
                max: 64,
                line: 2,
                column: 3 + 5 * 64,
            },
            "too_deep",
        ),
        (
            br#"{"a":1,}"#.to_vec(),
            PayloadError::Syntax {
                line: 1,
                column: 8,
                message: "trailing comma".into(),
            },
            "invalid_json",
        ),
        (
            b"{\"a\":1}\n{\"b\" 2}\n{\"c\":3}".to_vec(),
            PayloadError::Syntax {
                line: 2,
                column: 6,
                message: "expected `:`".into(),
            },
            "invalid_json",
        ),
        (
            b"{\"a\":1}\n{\"b\":".to_vec(),
            PayloadError::Syntax {
                line: 2,
                column: 5,
                message: "EOF while parsing a value".into(),
            },
            "invalid_json",
        ),
        (
            b"\xEF\xBB\xBF{\"a\" 1}".to_vec(),
            PayloadError::Syntax {
                line: 1,
                column: 9,
                message: "expected `:`".into(),
            },
            "invalid_json",
        ),
        (
            b"42".to_vec(),
            PayloadError::NotObjectOrArray {
                line: 1,
                column: 1,
                found: "a number",
            },
            "not_object",
        ),
        (
            b"  \"text\"".to_vec(),
            PayloadError::NotObjectOrArray {
                line: 1,
                column: 3,
                found: "a string",
            },
            "not_object",
        ),
        (
            b"null".to_vec(),
            PayloadError::NotObjectOrArray {
                line: 1,
                column: 1,
                found: "null",
            },
            "not_object",
        ),
        (
            br#"[{"a":"],["}, "x"]"#.to_vec(),
            PayloadError::NotObjectOrArray {
                line: 1,
                column: 15,
                found: "a string",
            },
            "not_object",
        ),
        (
            b"[\n  {\"a\": [1, 2]},\n  [3]\n]".to_vec(),
            PayloadError::NotObjectOrArray {
                line: 3,
                column: 3,
                found: "an array",
            },
            "not_object",
        ),
        (
            b"{\"a\":1}\n   true\n".to_vec(),
            PayloadError::NotObjectOrArray {
                line: 2,
                column: 4,
                found: "a boolean",
            },
            "not_object",
        ),
    ];
    for (body, want, code) in table {
        let got = split(&body).map(|i| i.len());
        let shown = String::from_utf8_lossy(&body)
            .chars()
            .take(60)
            .collect::<String>();
        assert_eq!(got, Err(want), "{shown}");
        assert_eq!(got.unwrap_err().code(), code, "{shown}");
    }
    // A generous limit is a limit too.
    let limits = Limits { max_depth: 3 };
    assert!(matches!(
        split_payload(br#"{"a":{"b":{"c":{}}}}"#, &limits),
        Err(PayloadError::TooDeep {
            max: 3,
            line: 1,
            column: 16
        })
    ));
    assert_eq!(
        PayloadError::TooDeep {
            max: 64,
            line: 1,
            column: 65
        }
        .to_string(),
        "JSON nested deeper than 64 levels at line 1 column 65"
    );
}

/// (decoder, item, expected path, expected message)
fn decoder_error_table() -> Vec<(&'static str, Value, &'static str, &'static str)> {
    let eb_gd = |detail: Value| json!({"version": "0", "source": "aws.guardduty", "detail-type": "GuardDuty Finding", "detail": detail});
    let gd = json!({"schemaVersion": "2.0", "id": "a", "type": "T", "service": {}});
    let with = |base: &Value, key: &str, v: Value| {
        let mut b = base.clone();
        b[key] = v;
        b
    };
    let asff = json!({"SchemaVersion": "2018-10-08", "Id": "f", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub", "Severity": {"Label": "HIGH"}});
    let eb_sh = |detail: Value| json!({"source": "aws.securityhub", "detail-type": "Security Hub Findings - Imported", "detail": detail});
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(v.to_string())
    };
    let scc = json!({"finding": {"name": "organizations/1/sources/2/findings/3", "state": "ACTIVE", "category": "C"}});
    let cfg = |result: Value| json!({"source": "aws.config", "detail-type": "Config Rules Compliance Change", "detail": {"configRuleName": "r", "newEvaluationResult": result}});
    let ocsf = json!({"metadata": {"event_code": "c", "product": {"name": "Prowler"}}, "finding_info": {"uid": "u", "title": "t"}, "severity": "Low", "status_code": "FAIL"});
    let falco = json!({"rule": "R", "priority": "Notice", "output": "o"});
    let generic = json!({"key": "k", "title": "t"});
    let rec = json!({"eventVersion": "1.09", "eventTime": "2024-05-01T10:00:00Z", "eventSource": "iam.amazonaws.com", "eventName": "CreateUser", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/a"}});
    let without = |base: &Value, key: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(key);
        b
    };
    let eb_ct = |detail: Value| json!({"version": "0", "source": "aws.iam", "detail-type": "AWS API Call via CloudTrail", "detail": detail});
    let insight = json!({"eventVersion": "1.07", "eventTime": "2024-05-01T10:00:00Z", "eventType": "AwsCloudTrailInsight", "eventCategory": "Insight"});
    let entry = json!({"insertId": "i", "logName": "projects/p/logs/cloudaudit.googleapis.com%2Factivity", "timestamp": "2024-05-01T10:00:00Z", "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "methodName": "m"}});
    let proto = |key: &str, v: Value| {
        let mut b = entry.clone();
        b["protoPayload"][key] = v;
        b
    };
    vec![
        ("aws.cloudtrail", json!({"Records": [rec.clone(), "text"]}), "/Records/1", "expected an object (a CloudTrail record), found a string"),
        ("aws.cloudtrail", json!({"Records": [rec.clone(), without(&rec, "eventName")]}), "/Records/1/eventName", "missing required field (expected a non-empty string)"),
        ("aws.cloudtrail", json!({"Records": [without(&rec, "eventSource")]}), "/Records/0/eventSource", "missing required field (expected a non-empty string)"),
        ("aws.cloudtrail", json!({"Records": {"0": rec.clone()}}), "/Records", "expected an array, found an object"),
        ("aws.cloudtrail", with(&rec, "eventName", json!(5)), "/eventName", "expected a non-empty string, found a number"),
        ("aws.cloudtrail", with(&rec, "eventSource", json!("aws:s3")), "/eventSource", "\"aws:s3\" is the source of an S3/SQS/SNS event notification, not a CloudTrail record"),
        ("aws.cloudtrail", with(&rec, "userIdentity", json!("alice")), "/userIdentity", "expected an object, found a string"),
        ("aws.cloudtrail", with(&rec, "userIdentity", json!({"arn": 5})), "/userIdentity/arn", "expected a string, found a number"),
        ("aws.cloudtrail", with(&rec, "eventTime", json!("yesterday")), "/eventTime", "expected a timestamp such as 2024-05-01T10:00:00Z, found \"yesterday\""),
        ("aws.cloudtrail", with(&rec, "eventTime", json!({})), "/eventTime", "expected a timestamp, found an object"),
        ("aws.cloudtrail", with(&rec, "sourceIPAddress", json!(["1.2.3.4"])), "/sourceIPAddress", "expected a string, found an array"),
        ("aws.cloudtrail", with(&rec, "recipientAccountId", json!(111122223333_u64)), "/recipientAccountId", "expected a string, found a number"),
        ("aws.cloudtrail", json!({"Records": [insight.clone()]}), "/Records/0/insightDetails", "missing required field (an Insights record has an insightDetails object)"),
        ("aws.cloudtrail", with(&insight, "insightDetails", json!({"eventSource": "ssm.amazonaws.com"})), "/insightDetails/eventName", "missing required field (expected a non-empty string)"),
        ("aws.cloudtrail", eb_ct(json!("text")), "/detail", "expected an object, found a string"),
        ("aws.cloudtrail", eb_ct(without(&rec, "eventName")), "/detail/eventName", "missing required field (expected a non-empty string)"),
        ("aws.cloudtrail", with(&eb_ct(rec.clone()), "detail-type", json!("GuardDuty Finding")), "/detail-type", "expected \"AWS API Call via CloudTrail\" or \"AWS Console Sign In via CloudTrail\" or \"AWS Console Signin via CloudTrail\" or \"AWS Console Action via CloudTrail\" or \"AWS Service Event via CloudTrail\" or \"AWS Insight via CloudTrail\", found \"GuardDuty Finding\""),
        ("aws.cloudtrail", json!([rec.clone()]), "", "expected an object, found an array"),
        ("gcp.audit", without(&entry, "protoPayload"), "/protoPayload", "missing required field (expected a LogEntry with a Cloud Audit Logs protoPayload)"),
        ("gcp.audit", with(&without(&entry, "protoPayload"), "textPayload", json!("hello")), "/protoPayload", "missing required field (expected a Cloud Audit Logs protoPayload; this LogEntry has textPayload)"),
        ("gcp.audit", with(&entry, "protoPayload", json!("x")), "/protoPayload", "expected an object, found a string"),
        ("gcp.audit", proto("@type", json!("type.googleapis.com/google.appengine.logging.v1.RequestLog")), "/protoPayload/@type", "expected \"type.googleapis.com/google.cloud.audit.AuditLog\" (a Cloud Audit Logs entry), found \"type.googleapis.com/google.appengine.logging.v1.RequestLog\""),
        ("gcp.audit", proto("@type", json!(7)), "/protoPayload/@type", "expected a non-empty string, found a number"),
        ("gcp.audit", proto("methodName", Value::Null), "/protoPayload/methodName", "missing required field (expected a non-empty string)"),
        ("gcp.audit", proto("methodName", json!(3)), "/protoPayload/methodName", "expected a non-empty string, found a number"),
        ("gcp.audit", proto("authenticationInfo", json!({"principalEmail": 3})), "/protoPayload/authenticationInfo/principalEmail", "expected a string, found a number"),
        ("gcp.audit", proto("requestMetadata", json!([])), "/protoPayload/requestMetadata", "expected an object, found an array"),
        ("gcp.audit", with(&entry, "resource", json!({"labels": "x"})), "/resource/labels", "expected an object, found a string"),
        ("gcp.audit", with(&entry, "insertId", json!(12)), "/insertId", "expected a string, found a number"),
        ("gcp.audit", with(&entry, "timestamp", json!(true)), "/timestamp", "expected a timestamp, found a boolean"),
        ("gcp.audit", json!({"message": {"data": b64(&json!([1]))}}), "/message/data", "the message data is an array, expected a Cloud Audit Logs LogEntry object"),
        ("gcp.audit", json!({"message": {"data": b64(&without(&entry, "protoPayload"))}}), "/message/data/protoPayload", "missing required field (expected a LogEntry with a Cloud Audit Logs protoPayload)"),
        ("gcp.audit", json!({"message": {"messageId": "1"}}), "/message/data", "missing required field (expected base64)"),
        ("gcp.audit", json!({"message": {"data": "%%%"}}), "/message/data", "not valid base64: Invalid symbol 37, offset 0."),
        ("gcp.audit", json!("entry"), "", "expected an object, found a string"),
        ("aws.guardduty", with(&gd, "severity", json!("x")), "/severity", "expected a number, found a string"),
        ("aws.guardduty", with(&gd, "severity", json!([8])), "/severity", "expected a number, found an array"),
        ("aws.guardduty", eb_gd(json!("text")), "/detail", "expected an object, found a string"),
        ("aws.guardduty", eb_gd(with(&gd, "severity", json!("x"))), "/detail/severity", "expected a number, found a string"),
        ("aws.guardduty", eb_gd(with(&gd, "id", Value::Null)), "/detail/id", "missing required field (expected a non-empty string)"),
        ("aws.guardduty", eb_gd(with(&gd, "id", json!(5))), "/detail/id", "expected a non-empty string, found a number"),
        ("aws.guardduty", eb_gd(with(&gd, "type", json!(""))), "/detail/type", "expected a non-empty string, found an empty string"),
        ("aws.guardduty", with(&eb_gd(gd.clone()), "detail-type", json!("GuardDuty Malware Scan")), "/detail-type", "expected \"GuardDuty Finding\", found \"GuardDuty Malware Scan\""),
        ("aws.guardduty", json!({"Findings": {}}), "/Findings", "expected an array, found an object"),
        ("aws.guardduty", json!({"Findings": [gd.clone(), 1]}), "/Findings/1", "expected an object, found a number"),
        ("aws.guardduty", json!({"Findings": [{"Id": "x"}]}), "/Findings/0/type", "missing required field (expected a non-empty string)"),
        ("aws.guardduty", json!([1]), "", "expected an object, found an array"),
        ("aws.guardduty", with(&gd, "title", json!(3)), "/title", "expected a string, found a number"),
        ("aws.securityhub", eb_sh(json!({"findings": "x"})), "/detail/findings", "expected an array, found a string"),
        ("aws.securityhub", eb_sh(json!({})), "/detail/findings", "missing required field (expected an array of findings)"),
        ("aws.securityhub", eb_sh(json!({"findings": [asff.clone(), with(&asff, "Id", json!(1))]})), "/detail/findings/1/Id", "expected a non-empty string, found a number"),
        ("aws.securityhub", json!({"Findings": "x"}), "/Findings", "expected an array, found a string"),
        ("aws.securityhub", with(&asff, "Severity", json!("HIGH")), "/Severity", "expected an object, found a string"),
        ("aws.securityhub", with(&asff, "Severity", json!({"Label": 5})), "/Severity/Label", "expected a string, found a number"),
        ("aws.securityhub", with(&asff, "Severity", json!({"Label": "BOGUS"})), "/Severity/Label", "expected one of CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, found \"BOGUS\""),
        ("aws.securityhub", with(&asff, "Severity", json!({"Normalized": "lots"})), "/Severity/Normalized", "expected a number, found a string"),
        ("aws.securityhub", with(&asff, "Resources", json!({"Id": "r"})), "/Resources", "expected an array, found an object"),
        ("aws.securityhub", with(&asff, "Id", Value::Null), "/Id", "missing required field (expected a non-empty string)"),
        ("gcp.scc", json!({"message": {"data": "%%% not base64 %%%"}}), "/message/data", "not valid base64: Invalid symbol 37, offset 0."),
        ("gcp.scc", json!({"message": {"data": 12}}), "/message/data", "expected a base64 string, found a number"),
        ("gcp.scc", json!({"message": {"messageId": "1"}}), "/message/data", "missing required field (expected base64)"),
        ("gcp.scc", json!({"message": "hello"}), "/message", "expected an object, found a string"),
        ("gcp.scc", json!({"message": {"data": b64(&json!([1]))}}), "/message/data", "the message data is an array, expected a Security Command Center notification object"),
        ("gcp.scc", json!({"message": {"data": b64(&json!({"finding": {"name": 7}}))}}), "/message/data/finding/name", "expected a non-empty string, found a number"),
        ("gcp.scc", json!({"finding": "x"}), "/finding", "expected an object, found a string"),
        ("gcp.scc", json!({"finding": {"state": "ACTIVE"}}), "/finding/name", "missing required field (expected a non-empty string)"),
        ("gcp.scc", json!({"finding": {"name": "n", "severity": "BAD"}}), "/finding/severity", "expected one of CRITICAL, HIGH, MEDIUM, LOW, SEVERITY_UNSPECIFIED, found \"BAD\""),
        ("gcp.scc", json!({"finding": {"name": "n", "severity": 3}}), "/finding/severity", "expected a string, found a number"),
        ("gcp.scc", with(&scc, "resource", json!([])), "/resource", "expected an object, found an array"),
        ("gcp.scc", json!({"protoPayload": {}}), "", "expected a Security Command Center notification (an object with \"finding\") or a finding"),
        ("aws.config", cfg(json!({"complianceType": "MAYBE"})), "/detail/newEvaluationResult/complianceType", "expected one of COMPLIANT, NON_COMPLIANT, NOT_APPLICABLE, INSUFFICIENT_DATA, found \"MAYBE\""),
        ("aws.config", cfg(json!({"complianceType": 1})), "/detail/newEvaluationResult/complianceType", "expected a non-empty string, found a number"),
        ("aws.config", cfg(json!("COMPLIANT")), "/detail/newEvaluationResult", "expected an object, found a string"),
        ("aws.config", json!({"source": "aws.config", "detail-type": "Config Rules Compliance Change", "detail": {"newEvaluationResult": {}}}), "/detail/configRuleName", "missing required field (expected a non-empty string)"),
        ("aws.config", json!({"Type": "Notification", "Message": "{not json"}), "/Message", "the message is not JSON: key must be a string at line 1 column 2"),
        ("aws.config", json!({"Type": "Notification", "Message": "[1]"}), "/Message", "expected a JSON object in the message, found an array"),
        ("aws.config", json!({"Type": "Notification", "Message": 5}), "/Message", "expected an object or a string holding JSON, found a number"),
        ("aws.config", json!({"Type": "Notification", "Message": {"configRuleName": "r"}}), "/Message/newEvaluationResult", "missing required field (expected an object with complianceType)"),
        ("prowler", with(&ocsf, "finding_info", json!({"title": "t"})), "/finding_info/uid", "missing required field (expected a non-empty string)"),
        ("prowler", with(&ocsf, "finding_info", json!("x")), "/finding_info", "expected an object, found a string"),
        ("prowler", with(&ocsf, "severity", json!("Apocalyptic")), "/severity", "expected one of Critical, High, Medium, Low, Informational, found \"Apocalyptic\""),
        ("prowler", with(&ocsf, "resources", json!("x")), "/resources", "expected an array, found a string"),
        ("prowler", with(&ocsf, "status_code", json!(false)), "/status_code", "expected a string, found a boolean"),
        ("prowler", json!({"SchemaVersion": "2018-10-08", "ProductArn": "arn:aws:securityhub:eu-west-1::product/prowler/prowler"}), "/Id", "missing required field (expected a non-empty string)"),
        ("prowler", json!({"hello": "world"}), "", "expected a Prowler JSON-OCSF finding (with finding_info) or a JSON-ASFF finding"),
        ("falco", with(&falco, "priority", json!("Loud")), "/priority", "expected one of Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug, found \"Loud\""),
        ("falco", with(&falco, "rule", Value::Null), "/rule", "missing required field (expected a non-empty string)"),
        ("falco", with(&falco, "output_fields", json!("x")), "/output_fields", "expected an object, found a string"),
        ("falco", with(&falco, "output", json!(5)), "/output", "expected a string, found a number"),
        ("generic", with(&generic, "severity", json!("bogus")), "/severity", "expected one of urgent, high, medium, low, info, found \"bogus\""),
        ("generic", with(&generic, "severity", json!(3)), "/severity", "expected one of urgent, high, medium, low, info, found a number"),
        ("generic", json!({"title": "t"}), "/key", "missing required field (expected a non-empty string)"),
        ("generic", with(&generic, "title", json!(5)), "/title", "expected a non-empty string, found a number"),
        ("generic", with(&generic, "state", json!("open")), "/state", "expected active or resolved, found \"open\""),
        ("generic", with(&generic, "resource", json!({"tags": {"env": 5}})), "/resource/tags/env", "expected a string, found a number"),
        ("generic", with(&generic, "resource", json!("vm-1")), "/resource", "expected an object, found a string"),
        ("generic", with(&generic, "indicators", json!("1.2.3.4")), "/indicators", "expected an array, found a string"),
        ("generic", with(&generic, "indicators", json!(["1.2.3.4", "???"])), "/indicators/1", "cannot tell whether \"???\" is an IP, URL, hash, e-mail address or domain; give {\"kind\", \"value\"}"),
        ("generic", with(&generic, "indicators", json!([{"kind": "ipx", "value": "x"}])), "/indicators/0/kind", "expected one of ip, domain, url, hash, email, found \"ipx\""),
        ("generic", with(&generic, "indicators", json!([{"kind": "ip", "value": "nope"}])), "/indicators/0", "expected an IP address, found \"nope\""),
        ("generic", with(&generic, "indicators", json!([{"value": "x"}])), "/indicators/0/kind", "missing required field (expected one of ip, domain, url, hash, email)"),
        ("generic", with(&generic, "observed_at", json!("yesterday")), "/observed_at", "expected an RFC 3339 timestamp such as 2024-05-01T10:00:00Z, found \"yesterday\""),
        ("generic", with(&generic, "observed_at", json!(1700000000)), "/observed_at", "expected an RFC 3339 timestamp string, found a number"),
        ("generic", with(&generic, "actor", json!({"ip": "x"})), "/actor/ip", "expected an IP address, found \"x\""),
        ("generic", with(&generic, "a/b", json!(1)), "", ""),
    ]
}

#[test]
fn decoders_report_wrong_types_with_a_pointer() {
    for (name, item, path, message) in decoder_error_table() {
        let result = decoder(name).unwrap().decode(&item);
        if message.is_empty() {
            assert!(result.is_ok(), "{name} {item}: unknown fields are allowed");
            continue;
        }
        let err = result.expect_err(&format!("{name} {item}"));
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            (path, message),
            "{name} {item}"
        );
        let shown = if path.is_empty() {
            "the top level"
        } else {
            path
        };
        assert_eq!(err.to_string(), format!("at {shown}: {message}"));
    }
}

fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

/// `/Records/<i>…` for `i >= 2`.
fn later_record(pointer: &str) -> bool {
    pointer
        .strip_prefix("/Records/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|i| i.parse::<usize>().ok())
        .is_some_and(|i| i >= 2)
}

/// Every value of every fixture, replaced in turn by each wrong type: decoding never panics,
/// and an error's path points into the item (or at a missing member of an object in it).
#[test]
fn decoders_never_panic_on_mutated_fixtures() {
    let replacements = [
        Value::Null,
        json!("x"),
        json!(-7.5),
        json!([]),
        json!({}),
        json!(true),
    ];
    let mut runs = 0usize;
    for (dir, name) in DIRS {
        for path in files(dir) {
            for item in items(&path) {
                let mut all = Vec::new();
                pointers(&item, String::new(), &mut all);
                // In a CloudTrail delivery file every record goes through the same code: mutating
                // the first two is as thorough, and keeps the large files affordable.
                all.retain(|p| !later_record(p));
                for p in &all {
                    for r in &replacements {
                        let mut mutated = item.clone();
                        if let Some(slot) = mutated.pointer_mut(p) {
                            *slot = r.clone();
                        }
                        for d in [*name, "auto"] {
                            runs += 1;
                            if let Err(e) = decoder(d).unwrap().decode(&mutated) {
                                let parent = e.path.rsplit_once('/').map_or("", |(a, _)| a);
                                let inside = mutated.pointer(&e.path).is_some()
                                    || mutated.pointer(parent).is_some_and(Value::is_object);
                                // Paths below an embedded document (Pub/Sub data, SNS message string)
                                // point into the decoded document.
                                let embedded = e.path.starts_with("/message/data/")
                                    || e.path.starts_with("/Message/");
                                assert!(inside || embedded, "{} {p}={r}: {e}", path.display());
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(runs > 10_000, "{runs}");
}

#[test]
fn every_decoder_survives_every_fixture_and_junk() {
    let junk = [
        json!(null),
        json!(1),
        json!("s"),
        json!([]),
        json!({}),
        json!([{}]),
        json!({"detail": null}),
        json!({"detail": {}}),
        json!({"Findings": []}),
        json!({"message": {}}),
        json!({"finding": {}}),
    ];
    let mut fixtures: Vec<Value> = DIRS
        .iter()
        .flat_map(|(d, _)| files(d))
        .flat_map(|p| items(&p))
        .collect();
    fixtures.extend(junk);
    for name in names() {
        let d = decoder(name).unwrap();
        for item in &fixtures {
            let _ = d.recognizes(item);
            let _ = d.decode(item);
        }
    }
}
