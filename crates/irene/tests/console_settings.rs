//! The console's settings and silences pages, through a real `irene serve`: a rule edit is
//! checked first (errors shown, the text kept, nothing saved), then applied as a new version with
//! its diff; outputs show whether their credentials are set, never their values; a template
//! draft previews against a stored case; a silence made from the form holds the next matching
//! notification back and shows it; a source page says how to connect it and its test button posts
//! a real sample; a runbook saved in the editor shows on the cases it is for; forms without the page's token or from another site do nothing.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{generic_alert, Server};
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
use std::path::Path;

const REPO: &str = "acme/alerts";
const TOKEN: &str = "ghp_consolesettings0123456789abcd";
const READ_TOKEN: &str = "read-token-0123456789abcdef";
const ADMIN_TOKEN: &str = "admin-token-0123456789abcdef";

const RULES_V1: &str =
    "- name: test-kind-is-low\n  when: alert.type == \"test.kind\"\n  severity: low\n";

fn config(dir: &Path, gh: &FakeGitHub, tokens: bool) -> String {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(rules.join("main.yaml"), RULES_V1).expect("rules");
    let tokens = if tokens {
        format!(
            r#"
[[tokens]]
name = "reader"
token = "{READ_TOKEN}"
scopes = ["read"]

[[tokens]]
name = "ops"
token = "{ADMIN_TOKEN}"
scopes = ["admin"]
"#
        )
    } else {
        String::new()
    };
    let text = format!(
        r#"triage = ["{rules}"]
public_url = "https://irene.example"

[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[settings]
poll = "200ms"

[investigate]
enabled = false

[[outputs]]
name = "issues"
type = "github"
repository = "{REPO}"
token = "${{GH_TOKEN}}"
api_url = "{gh}"
min_severity = "medium"
pace = "5ms"
timeout = "2s"
{tokens}"#,
        rules = rules.display(),
        gh = gh.url()
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, text).expect("config");
    path.to_string_lossy().into_owned()
}

async fn gh() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    gh
}

fn start(dir: &Path, cfg: &str) -> Server {
    Server::start_env(
        &dir.join("data"),
        &["--config", cfg],
        &[("GH_TOKEN", TOKEN)],
    )
}

