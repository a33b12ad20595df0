//! The console's flows as a person goes through them in real headless Chromium, against a real
//! `irene serve` (GitHub is the only stand-in): signing in, silencing from a case, resolving with
//! a reason, redriving a dead letter, the rules playground and a checked-then-applied rule edit.
//! Each test leaves a screenshot of the page it ends on in `$CARGO_TARGET_DIR/console-shots/`.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/browser.rs"]
mod browser;
mod common;

use browser::Browser;
use common::investigation::wait_for;
use common::{bin, fixture, generic_alert, Server};
use fantoccini::elements::Element;
use fantoccini::Locator;
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REPO: &str = "acme/flows";
const GH_TOKEN: &str = "ghp_flowstesttoken0123456789";
const RULES: &str =
    "- name: guardduty-recon\n  when: alert.source == \"aws.guardduty\"\n  severity: low\n";

async fn github() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    gh
}

/// A server with one GitHub output and the triage rules `RULES` (as files), in `dir`.
fn server(dir: &Path, gh: Option<&FakeGitHub>) -> Server {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("main.yaml"), RULES).unwrap();
    let mut config = format!(
        "triage = [\"{}\"]\n\n[settings]\npoll = \"200ms\"\n\n[investigate]\nenabled = false\n\n\
         [delivery]\nbackoff_base = \"50ms\"\nbackoff_max = \"1s\"\n",
        rules.display()
    );
    if let Some(gh) = gh {
        config.push_str(&format!(
            r#"
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
        ));
    }
    let path = dir.join("irene.toml");
    std::fs::write(&path, config).unwrap();
    Server::start(&dir.join("data"), &["--config", path.to_str().unwrap()])
}

