//! The HTTP API of DESIGN.md, spoken to a real `irene serve` process.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{fixture, generic_alert, Server};
use serde_json::{json, Value};
use std::io::Write;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

#[tokio::test]
async fn a_guardduty_finding_becomes_a_case_with_its_raw_payload() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let raw = std::fs::read(fixture(
        "guardduty/eventbridge_backdoor_ec2_cc_activity_dns_example.json",
    ))
    .expect("fixture");
    let (status, body) = s.ingest("aws.guardduty", raw.clone()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);
    assert!(body["id"].is_string());
    s.drained().await;

    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    for field in [
        "id",
        "key",
        "title",
        "source",
        "type",
        "severity",
        "status",
        "resolution",
        "first_seen",
        "last_seen",
        "count",
        "account",
        "resource",
        "tickets",
    ] {
        assert!(case.get(field).is_some(), "case JSON lacks {field}: {case}");
    }
    assert_eq!(case["source"], "aws.guardduty");
    assert_eq!(case["type"], "Backdoor:EC2/C&CActivity.B!DNS");
    assert_eq!(case["severity"], "high", "GuardDuty 8 maps to high");
    assert_eq!(case["status"], "open");
    assert_eq!(case["count"], 1);

    let (status, detail) = s
        .get(&format!(
            "/api/v1/cases/{}",
            case["id"].as_str().unwrap_or("")
        ))
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["timeline"][0]["kind"], "opened");
    let alert_id = detail["occurrences"][0]["alert_id"]
        .as_str()
        .expect("occurrence")
        .to_string();
    let (status, alert) = s.get(&format!("/api/v1/alerts/{alert_id}")).await;
    assert_eq!(status, 200);
    let original: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(
        alert["raw"], original,
        "the raw payload is kept as received"
    );
    assert_eq!(alert["alert"]["type"], "Backdoor:EC2/C&CActivity.B!DNS");

    // The same finding again is an occurrence, not a second case.
    let (status, _) = s.ingest("auto", raw).await;
    assert_eq!(status, 202);
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["count"], 2);
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("irene.toml");
    std::fs::write(&cfg, "[intake]\nmax_body_bytes = 4096\nmax_depth = 16\n").expect("cfg");
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let big = format!(
        "[{}]",
        vec![generic_alert("k", "low").to_string(); 100].join(",")
    );
    // (case, source, body, headers, status, error code, text the message must contain)
    type Case<'a> = (
        &'a str,
        &'a str,
        Vec<u8>,
        Vec<(&'a str, &'a str)>,
        u16,
        &'a str,
        &'a str,
    );
    let table: Vec<Case> = vec![
        (
            "malformed",
            "generic",
            b"{\"key\": \"a\",\n \"title\": }".to_vec(),
            vec![],
            400,
            "invalid_json",
            "line 2",
        ),
        (
            "invalid utf-8",
            "generic",
            b"{\"key\": \"\xff\xfe\"}".to_vec(),
            vec![],
            400,
            "invalid_utf8",
            "9",
        ),
        (
            "too deep",
            "generic",
            deep.into_bytes(),
            vec![],
            400,
            "too_deep",
            "16",
        ),
        (
            "scalar",
            "generic",
            b"42".to_vec(),
            vec![],
            400,
            "not_object",
            "",
        ),
        (
            "empty",
            "generic",
            b"   ".to_vec(),
            vec![],
            400,
            "empty",
            "",
        ),
        (
            "unknown source",
            "aws.nonsense",
            b"{}".to_vec(),
            vec![],
            404,
            "not_found",
            "aws.guardduty",
        ),
        (
            "too large",
            "generic",
            big.clone().into_bytes(),
            vec![],
            413,
            "too_large",
            "4096",
        ),
        (
            "gzip bomb",
            "generic",
            gzip(big.as_bytes()),
            vec![("content-encoding", "gzip")],
            413,
            "too_large",
            "",
        ),
        (
            "bad gzip",
            "generic",
            b"not gzip".to_vec(),
            vec![("content-encoding", "gzip")],
            400,
            "bad_gzip",
            "",
        ),
        (
            "unknown encoding",
            "generic",
            b"{}".to_vec(),
            vec![("content-encoding", "br")],
            415,
            "unsupported_encoding",
            "br",
        ),
    ];
    for (name, source, body, headers, want_status, want_code, want_in_message) in table {
        let (status, resp) = s
            .post_raw(&format!("/api/v1/ingest/{source}"), body, &headers)
            .await;
        assert_eq!(status, want_status, "{name}: {resp}");
        assert_eq!(resp["error"]["code"], want_code, "{name}: {resp}");
        let msg = resp["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains(want_in_message),
            "{name}: message {msg:?} lacks {want_in_message:?}"
        );
    }
    let (_, st) = s.get("/api/v1/status").await;
    assert_eq!(st["inbox_pending"], 0);
    assert!(s.all_cases("").await.is_empty());
    // A gzip body within the limit is accepted.
    let ok = gzip(generic_alert("gz", "low").to_string().as_bytes());
    let (status, resp) = s
        .post_raw(
            "/api/v1/ingest/generic",
            ok,
            &[("content-encoding", "gzip")],
        )
        .await;
    assert_eq!(status, 202, "{resp}");
    let (status, resp) = s.get("/api/v1/nowhere").await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn an_undecodable_item_is_quarantined_without_holding_back_the_rest() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    // NDJSON: good, bad (no key), good.
    let body = format!(
        "{}\n{}\n{}\n",
        generic_alert("good-1", "high"),
        json!({"title": "no key here"}),
        generic_alert("good-2", "low")
    );
    let (status, resp) = s.ingest("generic", body).await;
    assert_eq!(status, 202, "{resp}");
    assert_eq!(resp["accepted"], 3);
    s.drained().await;
    let keys: Vec<String> = s
        .all_cases("")
        .await
        .iter()
        .map(|c| c["key"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let (_, st) = s.get("/api/v1/status").await;
    assert_eq!(st["quarantined"], 1);
    let (status, q) = s.get("/api/v1/quarantine").await;
    assert_eq!(status, 200);
    let entry = &q["quarantine"][0];
    assert_eq!(entry["raw"], json!({"title": "no key here"}));
    assert_eq!(entry["item_index"], 1);
    assert!(
        entry["error"].as_str().unwrap_or("").contains("key"),
        "{entry}"
    );

    // Valid JSON that no decoder recognizes, through `auto`, is quarantined too.
    let (status, _) = s.ingest("auto", r#"{"hello": "world"}"#).await;
    assert_eq!(status, 202);
    s.drained().await;
    let (_, st) = s.get("/api/v1/status").await;
    assert_eq!(st["quarantined"], 2);

    // Retrying re-processes the item (still bad: quarantined again, not lost).
    let id = entry["id"].as_str().unwrap_or_default();
    let (status, resp) = s
        .post_raw(&format!("/api/v1/quarantine/{id}/retry"), "", &[])
        .await;
    assert_eq!(status, 202, "{resp}");
    s.drained().await;
    let (_, st) = s.get("/api/v1/status").await;
    assert_eq!(st["quarantined"], 2);
    let (status, _) = s
        .post_raw(&format!("/api/v1/quarantine/{id}/retry"), "", &[])
        .await;
    assert_eq!(status, 404, "an entry is retried once");
}

#[tokio::test]
async fn triage_rules_decide_and_cases_follow_the_lifecycle() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("10-prod.yaml"),
        r#"
- name: prod-account-is-urgent
  when: alert.account == "111111111111" && alert.type == "test.kind"
  severity: urgent
  labels: [prod]
  key: "fold/{{alert.account}}"
"#,
    )
    .expect("rules");
    let s = Server::start(
        &dir.path().join("data"),
        &["--triage", rules.to_str().unwrap_or_default()],
    );
    let batch = json!([generic_alert("a", "low"), generic_alert("b", "low")]);
    let (status, resp) = s.ingest("generic", batch.to_string()).await;
    assert_eq!((status, resp["accepted"].as_u64()), (202, Some(2)));
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(
        cases.len(),
        1,
        "the rule's key folds both alerts into one case: {cases:?}"
    );
    let case = &cases[0];
    assert_eq!(case["key"], "fold/111111111111");
    assert_eq!(case["severity"], "urgent");
    assert_eq!(case["labels"], json!(["prod"]));
    assert_eq!(case["rule"], "prod-account-is-urgent");
    assert_eq!(case["count"], 2);

    // Filters.
    assert_eq!(s.all_cases("severity=urgent").await.len(), 1);
    assert_eq!(s.all_cases("severity=low").await.len(), 0);
    assert_eq!(
        s.all_cases("status=open&source=generic&q=alert")
            .await
            .len(),
        1
    );
    let (status, resp) = s.get("/api/v1/cases?severity=severe").await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (400, Some("invalid_severity"))
    );
    let (status, _) = s.get("/api/v1/cases?limit=501").await;
    assert_eq!(status, 400);

    // Resolve by hand, then the problem comes back: reopened.
    let id = case["id"].as_str().unwrap_or_default().to_string();
    let (status, resp) = s
        .post_raw(
            &format!("/api/v1/cases/{id}/resolve"),
            r#"{"reason":"rotated the key"}"#,
            &[],
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["case"]["resolution"], "manual");
    let (status, _) = s
        .ingest("generic", generic_alert("c", "low").to_string())
        .await;
    assert_eq!(status, 202);
    s.drained().await;
    let (_, detail) = s.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail["status"], "open");
    assert_eq!(detail["count"], 3);
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["kind"].as_str())
        // investigations finish on their own time
        .filter(|k| *k != "investigation")
        .collect();
    assert_eq!(kinds, vec!["opened", "occurrence", "resolved", "reopened"]);

    // A resolved alert from the source resolves it with resolution `source`.
    let mut gone = generic_alert("d", "low");
    gone["state"] = json!("resolved");
    s.ingest("generic", gone.to_string()).await;
    s.drained().await;
    let (_, detail) = s.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(
        (detail["status"].as_str(), detail["resolution"].as_str()),
        (Some("resolved"), Some("source"))
    );
    let (status, _) = s.get("/api/v1/cases/not-a-uuid").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn rules_test_is_a_dry_run() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let payload: Value = serde_json::from_slice(
        &std::fs::read(fixture(
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
        ))
        .expect("fixture"),
    )
    .expect("json");
    let req = json!({
        "source": "auto",
        "payload": payload,
        "rules": "- name: probes-are-noise\n  when: alert.type.startsWith(\"Recon:EC2/PortProbe\")\n  severity: info\n"
    });
    let (status, resp) = s.post_raw("/api/v1/rules/test", req.to_string(), &[]).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["results"][0]["rule"], "probes-are-noise");
    assert_eq!(resp["results"][0]["severity"], "info");
    // an enrichment rule, tried with the findings an investigation would give
    let tor_rule = "- name: tor-is-urgent\n  when: has(enrichment.reputation) && enrichment.reputation.tor == true\n  severity: urgent\n";
    for (enrichment, rule, severity) in [
        (
            json!({"reputation": {"tor": true}}),
            json!("tor-is-urgent"),
            "urgent",
        ),
        (json!({"reputation": {"tor": false}}), Value::Null, "low"),
        (Value::Null, Value::Null, "low"),
    ] {
        let mut req = json!({"payload": payload, "rules": tor_rule});
        if !enrichment.is_null() {
            req["enrichment"] = enrichment.clone();
        }
        let (status, resp) = s.post_raw("/api/v1/rules/test", req.to_string(), &[]).await;
        assert_eq!(status, 200, "{resp}");
        assert_eq!(resp["results"][0]["rule"], rule, "{enrichment}: {resp}");
        assert_eq!(
            resp["results"][0]["severity"], severity,
            "{enrichment}: {resp}"
        );
    }
    let (status, resp) = s
        .post_raw(
            "/api/v1/rules/test",
            json!({"payload": payload, "enrichment": [1]}).to_string(),
            &[],
        )
        .await;
    assert_eq!(status, 400, "enrichment must be an object: {resp}");
    let bad = json!({"payload": {}, "rules": "- name: x\n  when: alert.type ==\n"});
    let (status, resp) = s.post_raw("/api/v1/rules/test", bad.to_string(), &[]).await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (400, Some("invalid_rules")),
        "{resp}"
    );
    let (_, st) = s.get("/api/v1/status").await;
    assert_eq!(st["inbox_pending"], 0);
    assert!(s.all_cases("").await.is_empty(), "a dry run stores nothing");
}

