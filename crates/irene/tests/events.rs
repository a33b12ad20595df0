//! Audit logs end to end: CloudTrail and GCP audit payloads posted to the real server become
//! stored events, found by the investigator's filters, with their raw records.

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
