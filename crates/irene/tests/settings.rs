//! Settings as versioned documents, end to end through the real binary: the config's rule
//! file becomes version 1; apply validates everything at once, shows the diff, and switches the
//! rules without a restart; export writes what apply reads back unchanged; a restart keeps an
//! applied version; silences hold notifications back and release them once when they end; a
//! user template titles the issue and previews against a stored case.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bin, generic_alert, Server};
use irene_fakes::github::FakeGitHub;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const REPO: &str = "acme/alerts";
const TOKEN: &str = "ghp_settingstest0123456789abcdef";

const RULES_V1: &str =
    "- name: test-kind-is-low\n  when: alert.type == \"test.kind\"\n  severity: low\n";
const RULES_V2: &str = "- name: test-kind-is-high\n  when: alert.type == \"test.kind\"\n  severity: high\n  labels: [applied]\n";

fn config(dir: &Path, gh: &FakeGitHub) -> String {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(rules.join("main.yaml"), RULES_V1).expect("rules");
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
"#,
        rules = rules.display(),
        gh = gh.url()
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, text).expect("config");
    path.to_string_lossy().into_owned()
}

async fn start(dir: &Path, cfg: &str) -> Server {
    Server::start_env(
        &dir.join("data"),
        &["--config", cfg],
        &[("GH_TOKEN", TOKEN)],
    )
}

async fn gh() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    gh
}

async fn post_json(s: &Server, path: &str, body: Value) -> (u16, Value) {
    s.post_raw(
        path,
        body.to_string(),
        &[("content-type", "application/json")],
    )
    .await
}

async fn put_json(s: &Server, path: &str, body: Value) -> (u16, Value) {
    let resp = s
        .client
        .put(format!("{}{path}", s.url))
        .json(&body)
        .send()
        .await
        .expect("put");
    let st = resp.status().as_u16();
    (st, resp.json().await.unwrap_or(Value::Null))
}

async fn case_of(s: &Server, key: &str) -> Value {
    s.drained().await;
    let cases = s.all_cases("").await;
    cases
        .into_iter()
        .find(|c| c["key"].as_str().is_some_and(|k| k.contains(key)))
        .unwrap_or_else(|| panic!("no case {key}"))
}

/// An alert no rule decides: its own severity stands.
fn alert(key: &str, severity: &str) -> Value {
    let mut a = generic_alert(key, severity);
    a["type"] = json!("other.kind");
    a
}