#[tokio::test]
async fn tokens_and_scopes_guard_the_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        r#"
[[tokens]]
name = "sender"
token = "${TEST_INGEST_TOKEN}"
scopes = ["ingest"]

[[tokens]]
name = "reader"
sha256 = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"
scopes = ["read"]
"#,
    )
    .expect("cfg");
    // sha256("hi") above; too short to be a token, so nobody can present it.
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap_or_default()],
        &[("TEST_INGEST_TOKEN", "ingest-secret-0123456789")],
    );
    let (status, resp) = s
        .ingest("generic", generic_alert("x", "low").to_string())
        .await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    // EventBridge API destinations send the token in an API-key header: good for ingest only.
    let key = [("x-api-key", "ingest-secret-0123456789")];
    let (status, resp) = s
        .post_raw(
            "/api/v1/ingest/generic",
            generic_alert("by-api-key", "low").to_string(),
            &key,
        )
        .await;
    assert_eq!(status, 202, "{resp}");
    let (status, _) = s
        .post_raw(
            "/api/v1/ingest/generic",
            generic_alert("by-api-key", "low").to_string(),
            &[("x-api-key", "not-the-token-0123456789")],
        )
        .await;
    assert_eq!(status, 401);
    let (status, _) = s
        .post_raw("/api/v1/rules/test", "{}".to_string(), &key)
        .await;
    assert_eq!(status, 401, "the API-key header carries ingest tokens only");
    let s = s.with_token("ingest-secret-0123456789");
    let (status, _) = s
        .ingest("generic", generic_alert("x", "low").to_string())
        .await;
    assert_eq!(status, 202);
    let (status, resp) = s.get("/api/v1/cases").await;
    assert_eq!(
        (status, resp["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, 200);
    let (status, _) = s.get("/readyz").await;
    assert_eq!(status, 200);
    let (status, metrics) = s.get("/metrics").await;
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap_or_default();
    assert!(text.contains("irene_ingest_accepted_total"), "{text}");
    assert!(text.contains("irene_ingest_rejected_total"), "{text}");
    assert!(!text.contains("ingest-secret"), "no secret in metrics");
    let (_, stderr) = s.terminate();
    assert!(
        !stderr.contains("ingest-secret-0123456789"),
        "no secret in logs"
    );
}

#[tokio::test]
async fn it_refuses_to_listen_openly_without_tokens_and_to_start_on_broken_rules() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path().join("d1"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without API tokens"), "{err}");

    let rules = dir.path().join("broken.yaml");
    std::fs::write(
        &rules,
        "- name: broken\n  when: alert.type ==\n  severity: high\n",
    )
    .expect("write");
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("d2"))
        .arg("--triage")
        .arg(&rules)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.yaml") && err.contains("broken"),
        "{err}"
    );
}

