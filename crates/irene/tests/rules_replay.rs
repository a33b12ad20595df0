//! Rule replay end to end: the real `irene` process with a webhook output; alerts ingested, a
//! draft replayed over them through the API and the CLI; the report's numbers, and the store
//! untouched (same cases, same deliveries).
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, generic_alert, Server};
use irene_fakes::receiver::FakeReceiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const DRAFT: &str = r#"
- name: raise-k1
  when: alert.title == "Alert k1"
  severity: urgent
- name: fold-by-account
  when: alert.title in ["Alert k2", "Alert k3"]
  key: "acct/{{alert.account}}"
"#;

/// The NDJSON lines of a replay answer.
async fn replay(s: &Server, body: Value) -> (u16, Vec<Value>) {
    let resp = s
        .client
        .post(format!("{}/api/v1/rules/replay", s.url))
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let ndjson = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        == "application/x-ndjson";
    let text = resp.text().await.unwrap_or_default();
    if status == 200 {
        assert!(ndjson, "a stream of NDJSON");
        let lines = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        (status, lines)
    } else {
        (
            status,
            vec![serde_json::from_str(&text).unwrap_or(Value::String(text))],
        )
    }
}

/// Every delivery, by id and state.
async fn deliveries(s: &Server) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for state in ["pending", "sending", "done", "dead"] {
        let (st, body) = s
            .get(&format!("/api/v1/deliveries?state={state}&limit=500"))
            .await;
        assert_eq!(st, 200, "{body}");
        for d in body["deliveries"].as_array().into_iter().flatten() {
            out.push((
                d["id"].as_i64().unwrap_or(0),
                d["state"].as_str().unwrap_or("").to_string(),
            ));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_draft_is_replayed_over_the_window_and_nothing_changes() {
    let receiver = FakeReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("irene.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[investigate]
enabled = false

[[outputs]]
name = "siem"
type = "webhook"
url = "{}/hooks/irene"
min_severity = "info"
timeout = "2s"
"#,
            receiver.url()
        ),
    )
    .unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    for (key, sev) in [
        ("k1", "low"),
        ("k1", "low"),
        ("k2", "medium"),
        ("k3", "high"),
    ] {
        let (st, body) = s
            .ingest("generic", generic_alert(key, sev).to_string())
            .await;
        assert_eq!(st, 202, "{body}");
    }
    s.drained().await;
    // the live deliveries: open k1, repeat k1, open k2, open k3
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = deliveries(&s).await;
        if d.len() >= 4 && d.iter().all(|(_, state)| state == "done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries did not settle: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = receiver.received().len();
    let cases = s.all_cases("").await;
    let sent = deliveries(&s).await;
    assert_eq!(cases.len(), 3);

    let (st, lines) = replay(&s, json!({"triage": DRAFT, "since": "1h", "examples": 10})).await;
    assert_eq!(st, 200, "{lines:?}");
    let last = lines.last().expect("a line");
    let r = &last["report"];
    assert!(lines[..lines.len() - 1]
        .iter()
        .all(|l| l.get("progress").is_some()));
    let t = &r["totals"];
    assert_eq!(t["alerts_scanned"], 4, "{r}");
    assert_eq!(t["verdicts_changed"], 4, "{r}");
    assert_eq!(t["severity_changed"], 2, "{r}");
    assert_eq!(t["key_changed"], 2, "{r}");
    assert_eq!(t["cases_before"], 3, "{r}");
    assert_eq!(t["cases_after"], 2, "{r}");
    assert_eq!(r["cases"]["merged"], 1, "{r}");
    let rule = |name: Value| {
        r["rules"]
            .as_array()
            .and_then(|rs| rs.iter().find(|x| x["rule"] == name))
            .map(|x| (x["before"].clone(), x["after"].clone()))
    };
    assert_eq!(rule(json!("raise-k1")), Some((json!(0), json!(2))));
    assert_eq!(rule(json!("fold-by-account")), Some((json!(0), json!(2))));
    assert_eq!(rule(Value::Null), Some((json!(4), json!(0))));
    let opens = r["deliveries"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|x| x["output"] == "siem" && x["action"] == "open")
        })
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        (opens["before"].clone(), opens["after"].clone()),
        (json!(3), json!(2)),
        "{r}"
    );
    assert_eq!(r["examples"].as_array().map(Vec::len), Some(4));
    let merged = r["cases"]["examples"]
        .as_array()
        .and_then(|c| c.iter().find(|x| x["change"] == "merged"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(merged["key"], "acct/111111111111", "{r}");
    assert_eq!(merged["keys"], json!(["k2", "k3"]));
    assert_eq!(merged["after"]["severity"], "high");

    // the CLI: the same replay, as a table and as JSON
    let draft = dir.path().join("draft.yaml");
    std::fs::write(&draft, DRAFT).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "rules", "replay", "--url", &s.url, "--since", "1h", "--triage",
        ])
        .arg(&draft)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("cases 3 -> 2"), "{stdout}");
    assert!(stdout.contains("raise-k1"), "{stdout}");
    let out = std::process::Command::new(bin())
        .args([
            "rules", "replay", "--json", "--url", &s.url, "--since", "1h", "--triage",
        ])
        .arg(&draft)
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["totals"]["cases_after"], 2);

    // nothing changed in the store
    assert_eq!(s.all_cases("").await, cases);
    assert_eq!(deliveries(&s).await, sent);
    assert_eq!(receiver.received().len(), received);

    // a broken draft: 400, every error listed
    let broken = "- name: a\n  when: 'alert.title =='\n- name: b\n  when: 'nope('\n";
    let (st, lines) = replay(&s, json!({"triage": broken, "since": "30d"})).await;
    assert_eq!(st, 400, "{lines:?}");
    let errors = lines[0]["error"]["errors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(errors.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["error"]["code"], "invalid_rules");
    let (st, _) = replay(&s, json!({"since": "yesterday-ish"})).await;
    assert_eq!(st, 400);
}