/// A browser without cookies or redirects: every answer as it comes.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn get(s: &Server, token: Option<&str>, path: &str) -> (u16, String) {
    let mut req = browser().get(format!("{}{path}", s.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("get");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

/// Posts a form as a browser on the same origin would; the status, `Location`, body.
async fn post_form(
    s: &Server,
    token: Option<&str>,
    path: &str,
    fields: &[(&str, &str)],
    origin: Option<&str>,
) -> (u16, String, String) {
    let mut req = browser()
        .post(format!("{}{path}", s.url))
        .header("origin", origin.unwrap_or(&s.url))
        .form(fields);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("post");
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, location, resp.text().await.expect("body"))
}

/// The value of the page's first hidden `csrf` input.
fn csrf(body: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf in {body}"))
        + marker.len();
    body[start..start + body[start..].find('"').expect("end")].to_string()
}

async fn triage_version(s: &Server) -> u64 {
    let (st, v) = s.get("/api/v1/settings/triage").await;
    assert_eq!(st, 200, "{v}");
    v["version"].as_u64().expect("version")
}

#[tokio::test]
async fn a_rule_edit_is_checked_before_it_is_saved_and_then_applied_with_its_diff() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh, false);
    let s = start(dir.path(), &cfg);

    // the index: every kind, the output with its credentials as set / not set only
    let (st, b) = get(&s, None, "/settings").await;
    assert_eq!(st, 200, "{b}");
    assert!(
        b.contains(r#"<a href="/settings/triage">triage</a>"#),
        "{b}"
    );
    assert!(b.contains(r#"id="output-issues""#), "{b}");
    assert!(b.contains("token: set"), "{b}");
    assert!(b.contains("private_key: not set"), "{b}");
    assert!(!b.contains(TOKEN), "a secret is never shown");

    // the editor holds the live file
    let (st, b) = get(&s, None, "/settings/triage").await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains("test-kind-is-low"), "{b}");
    let token = csrf(&b);
    assert_eq!(triage_version(&s).await, 1);

    // a broken rule: every error shown, the text as typed kept, nothing saved
    let broken = "- name: broken\n  when: alert.type ==\n  severity: high\n";
    let (st, _, b) = post_form(
        &s,
        None,
        "/settings/triage",
        &[
            ("csrf", &token),
            ("version", "1"),
            ("comment", "try"),
            ("action", "apply"),
            ("name", "main.yaml"),
            ("text", broken),
        ],
        None,
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(b.contains(r#"id="errors""#), "{b}");
    assert!(b.contains("broken"), "the error names the rule: {b}");
    assert!(b.contains("alert.type =="), "the text is kept: {b}");
    assert_eq!(triage_version(&s).await, 1, "nothing saved");

    // a good edit, checked: the diff, still nothing saved
    let v2 = RULES_V1.replace("severity: low", "severity: high");
    let fields = |action: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("version", "1".to_string()),
            ("comment", "raise test.kind".to_string()),
            ("action", action.to_string()),
            ("name", "main.yaml".to_string()),
            ("text", v2.replace('\n', "\r\n")),
        ]
    };
    let check = fields("check");
    let check: Vec<(&str, &str)> = check.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (st, _, b) = post_form(&s, None, "/settings/triage", &check, None).await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains(r#"id="checked""#), "{b}");
    assert!(
        b.contains(r#"<span class="diff-del">-  severity: low</span>"#),
        "{b}"
    );
    assert!(
        b.contains(r#"<span class="diff-add">+  severity: high</span>"#),
        "{b}"
    );
    assert_eq!(triage_version(&s).await, 1, "a check saves nothing");

    // without the page's token, or from another site: refused, nothing saved
    let apply = fields("apply");
    let mut apply: Vec<(&str, &str)> = apply.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (st, _, _) = post_form(
        &s,
        None,
        "/settings/triage",
        &apply,
        Some("https://evil.example"),
    )
    .await;
    assert_eq!(st, 403);
    apply[0] = ("csrf", "forged");
    let (st, _, b) = post_form(&s, None, "/settings/triage", &apply, None).await;
    assert_eq!(st, 403, "{b}");
    assert_eq!(triage_version(&s).await, 1);

    // applied: a new version, live at once, its diff on the versions list
    apply[0] = ("csrf", &token);
    let (st, location, _) = post_form(&s, None, "/settings/triage", &apply, None).await;
    assert_eq!(st, 303);
    assert_eq!(location, "/settings/triage?applied=2");
    assert_eq!(triage_version(&s).await, 2);
    let (_, stored) = s.get("/api/v1/settings/triage").await;
    assert_eq!(
        stored["files"][0]["text"],
        json!(v2),
        "CRLF from the textarea is gone"
    );
    assert_eq!(stored["comment"], "raise test.kind");
    let (st, b) = get(&s, None, &location).await;
    assert_eq!(st, 200);
    assert!(b.contains("Applied: triage is now at version 2."), "{b}");
    assert!(
        b.contains(r#"href="/settings/triage/diff?from=1&#38;to=2""#),
        "{b}"
    );
    let (st, b) = get(&s, None, "/settings/triage/diff?from=1&to=2").await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains("+  severity: high"), "{b}");
    let mut a = generic_alert("edited", "info");
    a["type"] = json!("test.kind");
    let (st, body) = s.ingest("generic", a.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases[0]["severity"], "high", "the applied rule decides");
    let (_, audit) = s.get("/api/v1/settings/triage/versions").await;
    assert_eq!(audit["versions"][0]["author"], "anonymous");

    // a template draft previews against that case; a broken one says why
    let case_id = cases[0]["id"].as_str().expect("id").to_string();
    let (st, _, b) = post_form(
        &s,
        None,
        "/settings/templates/preview",
        &[
            ("csrf", &token),
            ("template", "github_title"),
            ("case_id", &case_id),
            ("text", "[{{ case.severity }}] <{{ case.title }}>"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert!(
        b.contains(r#"<pre class="wrap preview" id="preview">[high] &#60;"#),
        "{b}"
    );
    let (st, _, b) = post_form(
        &s,
        None,
        "/settings/templates/preview",
        &[
            ("csrf", &token),
            ("template", "github_title"),
            ("case_id", &case_id),
            ("text", "{% if %}"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains(r#"id="errors""#), "{b}");
}

#[tokio::test]
async fn a_silence_from_the_form_holds_the_next_notification_back_and_can_be_expired() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh, false);
    let s = start(dir.path(), &cfg);

    let (st, b) = get(
        &s,
        None,
        "/silences?matchers=type%3Dnoisy.kind&comment=from+a+case&back=/cases/x",
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains("type=noisy.kind</textarea>"), "pre-filled: {b}");
    let token = csrf(&b);

    // refused: no matcher, and a silence matching everything without force
    let (st, _, b) = post_form(
        &s,
        None,
        "/silences",
        &[("csrf", &token), ("match", "true"), ("duration", "1h")],
        None,
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(b.contains("match every alert"), "{b}");

    let (st, location, b) = post_form(
        &s,
        None,
        "/silences",
        &[
            ("csrf", &token),
            ("matchers", "type=noisy.kind"),
            ("duration", "1h"),
            ("comment", "<b>maintenance</b>"),
            ("back", "/silences"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 303, "{b}");
    assert_eq!(location, "/silences?silenced=1");

    // the next matching alert's issue is held back, and the page counts it
    let mut a = generic_alert("noisy-1", "high");
    a["type"] = json!("noisy.kind");
    let (st, body) = s.ingest("generic", a.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let (st, b) = get(&s, None, "/silences").await;
    assert_eq!(st, 200, "{b}");
    let row_start = b.find(r#"id="silence-1""#).expect("row");
    let row = &b[row_start..row_start + b[row_start..].find("</tr>").expect("end")];
    assert!(row.contains("<td>active</td>"), "{row}");
    assert!(
        row.contains(r#"alert.type == &#34;noisy.kind&#34;"#),
        "{row}"
    );
    assert!(
        row.contains("&#60;b&#62;maintenance&#60;/b&#62;"),
        "escaped: {row}"
    );
    assert!(
        row.contains(r#"<a href="/deliveries?state=held&amp;held_by=silence:1">1</a>"#),
        "{row}"
    );
    // what it holds back, listed
    let (st, b) = get(&s, None, "/deliveries?state=held&held_by=silence:1").await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b.matches(r#"<tr class="delivery">"#).count(), 1, "{b}");
    assert!(b.contains("Held back by silence:1"), "{b}");
    let (_, b) = get(&s, None, "/deliveries?state=held&held_by=silence:2").await;
    assert_eq!(b.matches(r#"<tr class="delivery">"#).count(), 0, "{b}");
    assert!(gh.issues(REPO).is_empty(), "held back");

    // expired: it is listed as such and the held issue goes out
    let (st, location, _) =
        post_form(&s, None, "/silences/1/expire", &[("csrf", &token)], None).await;
    assert_eq!(st, 303);
    assert_eq!(location, "/silences?expired=1");
    let (_, b) = get(&s, None, "/silences?state=expired").await;
    assert!(b.contains(r#"id="silence-1""#), "{b}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while gh.issues(REPO).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the held issue was not released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_reader_sees_settings_but_cannot_change_them() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh, true);
    let s = start(dir.path(), &cfg);

    let (st, _) = get(&s, None, "/settings").await;
    assert_eq!(st, 401, "no token, no page");
    let (st, b) = get(&s, Some(READ_TOKEN), "/settings/triage").await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains("test-kind-is-low"), "{b}");
    assert!(
        !b.contains(r#"<form class="editor""#),
        "no editor for a reader: {b}"
    );
    assert!(b.contains("Only an admin can change settings."));
    let (st, b) = get(&s, Some(READ_TOKEN), "/silences").await;
    assert_eq!(st, 200);
    assert!(
        !b.contains(r#"<h2 id="add">"#),
        "no add form for a reader: {b}"
    );
    let token = csrf(&get(&s, Some(ADMIN_TOKEN), "/settings/triage").await.1);
    let (st, _, _) = post_form(
        &s,
        Some(READ_TOKEN),
        "/settings/triage",
        &[
            ("csrf", &token),
            ("action", "apply"),
            ("name", "main.yaml"),
            ("text", "[]"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _, _) = post_form(
        &s,
        Some(READ_TOKEN),
        "/silences",
        &[("csrf", &token), ("matchers", "type=x"), ("duration", "1h")],
        None,
    )
    .await;
    assert_eq!(st, 403);
    let v: Value = browser()
        .get(format!("{}/api/v1/settings/triage", s.url))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(v["version"], 1, "the reader changed nothing");
}

#[tokio::test]
async fn a_source_page_shows_how_to_connect_and_its_test_button_posts_a_real_sample() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh, false);
    let s = start(dir.path(), &cfg);

    let (st, b) = get(&s, None, "/sources").await;
    assert_eq!(st, 200, "{b}");
    let row_of = |b: &str, id: &str| {
        let start = b.find(id).unwrap_or_else(|| panic!("no {id} in {b}"));
        b[start..start + b[start..].find("</tr>").expect("end")].to_string()
    };
    assert!(row_of(&b, r#"id="source-gcp.scc""#).contains("never"));

    let (st, b) = get(&s, None, "/sources/aws.guardduty").await;
    assert_eq!(st, 200, "{b}");
    let endpoint = "https://irene.example/api/v1/ingest/aws.guardduty";
    assert!(
        b.contains(&format!(r#"<code id="endpoint">{endpoint}</code>"#)),
        "{b}"
    );
    assert!(
        b.contains("--invocation-endpoint ".to_string().as_str()),
        "{b}"
    );
    assert!(
        b.contains("GuardDuty Finding"),
        "the EventBridge pattern: {b}"
    );
    assert!(
        b.contains("ApiKeyName=X-Api-Key"),
        "the API-key header: {b}"
    );
    assert!(
        b.contains(&format!("--notification-endpoint {endpoint}/sns")),
        "the SNS alternative: {b}"
    );
    let (_, b) = get(&s, None, "/sources/aws.cloudtrail").await;
    assert!(
        b.contains("[[sqs]]") && b.contains("s3:ObjectCreated:*"),
        "{b}"
    );
    let (_, b) = get(&s, None, "/sources/gcp.audit").await;
    assert!(b.contains("gcloud logging sinks create"), "{b}");
    let (_, b) = get(&s, None, "/sources/gcp.scc").await;
    assert!(b.contains("gcloud scc notifications create"), "{b}");
    let push = "https://irene.example/api/v1/ingest/gcp.scc/pubsub";
    assert!(
        b.contains(&format!("--push-auth-token-audience={push}"))
            && b.contains(&format!("audience = \"{push}\"")),
        "the OIDC audience Irene checks: {b}"
    );
    let token = csrf(&b);
    let (st, _) = get(&s, None, "/sources/nope").await;
    assert_eq!(st, 404);

    // a forged form posts nothing
    let (st, _, _) = post_form(&s, None, "/sources/gcp.scc/test", &[("csrf", "x")], None).await;
    assert_eq!(st, 403);
    let (st, location, _) =
        post_form(&s, None, "/sources/gcp.scc/test", &[("csrf", &token)], None).await;
    assert_eq!(st, 303);
    assert!(
        location.starts_with("/sources/gcp.scc?tested="),
        "{location}"
    );
    let (_, b) = get(&s, None, &location).await;
    assert!(b.contains(r#"id="notice""#), "{b}");
    s.drained().await;
    let cases = s.all_cases("").await;
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0]["source"], "gcp.scc");
    let (_, b) = get(&s, None, "/sources").await;
    let row = row_of(&b, r#"id="source-gcp.scc""#);
    assert!(!row.contains("never"), "{row}");
    assert!(
        row.contains(r#"<td class="num">1</td><td class="num">1</td>"#),
        "{row}"
    );
}

#[tokio::test]
async fn a_runbook_saved_in_the_editor_shows_on_the_cases_it_is_for() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh, false);
    let s = start(dir.path(), &cfg);

    let (_, b) = get(&s, None, "/settings/runbooks").await;
    let token = csrf(&b);
    // a runbook that says for nothing is refused, with the reason
    let (st, _, b) = post_form(
        &s,
        None,
        "/settings/runbooks",
        &[
            ("csrf", &token),
            ("version", "0"),
            ("action", "apply"),
            ("name", "noisy.md"),
            ("text", "# Noisy\nno front matter\n"),
        ],
        None,
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert!(b.contains("say which cases it is for"), "{b}");
    let runbook = "---\ntypes: [\"noisy.*\"]\n---\n# Noisy alerts\n\n1. Check **who** ran it.\n2. <script>alert(1)</script>\n\n[docs](https://docs.example/noisy) [bad](javascript:alert(1))\n";
    let (st, location, b) = post_form(
        &s,
        None,
        "/settings/runbooks",
        &[
            ("csrf", &token),
            ("version", "0"),
            ("action", "apply"),
            ("name", "noisy.md"),
            ("text", runbook),
        ],
        None,
    )
    .await;
    assert_eq!(st, 303, "{b}");
    assert_eq!(location, "/settings/runbooks?applied=1");

    let (_, b) = get(&s, None, "/runbooks").await;
    assert!(
        b.contains(r#"<a href="/runbooks/noisy.md">Noisy alerts</a>"#),
        "{b}"
    );

    let mut a = generic_alert("noisy-2", "high");
    a["type"] = json!("noisy.kind");
    let (st, body) = s.ingest("generic", a.to_string()).await;
    assert_eq!(st, 202, "{body}");
    let mut other = generic_alert("quiet", "high");
    other["type"] = json!("quiet.kind");
    let (st, body) = s.ingest("generic", other.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let cases = s.all_cases("").await;
    let id_of = |kind: &str| {
        cases
            .iter()
            .find(|c| c["type"] == kind)
            .and_then(|c| c["id"].as_str())
            .expect("case")
            .to_string()
    };
    let (st, b) = get(&s, None, &format!("/cases/{}", id_of("noisy.kind"))).await;
    assert_eq!(st, 200, "{b}");
    assert!(b.contains(r#"<section id="runbook">"#), "{b}");
    assert!(b.contains("<strong>who</strong>"), "markdown rendered: {b}");
    assert!(
        b.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "markup as text: {b}"
    );
    assert!(
        !b.replace(r#"<script src="/console.js" defer></script>"#, "")
            .contains("<script"),
        "{b}"
    );
    assert!(
        b.contains(r#"<a href="https://docs.example/noisy">docs</a>"#),
        "{b}"
    );
    assert!(!b.contains("javascript:"), "{b}");
    let (_, b) = get(&s, None, &format!("/cases/{}", id_of("quiet.kind"))).await;
    assert!(
        !b.contains(r#"<section id="runbook">"#),
        "no runbook fits: {b}"
    );

    // the noisy case's issue links its runbook; the quiet one's does not
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while gh.issues(REPO).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "issues: {:?}",
            gh.issues(REPO)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let issues = gh.issues(REPO);
    let noisy = issues
        .iter()
        .find(|i| i.body.contains("noisy.kind"))
        .expect("noisy issue");
    assert!(
        noisy
            .body
            .contains("- [Runbook: Noisy alerts](<https://irene.example/runbooks/noisy.md>)"),
        "{}",
        noisy.body
    );
    let quiet = issues
        .iter()
        .find(|i| i.body.contains("quiet.kind"))
        .expect("quiet issue");
    assert!(!quiet.body.contains("Runbook"), "{}", quiet.body);
}