#[tokio::test]
async fn sigterm_stops_cleanly_and_keeps_everything() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let (status, _) = s
        .ingest("generic", generic_alert("kept", "medium").to_string())
        .await;
    assert_eq!(status, 202);
    let (code, stderr) = s.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let s = Server::start(dir.path(), &[]);
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0]["key"], "kept");
}

#[tokio::test]
async fn status_lists_every_worker_with_its_state_and_last_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let (status, resp) = s
        .ingest("generic", generic_alert("w-1", "high").to_string())
        .await;
    assert_eq!(status, 202, "{resp}");
    s.drained().await;
    let (status, st) = s.get("/api/v1/status").await;
    assert_eq!(status, 200, "{st}");
    let workers = st["workers"].as_array().cloned().unwrap_or_default();
    let by_name = |n: &str| {
        workers
            .iter()
            .find(|w| w["name"] == n)
            .cloned()
            .unwrap_or_else(|| panic!("no worker {n} in {st}"))
    };
    for name in ["pipeline", "delivery", "expiry", "retention"] {
        let w = by_name(name);
        assert!(
            ["idle", "busy", "throttled"].contains(&w["state"].as_str().unwrap_or("")),
            "{w}"
        );
        assert_eq!(w["last_error"], Value::Null, "{w}");
        assert_eq!(w["errors_total"], 0, "{w}");
    }
    assert!(by_name("pipeline")["runs"].as_u64().unwrap_or(0) >= 1);
    // Without outputs the batch jobs have nothing to do and say so.
    assert_eq!(by_name("jobs")["state"], "done");
}

