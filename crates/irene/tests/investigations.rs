//! Investigations end to end: the real `irene` process, CloudTrail events then a GuardDuty
//! finding from the same IP; the case's investigations run on their own, land on the case,
//! and post ONE comment (a section per investigator) on its issue at the GitHub stand-in.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{all_done, cloudtrail, finding, the_case, wait_for, IP};
use common::Server;
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
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

/// A GeoLite2-City and a GeoLite2-ASN database placing the finding's caller in Amsterdam, in
/// AS 60729, written as mmdb files into `dir`; returns their paths.
fn geoip_files(dir: &Path) -> (String, String) {
    use std::collections::BTreeMap;
    let en = |s: &str| -> BTreeMap<String, String> { [("en".to_string(), s.to_string())].into() };
    let net: ipnet::IpNet = format!("{IP}/24").parse().expect("net");
    let mut city = mmdb_writer::Writer::new("GeoLite2-City");
    city.insert(
        net,
        &json!({"city": {"names": en("Amsterdam")},
                "country": {"iso_code": "NL", "names": en("Netherlands")}}),
    )
    .expect("city");
    let mut asn = mmdb_writer::Writer::new("GeoLite2-ASN");
    asn.insert(
        net,
        &json!({"autonomous_system_number": 60729,
                "autonomous_system_organization": "Stiftung Erneuerbare Freiheit"}),
    )
    .expect("asn");
    let c = dir.join("GeoLite2-City.mmdb");
    let a = dir.join("GeoLite2-ASN.mmdb");
    std::fs::write(&c, city.to_bytes().expect("city bytes")).expect("write");
    std::fs::write(&a, asn.to_bytes().expect("asn bytes")).expect("write");
    (
        c.to_string_lossy().into_owned(),
        a.to_string_lossy().into_owned(),
    )
}

