//! The web console's read-only pages, served by a real `irene serve` process.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{
    all_done, cloudtrail, finding, read as read_json, the_case, wait_for, IP,
};
use common::{fixture, generic_alert, Server};
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
use std::time::Duration;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'";

struct Page {
    status: u16,
    content_type: String,
    csp: String,
    nosniff: bool,
    body: String,
}

async fn page(s: &Server, path: &str) -> Page {
    let mut req = s.client.get(format!("{}{path}", s.url));
    if let Some(t) = &s.token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    Page {
        status: resp.status().as_u16(),
        content_type: header("content-type"),
        csp: header("content-security-policy"),
        nosniff: header("x-content-type-options") == "nosniff",
        body: resp.text().await.expect("body"),
    }
}

/// A page without the console's own script tag (any other `<script` is an injection).
fn without_ours(body: &str) -> String {
    body.replace(r#"<script src="/console.js" defer></script>"#, "")
}

/// What askama writes for a text value in HTML (numeric entities: `&#60;` is `&lt;`).
fn escaped(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

/// The `<tr …>` row that starts with `marker`, up to its `</tr>`.
fn row<'a>(body: &'a str, marker: &str) -> &'a str {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {body}"));
    let rest = &body[start..];
    &rest[..rest.find("</tr>").expect("row end")]
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).expect("fixture")
}

const XSS_TITLE: &str = "<img src=x onerror=alert(1)>";
/// The title as the pages must show it: text, not markup.
const ESCAPED_XSS: &str = "&#60;img src=x onerror=alert(1)&#62;";

/// A server with a GuardDuty finding, an SCC finding and an alert whose title is markup.
async fn seeded(dir: &std::path::Path) -> (Server, Vec<Value>) {
    let s = Server::start(dir, &[]);
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
    let (st, body) = s
        .ingest(
            "generic",
            json!({"key": "xss", "title": XSS_TITLE, "type": "t", "severity": "high"}).to_string(),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 3, "{cases:?}");
    (s, cases)
}

fn by_source<'a>(cases: &'a [Value], source: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["source"] == source)
        .unwrap_or_else(|| panic!("no {source} case in {cases:?}"))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("no {field} in {v}"))
}

