//! What the investigation tests share: CloudTrail records and a GuardDuty finding from one IP,
//! and waiting on the API until a case's investigations are done. Fixtures and polling only.

use super::{fixture, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The finding's caller, and the source IP of the CloudTrail records.
pub const IP: &str = "198.51.100.0";

pub fn read(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(rel)).expect("fixture")).expect("json")
}

/// Three CloudTrail records from the finding's IP, around the finding's time.
pub fn cloudtrail() -> Value {
    let base = read("cloudtrail/awsdocs_record_console_login_failure_iam_user.json");
    let records: Vec<Value> = (0..3)
        .map(|i| {
            let mut r = base.clone();
            r["sourceIPAddress"] = json!(IP);
            r["eventTime"] = json!(format!("2022-01-12T2{i}:00:00Z"));
            r["eventID"] = json!(format!("d38ce1b3-4575-4cb8-a632-61000000000{i}"));
            r
        })
        .collect();
    json!({ "Records": records })
}

/// The GuardDuty finding (severity 5: medium) as a live one, with its caller's IP.
pub fn finding() -> Value {
    let mut f =
        read("guardduty/raw_finding_recon_iamuser_maliciousipcaller_custom_sample_archived.json");
    f["service"]["archived"] = json!(false);
    f
}

/// Polls `GET path` until `f` holds on its body (200), or fails the test after `within`.
pub async fn wait_for(
    s: &Server,
    what: &str,
    within: Duration,
    mut f: impl FnMut(&Value) -> bool,
    path: &str,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = s.get(path).await;
        if status == 200 && f(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {body}\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether a case (`GET /api/v1/cases/{id}`) has investigations and all are done.
pub fn all_done(case: &Value) -> bool {
    let inv = case["investigations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    !inv.is_empty() && inv.iter().all(|i| i["state"] == "done")
}

/// The one GuardDuty case's id.
pub async fn the_case(s: &Server) -> String {
    let cases = s.all_cases("source=aws.guardduty").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases[0]["id"].as_str().expect("id").to_string()
}

/// Waits until the GuardDuty case's investigations are all done; the case.
pub async fn investigated(s: &Server) -> Value {
    let case_id = the_case(s).await;
    wait_for(
        s,
        "the investigations",
        Duration::from_secs(30),
        all_done,
        &format!("/api/v1/cases/{case_id}"),
    )
    .await
}

/// Waits (30 s) for a comment on `repo`'s first issue whose body contains `needle`; its body.
pub async fn comment_with(
    s: &Server,
    gh: &irene_fakes::github::FakeGitHub,
    repo: &str,
    needle: &str,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = gh.issues(repo).first().and_then(|i| {
            i.comments
                .iter()
                .find(|c| c.body.contains(needle))
                .map(|c| c.body.clone())
        });
        if let Some(body) = found {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no comment with {needle:?}: {:?}\n{}",
            gh.issues(repo),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
