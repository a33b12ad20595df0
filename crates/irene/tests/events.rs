//! Audit logs end to end: CloudTrail and GCP audit payloads posted to the real server become
//! stored events, found by the investigator's filters, with their raw records.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, Server};
use serde_json::Value;

async fn all_events(s: &Server, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, body) = s
            .get(&format!("/api/v1/events?limit=7&{query}&cursor={cursor}"))
            .await;
        assert_eq!(status, 200, "{body}");
        out.extend(body["events"].as_array().cloned().unwrap_or_default());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => return out,
        }
    }
}

#[tokio::test]
async fn audit_logs_become_events_found_by_ip_principal_account_and_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &[]);
    let delivery = fixture(
        "cloudtrail/invictus_s3_delivery_iam_backdoor_create_access_key_put_bucket_policy.json",
    );
    let body = std::fs::read(&delivery).expect("fixture");
    let records = serde_json::from_slice::<Value>(&body).expect("json")["Records"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert!(records > 1);
    let (st, resp) = s.ingest("auto", body.clone()).await;
    assert_eq!(st, 202, "{resp}");
    // Delivered twice (CloudTrail delivers at least once): stored once.
    let (st, _) = s.ingest("aws.cloudtrail", body).await;
    assert_eq!(st, 202);
    let gcp = std::fs::read(fixture(
        "gcp-audit/gcp_audit_iam_create_service_account.json",
    ))
    .expect("fixture");
    let (st, resp) = s.ingest("auto", gcp).await;
    assert_eq!(st, 202, "{resp}");
    s.drained().await;

    let all = all_events(&s, "").await;
    assert_eq!(all.len(), records + 1, "every record once, over cursors");
    let times: Vec<&str> = all
        .iter()
        .filter_map(|e| e["observed_at"].as_str())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");

    let ct = all_events(&s, "source=aws.cloudtrail").await;
    assert_eq!(ct.len(), records);
    let first = &ct[0];
    for field in ["raw", "detections", "name", "account", "actor"] {
        assert!(first.get(field).is_some(), "{field} missing: {first}");
    }
    assert_eq!(first["raw"]["eventID"], first["source_id"]);
    // Each filter returns exactly the events that have that value.
    for (param, pointer) in [
        ("principal", "/actor/principal"),
        ("ip", "/actor/ip"),
        ("account", "/account"),
        ("name", "/name"),
    ] {
        let Some(value) = ct
            .iter()
            .find_map(|e| e.pointer(pointer).and_then(Value::as_str))
        else {
            continue;
        };
        let want = all
            .iter()
            .filter(|e| e.pointer(pointer).and_then(Value::as_str) == Some(value))
            .count();
        let got = all_events(&s, &format!("{param}={}", urlencode(value))).await;
        assert_eq!(got.len(), want, "{param}={value}");
        assert!(got
            .iter()
            .all(|e| e.pointer(pointer).and_then(Value::as_str) == Some(value)));
    }
    let gcp = all_events(&s, "source=gcp.audit").await;
    assert_eq!(gcp.len(), 1);
    assert_eq!(gcp[0]["raw"]["protoPayload"]["methodName"], gcp[0]["name"]);
    let (st, body) = s.get("/api/v1/events?since=yesterday").await;
    assert_eq!(st, 400, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("since"));
    let (st, _) = s.get("/api/v1/events?until=2000-01-01T00:00:00Z").await;
    assert_eq!(st, 200);
    assert!(all_events(&s, "until=2000-01-01T00:00:00Z")
        .await
        .is_empty());
    // Nothing was quarantined: audit logs have decoders now.
    let (_, q) = s.get("/api/v1/quarantine").await;
    assert_eq!(q["quarantine"].as_array().map(Vec::len), Some(0), "{q}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn sigma_rules() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/tests/sigma/rules")
}

/// The SigmaHQ rule "AWS CloudTrail Important Change" (StopLogging, DeleteTrail, UpdateTrail).
const CLOUDTRAIL_CHANGE: &str = "4db60cc0-36fb-42b7-9b58-a5b53019fb74";

