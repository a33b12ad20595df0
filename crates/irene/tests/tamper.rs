//! The web tamper watch end to end: the real `irene` process watches a page served by the test;
//! a skimmer script from a new host raises an `irene.tamper` case, the page back to its
//! baseline resolves it, and accepting a change makes it the new baseline.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAGE: &str = r#"<!doctype html><html><head><title>Shop</title>
<script src="/app.js"></script></head>
<body><h1>Welcome</h1><p class="clock">CLOCK</p><form action="/pay"></form></body></html>"#;

/// Serves whatever `page` holds at `/`, with a clock that ticks on every request.
async fn site(page: Arc<Mutex<String>>) -> String {
    let ticks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            let ticks = ticks.clone();
            async move {
                let n = ticks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let html = page.lock().unwrap().replace("CLOCK", &n.to_string());
                axum::response::Html(html)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

async fn until(s: &Server, what: &str, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = s.get(path).await;
        if ok(&body) {
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

fn tamper_case(cases: &Value) -> Option<Value> {
    cases["cases"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["source"] == "irene.tamper"))
        .cloned()
}

#[tokio::test]
async fn a_changed_page_opens_a_case_that_its_return_resolves() {
    let page = Arc::new(Mutex::new(PAGE.to_string()));
    let url = site(page.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[watch]]\nname = \"shop\"\nurl = \"{url}\"\nevery = \"1s\"\nignore = [\".clock\"]\n"
        ),
    )
    .expect("cfg");
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().expect("path")],
    );
    until(&s, "the baseline", "/api/v1/watch", |b| {
        b["watches"][0]["baseline_at"].is_string() && b["watches"][0]["changed"] == false
    })
    .await;
    // the clock ticks on every request: ignored, nothing opens
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(tamper_case(&s.get("/api/v1/cases").await.1).is_none());

    // a skimmer
    *page.lock().unwrap() = PAGE.replace(
        "<script src=\"/app.js\"></script>",
        "<script src=\"/app.js\"></script><script src=\"https://skimmer.example.net/x.js\"></script>",
    );
    let cases = until(&s, "the tamper case", "/api/v1/cases", |b| {
        tamper_case(b).is_some_and(|c| c["status"] == "open")
    })
    .await;
    let case = tamper_case(&cases).expect("case");
    assert_eq!(case["severity"], "high", "{case}");
    let (_, detail) = s
        .get(&format!(
            "/api/v1/cases/{}",
            case["id"].as_str().expect("id")
        ))
        .await;
    let alert_id = detail["last_alert_id"].as_str().expect("alert id");
    let (_, alert) = s.get(&format!("/api/v1/alerts/{alert_id}")).await;
    let text = alert.to_string();
    assert!(
        text.contains("new external script host: skimmer.example.net"),
        "{alert}"
    );
    let (_, watch) = s.get("/api/v1/watch").await;
    assert_eq!(watch["watches"][0]["changed"], true, "{watch}");

    // restored: the case resolves
    *page.lock().unwrap() = PAGE.to_string();
    until(&s, "the resolve", "/api/v1/cases", |b| {
        tamper_case(b).is_some_and(|c| c["status"] == "resolved")
    })
    .await;

    // a wanted change, accepted as the new baseline: resolved, and quiet after
    *page.lock().unwrap() = PAGE.replace("Welcome", "Welcome to the new shop");
    until(&s, "the reopen", "/api/v1/cases", |b| {
        tamper_case(b).is_some_and(|c| c["status"] == "open")
    })
    .await;
    let (st, body) = s.post_raw("/api/v1/watch/shop/accept", "", &[]).await;
    assert_eq!(st, 200, "{body}");
    until(&s, "the accept", "/api/v1/cases", |b| {
        tamper_case(b).is_some_and(|c| c["status"] == "resolved")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, cases) = s.get("/api/v1/cases").await;
    assert_eq!(tamper_case(&cases).expect("case")["status"], "resolved");
    let (st, _) = s.post_raw("/api/v1/watch/nope/accept", "", &[]).await;
    assert_eq!(st, 404);
}

/// With screenshots (the page on loopback, allowed): the watch keeps the baseline's picture
/// and the change's, and the `tamper` investigation attaches both to the case, as real PNGs,
/// linked from the issue's comment.
#[tokio::test]
async fn a_tamper_case_gets_before_and_after_screenshots() {
    use common::investigation::{all_done, comment_with, wait_for};
    use irene_fakes::github::FakeGitHub;
    const REPO: &str = "acme/web";
    const TOKEN: &str = "ghp_tampertest0123456789abcdef";
    let page = Arc::new(Mutex::new(PAGE.to_string()));
    let url = site(page.clone()).await;
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"public_url = "https://irene.example"

[[watch]]
name = "shop"
url = "{url}"
every = "1s"
ignore = [".clock"]

[probe]
allow = ["127.0.0.0/8"]

[[outputs]]
name = "issues"
type = "github"
repository = "{REPO}"
token = "${{GH_TOKEN}}"
api_url = "{api}"
pace = "5ms"
timeout = "2s"
"#,
            api = gh.url()
        ),
    )
    .expect("cfg");
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", cfg.to_str().expect("path")],
        &[("GH_TOKEN", TOKEN)],
    );
    until(&s, "the baseline", "/api/v1/watch", |b| {
        b["watches"][0]["baseline_at"].is_string()
    })
    .await;
    // the change is visible: a banner a skimmer would not show, but a defacement would
    *page.lock().unwrap() = PAGE.replace(
        "<h1>Welcome</h1>",
        "<h1 style=\"background:#c00;color:#fff;font-size:64px\">HACKED BY SOMEONE</h1>",
    );
    let cases = until(&s, "the tamper case", "/api/v1/cases", |b| {
        tamper_case(b).is_some_and(|c| c["status"] == "open")
    })
    .await;
    let id = tamper_case(&cases).expect("case")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let path = format!("/api/v1/cases/{id}");
    let case = wait_for(
        &s,
        "the investigations",
        Duration::from_secs(60),
        all_done,
        &path,
    )
    .await;
    let inv = case["investigations"]
        .as_array()
        .expect("investigations")
        .iter()
        .find(|i| i["investigator"] == "tamper")
        .cloned()
        .unwrap_or_else(|| panic!("a tamper investigation: {case}"));
    assert_eq!(inv["findings"]["watch"], "shop", "{inv}");
    assert_eq!(inv["findings"]["screenshots"], 2, "{inv}\n{}", s.logs());
    let mut pngs = Vec::new();
    for a in inv["attachments"].as_array().expect("attachments") {
        let resp = s
            .client
            .get(format!(
                "{}/api/v1/attachments/{}",
                s.url,
                a.as_str().expect("id")
            ))
            .send()
            .await
            .expect("get");
        assert_eq!(resp.headers()["content-type"], "image/png");
        let png = resp.bytes().await.expect("bytes").to_vec();
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
            "{} bytes",
            png.len()
        );
        pngs.push(png);
    }
    assert_eq!(pngs.len(), 2);
    assert_ne!(pngs[0], pngs[1], "before and after show different pages");
    let note = comment_with(&s, &gh, REPO, "![before]").await;
    assert!(
        note.contains("![after](https://irene.example/files/"),
        "{note}"
    );
}