/// The case's notes, once there are `n` of them and nothing is left to send.
async fn notes_settled(s: &Server, gh: &FakeGitHub, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = s.get("/api/v1/status").await;
        if body["outbox_pending"] == 0 && !gh.issues(REPO).is_empty() && notes(gh).len() >= n {
            return notes(gh);
        }
        assert!(
            Instant::now() < deadline,
            "{} notes, not {n}: {body}\n{}",
            notes(gh).len(),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The issue's GuardDuty Tor case, end to end: CloudTrail from the caller first; the finding's
/// investigations name the Tor exit, its place and network, and what else the caller did, in
/// ONE comment; a triage rule on `enrichment.reputation.tor` raises the case to urgent and
/// PagerDuty is paged once; runs by hand (API and CLI) post their own note, saying what has
/// not changed; the actor's events come as a CSV attachment.
#[tokio::test]
async fn a_tor_caller_is_found_raised_to_urgent_and_paged_once() {
    use irene_fakes::pagerduty::FakePagerDuty;
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let pd = FakePagerDuty::start().await;
    let list = tor_list_host().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (city, asn) = geoip_files(dir.path());
    let rules = dir.path().join("triage.yaml");
    std::fs::write(
        &rules,
        "- name: tor-callers-are-urgent\n  when: has(enrichment.reputation) && enrichment.reputation.tor == true\n  severity: urgent\n  labels: [tor]\n",
    )
    .expect("rules");
    let cfg = config_with(
        dir.path(),
        &gh,
        &format!(
            r#"
[[outputs]]
name = "on-call"
type = "pagerduty"
routing_key = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
events_url = "{pd}/v2/enqueue"
min_severity = "high"
timeout = "2s"

[[feeds]]
name = "tor"
url = "{list}"

[geoip]
city = "{city}"
asn = "{asn}"
"#,
            pd = pd.url()
        ),
    );
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", &cfg, "--triage", rules.to_str().expect("path")],
        &[("GH_TOKEN", GH_TOKEN)],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, st) = s.get("/api/v1/status").await;
        if st["feeds"][0]["entries"] == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "feed not loaded: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let path = format!("/api/v1/cases/{case_id}");
    let case = wait_for(
        &s,
        "the raise",
        Duration::from_secs(30),
        |c| all_done(c) && c["severity"] == "urgent",
        &path,
    )
    .await;
    assert_eq!(case["rule"], "tor-callers-are-urgent", "{case}");
    assert!(
        case["labels"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("tor"))),
        "{case}"
    );
    let names: Vec<&str> = case["investigations"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["investigator"].as_str())
                .collect()
        })
        .unwrap_or_default();
    for name in ["reputation", "geoip", "actor_history", "threat_context"] {
        assert!(names.contains(&name), "{name} ran: {names:?}");
    }

    let first = notes_settled(&s, &gh, 1).await;
    assert_eq!(first.len(), 1, "ONE comment for the batch: {first:?}");
    let note = &first[0];
    for want in [
        "### reputation",
        "### geoip",
        "### actor_history",
        "### threat_context",
        IP,
        "NL",
        "60729",
        "| Event | Count |",
    ] {
        assert!(note.contains(want), "{want:?} in the comment:\n{note}");
    }
    assert!(note.to_lowercase().contains("tor"), "{note}");

    // paged once, when the findings raised it (it opened as medium, below PagerDuty's floor)
    let deadline = Instant::now() + Duration::from_secs(20);
    while pd.events().is_empty() {
        assert!(Instant::now() < deadline, "never paged\n{}", s.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let triggers: Vec<Value> = pd
        .events()
        .into_iter()
        .filter(|e| e["event_action"] == "trigger")
        .collect();
    assert_eq!(triggers.len(), 1, "{:?}", pd.events());
    assert_eq!(
        triggers[0]["payload"]["severity"], "critical",
        "{:?}",
        triggers[0]
    );
    let issue = &gh.issues(REPO)[0];
    assert!(
        issue.labels.iter().any(|l| l.contains("urgent")),
        "the issue follows the raise: {:?}",
        issue.labels
    );

    // the actor's events, attached as CSV
    let history = case["investigations"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["investigator"] == "actor_history"))
        .cloned()
        .expect("actor_history");
    let file = history["attachments"][0].as_str().expect("an attachment");
    let resp = s
        .client
        .get(format!("{}/api/v1/attachments/{file}", s.url))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/csv"),
        "{:?}",
        resp.headers()
    );
    let csv = resp.text().await.expect("body");
    assert!(csv.starts_with("time,name,account"), "{csv}");
    assert_eq!(csv.matches(IP).count(), 3, "{csv}");
    let (st, _) = s.get(&format!("/api/v1/attachments/{}", uuid_like())).await;
    assert_eq!(st, 404);

    // by hand, over the API: a second note, where nothing changed it says so in one line
    let post = |path: String| {
        let c = s.client.clone();
        let url = format!("{}{path}", s.url);
        async move {
            let r = c.post(url).send().await.expect("post");
            let st = r.status().as_u16();
            (st, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, body) = post(format!("{path}/investigate?only=nope")).await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope") && m.contains("geoip")),
        "{body}"
    );
    let (st, _) = post(format!("/api/v1/cases/{}/investigate", uuid_like())).await;
    assert_eq!(st, 404);
    let (st, body) = post(format!("{path}/investigate")).await;
    assert_eq!(st, 202, "{body}");
    // reputation, geoip, actor_history, threat_context, and exposure ([probe] is on by default).
    assert_eq!(
        body["investigators"].as_array().map(Vec::len),
        Some(5),
        "{body}"
    );
    let second = notes_settled(&s, &gh, 2).await;
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(
        second[1].contains("### threat_context (done)\n\nUnchanged since "),
        "{}",
        second[1]
    );

    // by hand, from the command line: one investigator
    let out = std::process::Command::new(common::bin())
        .args(["investigate", "--url", &s.url, "--only", "geoip", &case_id])
        .output()
        .expect("run irene investigate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("geoip"));
    let third = notes_settled(&s, &gh, 3).await;
    assert!(
        third[2].contains("### geoip") && !third[2].contains("### reputation"),
        "{}",
        third[2]
    );
    // still paged once
    assert_eq!(
        pd.events()
            .iter()
            .filter(|e| e["event_action"] == "trigger")
            .count(),
        1
    );
}

/// An id no record has.
fn uuid_like() -> &'static str {
    "0190c6a1-0000-7000-8000-000000000000"
}