const STOP_LOGGING: &str = r#"
title: CloudTrail logging stopped
id: 4db60cc0-36fb-42b7-9b58-a5b53019fb74
status: test
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: selection
level: high
"#;

#[tokio::test]
async fn a_sigma_draft_is_run_over_the_stored_events() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let trail = std::fs::read(common::fixture(
        "cloudtrail/stratus_detonation_cloudtrail_stop_logging.json",
    ))
    .unwrap();
    let (st, body) = s.ingest("aws.cloudtrail", trail).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    assert!(
        s.all_cases("").await.is_empty(),
        "no live Sigma rule: no case"
    );
    // events are windowed by their own time (the fixture's is years ago)
    let (st, lines) = replay(
        &s,
        json!({"sigma": STOP_LOGGING, "since": "2000-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(st, 200, "{lines:?}");
    let r = &lines.last().expect("a line")["report"];
    assert!(
        r["totals"]["events_scanned"].as_u64().unwrap_or(0) >= 1,
        "{r}"
    );
    assert_eq!(r["totals"]["cases_before"], 0, "{r}");
    assert_eq!(r["totals"]["cases_after"], 1, "{r}");
    let sigma = &r["sigma"][0];
    assert_eq!(sigma["rule"], "4db60cc0-36fb-42b7-9b58-a5b53019fb74", "{r}");
    assert_eq!(sigma["before"], 0);
    assert!(sigma["after"].as_u64().unwrap_or(0) >= 1, "{r}");
    assert!(s.all_cases("").await.is_empty(), "the replay wrote nothing");
    // a broken Sigma draft: 400
    let (st, lines) = replay(
        &s,
        json!({"sigma": "title: x\ndetection: {}\n", "since": "1d"}),
    )
    .await;
    assert_eq!(st, 400, "{lines:?}");
    assert_eq!(lines[0]["error"]["code"], "invalid_sigma");
}
