//! Exposure checks end to end: the real `irene` process gets a GuardDuty port-probe finding
//! whose instance's public IP is 127.0.0.1 and whose probed port is a real HTTP listener of
//! this test. With `[probe] allow = ["127.0.0.0/8"]` the issue's one comment shows the port
//! open with the page's title; without it, the port is denied and the listener sees nothing.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{all_done, comment_with, read, the_case, wait_for};
use common::Server;
use irene_fakes::github::FakeGitHub;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REPO: &str = "acme/security-alerts";
const GH_TOKEN: &str = "ghp_testtoken0123456789abcdef";
const TITLE: &str = "Irene Exposure Test Page";

fn config(dir: &Path, gh: &FakeGitHub, allow: bool) -> String {
    let allow = if allow {
        "allow = [\"127.0.0.0/8\"]\n"
    } else {
        ""
    };
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

[[investigations]]
use = "exposure"

[probe]
connect_timeout = "1s"
banner_wait = "200ms"
http_timeout = "2s"
total_time = "10s"
{allow}"#,
        url = gh.url(),
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, &text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// A plain HTTP server on loopback that counts the connections it accepted.
async fn listener() -> (u16, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!("<html><head><title>{TITLE}</title></head></html>");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nServer: exposure-test\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, accepted, task)
}

/// The real port-probe finding, live, medium, its instance on 127.0.0.1 and probed on `port`.
fn finding(port: u16) -> serde_json::Value {
    let mut f = read("guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json");
    let d = &mut f["detail"];
    d["severity"] = json!(5);
    d["resource"]["instanceDetails"]["networkInterfaces"][0]["publicIp"] = json!("127.0.0.1");
    let probe = &mut d["service"]["action"]["portProbeAction"]["portProbeDetails"];
    let mut first = probe[0].clone();
    first["localPortDetails"] = json!({"portName": "Unknown", "port": port});
    *probe = json!([first]);
    f
}