#[tokio::test]
async fn overview_counts_open_cases_and_shows_the_pipeline() {
    let dir = tempfile::tempdir().expect("tmp");
    let (s, cases) = seeded(dir.path()).await;

    let p = page(&s, "/").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.content_type.starts_with("text/html"),
        "{}",
        p.content_type
    );
    assert_eq!(p.csp, CSP);
    assert!(p.nosniff);
    let b = &p.body;
    assert!(
        b.contains("No accounts configured: this console is open to anyone on this machine"),
        "{b}"
    );
    assert!(b.contains(r#"<link rel="stylesheet" href="/console.css">"#));
    assert_eq!(b.matches("<script").count(), 1, "one script: {b}");
    assert!(
        b.contains(r#"<script src="/console.js" defer></script>"#),
        "ours, from a file"
    );

    // by severity, as the API counts them
    for sev in ["urgent", "high", "medium", "low", "info"] {
        let n = cases.iter().filter(|c| c["severity"] == sev).count();
        let r = row(b, &format!(r#"id="open-severity-{sev}""#));
        assert!(
            r.contains(&format!(r#"<td class="num">{n}</td>"#)),
            "{sev}: {r}"
        );
    }
    assert!(row(b, r#"id="open-total""#).contains(r#"<td class="num">3</td>"#));
    // by source
    for source in ["aws.guardduty", "gcp.scc", "generic"] {
        assert!(
            b.contains(&format!(
                r#"source={source}">{source}</a></td><td class="num">1</td>"#
            )),
            "{source} counted once: {b}"
        );
    }
    // the pipeline's health, from the status endpoint's data
    assert!(row(b, r#"id="inbox-pending""#).contains(r#"<td class="num">0</td>"#));
    assert!(row(b, r#"id="dead-letters""#).contains(r#">0</td>"#));
    assert!(row(b, r#"id="quarantined""#).contains(r#">0</td>"#));
    let (_, status) = s.get("/api/v1/status").await;
    let workers = status["workers"].as_array().expect("workers");
    assert!(!workers.is_empty());
    for w in workers {
        let name = text(w, "name");
        assert!(
            b.contains(&format!(r#"<tr class="worker"><td>{name}</td>"#)),
            "worker {name} listed: {b}"
        );
    }

    let css = page(&s, "/console.css").await;
    assert_eq!(css.status, 200);
    assert!(
        css.content_type.starts_with("text/css"),
        "{}",
        css.content_type
    );
    assert!(css.body.contains("prefers-color-scheme: dark"));
    let js = page(&s, "/console.js").await;
    assert_eq!(js.status, 200);
    assert!(
        js.content_type.starts_with("text/javascript"),
        "{}",
        js.content_type
    );
    assert!(js.nosniff);
    assert!(js.body.contains("data-live"), "the live refresh is in it");
}

#[tokio::test]
async fn case_list_filters_and_escapes() {
    let dir = tempfile::tempdir().expect("tmp");
    let (s, cases) = seeded(dir.path()).await;
    let gd = by_source(&cases, "aws.guardduty");
    let scc = by_source(&cases, "gcp.scc");
    let gd_title = escaped(text(gd, "title"));
    let scc_title = escaped(text(scc, "title"));

    let p = page(&s, "/cases").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.csp, CSP);
    let b = &p.body;
    assert!(b.contains(&gd_title), "{gd_title} in {b}");
    assert!(b.contains(&scc_title), "{scc_title} in {b}");
    assert_eq!(b.matches(r#"<tr class="case">"#).count(), 3);
    assert!(b.contains(&format!(r#"<a href="/cases/{}">"#, text(gd, "id"))));
    assert!(b.contains(text(gd, "account")), "the account is shown");
    // markup in an alert is text
    assert!(b.contains(ESCAPED_XSS), "{b}");
    assert!(!b.contains("<img src=x"), "{b}");
    assert!(!b.contains("rel=\"next\""), "one page only");

    // a severity filter narrows the list to the cases of that severity
    let sev = text(gd, "severity");
    let want: Vec<&Value> = cases.iter().filter(|c| c["severity"] == sev).collect();
    assert!(want.len() < 3, "the filter must narrow: {cases:?}");
    let p = page(&s, &format!("/cases?severity={sev}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.body.matches(r#"<tr class="case">"#).count(), want.len());
    assert!(
        p.body.contains(&format!(
            r#"<p class="muted" id="count">{} matching</p>"#,
            want.len()
        )),
        "{}",
        p.body
    );
    assert!(p.body.contains(&gd_title));
    for c in &cases {
        let t = escaped(text(c, "title"));
        assert_eq!(p.body.contains(&t), c["severity"] == sev, "{t}");
    }
    assert!(
        p.body
            .contains(&format!(r#"<option value="{sev}" selected>"#)),
        "the filter is kept in the form"
    );
    // source and text filters go to the same store filter
    let p = page(&s, "/cases?source=gcp.scc").await;
    assert_eq!(p.body.matches(r#"<tr class="case">"#).count(), 1);
    assert!(p.body.contains(&scc_title));
    let p = page(&s, "/cases?q=onerror").await;
    assert_eq!(
        p.body.matches(r#"<tr class="case">"#).count(),
        1,
        "{}",
        p.body
    );
    assert!(p.body.contains("&#60;img src=x"));
    // the account filter, and the most severe first
    let account = text(gd, "account");
    let p = page(&s, &format!("/cases?account={account}")).await;
    assert_eq!(
        p.body.matches(r#"<tr class="case">"#).count(),
        1,
        "{}",
        p.body
    );
    assert!(p.body.contains(&gd_title));
    let p = page(&s, "/cases?sort=severity").await;
    let order: Vec<usize> = cases
        .iter()
        .map(|c| p.body.find(&escaped(text(c, "title"))).expect("listed"))
        .collect();
    let rank = |c: &Value| {
        ["info", "low", "medium", "high", "urgent"]
            .iter()
            .position(|s| c["severity"] == *s)
            .expect("severity")
    };
    for (i, a) in cases.iter().enumerate() {
        for (j, b) in cases.iter().enumerate() {
            if rank(a) > rank(b) {
                assert!(order[i] < order[j], "{} before {}", a["title"], b["title"]);
            }
        }
    }
    assert!(p.body.contains(r#"<option value="severity" selected>"#));
    let p = page(&s, "/cases?sort=bogus").await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("sort must be"), "{}", p.body);

    // a bad filter is an HTML error page
    let p = page(&s, "/cases?severity=bogus").await;
    assert_eq!(p.status, 400);
    assert!(p.content_type.starts_with("text/html"));
    assert!(p.body.contains("unknown severity"), "{}", p.body);
}

#[tokio::test]
async fn case_list_pages_with_a_next_link() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let batch: Vec<Value> = (0..55)
        .map(|i| generic_alert(&format!("k{i:02}"), "low"))
        .collect();
    let (st, body) = s.ingest("generic", Value::Array(batch).to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;

    let first = page(&s, "/cases?status=open").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body.matches(r#"<tr class="case">"#).count(), 50);
    let at = first
        .body
        .find(r#"<a rel="next" href=""#)
        .expect("next link")
        + 20;
    let href = &first.body[at..];
    let href = href[..href.find('"').expect("end")].replace("&#38;", "&");
    assert!(href.starts_with("/cases?"), "{href}");
    assert!(href.contains("status=open"), "filters kept: {href}");
    assert!(href.contains("cursor="), "{href}");
    let second = page(&s, &href).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body.matches(r#"<tr class="case">"#).count(), 5);
    assert!(!second.body.contains(r#"rel="next""#));
    // together the pages list every case once
    for i in 0..55 {
        let t = format!("Alert k{i:02}<");
        assert_eq!(
            usize::from(first.body.contains(&t)) + usize::from(second.body.contains(&t)),
            1,
            "{t}"
        );
    }
}

#[tokio::test]
async fn case_page_shows_summary_timeline_and_raw_alert() {
    let dir = tempfile::tempdir().expect("tmp");
    let (s, cases) = seeded(dir.path()).await;
    let gd = by_source(&cases, "aws.guardduty");

    let p = page(&s, &format!("/cases/{}", text(gd, "id"))).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.csp, CSP);
    assert!(p.nosniff);
    let b = &p.body;
    assert!(b.contains(&escaped(text(gd, "title"))));
    assert!(b.contains(&format!("<dt>Account</dt><dd>{}</dd>", text(gd, "account"))));
    assert!(b.contains("<dt>Source</dt><dd>aws.guardduty</dd>"));
    assert!(b.contains("<dt>Count</dt><dd>1</dd>"));
    // the timeline
    assert!(b.contains(r#"<tr class="timeline-opened">"#), "{b}");
    // occurrences link to the alert
    let (_, detail) = s.get(&format!("/api/v1/cases/{}", text(gd, "id"))).await;
    let alert_id = text(&detail["occurrences"][0], "alert_id");
    assert!(b.contains(&format!(r#"href="/api/v1/alerts/{alert_id}""#)));
    // the raw alert, pretty-printed and escaped, folded away
    let raw = &b[b.find("<details>").expect("details")..];
    assert!(raw.contains("Raw JSON"));
    assert!(
        raw.contains("&#34;source&#34;: &#34;aws.guardduty&#34;"),
        "{raw}"
    );
    assert!(raw.contains("i-036cb01d26bb09166"));
    assert!(raw.contains("Recon:EC2/PortProbeUnprotectedPort"));
    assert!(b.contains("No investigations."));

    // an alert's markup renders as text
    let xss = by_source(&cases, "generic");
    let p = page(&s, &format!("/cases/{}", text(xss, "id"))).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(ESCAPED_XSS));
    assert!(!p.body.contains("<img src=x"), "{}", p.body);
    assert!(
        !p.body.contains("<img"),
        "no image on this page: {}",
        p.body
    );
}

#[tokio::test]
async fn unknown_pages_are_404() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    for path in ["/cases/00000000-0000-4000-8000-000000000000", "/cases/nope"] {
        let p = page(&s, path).await;
        assert_eq!(p.status, 404, "{path}");
        assert!(p.content_type.starts_with("text/html"), "{path}");
        assert_eq!(p.csp, CSP);
        assert!(p.body.contains("<h1>404 Not Found</h1>"), "{}", p.body);
        assert!(p.body.contains("no case"), "{}", p.body);
    }
    // the API's fallback is unchanged for other paths
    let (status, body) = s.get("/no/such/page").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
}

#[tokio::test]
async fn with_tokens_the_console_needs_a_read_token() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        r#"
[[tokens]]
name = "reader"
token = "reader-secret-0123456789"
scopes = ["read"]

[[tokens]]
name = "sender"
token = "ingest-secret-0123456789"
scopes = ["ingest"]
"#,
    )
    .expect("cfg");
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap_or_default()],
    );
    for path in [
        "/",
        "/cases",
        "/cases/00000000-0000-4000-8000-000000000000",
        "/events",
        "/deliveries",
        "/quarantine",
    ] {
        let p = page(&s, path).await;
        assert_eq!(p.status, 401, "{path}");
        assert!(p.content_type.starts_with("text/html"), "{path}");
        assert!(!p.body.contains("No accounts configured"));
    }
    let s = s.with_token("ingest-secret-0123456789");
    assert_eq!(page(&s, "/cases").await.status, 403);
    let s = s.with_token("reader-secret-0123456789");
    let p = page(&s, "/").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(!p.body.contains("No accounts configured"), "{}", p.body);
}

#[tokio::test]
async fn case_page_shows_tickets_and_investigations_with_their_attachments() {
    let gh = FakeGitHub::start().await;
    gh.add_repo("acme/console");
    gh.add_token("ghp_consoletesttoken0123456789");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "acme/console"
token = "ghp_consoletesttoken0123456789"
api_url = "{url}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
"#,
        url = gh.url(),
    );
    let path = dir.path().join("irene.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", path.to_str().unwrap()],
    );
    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let case = wait_for(
        &s,
        "the investigations and the ticket",
        Duration::from_secs(30),
        |c| all_done(c) && c["tickets"].as_array().is_some_and(|t| !t.is_empty()),
        &format!("/api/v1/cases/{case_id}"),
    )
    .await;

    let p = page(&s, &format!("/cases/{case_id}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let b = &p.body;
    // the ticket, linked
    let ticket = &case["tickets"][0];
    let url = text(ticket, "url");
    assert!(
        b.contains(&format!(
            r#"<a href="{url}" rel="noreferrer">{}</a>"#,
            escaped(text(ticket, "reference"))
        )),
        "{url}: {b}"
    );
    assert!(b.contains("<strong>security-issues</strong> (github)"));
    // each investigation, its summary as text and its CSV attachment as a link
    for i in case["investigations"].as_array().unwrap() {
        assert!(
            b.contains(&format!("<h3>{} <span", text(i, "investigator"))),
            "{i}"
        );
    }
    let history = case["investigations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["investigator"] == "actor_history")
        .expect("actor_history");
    let attachment = history["attachments"][0].as_str().expect("an attachment");
    assert!(
        b.contains(&format!("[events as CSV](attachment:{attachment})")),
        "the summary as stored, preformatted: {b}"
    );
    assert!(b.contains(r#"<pre class="summary-text">"#));
    let link = format!(r#"<a href="/api/v1/attachments/{attachment}">"#);
    assert!(b.contains(&link), "a link, not an image: {b}");
    assert!(!b.contains("<img"), "no PNG here: {b}");
    // and the link is served under the same (open) rule as the page
    let resp = s
        .client
        .get(format!("{}/api/v1/attachments/{attachment}", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// A CloudTrail record like the investigation fixture's, from `ip` by user `user`.
fn trail_record(user: &str, ip: &str, id: u32, hour: u32) -> Value {
    let mut r = read_json("cloudtrail/awsdocs_record_console_login_failure_iam_user.json");
    r["userIdentity"]["userName"] = json!(user);
    r["sourceIPAddress"] = json!(ip);
    r["eventTime"] = json!(format!("2022-01-13T{hour:02}:00:00Z"));
    r["eventID"] = json!(format!("e38ce1b3-4575-4cb8-a632-6100000000{id:02}"));
    r["errorMessage"] = json!("<script>alert(1)</script>");
    r
}

/// The `href` of the first `<a rel="next">`, unescaped.
fn next_href(body: &str) -> String {
    let at = body.find(r#"<a rel="next" href=""#).expect("next link") + 20;
    let href = &body[at..];
    href[..href.find('"').expect("end")].replace("&#38;", "&")
}

#[tokio::test]
async fn events_search_filters_by_ip_and_principal_pages_and_escapes() {
    let dir = tempfile::tempdir().expect("tmp");
    // the Sigma rules of the rules crate's tests (a failed console login is one)
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/tests/sigma/rules");
    let s = Server::start(dir.path(), &["--sigma", rules.to_str().expect("utf-8")]);
    // three records from IP by "anaya" (the investigation fixture), and two from elsewhere
    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    let others = json!({"Records": [
        trail_record("anaya", "203.0.113.9", 1, 1),
        trail_record("bob", "203.0.113.9", 2, 2),
    ]});
    let (st, body) = s.ingest("aws.cloudtrail", others.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;

    let p = page(&s, "/events").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.csp, CSP);
    assert!(p.nosniff);
    assert_eq!(
        p.body.matches(r#"<tr class="event">"#).count(),
        5,
        "{}",
        p.body
    );
    assert!(p.body.contains(r#"<a href="/events">Events</a>"#), "nav");
    // markup in a raw event is text
    assert!(!without_ours(&p.body).contains("<script"), "{}", p.body);
    assert!(p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    assert!(p.body.contains("<summary>Raw event</summary>"));

    // by IP: the investigation's three, not the others
    let p = page(&s, &format!("/events?ip={IP}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let b = &p.body;
    assert_eq!(b.matches(r#"<tr class="event">"#).count(), 3, "{b}");
    assert_eq!(b.matches(&format!(">{IP}</a>")).count(), 3, "{b}");
    assert!(!b.contains("203.0.113.9"), "{b}");
    assert!(
        b.contains(&format!(r#"name="ip" value="{IP}""#)),
        "kept in the form"
    );
    assert!(b.contains("signin.amazonaws.com:ConsoleLogin"), "{b}");
    assert!(
        b.contains("2022-01-12 22:00:00 UTC"),
        "the event's time: {b}"
    );
    // the raw event, pretty-printed and escaped
    assert!(
        b.contains(&format!("&#34;sourceIPAddress&#34;: &#34;{IP}&#34;")),
        "{b}"
    );
    // each event's detections, as the API lists them
    let (_, api) = s.get(&format!("/api/v1/events?ip={IP}")).await;
    let events = api["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["detections"] != json!([])),
        "a Sigma rule matched: {api}"
    );
    for e in events {
        for d in e["detections"].as_array().expect("detections") {
            let d = escaped(d.as_str().expect("rule id"));
            assert!(
                b.contains(&format!(r#"<span class="bad detection">{d}</span>"#)),
                "{d}: {b}"
            );
        }
    }
    // each principal and IP links to its own search
    assert!(
        b.contains(r#"<a class="principal" href="/events?principal=anaya">"#),
        "{b}"
    );
    assert!(
        b.contains(&format!(r#"<a class="ip" href="/events?ip={IP}">"#)),
        "{b}"
    );

    // by principal: narrows to anaya's four; with the IP too, to one
    let p = page(&s, "/events?principal=bob").await;
    assert_eq!(
        p.body.matches(r#"<tr class="event">"#).count(),
        1,
        "{}",
        p.body
    );
    let p = page(&s, "/events?principal=anaya").await;
    assert_eq!(
        p.body.matches(r#"<tr class="event">"#).count(),
        4,
        "{}",
        p.body
    );
    let p = page(&s, "/events?principal=anaya&ip=203.0.113.9").await;
    assert_eq!(
        p.body.matches(r#"<tr class="event">"#).count(),
        1,
        "{}",
        p.body
    );

    // paging keeps the filters
    let first = page(&s, &format!("/events?ip={IP}&limit=2")).await;
    assert_eq!(first.body.matches(r#"<tr class="event">"#).count(), 2);
    let href = next_href(&first.body);
    assert!(href.starts_with("/events?"), "{href}");
    assert!(href.contains(&format!("ip={IP}")), "{href}");
    assert!(href.contains("cursor="), "{href}");
    let second = page(&s, &href).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body.matches(r#"<tr class="event">"#).count(), 1);
    assert!(!second.body.contains(r#"rel="next""#));
    assert!(
        second.body.contains("2022-01-12 20:00:00 UTC"),
        "the oldest last"
    );

    // a bad time is the API's error, as a page
    let p = page(&s, "/events?since=yesterday").await;
    assert_eq!(p.status, 400);
    assert!(p.content_type.starts_with("text/html"));
    assert!(p.body.contains("RFC 3339"), "{}", p.body);
}

#[tokio::test]
async fn case_page_links_to_what_else_the_actor_did() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let (st, body) = s.ingest("aws.guardduty", finding().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case_id = the_case(&s).await;
    let (_, detail) = s.get(&format!("/api/v1/cases/{case_id}")).await;
    let alert_id = text(&detail["occurrences"][0], "alert_id");
    let (_, alert) = s.get(&format!("/api/v1/alerts/{alert_id}")).await;

    let p = page(&s, &format!("/cases/{case_id}")).await;
    assert_eq!(p.status, 200, "{}", p.body);
    let b = &p.body;
    assert!(b.contains("What else did this actor do"), "{b}");
    let actor = &alert["alert"]["actor"];
    assert_eq!(actor["ip"], IP, "{alert}");
    assert!(
        b.contains(&format!(
            r#"<a class="actor-events" href="/events?ip={IP}">"#
        )),
        "{b}"
    );
    if let Some(principal) = actor["principal"].as_str() {
        let q = format!(
            "/events?principal={}",
            principal.replace(':', "%3A").replace('/', "%2F")
        );
        assert!(b.contains(&q), "{q} in {b}");
    }
}

#[tokio::test]
async fn quarantined_items_show_their_error_and_payload_escaped() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = Server::start(dir.path(), &[]);
    let p = page(&s, "/quarantine").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("Nothing is quarantined."));
    // and no dead letters either
    let p = page(&s, "/deliveries").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.csp, CSP);
    assert!(p.body.contains("<h1>Dead letters</h1>"), "{}", p.body);
    assert!(p.body.contains("No dead deliveries."), "{}", p.body);
    assert!(p.body.contains("<code>irene deliveries retry ID</code>"));

    let (st, body) = s
        .ingest(
            "generic",
            json!({"title": "<script>alert(1)</script>"}).to_string(),
        )
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (_, q) = s.get("/api/v1/quarantine").await;
    let entry = &q["quarantine"][0];
    let error = text(entry, "error");

    let p = page(&s, "/quarantine").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.csp, CSP);
    let b = &p.body;
    assert_eq!(
        b.matches(r#"class="investigation quarantined""#).count(),
        1,
        "{b}"
    );
    assert!(b.contains("<h3>generic <span"), "{b}");
    assert!(b.contains(&escaped(error)), "the decoder's error: {b}");
    assert!(
        b.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{b}"
    );
    assert!(!without_ours(b).contains("<script"), "{b}");
    assert!(b.contains(text(entry, "id")));
    assert!(!b.contains("Cut to its first 4 KB."));

    // a big item is shown cut
    let big = "x".repeat(10_000);
    let (st, body) = s.ingest("generic", json!({"title": big}).to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let p = page(&s, "/quarantine").await;
    assert_eq!(
        p.body
            .matches(r#"class="investigation quarantined""#)
            .count(),
        2
    );
    assert!(p.body.contains("Cut to its first 4 KB."), "{}", p.body);
    assert!(!p.body.contains(&big));
    assert!(p.body.contains(&"x".repeat(4000)));
}

#[tokio::test]
async fn dead_letters_are_listed_with_their_error_and_case() {
    let gh = FakeGitHub::start().await;
    gh.add_repo("acme/console");
    gh.add_token("ghp_consoletesttoken0123456789");
    gh.disable_issues("acme/console");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "acme/console"
token = "ghp_consoletesttoken0123456789"
api_url = "{url}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
"#,
        url = gh.url(),
    );
    let path = dir.path().join("irene.toml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", path.to_str().unwrap()],
    );
    let (st, body) = s
        .ingest("generic", generic_alert("k-dead", "high").to_string())
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    wait_for(
        &s,
        "a dead letter",
        Duration::from_secs(30),
        |st| st["dead_letters"] == 1,
        "/api/v1/status",
    )
    .await;
    let (_, body) = s.get("/api/v1/deliveries?state=dead").await;
    let dead = &body["deliveries"][0];
    let case_id = text(dead, "case_id");

    let p = page(&s, "/deliveries").await;
    assert_eq!(p.status, 200, "{}", p.body);
    let b = &p.body;
    let r = row(b, r#"<tr class="delivery">"#);
    assert!(r.contains("<td>security-issues</td><td>open</td>"), "{r}");
    assert!(
        r.contains(&format!(r#"<a href="/cases/{case_id}">case</a>"#)),
        "{r}"
    );
    assert!(r.contains("<td>dead</td>"), "{r}");
    assert!(
        r.contains(&escaped(text(dead, "last_error"))),
        "the last error: {r}"
    );
    assert!(r.contains("410"), "{r}");
    assert!(b.contains(r#"<option value="dead" selected>"#));
    // other states are one choice away; a bad one is an error page
    let p = page(&s, "/deliveries?state=sending").await;
    assert!(p.body.contains("No sending deliveries."), "{}", p.body);
    let p = page(&s, "/deliveries?state=bogus").await;
    assert_eq!(p.status, 400);
    assert!(p.content_type.starts_with("text/html"));
}
