//! The web console as a person sees it: a real `irene serve` process, looked at in real headless
//! Chromium through chromedriver (`scripts/chromedriver.sh` installs both). Each test leaves a
//! screenshot of the page it ends on in `$CARGO_TARGET_DIR/console-shots/<test>.png`; the ignored
//! `docs_screenshots` writes one of every page to `docs/console/`.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::investigation::{all_done, cloudtrail, read as read_json, the_case, wait_for};
use common::{fixture, Server};
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const XSS_TITLE: &str = "<img src=x onerror=alert(1)>";
/// The title of the web page the exposure check finds (and screenshots).
const PAGE_TITLE: &str = "Irene Console Test Page";

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).expect("fixture")
}

/// Posts the GuardDuty and SCC fixtures; the cases once the pipeline has them.
async fn post_findings(s: &Server) -> Vec<Value> {
    let (st, body) = s
        .ingest(
            "aws.guardduty",
            read("guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json"),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let (st, body) = s
        .ingest("gcp.scc", read("gcp-scc/scc_sha_open_firewall_active.json"))
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    s.all_cases("").await
}

/// A plain web page on loopback (what the exposure check probes and screenshots).
async fn web_page() -> (u16, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = format!(
                    "<html><head><title>{PAGE_TITLE}</title></head><body style=\"background:#fde\">\
                     <h1>{PAGE_TITLE}</h1><p>An admin panel that should not be public.</p></body></html>"
                );
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, task)
}

/// A server whose exposure check may probe loopback.
fn exposure_server(dir: &Path) -> Server {
    let cfg = dir.join("irene.toml");
    std::fs::write(
        &cfg,
        r#"[[investigations]]
use = "exposure"

[probe]
connect_timeout = "1s"
banner_wait = "200ms"
http_timeout = "2s"
total_time = "10s"
allow = ["127.0.0.0/8"]
"#,
    )
    .expect("config");
    Server::start(
        &dir.join("data"),
        &["--config", cfg.to_str().expect("utf-8")],
    )
}

/// The port-probe finding, medium, its instance on 127.0.0.1 and probed on `port`.
fn probed_finding(port: u16) -> Value {
    let mut f = read_json("guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json");
    let d = &mut f["detail"];
    d["severity"] = json!(5);
    d["resource"]["instanceDetails"]["networkInterfaces"][0]["publicIp"] = json!("127.0.0.1");
    let probe = &mut d["service"]["action"]["portProbeAction"]["portProbeDetails"];
    let mut first = probe[0].clone();
    first["localPortDetails"] = json!({"portName": "Unknown", "port": port});
    *probe = json!([first]);
    f
}

/// Posts the probed finding and waits for its exposure check; the case's id.
async fn investigated_case(s: &Server, port: u16) -> String {
    let (st, body) = s
        .ingest("aws.guardduty", probed_finding(port).to_string())
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let id = the_case(s).await;
    let case = wait_for(
        s,
        "the exposure check",
        Duration::from_secs(60),
        all_done,
        &format!("/api/v1/cases/{id}"),
    )
    .await;
    assert_eq!(
        case["investigations"][0]["findings"]["screenshots"], 1,
        "{case}"
    );
    id
}