/// Runs the finding through a fresh server; the one exposure note posted on its issue.
async fn run(allow: bool, port: u16) -> (String, serde_json::Value) {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &gh, allow);
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", &cfg],
        &[("GH_TOKEN", GH_TOKEN)],
    );
    let (st, body) = s.ingest("aws.guardduty", finding(port).to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let case = wait_for(
        &s,
        "the exposure investigation",
        Duration::from_secs(30),
        all_done,
        &format!("/api/v1/cases/{case_id}"),
    )
    .await;
    let inv = case["investigations"][0].clone();
    assert_eq!(inv["investigator"], "exposure", "{case}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let notes = loop {
        let issues = gh.issues(REPO);
        let notes: Vec<String> = issues
            .first()
            .map(|i| {
                i.comments
                    .iter()
                    .map(|c| c.body.clone())
                    .filter(|b| b.contains("exposure"))
                    .collect()
            })
            .unwrap_or_default();
        let (_, status) = s.get("/api/v1/status").await;
        if !notes.is_empty() && status["outbox_pending"] == 0 {
            break notes;
        }
        assert!(Instant::now() < deadline, "no note\n{}", s.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gh.issues(REPO)[0].comments.len(), notes.len());
    assert_eq!(notes.len(), 1, "exactly one note: {notes:?}");
    (notes[0].clone(), inv)
}

#[tokio::test]
async fn an_allowed_port_is_probed_and_a_denied_one_is_never_touched() {
    let (port, accepted, _server) = listener().await;

    let (note, inv) = run(true, port).await;
    assert_eq!(inv["status"], "done", "{inv}");
    assert_eq!(inv["findings"]["open"], true, "{inv}");
    assert_eq!(inv["findings"]["http"][0]["title"], TITLE, "{inv}");
    assert!(
        note.contains(&format!(
            "| 127.0.0.1 | {port} | open | http | 200 {TITLE} |"
        )),
        "{note}"
    );
    assert!(
        note.contains("no cloud credentials: only the alert's own addresses were probed"),
        "{note}"
    );
    assert!(accepted.load(Ordering::SeqCst) >= 1);

    let before = accepted.load(Ordering::SeqCst);
    let (note, inv) = run(false, port).await;
    assert_eq!(inv["findings"]["open"], false, "{inv}");
    assert_eq!(inv["findings"]["denied"], 1, "{inv}");
    assert!(
        note.contains(&format!(
            "| 127.0.0.1 | {port} | denied: loopback (127.0.0.0/8) |"
        )),
        "{note}"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        before,
        "the listener saw no connection"
    );
}

/// The issue's SCC case end to end: an `OPEN_FIREWALL` finding; the Compute stand-in says what
/// sits behind the firewall (an instance whose external address is this test's web server);
/// the comment has the target table and a real PNG screenshot; then the firewall is deleted
/// and the server stopped, and the re-check resolves the case by scan, which closes the issue.
#[tokio::test]
async fn an_open_firewall_is_looked_up_probed_shown_and_closed_by_its_recheck() {
    use irene_fakes::{FakeGcpCompute, GcpFirewall, GcpInstance};
    let (port, accepted, server) = listener().await;
    let gcp = FakeGcpCompute::start().await;
    gcp.set_token("ya29.test-token");
    gcp.put_firewall(
        "test-project",
        GcpFirewall {
            name: "open-cassandra-port-tcp-7199".into(),
            id: "4695668982209007936".into(),
            network: "default".into(),
            source_ranges: vec!["0.0.0.0/0".into()],
            allowed: vec![("tcp".into(), vec![port.to_string()])],
            target_tags: vec!["cassandra".into()],
            target_service_accounts: vec![],
            disabled: false,
        },
    );
    gcp.add_instance(
        "test-project",
        GcpInstance {
            name: "db-1".into(),
            zone: "us-central1-a".into(),
            network: "default".into(),
            internal_ip: "10.128.0.2".into(),
            nat_ip: Some("127.0.0.1".into()),
            tags: vec!["cassandra".into()],
            service_accounts: vec![],
        },
    );
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &gh, true);
    let mut text = std::fs::read_to_string(&cfg).expect("config").replace(
        "use = \"exposure\"\n",
        "use = \"exposure\"\nevery = \"6h\"\n",
    );
    text.push_str(&format!(
        "\n[cloud.gcp]\nenabled = true\ntoken = {{ static = \"ya29.test-token\" }}\nendpoint = \"{}\"\n",
        gcp.url()
    ));
    std::fs::write(&cfg, text).expect("config");
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", &cfg],
        &[("GH_TOKEN", GH_TOKEN)],
    );
    let (st, body) = s
        .ingest(
            "gcp.scc",
            read("gcp-scc/scc_sha_open_firewall_active.json").to_string(),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("source=gcp.scc").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case_id = cases[0]["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/cases/{case_id}");
    let case = wait_for(
        &s,
        "the exposure check",
        Duration::from_secs(60),
        all_done,
        &path,
    )
    .await;
    let inv = case["investigations"][0].clone();
    assert_eq!(inv["status"], "done", "{inv}");
    let f = &inv["findings"];
    assert_eq!(f["rule"]["open_to_world"], true, "{inv}");
    assert_eq!(f["open"], true, "{inv}");
    assert_eq!(f["http"][0]["title"], TITLE, "{inv}");
    assert_eq!(f["screenshots"], 1, "{inv}");
    assert!(accepted.load(Ordering::SeqCst) >= 1);
    // the screenshot is a real PNG of some size
    let shot = inv["attachments"][0].as_str().expect("an attachment");
    let resp = s
        .client
        .get(format!("{}/api/v1/attachments/{shot}", s.url))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.expect("bytes");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 2000,
        "{} bytes",
        png.len()
    );
    assert_eq!(case["rechecks"][0]["investigator"], "exposure", "{case}");

    // the comment: the table, the screenshot linked from Irene
    let note = comment_with(&s, &gh, REPO, "exposure").await;
    assert!(
        note.contains(&format!("| 127.0.0.1 | {port} | open")),
        "{note}"
    );
    assert!(note.contains("https://irene.example/files/"), "{note}");

    // fixed: the firewall no longer lets the world in and nothing listens any more
    gcp.put_firewall(
        "test-project",
        GcpFirewall {
            name: "open-cassandra-port-tcp-7199".into(),
            id: "4695668982209007936".into(),
            network: "default".into(),
            source_ranges: vec!["0.0.0.0/0".into()],
            allowed: vec![("tcp".into(), vec![port.to_string()])],
            target_tags: vec!["cassandra".into()],
            target_service_accounts: vec![],
            disabled: true,
        },
    );
    server.abort();
    let _ = server.await;
    let (st, body) = s
        .post_raw(&format!("{path}/investigate?only=exposure"), "", &[])
        .await;
    assert_eq!(st, 202, "{body}");
    let case = wait_for(
        &s,
        "the resolve by scan",
        Duration::from_secs(60),
        |c| c["status"] == "resolved",
        &path,
    )
    .await;
    assert_eq!(case["resolution"], "scan", "{case}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while gh.issues(REPO)[0].state != "closed" {
        assert!(
            Instant::now() < deadline,
            "the issue stays open\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