fn cli(s: &Server, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .env("IRENE_URL", &s.url)
        .output()
        .expect("run irene");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn documents_are_versioned_applied_live_exported_and_kept_across_restarts() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh);
    let s = start(dir.path(), &cfg).await;

    // the config's files are version 1 of their documents
    let (st, triage) = s.get("/api/v1/settings/triage").await;
    assert_eq!(st, 200, "{triage}");
    assert_eq!(triage["version"], 1);
    assert!(
        triage["author"].as_str().unwrap().starts_with("file:"),
        "{triage}"
    );
    assert_eq!(triage["files"][0]["name"], "main.yaml");
    assert_eq!(triage["files"][0]["text"], RULES_V1);
    let (st, routes) = s.get("/api/v1/settings/routes").await;
    assert_eq!(st, 200, "{routes}");
    assert!(
        routes["files"][0]["text"]
            .as_str()
            .unwrap()
            .contains("output = \"issues\""),
        "{routes}"
    );
    let (st, _) = s.get("/api/v1/settings/nonsense").await;
    assert_eq!(st, 404);

    // low: no issue
    s.ingest("generic", generic_alert("before", "info").to_string())
        .await;
    assert_eq!(case_of(&s, "before").await["severity"], "low");

    // everything wrong at once, nothing applied
    let (st, body) = post_json(
        &s,
        "/api/v1/settings/apply",
        json!({"documents": {
            "triage": [{"name": "main.yaml", "text": "- name: broken\n  when: alert.type ==\n  severity: high\n"}],
            "silences": [{"name": "silences.yaml", "text": "- id: 1\n  match: 'true'\n  starts_at: 2026-01-01T00:00:00Z\n  ends_at: 2026-01-01T01:00:00Z\n  author: x\n"}],
            "routes": [{"name": "routes.toml", "text": "[[route]]\noutput = \"nope\"\n"}]
        }}),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("triage") && msg.contains("every alert") && msg.contains("\"nope\""),
        "{msg}"
    );
    assert_eq!(s.get("/api/v1/settings/triage").await.1["version"], 1);

    // a dry run shows the diff and changes nothing
    let docs = json!({"documents": {"triage": [{"name": "main.yaml", "text": RULES_V2}]},
                      "comment": "test-kind matters", "dry_run": true});
    let (st, body) = post_json(&s, "/api/v1/settings/apply", docs.clone()).await;
    assert_eq!(st, 200, "{body}");
    let diff = body["diff"].as_str().unwrap();
    assert!(
        diff.contains("-  severity: low") && diff.contains("+  severity: high"),
        "{diff}"
    );
    assert_eq!(s.get("/api/v1/settings/triage").await.1["version"], 1);

    // applied: version 2 by the caller, and the next alert is judged by it, no restart
    let mut real = docs.clone();
    real["dry_run"] = json!(false);
    let (st, body) = post_json(&s, "/api/v1/settings/apply", real).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["versions"]["triage"], 2, "{body}");
    s.ingest("generic", generic_alert("after", "info").to_string())
        .await;
    let case = case_of(&s, "after").await;
    assert_eq!(case["severity"], "high", "{case}");
    let (_, versions) = s.get("/api/v1/settings/triage/versions").await;
    assert_eq!(versions["versions"][0]["version"], 2);
    assert_eq!(versions["versions"][0]["comment"], "test-kind matters");
    let (_, d) = s.get("/api/v1/settings/triage/diff?from=1&to=2").await;
    assert!(
        d["diff"].as_str().unwrap().contains("+  labels: [applied]"),
        "{d}"
    );
    let (_, v1) = s.get("/api/v1/settings/triage/versions/1").await;
    assert_eq!(v1["files"][0]["text"], RULES_V1);

    // export → apply: no change; apply --dry-run of an edit prints its diff
    let out = dir.path().join("export");
    let (ok, _, err) = cli(&s, &["export", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(out.join("triage/main.yaml")).unwrap(),
        RULES_V2
    );
    assert!(out.join("routes.toml").is_file());
    let (ok, stdout, err) = cli(&s, &["apply", "-f", out.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(stdout.trim(), "no change", "{stdout}");
    std::fs::write(
        out.join("triage/main.yaml"),
        RULES_V2.replace("high", "urgent"),
    )
    .unwrap();
    let (ok, stdout, err) = cli(&s, &["apply", "-f", out.to_str().unwrap(), "--dry-run"]);
    assert!(ok, "{err}");
    assert!(stdout.contains("+  severity: urgent"), "{stdout}");
    assert_eq!(s.get("/api/v1/settings/triage").await.1["version"], 2);

    // a restart with the file unchanged keeps the applied version
    drop(s);
    let s = start(dir.path(), &cfg).await;
    let (_, triage) = s.get("/api/v1/settings/triage").await;
    assert_eq!(triage["version"], 2, "{triage}");
    s.ingest("generic", generic_alert("restarted", "info").to_string())
        .await;
    assert_eq!(case_of(&s, "restarted").await["severity"], "high");
    // the file edited: it wins at the next start (version 3, by the file)
    drop(s);
    std::fs::write(
        dir.path().join("rules/main.yaml"),
        RULES_V1.replace("low", "medium"),
    )
    .unwrap();
    let s = start(dir.path(), &cfg).await;
    let (_, triage) = s.get("/api/v1/settings/triage").await;
    assert_eq!(triage["version"], 3, "{triage}");
    assert!(triage["author"].as_str().unwrap().starts_with("file:"));
}

#[tokio::test]
async fn a_silence_holds_notifications_and_its_end_releases_them_once() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh);
    let s = start(dir.path(), &cfg).await;

    // too broad without force
    let (st, body) = post_json(
        &s,
        "/api/v1/silences",
        json!({"match": "true", "duration": "1h"}),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("every alert"),
        "{body}"
    );
    // too long
    let (st, _) = post_json(
        &s,
        "/api/v1/silences",
        json!({"matchers": ["account=1"], "duration": "400d"}),
    )
    .await;
    assert_eq!(st, 400);

    let (st, silence) = post_json(
        &s,
        "/api/v1/silences",
        json!({"matchers": ["account=111111111111", "type=other.kind"], "duration": "1h",
               "comment": "maintenance window"}),
    )
    .await;
    assert_eq!(st, 201, "{silence}");
    assert_eq!(silence["state"], "active");
    let id = silence["id"].as_u64().unwrap();

    // a high alert while silenced: the case opens, no issue, the timeline says why
    s.ingest("generic", alert("quiet", "high").to_string())
        .await;
    let case = case_of(&s, "quiet").await;
    assert_eq!(case["status"], "open");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        gh.issues(REPO).is_empty(),
        "silenced, yet an issue: {:?}",
        gh.issues(REPO)
    );
    let (_, detail) = s
        .get(&format!("/api/v1/cases/{}", case["id"].as_str().unwrap()))
        .await;
    let text = detail["timeline"].to_string();
    assert!(
        text.contains(&format!("silenced by #{id}: maintenance window")),
        "{text}"
    );
    // another alert, not matching, is not held
    let mut other = alert("loud", "high");
    other["account"] = json!("222222222222");
    s.ingest("generic", other.to_string()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while gh.issues(REPO).len() != 1 {
        assert!(Instant::now() < deadline, "{}", s.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (_, list) = s.get("/api/v1/silences?state=active").await;
    assert_eq!(list["silences"].as_array().unwrap().len(), 1, "{list}");
    // the CLI lists it too
    let (ok, stdout, err) = cli(&s, &["silence", "list", "--state", "active"]);
    assert!(ok, "{err}");
    assert!(
        stdout.contains(&format!("#{id}")) && stdout.contains("maintenance window"),
        "{stdout}"
    );

    // expired: the held issue is created, once
    let (ok, _, err) = cli(&s, &["silence", "expire", &id.to_string()]);
    assert!(ok, "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while gh.issues(REPO).len() != 2 {
        assert!(
            Instant::now() < deadline,
            "not released: {:?}\n{}",
            gh.issues(REPO),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gh.issues(REPO).len(), 2, "released once");
    let (_, list) = s.get("/api/v1/silences?state=expired").await;
    assert_eq!(list["silences"][0]["id"], id);
    // the changes are audited as versions of the silences document
    let (_, versions) = s.get("/api/v1/settings/silences/versions").await;
    let comments: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["comment"].as_str())
        .collect();
    assert!(
        comments.iter().any(|c| c.contains("expired")),
        "{comments:?}"
    );
    assert!(comments.iter().any(|c| c.contains("added")), "{comments:?}");
}

#[tokio::test]
async fn a_user_template_titles_the_issue_and_previews_against_a_case() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh);
    let s = start(dir.path(), &cfg).await;
    s.ingest("generic", alert("first", "high").to_string())
        .await;
    let case = case_of(&s, "first").await;
    let id = case["id"].as_str().unwrap();

    // a broken draft says why; a good one renders the stored case
    let (st, body) = post_json(
        &s,
        "/api/v1/settings/templates/preview",
        json!({"template": "github_title", "case_id": id, "text": "{{ case.nope.deeper }}"}),
    )
    .await;
    assert_eq!(st, 400, "{body}");
    let (st, body) = post_json(
        &s,
        "/api/v1/settings/templates/preview",
        json!({"template": "github_title", "case_id": id,
               "text": "[{{ case.severity | upper }}] {{ case.title }} in {{ alert.account }}"}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["text"], "[HIGH] Alert first in 111111111111");

    let (st, body) = put_json(
        &s,
        "/api/v1/settings/templates",
        json!({"files": [{"name": "github_title.j2", "text": "SEC {{ case.severity }}: {{ case.title }}"}],
               "comment": "our title"}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    s.ingest("generic", alert("second", "high").to_string())
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if gh
            .issues(REPO)
            .iter()
            .any(|i| i.title == "SEC high: Alert second")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            gh.issues(REPO),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn sighup_reads_the_files_again() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh);
    let s = start(dir.path(), &cfg).await;
    assert_eq!(s.get("/api/v1/settings/triage").await.1["version"], 1);
    std::fs::write(dir.path().join("rules/main.yaml"), RULES_V2).unwrap();
    let hup = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, t) = s.get("/api/v1/settings/triage").await;
        // stored, and running (the status says which versions this process runs)
        let (_, status) = s.get("/api/v1/status").await;
        if t["version"] == 2 && status["settings"]["triage"] == 2 {
            assert!(t["author"].as_str().unwrap().starts_with("file:"), "{t}");
            break;
        }
        assert!(Instant::now() < deadline, "{t}\n{}", s.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.ingest("generic", generic_alert("hup", "info").to_string())
        .await;
    assert_eq!(case_of(&s, "hup").await["severity"], "high");
}

/// Inhibition: while a compromise case is open on an instance, the recon case of the same
/// instance notifies nobody (its timeline says by which case); resolving the compromise
/// releases what the recon case held.
#[tokio::test]
async fn an_open_higher_case_inhibits_a_lower_one_on_the_same_resource() {
    let gh = gh().await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = config(dir.path(), &gh);
    let s = start(dir.path(), &cfg).await;
    let (_, routes) = s.get("/api/v1/settings/routes").await;
    let text = format!(
        "{}\n[[inhibit]]\nname = \"compromise-over-recon\"\nsource_when = 'case.type == \"compromise\"'\ntarget_when = 'case.type == \"recon\"'\nequal = [\"account\", \"resource.id\"]\n",
        routes["files"][0]["text"].as_str().unwrap()
    );
    let (st, body) = put_json(
        &s,
        "/api/v1/settings/routes",
        json!({"files": [{"name": "routes.toml", "text": text}], "comment": "inhibit recon"}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let on = |key: &str, kind: &str, sev: &str, resource: &str| {
        let mut a = alert(key, sev);
        a["type"] = json!(kind);
        a["resource"] = json!({"id": resource});
        a
    };
    s.ingest(
        "generic",
        on("c2", "compromise", "urgent", "i-1").to_string(),
    )
    .await;
    let compromise = case_of(&s, "c2").await;
    s.ingest("generic", on("scan-i1", "recon", "high", "i-1").to_string())
        .await;
    s.ingest(
        "generic",
        on("probe-i2", "recon", "high", "i-2").to_string(),
    )
    .await;
    let recon = case_of(&s, "scan-i1").await;
    // the compromise and the recon of another instance get issues; the inhibited one none
    let deadline = Instant::now() + Duration::from_secs(20);
    while gh.issues(REPO).len() != 2 {
        assert!(
            Instant::now() < deadline,
            "{:?}\n{}",
            gh.issues(REPO),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(gh.issues(REPO).len(), 2);
    let (_, detail) = s
        .get(&format!("/api/v1/cases/{}", recon["id"].as_str().unwrap()))
        .await;
    let text = detail["timeline"].to_string();
    assert!(
        text.contains(&format!(
            "inhibited by case {}",
            compromise["id"].as_str().unwrap()
        )) && text.contains("compromise-over-recon"),
        "{text}"
    );
    // the compromise resolved: the recon case's issue goes out
    let (st, body) = post_json(
        &s,
        &format!(
            "/api/v1/cases/{}/resolve",
            compromise["id"].as_str().unwrap()
        ),
        json!({"reason": "rebuilt the instance"}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while gh.issues(REPO).len() != 3 {
        assert!(
            Instant::now() < deadline,
            "not released: {:?}\n{}",
            gh.issues(REPO),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