/// Waits (10 s) until the browser is on a URL ending with `suffix`.
async fn on_page(b: &Browser, suffix: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = b.url().await;
        if url.ends_with(suffix) {
            return;
        }
        assert!(Instant::now() < deadline, "on {url}, not {suffix}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (10 s) until the first `img` matching `css` has loaded; its natural width.
async fn loaded_image_width(b: &Browser, css: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let w = b
            .js(
                "const i = document.querySelector(arguments[0]); \
                 return i && i.complete ? i.naturalWidth : -1;",
                vec![json!(css)],
            )
            .await;
        if let Some(w) = w.as_u64().filter(|w| *w > 0) {
            return w;
        }
        assert!(Instant::now() < deadline, "{css} did not load: {w}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn overview_counts_the_findings_and_the_case_list_shows_them() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let cases = post_findings(&s).await;
    assert_eq!(cases.len(), 2, "{cases:?}");

    let b = Browser::start().await;
    b.goto(&s.url).await;
    assert_eq!(b.client.title().await.unwrap(), "Overview · Irene");
    for sev in ["urgent", "high", "medium", "low", "info"] {
        let n = cases.iter().filter(|c| c["severity"] == sev).count();
        let shown = b.text(&format!("#open-severity-{sev} td.num")).await;
        assert_eq!(shown, n.to_string(), "{sev}");
    }
    assert_eq!(b.text("#open-total td.num").await, "2");
    let sources = b.texts("tr.open-source td:first-child").await;
    assert!(
        sources.contains(&"aws.guardduty".to_string()),
        "{sources:?}"
    );
    assert!(sources.contains(&"gcp.scc".to_string()), "{sources:?}");

    // to the case list, as a person would: the header's link
    b.client
        .find(fantoccini::Locator::LinkText("All cases"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    on_page(&b, "/cases").await;
    assert_eq!(b.count("tr.case").await, 2);
    let titles = b.texts("tr.case a[href^=\"/cases/\"]").await;
    for c in &cases {
        let title = c["title"].as_str().unwrap();
        assert!(titles.iter().any(|t| t == title), "{title} in {titles:?}");
    }
    let visible = b
        .client
        .find(fantoccini::Locator::Css("table.cases"))
        .await
        .unwrap()
        .is_displayed()
        .await
        .unwrap();
    assert!(visible, "the table is shown");
    b.shot("overview_counts_the_findings_and_the_case_list_shows_them")
        .await;
    b.close().await;
}

#[tokio::test]
async fn a_case_opens_from_its_row_with_timeline_investigation_and_screenshot() {
    let (port, _page) = web_page().await;
    let dir = tempfile::tempdir().expect("tmp");
    let s = exposure_server(dir.path());
    let id = investigated_case(&s, port).await;

    let b = Browser::start().await;
    b.goto(&format!("{}/cases", s.url)).await;
    assert_eq!(b.count("tr.case").await, 1);
    let link = b
        .client
        .find(fantoccini::Locator::Css("tr.case td a"))
        .await
        .unwrap();
    let title = link.text().await.unwrap();
    link.click().await.unwrap();
    on_page(&b, &format!("/cases/{id}")).await;

    assert!(b.text("h1").await.ends_with(&title), "the case's title");
    assert!(b.count("#timeline tbody tr").await >= 1, "a timeline");
    let kinds = b.texts("#timeline tbody tr td:nth-child(2)").await;
    assert!(!kinds.iter().any(|k| k.trim().is_empty()), "{kinds:?}");
    // the investigation: its heading, its summary as text, and its screenshot as an image
    let heads = b.texts("#investigations article.investigation h3").await;
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("exposure "), "{heads:?}");
    let summary = b.text("#investigations pre.summary-text").await;
    assert!(summary.contains("127.0.0.1"), "{summary}");
    let width = loaded_image_width(&b, "#investigations figure img").await;
    assert!(width >= 300, "a real screenshot, {width} px wide");
    b.js(
        "document.querySelector('#investigations').scrollIntoView();",
        vec![],
    )
    .await;
    b.shot("a_case_opens_from_its_row_with_timeline_investigation_and_screenshot")
        .await;
    b.close().await;
}

#[tokio::test]
async fn markup_in_an_alert_is_text_and_inline_script_is_blocked() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let (st, body) = s
        .ingest(
            "generic",
            json!({"key": "xss", "title": XSS_TITLE, "type": "t", "severity": "high"}).to_string(),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;

    let b = Browser::start().await;
    b.goto(&format!("{}/cases", s.url)).await;
    assert_eq!(
        b.texts("tr.case a[href^=\"/cases/\"]").await,
        vec![XSS_TITLE]
    );
    assert_eq!(b.count("img[src=x]").await, 0);
    b.client
        .find(fantoccini::Locator::Css("tr.case td a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let cases = s.all_cases("").await;
    let id = cases[0]["id"].as_str().unwrap();
    on_page(&b, &format!("/cases/{id}")).await;
    assert_eq!(b.text("h1").await, format!("high {XSS_TITLE}"));
    assert_eq!(
        b.client.title().await.unwrap(),
        format!("{XSS_TITLE} · Irene")
    );
    assert_eq!(b.count("img").await, 0, "no image on this page at all");
    assert!(!b.dialog_open().await, "no alert() ran");
    // and the policy would stop a script that got in anyway
    let ran = b
        .js(
            "const s = document.createElement('script'); \
             s.textContent = 'window.ireneInlineRan = true'; \
             document.body.appendChild(s); \
             return window.ireneInlineRan === true;",
            vec![],
        )
        .await;
    assert_eq!(ran, json!(false), "the CSP blocks inline script");
    b.shot("markup_in_an_alert_is_text_and_inline_script_is_blocked")
        .await;
    b.close().await;
}

/// The docs' server: the exposure check on loopback, a triage rule file and a GitHub output on
/// `gh`, so that the pages have something to show.
fn docs_server(dir: &Path, gh: &FakeGitHub) -> Server {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("main.yaml"),
        "- name: guardduty-recon\n  when: alert.source == \"aws.guardduty\"\n  severity: medium\n",
    )
    .expect("rules");
    let cfg = dir.join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"triage = ["{rules}"]

[[investigations]]
use = "exposure"

[probe]
connect_timeout = "1s"
banner_wait = "200ms"
http_timeout = "2s"
total_time = "10s"
allow = ["127.0.0.0/8"]

[[outputs]]
name = "security-issues"
type = "github"
repository = "{DOCS_REPO}"
token = "{DOCS_GH_TOKEN}"
api_url = "{gh}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
"#,
            rules = rules.display(),
            gh = gh.url(),
        ),
    )
    .expect("config");
    Server::start(
        &dir.join("data"),
        &["--config", cfg.to_str().expect("utf-8")],
    )
}

const DOCS_REPO: &str = "acme/security";
const DOCS_GH_TOKEN: &str = "ghp_docsscreenshots0123456789";

/// Clears the field `css` and types `text` into it.
async fn type_into(b: &Browser, css: &str, text: &str) {
    let field = b.client.find(fantoccini::Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks `css` and waits until the browser is on a URL ending with `suffix`.
async fn submit(b: &Browser, css: &str, suffix: &str) {
    b.client
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    on_page(b, suffix).await;
}

/// A sign-in page, as a console with an account shows it: its own server and data dir.
async fn signin_shot(b: &Browser, out: &Path) {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let mut child = std::process::Command::new(common::bin())
        .args(["user", "add", "ana", "--role", "admin", "--password-stdin"])
        .arg("--data-dir")
        .arg(&data)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"ana-password-123\n").unwrap();
    assert!(child.wait().unwrap().success());
    let s = Server::start(&data, &[]);
    b.goto(&s.url).await;
    on_page(b, "/signin?next=%2F").await;
    b.shot_to(&out.join("signin.png")).await;
}

/// The docs' screenshots: every console page at 1280×900, written to `docs/console/`. Run with
/// `cargo nextest run --workspace --run-ignored only -E 'test(docs_screenshots)'`.
#[tokio::test]
async fn the_pages_fit_a_phone_without_sideways_scrolling() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let cases = post_findings(&s).await;
    let id = cases[0]["id"].as_str().unwrap().to_string();
    let b = Browser::start().await;
    b.client.set_window_size(390, 844).await.unwrap();
    for path in [
        "/",
        "/cases",
        &format!("/cases/{id}"),
        "/events",
        "/settings",
        "/sources",
    ] {
        b.goto(&format!("{}{path}", s.url)).await;
        let fits = b
            .js(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await;
        let (page, view) = (fits[0].as_u64().unwrap(), fits[1].as_u64().unwrap());
        assert!(
            page <= view + 1,
            "{path}: {page} px wide in a {view} px window"
        );
    }
    b.shot("the_pages_fit_a_phone").await;
    b.close().await;
}

#[tokio::test]
async fn keys_move_through_the_list_and_the_list_refreshes_itself() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    for key in ["k1", "k2", "k3"] {
        let (st, body) = s
            .ingest("generic", common::generic_alert(key, "high").to_string())
            .await;
        assert_eq!(st, 202, "{body}");
    }
    s.drained().await;

    let b = Browser::start().await;
    b.goto(&format!("{}/cases", s.url)).await;
    assert_eq!(b.count("tr.case").await, 3);
    let body = b
        .client
        .find(fantoccini::Locator::Css("body"))
        .await
        .unwrap();
    body.send_keys("jj").await.unwrap();
    let marked = b
        .js(
            "return Array.from(document.querySelectorAll('tr.case')).map(r => r.classList.contains('kb-current'));",
            vec![],
        )
        .await;
    assert_eq!(
        marked,
        json!([false, true, false]),
        "j twice: the second row"
    );
    body.send_keys("k").await.unwrap();
    let first = b
        .js(
            "return document.querySelector('tr.case').classList.contains('kb-current');",
            vec![],
        )
        .await;
    assert_eq!(first, json!(true), "k: back to the first row");
    body.send_keys("/").await.unwrap();
    let focused = b
        .js(
            "return document.activeElement.getAttribute('name');",
            vec![],
        )
        .await;
    assert_eq!(focused, json!("q"), "/ goes to the search box");
    // typing in the box is typing, not moving
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys("jk")
        .await
        .unwrap();
    assert_eq!(
        b.js("return document.activeElement.value;", vec![]).await,
        json!("jk")
    );
    b.js("document.activeElement.blur(); return null;", vec![])
        .await;
    b.shot("keys_move_through_the_list").await;

    // a new case shows up without a reload (the page re-reads itself every 15 s)
    let (st, body) = s
        .ingest("generic", common::generic_alert("k4", "high").to_string())
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let deadline = Instant::now() + Duration::from_secs(40);
    while b.count("tr.case").await < 4 {
        assert!(Instant::now() < deadline, "the list did not refresh itself");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    b.close().await;
}

#[tokio::test]
#[ignore = "writes docs/console/*.png; run by hand to refresh the docs"]
async fn docs_screenshots() {
    let (port, _page) = web_page().await;
    let gh = FakeGitHub::start().await;
    gh.add_repo(DOCS_REPO);
    gh.add_token(DOCS_GH_TOKEN);
    let dir = tempfile::tempdir().expect("tmp");
    let s = docs_server(dir.path(), &gh);
    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    let (st, body) = s
        .ingest("gcp.scc", read("gcp-scc/scc_sha_open_firewall_active.json"))
        .await;
    assert_eq!(st, 202, "{body}");
    let (st, body) = s
        .ingest(
            "generic",
            json!([
                {"key": "docs/1", "title": "S3 bucket made public", "type": "s3.public", "severity": "high", "account": "111111111111", "resource": {"id": "arn:aws:s3:::acme-reports", "kind": "Bucket"}},
                {"key": "docs/2", "title": "Root account used", "type": "iam.root", "severity": "urgent", "account": "111111111111"},
                {"key": "docs/3", "title": "Security group open to the world", "type": "ec2.sg", "severity": "low", "account": "222222222222"},
                {"title": "a finding its sender forgot to give a key"}
            ])
            .to_string(),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    let id = investigated_case(&s, port).await;
    let by_title = |cases: &[Value], title: &str| -> String {
        cases
            .iter()
            .find(|c| c["title"] == title)
            .and_then(|c| c["id"].as_str())
            .unwrap_or_else(|| panic!("no case {title:?} in {cases:?}"))
            .to_string()
    };
    let cases = s.all_cases("").await;
    let root = by_title(&cases, "Root account used");
    let bucket = by_title(&cases, "S3 bucket made public");

    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
    let b = Browser::start().await;
    // a runbook for the probed finding, written in the settings editor
    b.goto(&format!("{}/settings/runbooks", s.url)).await;
    type_into(
        &b,
        "form.editor fieldset.new-file input[name=name]",
        "port-probe.md",
    )
    .await;
    type_into(
        &b,
        "form.editor fieldset.new-file textarea",
        "---\ntypes: [\"Recon:EC2/*\"]\n---\n# Port probes\n\n1. Check the **security group** of the instance.\n2. Close the port, or note why it is open.\n3. Resolve with the reason.\n",
    )
    .await;
    type_into(&b, "form.editor input[name=comment]", "port probe runbook").await;
    submit(&b, "form.editor button[value=apply]", "?applied=1").await;
    // actions a responder took, for the silences page and the audit log
    b.goto(&format!("{}/cases/{bucket}", s.url)).await;
    type_into(
        &b,
        "#silence input[name=comment]",
        "reports bucket is public on purpose",
    )
    .await;
    submit(&b, "#silence button[type=submit]", "&silence=1").await;
    b.goto(&format!("{}/cases/{root}", s.url)).await;
    type_into(
        &b,
        "#resolve input[name=reason]",
        "break-glass login, ticket OPS-142",
    )
    .await;
    submit(&b, "#resolve button[type=submit]", "?done=resolved").await;

    let pages: [(&str, String); 14] = [
        ("overview", "/".into()),
        ("cases", "/cases".into()),
        ("case", format!("/cases/{id}")),
        ("events", "/events".into()),
        ("dead-letters", "/deliveries?state=dead".into()),
        ("quarantine", "/quarantine".into()),
        ("rules", "/rules".into()),
        ("settings", "/settings".into()),
        ("settings-triage", "/settings/triage".into()),
        ("silences", "/silences".into()),
        ("sources", "/sources".into()),
        ("source", "/sources/aws.guardduty".into()),
        ("runbooks", "/runbooks".into()),
        ("audit", "/audit".into()),
    ];
    for (name, path) in &pages {
        b.goto(&format!("{}{path}", s.url)).await;
        b.shot_to(&out.join(format!("{name}.png"))).await;
    }
    b.goto(&format!("{}/cases/{id}", s.url)).await;
    loaded_image_width(&b, "#investigations figure img").await;
    b.js(
        "document.querySelector('#investigations').scrollIntoView();",
        vec![],
    )
    .await;
    b.shot_to(&out.join("case-investigation.png")).await;
    b.js(
        "document.querySelector('#runbook').scrollIntoView();",
        vec![],
    )
    .await;
    b.shot_to(&out.join("case-actions.png")).await;

    // the playground with a result (the payload pasted at once, not typed)
    b.goto(&format!("{}/rules/playground", s.url)).await;
    b.js(
        "document.querySelector('select[name=source]').value = 'aws.guardduty'; \
         document.querySelector('textarea[name=payload]').value = arguments[0];",
        vec![json!(String::from_utf8(read(
            "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json"
        ))
        .unwrap())],
    )
    .await;
    submit(
        &b,
        "form.playground button[type=submit]",
        "/rules/playground",
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.count("#playground-results").await == 0 {
        assert!(Instant::now() < deadline, "no playground result");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.js(
        "document.querySelector('#playground-results').scrollIntoView();",
        vec![],
    )
    .await;
    b.shot_to(&out.join("playground.png")).await;

    signin_shot(&b, &out).await;
    b.close().await;
}
