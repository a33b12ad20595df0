//! The web console's actions, posted as a browser posts its forms to a real `irene serve`
//! process (GitHub is the only stand-in): the CSRF token is read from the page like a browser
//! would, and every action is followed to the page that says what happened.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::wait_for;
use common::{generic_alert, Server};
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const REPO: &str = "acme/actions";
const GH_TOKEN: &str = "ghp_actionstesttoken0123456789";

/// A server with one GitHub output, in `dir`.
fn with_github(dir: &std::path::Path, gh: &FakeGitHub) -> Server {
    let config = format!(
        r#"[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "{REPO}"
token = "{GH_TOKEN}"
api_url = "{url}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
"#,
        url = gh.url(),
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, config).unwrap();
    Server::start(&dir.join("data"), &["--config", path.to_str().unwrap()])
}

async fn github() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    gh
}

/// A page's body (with the server's token), asserting 200.
async fn page(s: &Server, path: &str) -> String {
    page_as(s, s.token.as_deref(), path).await
}

async fn page_as(s: &Server, token: Option<&str>, path: &str) -> String {
    let mut req = s.client.get(format!("{}{path}", s.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// The value of the first `name="…" value="…"` input after `after` in a page, unescaped.
fn input(body: &str, after: &str, name: &str) -> String {
    let from = body
        .find(after)
        .unwrap_or_else(|| panic!("no {after:?} in {body}"));
    let marker = format!(r#"name="{name}" value=""#);
    let at = body[from..]
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} input after {after:?} in {body}"))
        + from
        + marker.len();
    let v = &body[at..];
    v[..v.find('"').expect("end")]
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&#38;", "&")
}

/// The form's token, as the page carries it.
fn csrf(body: &str) -> String {
    let token = input(body, "<form", "csrf");
    assert_eq!(token.len(), 64, "{token}");
    token
}

/// A form's fields, or a request's headers.
type Fields<'a> = Vec<(&'a str, &'a str)>;

struct Posted {
    status: u16,
    location: String,
    body: String,
}

/// Posts a form as a browser does (not following the redirect).
async fn post_form(
    s: &Server,
    path: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Posted {
    post_as(s, s.token.as_deref(), path, fields, headers).await
}

async fn post_as(
    s: &Server,
    token: Option<&str>,
    path: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Posted {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client
        .post(format!("{}{path}", s.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Posted {
        status,
        location,
        body: resp.text().await.unwrap_or_default(),
    }
}

/// Posts a form and follows its 303: the page it lands on.
async fn act(s: &Server, path: &str, fields: &[(&str, &str)]) -> (String, String) {
    let p = post_form(s, path, fields, &[]).await;
    assert_eq!(p.status, 303, "{path}: {}", p.body);
    let body = page(s, &p.location).await;
    (p.location, body)
}

/// The `id="notice"` paragraph of a page.
fn notice(body: &str) -> &str {
    let at = body
        .find(r#"id="notice">"#)
        .unwrap_or_else(|| panic!("no notice in {body}"));
    let rest = &body[at..];
    &rest[..rest.find("</p>").expect("end")]
}

async fn the_only_case(s: &Server) -> Value {
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases[0].clone()
}

async fn audit(s: &Server) -> Vec<Value> {
    let (st, body) = s.get("/api/v1/audit?limit=500").await;
    assert_eq!(st, 200, "{body}");
    body["audit"].as_array().expect("audit").clone()
}

async fn until(what: &str, s: &Server, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn resolve_and_reopen_from_the_case_page_follow_the_issue_and_are_audited() {
    let gh = github().await;
    let dir = tempfile::tempdir().unwrap();
    let s = with_github(dir.path(), &gh);
    s.ingest("generic", generic_alert("k1", "high").to_string())
        .await;
    s.drained().await;
    let id = the_only_case(&s).await["id"].as_str().unwrap().to_string();
    wait_for(
        &s,
        "the issue sent",
        Duration::from_secs(30),
        |d| d["deliveries"][0]["state"] == "done",
        &format!("/api/v1/deliveries?case={id}"),
    )
    .await;
    let case_path = format!("/cases/{id}");

    let body = page(&s, &case_path).await;
    assert!(
        body.contains(&format!(r#"action="/cases/{id}/resolve""#)),
        "{body}"
    );
    assert!(!body.contains(&format!(r#"action="/cases/{id}/reopen""#)));
    // the output's latest delivery (the issue, or a note on it since), sent
    let at = body
        .find(r#"<tr class="case-delivery delivery-sent""#)
        .expect(&body);
    let row = &body[at..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("<td>security-issues</td>") && row.contains("<td>sent</td>"),
        "{row}"
    );
    let token = csrf(&body);
    let token = token.as_str();

    // a reason is required: nothing happens without one
    let p = post_form(
        &s,
        &format!("{case_path}/resolve"),
        &[("csrf", token), ("reason", "  ")],
        &[],
    )
    .await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("a reason is required"), "{}", p.body);
    assert_eq!(the_only_case(&s).await["status"], "open");

    let (location, body) = act(
        &s,
        &format!("{case_path}/resolve"),
        &[("csrf", token), ("reason", "patched <the> host")],
    )
    .await;
    assert_eq!(location, format!("{case_path}?done=resolved"));
    assert!(notice(&body).contains("The case is resolved"), "{body}");
    assert!(body.contains(&format!(r#"action="/cases/{id}/reopen""#)));
    assert!(!body.contains(&format!(r#"action="/cases/{id}/resolve""#)));
    let (_, detail) = s.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail["status"], "resolved", "{detail}");
    assert_eq!(detail["resolution"], "manual");
    assert!(
        detail["timeline"]
            .to_string()
            .contains("patched <the> host"),
        "{detail}"
    );
    until("the issue closed", &s, || {
        gh.issues(REPO).first().is_some_and(|i| i.state == "closed")
    })
    .await;
    let entries = audit(&s).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["action"], "case.resolve");
    assert_eq!(entries[0]["target"], id);
    assert_eq!(entries[0]["detail"], "patched <the> host");
    assert_eq!(entries[0]["actor"], "anonymous");

    // resolving again changes nothing and says so
    let (_, body) = act(
        &s,
        &format!("{case_path}/resolve"),
        &[("csrf", token), ("reason", "again")],
    )
    .await;
    assert!(notice(&body).contains("already resolved"), "{body}");
    assert_eq!(audit(&s).await.len(), 1);

    let (location, body) = act(&s, &format!("{case_path}/reopen"), &[("csrf", token)]).await;
    assert_eq!(location, format!("{case_path}?done=reopened"));
    assert!(notice(&body).contains("open again"), "{body}");
    assert_eq!(the_only_case(&s).await["status"], "open");
    until("the issue reopened", &s, || {
        gh.issues(REPO).first().is_some_and(|i| i.state == "open")
    })
    .await;
    assert_eq!(gh.issues(REPO).len(), 1, "the same issue, reopened");
    let entries = audit(&s).await;
    assert_eq!(
        entries[0]["action"], "case.reopen",
        "newest first: {entries:?}"
    );
    assert_eq!(entries[0]["target"], id);
}

#[tokio::test]
async fn forms_without_the_token_from_another_site_or_by_a_viewer_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        r#"
[[tokens]]
name = "ana"
token = "admin-secret-0123456789"
scopes = ["admin"]

[[tokens]]
name = "reader"
token = "reader-secret-0123456789"
scopes = ["read"]
"#,
    )
    .unwrap();
    let s = Server::start(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
    )
    .with_token("admin-secret-0123456789");
    let (st, body) = s
        .ingest("generic", generic_alert("k1", "high").to_string())
        .await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let id = the_only_case(&s).await["id"].as_str().unwrap().to_string();
    let resolve = format!("/cases/{id}/resolve");
    let body = page(&s, &format!("/cases/{id}")).await;
    let token = csrf(&body);
    let token = token.as_str();

    let zeros = "0".repeat(64);
    let refused: Vec<(Fields, Fields)> = vec![
        (vec![("reason", "r")], vec![]),
        (vec![("csrf", ""), ("reason", "r")], vec![]),
        (vec![("csrf", zeros.as_str()), ("reason", "r")], vec![]),
        (
            vec![("csrf", token), ("reason", "r")],
            vec![("origin", "https://evil.test")],
        ),
        (
            vec![("csrf", token), ("reason", "r")],
            vec![("sec-fetch-site", "cross-site")],
        ),
    ];
    for (fields, headers) in &refused {
        let p = post_form(&s, &resolve, fields, headers).await;
        assert_eq!(p.status, 403, "{fields:?} {headers:?}: {}", p.body);
        assert!(p.body.contains("reload the page"), "{}", p.body);
    }
    assert_eq!(the_only_case(&s).await["status"], "open", "nothing changed");
    assert!(audit(&s).await.is_empty());

    // a viewer sees no forms, and is refused if it posts anyway
    const READER: Option<&str> = Some("reader-secret-0123456789");
    let body = page_as(&s, READER, &format!("/cases/{id}")).await;
    assert!(!body.contains("<form class=\"action\""), "{body}");
    assert!(!body.contains(r#"name="csrf""#), "{body}");
    let body = page_as(&s, READER, "/cases").await;
    assert!(!body.contains(r#"type="checkbox""#), "{body}");
    for (path, fields) in [
        (resolve.as_str(), vec![("csrf", token), ("reason", "r")]),
        (
            "/cases/bulk",
            vec![
                ("csrf", token),
                ("op", "resolve"),
                ("reason", "r"),
                ("id", id.as_str()),
            ],
        ),
    ] {
        let p = post_as(&s, READER, path, &fields, &[]).await;
        assert_eq!(p.status, 403, "{path}: {}", p.body);
        assert!(p.body.contains("responder"), "{}", p.body);
    }
    // without any token: 401
    let p = post_as(&s, None, &resolve, &[("csrf", token), ("reason", "r")], &[]).await;
    assert_eq!(p.status, 401, "{}", p.body);
    assert_eq!(the_only_case(&s).await["status"], "open", "nothing changed");

    // the admin's own form works, and is audited under its name
    let (_, body) = act(&s, &resolve, &[("csrf", token), ("reason", "done")]).await;
    assert!(notice(&body).contains("resolved"), "{body}");
    let entries = audit(&s).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "ana");
}

#[tokio::test]
async fn silence_like_this_holds_the_next_occurrence() {
    let gh = github().await;
    let dir = tempfile::tempdir().unwrap();
    let s = with_github(dir.path(), &gh);
    let mut alert = generic_alert("noisy", "high");
    alert["type"] = json!("Recon:EC2/\"Port\"Probe");
    alert["resource"] = json!({"id": "i-0abc", "kind": "Instance"});
    s.ingest("generic", alert.to_string()).await;
    s.drained().await;
    let id = the_only_case(&s).await["id"].as_str().unwrap().to_string();
    until("the issue", &s, || gh.issues(REPO).len() == 1).await;

    let body = page(&s, &format!("/cases/{id}")).await;
    let token = csrf(&body);
    let token = token.as_str();
    let want = r#"alert.type == "Recon:EC2/\"Port\"Probe" && alert.resource.id == "i-0abc""#;
    let matcher = input(&body, r#"id="silence""#, "match");
    assert_eq!(matcher, want);
    let (location, body) = act(
        &s,
        &format!("/cases/{id}/silence"),
        &[
            ("csrf", token),
            ("match", &matcher),
            ("duration", "2h"),
            ("comment", "known scanner"),
        ],
    )
    .await;
    assert_eq!(location, format!("/cases/{id}?done=silenced&silence=1"));
    let n = notice(&body);
    assert!(n.contains("Silence #1 created"), "{n}");
    assert!(
        n.contains("<code>(alert.type == &#34;Recon:EC2/\\&#34;Port\\&#34;Probe&#34;"),
        "the silence's condition, escaped: {n}"
    );
    let (_, list) = s.get("/api/v1/silences?state=active").await;
    let silence = &list["silences"][0];
    assert_eq!(silence["match"], want, "{list}");
    assert_eq!(silence["comment"], "known scanner");
    assert_eq!(silence["author"], "anonymous");
    let entries = audit(&s).await;
    assert_eq!(entries[0]["action"], "silence.add", "{entries:?}");
    assert_eq!(entries[0]["target"], "silence:1");

    // the next occurrence: the case counts it, its delivery is held
    s.ingest("generic", alert.to_string()).await;
    s.drained().await;
    let deliveries = wait_for(
        &s,
        "a held delivery",
        Duration::from_secs(10),
        |d| {
            d["deliveries"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r["state"] == "held"))
        },
        &format!("/api/v1/deliveries?case={id}"),
    )
    .await;
    let held = deliveries["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["state"] == "held")
        .unwrap();
    assert_eq!(held["action"], "repeat", "{held}");
    assert_eq!(the_only_case(&s).await["count"], 2);
    let body = page(&s, &format!("/cases/{id}")).await;
    assert!(
        body.contains("<td>security-issues</td><td>repeat</td><td>held</td>"),
        "{body}"
    );
}

#[tokio::test]
async fn cases_are_resolved_and_silenced_in_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut batch: Vec<Value> = (0..4)
        .map(|i| generic_alert(&format!("b{i}"), "low"))
        .collect();
    batch[3]["type"] = json!("other.kind");
    let (st, body) = s.ingest("generic", Value::Array(batch).to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("").await;
    // the "other.kind" case last
    let mut ids: Vec<(bool, String)> = cases
        .iter()
        .map(|c| {
            (
                c["type"] == "other.kind",
                c["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ids.sort();
    let ids: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();

    let body = page(&s, "/cases?status=open").await;
    assert_eq!(
        body.matches(r#"<input type="checkbox" name="id""#).count(),
        4
    );
    let token = csrf(&body);
    let token = token.as_str();
    let filters = input(&body, r#"id="bulk""#, "filters");
    assert_eq!(filters, "status=open");

    // too many, or none
    let many: Vec<String> = (0..501)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    let mut fields = vec![("csrf", token), ("op", "resolve"), ("reason", "r")];
    fields.extend(many.iter().map(|i| ("id", i.as_str())));
    let p = post_form(&s, "/cases/bulk", &fields, &[]).await;
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(p.body.contains("at most 500 cases"), "{}", p.body);
    let p = post_form(
        &s,
        "/cases/bulk",
        &[("csrf", token), ("op", "resolve"), ("reason", "r")],
        &[],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("select at least one case"), "{}", p.body);

    let mut fields = vec![
        ("csrf", token),
        ("filters", filters.as_str()),
        ("op", "resolve"),
        ("reason", "test noise"),
    ];
    fields.extend(ids[..3].iter().map(|i| ("id", i.as_str())));
    let (location, body) = act(&s, "/cases/bulk", &fields).await;
    assert_eq!(
        location, "/cases?status=open&done=bulk-resolved&n=3&m=0",
        "back to the same list"
    );
    assert!(notice(&body).contains("3 cases resolved."), "{body}");
    assert_eq!(body.matches(r#"<tr class="case">"#).count(), 1, "{body}");
    assert_eq!(s.all_cases("status=resolved").await.len(), 3);
    let entries = audit(&s).await;
    assert_eq!(entries.len(), 3);
    for id in &ids[..3] {
        assert!(
            entries.iter().any(|e| e["action"] == "case.resolve"
                && e["target"] == id.as_str()
                && e["detail"] == "test noise"),
            "{id}: {entries:?}"
        );
    }

    // two kinds selected: one silence that matches both
    let mut fields = vec![("csrf", token), ("op", "silence"), ("duration", "1h")];
    fields.extend(ids[2..].iter().map(|i| ("id", i.as_str())));
    let (location, body) = act(&s, "/cases/bulk", &fields).await;
    assert_eq!(location, "/cases?done=bulk-silenced&silence=1&n=2");
    assert!(
        notice(&body).contains("Silence #1 created for 2 selected cases"),
        "{body}"
    );
    let (_, list) = s.get("/api/v1/silences").await;
    let all = list["silences"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{list}");
    let m = all[0]["match"].as_str().unwrap();
    assert!(
        m.contains(r#"alert.type == "test.kind""#)
            && m.contains(r#"alert.type == "other.kind""#)
            && m.contains(" || "),
        "{m}"
    );
}

#[tokio::test]
async fn dead_letters_are_redriven_one_or_all() {
    let gh = github().await;
    gh.disable_issues(REPO);
    let dir = tempfile::tempdir().unwrap();
    let s = with_github(dir.path(), &gh);
    s.ingest("generic", generic_alert("d1", "high").to_string())
        .await;
    s.drained().await;
    wait_for(
        &s,
        "a dead letter",
        Duration::from_secs(30),
        |st| st["dead_letters"] == 1,
        "/api/v1/status",
    )
    .await;
    let (_, dead) = s.get("/api/v1/deliveries?state=dead").await;
    let seq = dead["deliveries"][0]["id"].as_i64().unwrap();
    let id = the_only_case(&s).await["id"].as_str().unwrap().to_string();

    // the case page shows it dead, with a redrive button
    let body = page(&s, &format!("/cases/{id}")).await;
    assert!(
        body.contains(&format!(
            r#"<tr class="case-delivery delivery-dead" id="delivery-{seq}">"#
        )),
        "{body}"
    );
    assert!(body.contains("410"), "the last error: {body}");
    assert!(body.contains(&format!(r#"action="/deliveries/{seq}/redrive""#)));
    let body = page(&s, "/deliveries").await;
    assert!(body.contains("Redrive all 1 dead letters"), "{body}");
    let token = csrf(&body);
    let token = token.as_str();

    // fixed on GitHub's side: redriven from the case page, it is sent
    gh.enable_issues(REPO);
    let (location, body) = act(
        &s,
        &format!("/deliveries/{seq}/redrive"),
        &[("csrf", token), ("back", "case")],
    )
    .await;
    assert_eq!(
        location,
        format!("/cases/{id}?done=redriven&delivery={seq}")
    );
    assert!(
        notice(&body).contains(&format!("Dead letter {seq} is back")),
        "{body}"
    );
    until("the issue", &s, || gh.issues(REPO).len() == 1).await;
    let entries = audit(&s).await;
    assert_eq!(entries[0]["action"], "delivery.redrive", "{entries:?}");
    assert_eq!(entries[0]["target"], seq.to_string());
    // it is no longer dead: a second redrive finds nothing
    let p = post_form(
        &s,
        &format!("/deliveries/{seq}/redrive"),
        &[("csrf", token)],
        &[],
    )
    .await;
    assert_eq!(p.status, 404, "{}", p.body);

    // two more dead letters, redriven at once
    gh.disable_issues(REPO);
    let batch = json!([generic_alert("d2", "high"), generic_alert("d3", "high")]);
    s.ingest("generic", batch.to_string()).await;
    s.drained().await;
    wait_for(
        &s,
        "two dead letters",
        Duration::from_secs(30),
        |st| st["dead_letters"] == 2,
        "/api/v1/status",
    )
    .await;
    let body = page(&s, "/deliveries").await;
    assert!(body.contains("Redrive all 2 dead letters"), "{body}");
    gh.enable_issues(REPO);
    let (location, body) = act(&s, "/deliveries/redrive", &[("csrf", token)]).await;
    assert_eq!(location, "/deliveries?state=dead&done=redriven-all&n=2&m=0");
    assert!(notice(&body).contains("2 dead letters are back"), "{body}");
    until("three issues", &s, || gh.issues(REPO).len() == 3).await;
    let (_, st) = s.get("/api/v1/status").await;
    assert_eq!(st["dead_letters"], 0, "{st}");
}

#[tokio::test]
async fn a_quarantined_item_retried_is_decoded_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    // no decoder can use it: quarantined
    s.ingest("generic", json!({"title": "no key"}).to_string())
        .await;
    s.drained().await;
    let (_, q) = s.get("/api/v1/quarantine").await;
    let first = q["quarantine"][0].clone();
    let first_id = first["id"].as_str().unwrap().to_string();

    let body = page(&s, "/quarantine").await;
    assert!(body.contains(&format!(r#"action="/quarantine/{first_id}/retry""#)));
    assert!(body.contains("Retry all 1 quarantined items"), "{body}");
    let token = csrf(&body);
    let token = token.as_str();
    let (location, body) = act(
        &s,
        &format!("/quarantine/{first_id}/retry"),
        &[("csrf", token)],
    )
    .await;
    let inbox = location
        .strip_prefix("/quarantine?done=requeued&inbox=")
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    assert!(notice(&body).contains(&inbox), "{body}");
    s.drained().await;
    // decoded again, and refused again: a new entry from the new payload
    let (_, q) = s.get("/api/v1/quarantine").await;
    let items = q["quarantine"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{q}");
    assert_ne!(items[0]["id"], first["id"]);
    assert_eq!(items[0]["inbox_id"], inbox.as_str());
    assert_eq!(items[0]["error"], first["error"]);
    let entries = audit(&s).await;
    assert_eq!(entries[0]["action"], "quarantine.retry");
    assert_eq!(entries[0]["target"], first_id);
    // the retried entry is gone: retrying it again finds nothing
    let p = post_form(
        &s,
        &format!("/quarantine/{first_id}/retry"),
        &[("csrf", token)],
        &[],
    )
    .await;
    assert_eq!(p.status, 404, "{}", p.body);

    // all at once
    let second = items[0]["id"].as_str().unwrap().to_string();
    let (location, body) = act(&s, "/quarantine/retry", &[("csrf", token)]).await;
    assert_eq!(location, "/quarantine?done=requeued-all&n=1&m=0");
    assert!(
        notice(&body).contains("1 quarantined item is back"),
        "{body}"
    );
    s.drained().await;
    let (_, q) = s.get("/api/v1/quarantine").await;
    let items = q["quarantine"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{q}");
    assert_ne!(items[0]["id"], second.as_str());
}