#[tokio::test]
async fn sigma_hits_on_audit_logs_become_cases_and_detections() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = sigma_rules();
    let s = Server::start(
        dir.path(),
        &["--sigma", rules.to_str().expect("utf-8 path")],
    );
    let stop = std::fs::read(fixture(
        "cloudtrail/stratus_detonation_cloudtrail_stop_logging.json",
    ))
    .expect("fixture");
    let (st, resp) = s.ingest("auto", stop.clone()).await;
    assert_eq!(st, 202, "{resp}");
    // CloudTrail delivers at least once: the same record again changes nothing…
    let (st, _) = s.ingest("auto", stop.clone()).await;
    assert_eq!(st, 202);
    // …while the same actor doing it again (a new record) is the same case, seen twice.
    let mut again: Value = serde_json::from_slice(&stop).expect("json");
    again[0]["eventID"] = Value::from("another-event-id");
    again[0]["eventTime"] = Value::from("2024-07-31T14:00:00Z");
    let (st, _) = s.ingest("auto", again.to_string()).await;
    assert_eq!(st, 202);
    s.drained().await;

    let events = all_events(&s, "name=cloudtrail.amazonaws.com%3AStopLogging").await;
    assert_eq!(events.len(), 2, "the repeated delivery is stored once");
    let detections: Vec<&str> = events[0]["detections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(detections.contains(&CLOUDTRAIL_CHANGE), "{detections:?}");

    let cases = s.all_cases("").await;
    let case = cases
        .iter()
        .find(|c| c["type"] == CLOUDTRAIL_CHANGE)
        .unwrap_or_else(|| panic!("no case for the Sigma hit: {cases:?}"));
    assert_eq!(case["source"], "aws.cloudtrail");
    assert_eq!(case["title"], "AWS CloudTrail Important Change");
    assert_eq!(case["severity"], "medium");
    assert_eq!(
        case["count"], 2,
        "one actor, one rule, one account: one case; the duplicate delivery is not counted"
    );
    let principal = events[0]["actor"]["principal"].as_str().unwrap_or_default();
    assert!(
        case["key"].as_str().unwrap_or_default().contains(principal),
        "{case}"
    );
    // The alert credits the rule's author (the Detection Rule License asks for it).
    let (_, alert) = s
        .get(&format!(
            "/api/v1/alerts/{}",
            case["last_alert_id"].as_str().unwrap_or_default()
        ))
        .await;
    assert_eq!(alert["raw"]["rule"]["author"], "vitaliy0x1", "{alert}");
    assert_eq!(alert["raw"]["event"]["eventName"], "StopLogging");
}

#[test]
fn rules_check_and_test_report_sigma_rules() {
    let rules = sigma_rules();
    let out = std::process::Command::new(common::bin())
        .args(["rules", "check", "--sigma"])
        .arg(&rules)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("sigma: 73 loaded, 0 rejected"),
        "{stdout}"
    );

    // A broken rule is rejected with its file and reason, and the exit code says so.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "title: Bad\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName|nosuchmodifier: x\n  condition: sel\n",
    )
    .expect("write");
    let out = std::process::Command::new(common::bin())
        .args(["rules", "check", "--sigma"])
        .arg(&bad)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with("sigma: 0 loaded, 1 rejected"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bad.yml") && stdout.contains("nosuchmodifier"),
        "{stdout}"
    );

    let out = std::process::Command::new(common::bin())
        .args(["rules", "test", "--sigma"])
        .arg(&rules)
        .arg(fixture(
            "cloudtrail/stratus_detonation_cloudtrail_stop_logging.json",
        ))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("StopLogging"), "{stdout}");
    assert!(stdout.contains(CLOUDTRAIL_CHANGE), "{stdout}");
    assert!(stdout.contains("vitaliy0x1"), "{stdout}");
}

const BURST: &str = "22222222-2222-2222-2222-222222222222";

/// A base rule and an event_count correlation over it: three trail stops by one principal
/// within an hour.
fn burst_rules(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("burst.yml");
    std::fs::write(
        &path,
        r#"title: Trail stopped
id: 11111111-1111-1111-1111-111111111111
name: trail_stopped
status: test
author: Irene tests
logsource:
  product: aws
  service: cloudtrail
detection:
  sel:
    eventSource: cloudtrail.amazonaws.com
    eventName: StopLogging
  condition: sel
level: low
---
title: Trails stopped again and again
id: 22222222-2222-2222-2222-222222222222
status: test
author: Irene tests
correlation:
  type: event_count
  rules:
    - trail_stopped
  group-by:
    - userIdentity.arn
  timespan: 1h
  condition:
    gte: 3
level: high
"#,
    )
    .expect("write rules");
    path
}

fn stop_record(n: usize) -> String {
    let body = std::fs::read(fixture(
        "cloudtrail/stratus_detonation_cloudtrail_stop_logging.json",
    ))
    .expect("fixture");
    let mut v: Value = serde_json::from_slice(&body).expect("json");
    v[0]["eventID"] = Value::from(format!("burst-{n}"));
    v[0]["eventTime"] = Value::from(format!("2024-07-31T13:{:02}:00Z", 10 + n));
    v.to_string()
}

