//! The command line as a user runs it: `rules check`, `rules test`, `ingest` of every fixture
//! through `auto` into a running server, and a small `bench --investigations`.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, fixture, Server};
use std::process::Command;

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin()).args(args).output().expect("run irene");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn rules_check_reports_every_error_with_file_and_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "- name: a\n  when: alert.type == \"x\"\n  severity: high\n- name: b\n  when: alert.account in [\"1\"]\n").expect("w");
    let (code, out) = run(&[
        "rules",
        "check",
        "--triage",
        good.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 rule(s) loaded from 1 file(s)"), "{out}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "- name: typo\n  when: alert.type = \"x\"\n  severity: high\n- name: sev\n  when: true\n  severity: severe\n").expect("w");
    let (code, out) = run(&[
        "rules",
        "check",
        "--triage",
        bad.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2 error(s)"), "{out}");
    assert!(
        out.contains("bad.yaml") && out.contains("typo") && out.contains("sev"),
        "{out}"
    );
}

#[test]
fn rules_test_shows_the_alert_and_the_deciding_rule() {
    let dir = tempfile::tempdir().expect("tmp");
    let rules = dir.path().join("r.yaml");
    std::fs::write(&rules, "- name: probes-are-noise\n  when: alert.type.startsWith(\"Recon:EC2/PortProbe\")\n  severity: info\n").expect("w");
    let f = fixture("guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json");
    let (code, out) = run(&[
        "rules",
        "test",
        "--triage",
        rules.to_str().unwrap_or_default(),
        "--source",
        "auto",
        f.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Recon:EC2/PortProbeUnprotectedPort"), "{out}");
    assert!(
        out.contains("severity info decided by rule \"probes-are-noise\""),
        "{out}"
    );
    let (code, out) = run(&[
        "rules",
        "test",
        "--source",
        "aws.guardduty",
        f.to_str().unwrap_or_default(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("no rule matched: source severity low stands"),
        "{out}"
    );
}

/// The investigation bench, small: its phases run to the end and say what they measured (what
/// it measures is not asserted: figures go in the README).
#[test]
fn bench_investigations_runs_its_phases_end_to_end() {
    let (code, out) = run(&[
        "bench",
        "--investigations",
        "--events",
        "2500",
        "--history-runs",
        "20",
        "--cases",
        "6",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("events: 2500 CloudTrail events"), "{out}");
    assert!(
        out.contains("actor_history over the stored events, 20 alerts"),
        "{out}"
    );
    assert!(
        out.contains("6 cases x 4 (reputation, geoip, actor_history, threat_context) = 24 jobs"),
        "{out}"
    );
    assert!(!out.contains("none seen"), "no notes were enqueued: {out}");
}

#[tokio::test]
async fn ingest_every_fixture_through_auto() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let dirs = [
        "guardduty",
        "securityhub",
        "gcp-scc",
        "aws-config",
        "prowler",
        "falco",
    ];
    let mut args = vec![
        "ingest".to_string(),
        "--source".into(),
        "auto".into(),
        "--url".into(),
        s.url.clone(),
    ];
    let mut files = 0;
    for d in dirs {
        let p = fixture(d);
        files += std::fs::read_dir(&p).expect("fixture dir").count();
        args.push(p.to_string_lossy().into_owned());
    }
    let out =
        tokio::task::spawn_blocking(move || Command::new(bin()).args(&args).output().expect("run"))
            .await
            .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{files} of {files} file(s) accepted")),
        "{stdout}"
    );
    s.drained().await;
    // Every fixture decodes except the three Pub/Sub envelopes whose data is not an SCC
    // notification at all ("test message 3", bytes 01 02 03 04): those are quarantined, with why.
    let (_, q) = s.get("/api/v1/quarantine").await;
    let entries = q["quarantine"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{q}");
    for e in &entries {
        assert_eq!(e["source"], "auto");
        assert!(
            e["error"]
                .as_str()
                .unwrap_or_default()
                .contains("/message/data"),
            "{e}"
        );
    }
    let cases = s.all_cases("").await;
    let sources: std::collections::BTreeSet<&str> =
        cases.iter().filter_map(|c| c["source"].as_str()).collect();
    for want in [
        "aws.guardduty",
        "aws.securityhub",
        "gcp.scc",
        "aws.config",
        "prowler",
        "falco",
    ] {
        assert!(sources.contains(want), "no case from {want}: {sources:?}");
    }

    // A refused file is reported and makes the exit code non-zero.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{nope").expect("w");
    let url = s.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin())
            .args(["ingest", "--source", "generic", "--url", &url])
            .arg(&bad)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("refused") && stdout.contains("invalid_json"),
        "{stdout}"
    );
}
