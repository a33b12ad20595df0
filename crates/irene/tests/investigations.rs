//! Investigations end to end: the real `irene` process, CloudTrail events then a GuardDuty
//! finding from the same IP; the case's investigations run on their own, land on the case,
//! and post ONE comment (a section per investigator) on its issue at the GitHub stand-in.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{all_done, cloudtrail, finding, the_case, wait_for, IP};
use common::Server;
use irene_fakes::github::FakeGitHub;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

const REPO: &str = "acme/security-alerts";
const GH_TOKEN: &str = "ghp_testtoken0123456789abcdef";

fn config(dir: &Path, gh: &FakeGitHub) -> String {
    config_with(dir, gh, "")
}

/// The config, with `extra` TOML appended (feeds).
fn config_with(dir: &Path, gh: &FakeGitHub, extra: &str) -> String {
    let text = format!(
        r#"public_url = "https://irene.example"

[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "{REPO}"
token = "${{GH_TOKEN}}"
api_url = "{url}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
"#,
        url = gh.url(),
    ) + extra;
    let path = dir.join("irene.toml");
    std::fs::write(&path, &text).expect("write config");
    path.to_string_lossy().into_owned()
}

fn start(data: &Path, config: &str) -> Server {
    Server::start_env(data, &["--config", config], &[("GH_TOKEN", GH_TOKEN)])
}

/// The issue's comments that are investigation notes.
fn notes(gh: &FakeGitHub) -> Vec<String> {
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1, "{issues:?}");
    issues[0]
        .comments
        .iter()
        .map(|c| c.body.clone())
        .filter(|b| b.contains("Investigation"))
        .collect()
}

async fn settled(s: &Server, gh: &FakeGitHub) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = s.get("/api/v1/status").await;
        if body["outbox_pending"] == 0 && !gh.issues(REPO).is_empty() && !notes(gh).is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "no note: {body}\n{}", s.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_case_is_investigated_on_its_own_and_its_issue_gets_one_note() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &gh);
    let s = start(&dir.path().join("data"), &cfg);

    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let case = wait_for(
        &s,
        "the investigations",
        Duration::from_secs(30),
        all_done,
        &format!("/api/v1/cases/{case_id}"),
    )
    .await;
    let inv = case["investigations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = inv
        .iter()
        .filter_map(|i| i["investigator"].as_str())
        .collect();
    for name in ["actor_history", "threat_context"] {
        assert!(names.contains(&name), "{names:?}");
    }
    for i in &inv {
        assert_eq!(i["trigger"], "open", "{i}");
        assert!(
            i["started_at"].is_string() && i["finished_at"].is_string(),
            "{i}"
        );
        let status = i["status"].as_str().unwrap_or("");
        assert!(["done", "nothing_found", "failed"].contains(&status), "{i}");
        if status == "failed" {
            assert!(i["reason"].as_str().is_some_and(|r| !r.is_empty()), "{i}");
        }
    }
    let history = inv
        .iter()
        .find(|i| i["investigator"] == "actor_history")
        .expect("actor_history");
    assert_eq!(history["status"], "done", "{history}");
    assert_eq!(
        history["findings"]["events"], 3,
        "actor_history saw the IP's events: {history}"
    );
    assert!(
        history["summary"].as_str().is_some_and(|s| s.contains(IP)),
        "{history}"
    );

    settled(&s, &gh).await;
    let n = notes(&gh);
    assert_eq!(n.len(), 1, "exactly one note: {n:?}");
    for name in &names {
        assert!(
            n[0].contains(&format!("### {name}")),
            "a section for {name}:\n{}",
            n[0]
        );
    }

    let (st, listed) = s
        .get("/api/v1/investigations?state=done&investigator=actor_history")
        .await;
    assert_eq!(st, 200, "{listed}");
    assert_eq!(
        listed["investigations"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    let (st, _) = s.get("/api/v1/investigations?state=bogus").await;
    assert_eq!(st, 400);

    // Nothing more comes later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notes(&gh).len(), 1);
}

#[tokio::test]
async fn a_server_killed_while_investigating_still_posts_one_note() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &gh);
    let data = dir.path().join("data");
    let mut s = start(&data, &cfg);
    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    // SIGKILL somewhere between the commit that plans the jobs and their note.
    s.drained().await;
    s.kill9();
    let s = start(&data, &cfg);
    let case_id = the_case(&s).await;
    wait_for(
        &s,
        "the investigations",
        Duration::from_secs(30),
        all_done,
        &format!("/api/v1/cases/{case_id}"),
    )
    .await;
    settled(&s, &gh).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(notes(&gh).len(), 1, "{}", s.logs());
}

/// A list host serving a Tor exit list that names the finding's caller.
async fn tor_list_host() -> String {
    let app = axum::Router::new().route(
        "/torbulkexitlist",
        axum::routing::get(|| async { format!("185.220.101.18\n{IP}\n") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/torbulkexitlist", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn a_caller_on_a_downloaded_tor_list_is_named_in_the_investigation() {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let list = tor_list_host().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config_with(
        dir.path(),
        &gh,
        &format!("\n[[feeds]]\nname = \"tor\"\nurl = \"{list}\"\n"),
    );
    let s = start(&dir.path().join("data"), &cfg);
    // the feed is downloaded before the finding comes
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, st) = s.get("/api/v1/status").await;
        if st["feeds"][0]["entries"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "feed not loaded: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let case = wait_for(
        &s,
        "the investigations",
        Duration::from_secs(30),
        all_done,
        &format!("/api/v1/cases/{case_id}"),
    )
    .await;
    let inv = case["investigations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let by = |name: &str| {
        inv.iter()
            .find(|i| i["investigator"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {inv:?}"))
    };
    let rep = by("reputation");
    assert_eq!(rep["status"], "done", "{rep}");
    assert_eq!(rep["findings"]["tor"], true, "{rep}");
    assert_eq!(rep["findings"]["lists"], json!(["tor"]), "{rep}");
    let ctx = by("threat_context");
    assert_eq!(ctx["findings"]["tor"], true, "{ctx}");
    settled(&s, &gh).await;
    let n = notes(&gh);
    assert_eq!(n.len(), 1, "{n:?}");
    assert!(
        n[0].contains(IP) && n[0].to_lowercase().contains("tor"),
        "{}",
        n[0]
    );
}