#[tokio::test]
async fn a_correlation_fires_across_a_restart_from_windows_kept_in_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = burst_rules(dir.path());
    let data = dir.path().join("data");
    let args = ["--sigma", rules.to_str().expect("utf-8 path")];
    let s = Server::start(&data, &args);
    for n in 0..2 {
        let (st, _) = s.ingest("auto", stop_record(n)).await;
        assert_eq!(st, 202);
    }
    s.drained().await;
    assert!(
        !s.all_cases("").await.iter().any(|c| c["type"] == BURST),
        "two stops are not yet a burst"
    );
    let (code, _) = s.terminate();
    assert_eq!(code, Some(0));

    // After a restart the windows come back from the store: the third stop completes them.
    let s = Server::start(&data, &args);
    let (st, _) = s.ingest("auto", stop_record(2)).await;
    assert_eq!(st, 202);
    s.drained().await;
    let cases = s.all_cases("").await;
    let burst = cases
        .iter()
        .find(|c| c["type"] == BURST)
        .unwrap_or_else(|| panic!("the correlation did not fire: {cases:?}"));
    assert_eq!(burst["title"], "Trails stopped again and again");
    assert_eq!(burst["severity"], "high");
    assert_eq!(burst["source"], "aws.cloudtrail");
    // The base rule is only used by the correlation (generate defaults to false): no case of its own.
    assert!(
        !cases
            .iter()
            .any(|c| c["type"] == "11111111-1111-1111-1111-111111111111"),
        "{cases:?}"
    );
    // Every stop still shows the base rule among its detections.
    let events = all_events(&s, "name=cloudtrail.amazonaws.com%3AStopLogging").await;
    assert_eq!(events.len(), 3);
    assert!(events
        .iter()
        .all(|e| e["detections"].as_array().is_some_and(|d| d
            .iter()
            .any(|x| x == "11111111-1111-1111-1111-111111111111"))));
}

/// One CloudTrail file holding the stop records `ns` (see [`stop_record`]).
fn stop_file(ns: &[usize]) -> String {
    let records: Vec<Value> = ns
        .iter()
        .map(|&n| serde_json::from_str::<Value>(&stop_record(n)).expect("json")[0].clone())
        .collect();
    Value::Array(records).to_string()
}

async fn post_and_drain(s: &Server, body: String) {
    let (st, resp) = s.ingest("auto", body).await;
    assert_eq!(st, 202, "{resp}");
    s.drained().await;
}

async fn burst_cases(s: &Server) -> Vec<Value> {
    s.all_cases("")
        .await
        .into_iter()
        .filter(|c| c["type"] == BURST)
        .collect()
}

#[tokio::test]
async fn a_redelivered_file_counts_nothing_in_a_correlation_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = burst_rules(dir.path());
    let s = Server::start(
        &dir.path().join("data"),
        &["--sigma", rules.to_str().expect("utf-8 path")],
    );
    post_and_drain(&s, stop_file(&[0, 1])).await;
    // CloudTrail delivers at least once: the same file again counts nothing.
    post_and_drain(&s, stop_file(&[0, 1])).await;
    assert!(
        burst_cases(&s).await.is_empty(),
        "two stops are not a burst"
    );
    // The third stop completes the burst: exactly one correlation case.
    post_and_drain(&s, stop_file(&[2])).await;
    let cases = burst_cases(&s).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["count"], 1, "{cases:?}");
}

#[tokio::test]
async fn a_redelivered_record_never_crosses_a_correlation_threshold() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = burst_rules(dir.path());
    let s = Server::start(
        &dir.path().join("data"),
        &["--sigma", rules.to_str().expect("utf-8 path")],
    );
    post_and_drain(&s, stop_file(&[0])).await;
    post_and_drain(&s, stop_file(&[0])).await;
    post_and_drain(&s, stop_file(&[1])).await;
    assert!(
        burst_cases(&s).await.is_empty(),
        "a record delivered twice is one stop: two stops are not a burst"
    );
    // The duplicate of the second stop would be the third hit: it must not count (nor be
    // where the burst fires and is lost)…
    post_and_drain(&s, stop_file(&[1])).await;
    assert!(burst_cases(&s).await.is_empty());
    // …so the real third stop fires it, once.
    post_and_drain(&s, stop_file(&[2])).await;
    let cases = burst_cases(&s).await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["count"], 1, "{cases:?}");
}