#[tokio::test]
async fn a_payload_redelivered_under_its_idempotency_key_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let body = generic_alert("idem-1", "medium").to_string();
    let key = [("idempotency-key", "sqs:0b9e0f2a-msg")];
    let (status, first) = s
        .post_raw("/api/v1/ingest/generic", body.clone(), &key)
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["duplicate"], false);
    let (status, again) = s
        .post_raw("/api/v1/ingest/generic", body.clone(), &key)
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["id"], first["id"], "the first delivery's inbox id");
    // Without the key, the same body is a new delivery (a repeat of the alert).
    let (status, _) = s.post_raw("/api/v1/ingest/generic", body, &[]).await;
    assert_eq!(status, 202);
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1);
    assert_eq!(
        cases[0]["count"], 2,
        "the redelivery was not counted: {}",
        cases[0]
    );
    let (status, bad) = s
        .post_raw(
            "/api/v1/ingest/generic",
            generic_alert("idem-2", "low").to_string(),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );
}

/// A Prowler upload marked as a complete scan resolves, by scan, the open cases of its account
/// and region that it no longer reports; the rest stay open.
#[tokio::test]
async fn a_complete_prowler_scan_resolves_what_it_no_longer_finds() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let mut findings: Value = serde_json::from_slice(
        &std::fs::read(fixture("prowler/prowler_aws_json_ocsf_fail_manual.json")).expect("fixture"),
    )
    .expect("json");
    // the fixture's ids are placeholders: one finding each, in one account and region
    for (i, f) in findings
        .as_array_mut()
        .expect("a list")
        .iter_mut()
        .enumerate()
    {
        f["finding_info"]["uid"] = json!(format!("prowler-finding-{i}"));
        f["cloud"]["account"]["uid"] = json!("123456789012");
        f["cloud"]["region"] = json!("eu-west-1");
    }
    let (st, body) = s.ingest("prowler", findings.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let open_before: Vec<Value> = s.all_cases("status=open").await;
    assert!(open_before.len() >= 2, "{open_before:?}");

    let (st, body) = s
        .post_raw("/api/v1/ingest/prowler?complete_scan=maybe", "[]", &[])
        .await;
    assert_eq!(st, 400, "{body}");

    // the next scan finds only the first finding again
    let first = json!([findings[0].clone()]);
    let (st, body) = s
        .post_raw(
            "/api/v1/ingest/prowler?complete_scan=1",
            first.to_string(),
            &[],
        )
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let open_after = s.all_cases("status=open").await;
    assert_eq!(open_after.len(), 1, "{open_after:?}");
    let resolved = s.all_cases("status=resolved").await;
    assert_eq!(resolved.len(), open_before.len() - 1, "{resolved:?}");
    for c in &resolved {
        assert_eq!(c["resolution"], "scan", "{c}");
    }
    let (_, detail) = s
        .get(&format!(
            "/api/v1/cases/{}",
            resolved[0]["id"].as_str().expect("id")
        ))
        .await;
    let why = detail["timeline"]
        .as_array()
        .and_then(|t| t.iter().find(|e| e["kind"] == "resolved"))
        .map(|e| e["detail"]["reason"].clone())
        .unwrap_or(Value::Null);
    assert!(
        why.as_str()
            .is_some_and(|w| w.contains("absent from a complete prowler scan")),
        "{detail}"
    );
}