/// `irene user add NAME --role ROLE --password-stdin` on a data directory no server holds.
fn add_user(data: &Path, name: &str, role: &str, password: &str) {
    let mut child = Command::new(bin())
        .env("IRENE_LOG", "warn")
        .args(["user", "add", name, "--role", role, "--password-stdin"])
        .arg("--data-dir")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (15 s) until the page has an element matching `css`; that element.
async fn until_css(b: &Browser, css: &str) -> Element {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(e) = b.client.find(Locator::Css(css)).await {
            return e;
        }
        assert!(Instant::now() < deadline, "no {css:?} on {}", b.url().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (15 s) until the browser is at `path` (with its query) on the server.
async fn until_at(b: &Browser, s: &Server, path: &str) {
    let want = format!("{}{path}", s.url);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let url = b.url().await;
        if url == want {
            return;
        }
        assert!(Instant::now() < deadline, "on {url}, not {want}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Clears the field `css` and types `text` into it, key by key.
async fn type_into(b: &Browser, css: &str, text: &str) {
    let field = until_css(b, css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(b: &Browser, css: &str) {
    until_css(b, css).await.click().await.unwrap();
}

/// Loads `path` again until `css` is on it (for what the pipeline does in the background).
async fn reload_until(b: &Browser, s: &Server, path: &str, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        b.goto(&format!("{}{path}", s.url)).await;
        if b.count(css).await > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {css:?} on {path}\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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

async fn the_only_case(s: &Server) -> Value {
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    cases[0].clone()
}

/// Posts a high generic alert and waits until its GitHub issue is sent; the case's id.
async fn case_with_issue(s: &Server, gh: &FakeGitHub, alert: &Value) -> String {
    let (st, body) = s.ingest("generic", alert.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let id = the_only_case(s).await["id"].as_str().unwrap().to_string();
    wait_for(
        s,
        "the issue sent",
        Duration::from_secs(30),
        |d| d["deliveries"][0]["state"] == "done",
        &format!("/api/v1/deliveries?case={id}"),
    )
    .await;
    assert_eq!(gh.issues(REPO).len(), 1);
    id
}

async fn triage_version(s: &Server) -> u64 {
    let (st, v) = s.get("/api/v1/settings/triage").await;
    assert_eq!(st, 200, "{v}");
    v["version"].as_u64().expect("version")
}

#[tokio::test]
async fn an_account_signs_in_from_the_form_and_a_wrong_password_is_told() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    add_user(&data, "ana", "admin", "ana-password-123");
    let s = Server::start(&data, &[]);

    let b = Browser::start().await;
    b.goto(&s.url).await;
    until_at(&b, &s, "/signin?next=%2F").await;
    assert_eq!(b.client.title().await.unwrap(), "Sign in · Irene");
    assert_eq!(b.count("#who").await, 0, "nobody is signed in");

    type_into(&b, "form.signin input[name=name]", "ana").await;
    type_into(&b, "form.signin input[name=password]", "not-the-password").await;
    click(&b, "form.signin button[type=submit]").await;
    let error = until_css(&b, "#signin-error").await;
    assert_eq!(error.text().await.unwrap(), "Wrong name or password.");
    assert_eq!(b.count("#who").await, 0, "still nobody");

    type_into(&b, "form.signin input[name=name]", "ana").await;
    type_into(&b, "form.signin input[name=password]", "ana-password-123").await;
    click(&b, "form.signin button[type=submit]").await;
    until_at(&b, &s, "/").await;
    let who = until_css(&b, "#who").await.text().await.unwrap();
    assert_eq!(who, "ana · admin");
    assert_eq!(b.client.title().await.unwrap(), "Overview · Irene");
    assert_eq!(b.count("#signin-error").await, 0);
    // signed in: the other pages open too, and the audit log is offered to the admin
    b.goto(&format!("{}/cases", s.url)).await;
    until_at(&b, &s, "/cases").await;
    assert_eq!(b.count("a[href='/audit']").await, 1);
    b.goto(&s.url).await;
    b.shot("an_account_signs_in_from_the_form_and_a_wrong_password_is_told")
        .await;
    b.close().await;
}

#[tokio::test]
async fn a_silence_made_from_the_case_holds_its_next_occurrence() {
    let gh = github().await;
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), Some(&gh));
    let mut alert = generic_alert("noisy", "high");
    alert["resource"] = json!({"id": "i-0abc", "kind": "Instance"});
    let id = case_with_issue(&s, &gh, &alert).await;
    let case_path = format!("/cases/{id}");

    let b = Browser::start().await;
    b.goto(&format!("{}{case_path}", s.url)).await;
    let matcher = until_css(&b, "#silence input[name=match]")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(
        matcher,
        r#"alert.type == "test.kind" && alert.resource.id == "i-0abc""#
    );
    type_into(&b, "#silence input[name=comment]", "known scanner").await;
    click(&b, "#silence button[type=submit]").await;
    until_at(&b, &s, &format!("{case_path}?done=silenced&silence=1")).await;
    let notice = until_css(&b, "#notice").await.text().await.unwrap();
    assert!(notice.contains("Silence #1 created"), "{notice}");
    let (_, list) = s.get("/api/v1/silences?state=active").await;
    assert_eq!(list["silences"][0]["comment"], "known scanner", "{list}");

    // the same alert again: an occurrence, its notification held back
    let (st, body) = s.ingest("generic", alert.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    reload_until(&b, &s, &case_path, "tr.case-delivery.delivery-held").await;
    let held = b.text("tr.case-delivery.delivery-held").await;
    assert!(
        held.starts_with("security-issuesrepeatheld"),
        "output, action, state: {held}"
    );
    assert_eq!(the_only_case(&s).await["count"], 2);
    assert_eq!(gh.issues(REPO).len(), 1, "no second issue");
    // and on the silences page, the silence says what it held
    b.goto(&format!("{}/silences", s.url)).await;
    let row = b.texts("#silence-1 td").await;
    assert_eq!(row[1], "active", "{row:?}");
    assert_eq!(row[7], "1", "one notification held: {row:?}");
    b.goto(&format!("{}{case_path}", s.url)).await;
    b.js(
        "document.querySelector('#deliveries').scrollIntoView();",
        vec![],
    )
    .await;
    b.shot("a_silence_made_from_the_case_holds_its_next_occurrence")
        .await;
    b.close().await;
}

#[tokio::test]
async fn resolving_with_a_reason_closes_the_github_issue() {
    let gh = github().await;
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), Some(&gh));
    let id = case_with_issue(&s, &gh, &generic_alert("k1", "high")).await;
    let case_path = format!("/cases/{id}");
    assert_eq!(gh.issues(REPO)[0].state, "open");

    let b = Browser::start().await;
    b.goto(&format!("{}{case_path}", s.url)).await;
    // without a reason the browser does not send the form
    click(&b, "#resolve button[type=submit]").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    until_at(&b, &s, &case_path).await;
    assert_eq!(the_only_case(&s).await["status"], "open");

    type_into(&b, "#resolve input[name=reason]", "patched <the> host").await;
    click(&b, "#resolve button[type=submit]").await;
    until_at(&b, &s, &format!("{case_path}?done=resolved")).await;
    let notice = until_css(&b, "#notice").await.text().await.unwrap();
    assert!(notice.contains("The case is resolved"), "{notice}");
    assert_eq!(b.count("#reopen").await, 1, "it can be reopened");
    assert_eq!(b.count("#resolve").await, 0);
    let timeline = b.text("#timeline").await;
    assert!(timeline.contains("patched <the> host"), "{timeline}");
    let (_, detail) = s.get(&format!("/api/v1/cases/{id}")).await;
    assert_eq!(detail["status"], "resolved", "{detail}");
    until("the issue closed", &s, || {
        gh.issues(REPO).first().is_some_and(|i| i.state == "closed")
    })
    .await;
    b.shot("resolving_with_a_reason_closes_the_github_issue")
        .await;
    b.close().await;
}

#[tokio::test]
async fn a_dead_letter_redriven_from_the_list_is_sent_and_leaves_it() {
    let gh = github().await;
    gh.disable_issues(REPO);
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), Some(&gh));
    let (st, body) = s
        .ingest("generic", generic_alert("d1", "high").to_string())
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
    let (_, dead) = s.get("/api/v1/deliveries?state=dead").await;
    let seq = dead["deliveries"][0]["id"].as_i64().unwrap();

    let b = Browser::start().await;
    b.goto(&format!("{}/deliveries?state=dead", s.url)).await;
    assert_eq!(b.text("h1").await, "Dead letters");
    assert_eq!(b.count("tr.delivery").await, 1);
    let row = b.texts("tr.delivery td").await;
    assert_eq!(row[0], seq.to_string(), "{row:?}");
    assert_eq!(row[4], "dead", "{row:?}");
    assert!(row[6].contains("410"), "the last error: {row:?}");

    // fixed on GitHub's side, then redriven
    gh.enable_issues(REPO);
    click(&b, "tr.delivery button[type=submit]").await;
    until_at(
        &b,
        &s,
        &format!("/deliveries?state=dead&done=redriven&delivery={seq}"),
    )
    .await;
    let notice = until_css(&b, "#notice").await.text().await.unwrap();
    assert!(
        notice.contains(&format!("Dead letter {seq} is back")),
        "{notice}"
    );
    assert_eq!(b.count("tr.delivery").await, 0, "no longer dead");
    until("the issue", &s, || gh.issues(REPO).len() == 1).await;
    b.goto(&format!("{}/deliveries?state=dead", s.url)).await;
    assert_eq!(b.count("tr.delivery").await, 0);
    assert_eq!(b.count("#redrive-all").await, 0);
    b.shot("a_dead_letter_redriven_from_the_list_is_sent_and_leaves_it")
        .await;
    b.close().await;
}

#[tokio::test]
async fn the_playground_shows_the_rule_that_decides_a_pasted_finding() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), None);
    let payload = std::fs::read_to_string(fixture(
        "guardduty/eventbridge_recon_ec2_portprobeunprotectedport_real.json",
    ))
    .unwrap();

    let b = Browser::start().await;
    b.goto(&format!("{}/rules", s.url)).await;
    b.client
        .find(Locator::LinkText("Try a payload in the playground"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    until_at(&b, &s, "/rules/playground").await;
    click(&b, "select[name=source] option[value='aws.guardduty']").await;
    type_into(&b, "textarea[name=payload]", &payload).await;
    click(&b, "form.playground button[type=submit]").await;
    until_css(&b, "#playground-results").await;
    let rows = b.count("tr.playground-result").await;
    assert_eq!(rows, 1);
    assert_eq!(b.text("td.deciding-rule").await, "guardduty-recon");
    assert_eq!(
        b.text("td.trace").await,
        "guardduty-recon → true",
        "the CEL trace: the one rule, which held"
    );
    let result = b.texts("tr.playground-result td").await;
    assert_eq!(result[2], "aws.guardduty", "{result:?}");
    assert_eq!(
        result[3], "Recon:EC2/PortProbeUnprotectedPort",
        "{result:?}"
    );
    assert_eq!(result[6], "low", "the rule's severity: {result:?}");
    // nothing was stored
    assert!(s.all_cases("").await.is_empty());
    b.js(
        "document.querySelector('#playground-results').scrollIntoView();",
        vec![],
    )
    .await;
    b.shot("the_playground_shows_the_rule_that_decides_a_pasted_finding")
        .await;
    b.close().await;
}

#[tokio::test]
async fn a_broken_rule_is_shown_on_check_and_the_fixed_one_applied() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = server(dir.path(), None);
    assert_eq!(triage_version(&s).await, 1);

    let b = Browser::start().await;
    b.goto(&format!("{}/settings", s.url)).await;
    click(&b, "#kind-triage a").await;
    until_at(&b, &s, "/settings/triage").await;
    assert_eq!(b.count("tr.version").await, 1);
    let editor = "form.editor fieldset.file:not(.new-file) textarea";
    assert!(
        b.text(editor).await.contains("guardduty-recon"),
        "the live file"
    );

    type_into(
        &b,
        editor,
        "- name: broken\n  when: alert.type ==\n  severity: high\n",
    )
    .await;
    type_into(&b, "form.editor input[name=comment]", "lower recon").await;
    click(&b, "form.editor button[value=check]").await;
    let errors = until_css(&b, "#errors").await.text().await.unwrap();
    assert!(
        errors.contains("broken"),
        "the error names the rule: {errors}"
    );
    assert_eq!(b.count("#checked").await, 0);
    let kept = until_css(&b, editor).await.prop("value").await.unwrap();
    assert!(
        kept.unwrap_or_default().contains("alert.type =="),
        "the text as typed is kept"
    );
    assert_eq!(b.count("tr.version").await, 1, "nothing saved");
    assert_eq!(triage_version(&s).await, 1);

    let fixed =
        "- name: guardduty-recon\n  when: alert.source == \"aws.guardduty\"\n  severity: info\n";
    type_into(&b, editor, fixed).await;
    click(&b, "form.editor button[value=apply]").await;
    until_at(&b, &s, "/settings/triage?applied=2").await;
    let notice = until_css(&b, "#notice").await.text().await.unwrap();
    assert!(
        notice.contains("Applied: triage is now at version 2."),
        "{notice}"
    );
    assert_eq!(b.count("tr.version").await, 2);
    let newest = b.texts("tr.version td").await;
    assert_eq!(newest[0], "2", "{newest:?}");
    assert_eq!(newest[3], "lower recon", "{newest:?}");
    assert_eq!(triage_version(&s).await, 2);
    let (_, stored) = s.get("/api/v1/settings/triage").await;
    assert_eq!(stored["files"][0]["text"], json!(fixed), "{stored}");
    b.shot("a_broken_rule_is_shown_on_check_and_the_fixed_one_applied")
        .await;
    b.close().await;
}
