//! Exposure checks end to end: the real `irene` process gets a GuardDuty port-probe finding
//! whose instance's public IP is 127.0.0.1 and whose probed port is a real HTTP listener of
//! this test. With `[probe] allow = ["127.0.0.0/8"]` the issue's one comment shows the port
//! open with the page's title; without it, the port is denied and the listener sees nothing.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{all_done, read, the_case, wait_for};
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
async fn listener() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
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
    (port, accepted)
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
    let (port, accepted) = listener().await;

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
