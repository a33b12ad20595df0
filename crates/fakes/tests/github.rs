//! Contract tests for the fake GitHub: headers, auth, issues, comments, labels, list, search, apps.
//! They talk to the fake over real HTTP with reqwest, as Irene's client will.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_fakes::{sign_webhook, FakeGitHub, Fault, FaultKind};
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const REPO: &str = "acme/security-alerts";
const TOKEN: &str = "ghp_test";

async fn fake() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    gh
}

/// A request with the headers a well-behaved client sends.
fn req(gh: &FakeGitHub, method: Method, path: &str) -> reqwest::RequestBuilder {
    req_with(gh, method, path, TOKEN, "2022-11-28")
}

fn req_with(
    gh: &FakeGitHub,
    method: Method,
    path: &str,
    token: &str,
    version: &str,
) -> reqwest::RequestBuilder {
    Client::new()
        .request(method, format!("{}{path}", gh.url()))
        .header("user-agent", "irene-tests")
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", version)
        .bearer_auth(token)
}

async fn send(rb: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = rb.send().await.expect("request reaches the fake");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

async fn create(gh: &FakeGitHub, body: Value) -> Value {
    let (s, _, v) = send(req(gh, Method::POST, &format!("/repos/{REPO}/issues")).json(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

fn hdr<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn create_issue_returns_201_location_and_the_contract_fields() {
    let gh = fake().await;
    let (s, h, v) = send(
        req(&gh, Method::POST, &format!("/repos/{REPO}/issues"))
            .json(&json!({"title": "Leaked key", "body": "details\n", "labels": ["severity:high", {"name": "bug"}]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        hdr(&h, "location"),
        Some(format!("{}/repos/{REPO}/issues/1", gh.url()).as_str())
    );
    for field in [
        "id",
        "node_id",
        "url",
        "repository_url",
        "labels_url",
        "comments_url",
        "events_url",
        "html_url",
        "number",
        "state",
        "state_reason",
        "title",
        "body",
        "user",
        "labels",
        "assignee",
        "milestone",
        "locked",
        "comments",
        "closed_at",
        "closed_by",
        "created_at",
        "updated_at",
    ] {
        assert!(v.get(field).is_some(), "issue lacks {field}: {v}");
    }
    assert_eq!(v["number"], 1);
    assert_eq!(v["state"], "open");
    assert_eq!(v["state_reason"], Value::Null);
    assert_eq!(v["body"], "details\n");
    assert_eq!(v["user"]["login"], "irene-bot");
    assert_eq!(v["user"]["type"], "User");
    let labels = v["labels"].as_array().expect("labels array");
    assert_eq!(labels.len(), 2);
    for l in labels {
        for field in [
            "id",
            "node_id",
            "url",
            "name",
            "description",
            "color",
            "default",
        ] {
            assert!(l.get(field).is_some(), "label lacks {field}: {l}");
        }
    }
    assert_eq!(labels[0]["name"], "severity:high");
    assert_eq!(
        labels[0]["color"], "ededed",
        "auto-created labels are ededed"
    );
    assert_eq!(labels[0]["description"], Value::Null);
    assert_eq!(
        labels[1]["color"], "d73a4a",
        "the default `bug` label keeps its colour"
    );
    let created = v["created_at"].as_str().unwrap_or("");
    assert!(created.ends_with('Z') && created.len() == 20, "{created}");

    let second = create(&gh, json!({"title": 42})).await;
    assert_eq!(second["number"], 2);
    assert_eq!(second["title"], "42", "integer titles are accepted");
    assert_ne!(second["id"], v["id"]);
    assert_ne!(second["node_id"], v["node_id"]);

    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 2);
    assert_eq!(issues[0].labels, vec!["severity:high", "bug"]);
    assert_eq!(issues[0].user, "irene-bot");
}

#[tokio::test]
async fn required_headers_auth_and_versions() {
    let gh = fake().await;
    gh.add_token_login("ghp_other", "alice");
    let url = format!("{}/repos/{REPO}/issues", gh.url());
    let c = Client::new();
    let ua = |rb: reqwest::RequestBuilder| rb.header("user-agent", "t");
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, Option<&str>)> = vec![
        ("no user agent", c.get(&url).bearer_auth(TOKEN), 403, None),
        (
            "blank user agent",
            c.get(&url).header("user-agent", " ").bearer_auth(TOKEN),
            403,
            None,
        ),
        (
            "bad token",
            ua(c.get(&url)).bearer_auth("ghp_nope"),
            401,
            Some("Bad credentials"),
        ),
        (
            "basic scheme",
            ua(c.get(&url)).header("authorization", "Basic eDp5"),
            401,
            Some("Bad credentials"),
        ),
        (
            "write without token",
            ua(c.post(&url)).json(&json!({"title": "x"})),
            401,
            Some("Requires authentication"),
        ),
        ("read without token", ua(c.get(&url)), 200, None),
        (
            "token scheme",
            ua(c.get(&url)).header("authorization", format!("token {TOKEN}")),
            200,
            None,
        ),
        (
            "unknown version",
            ua(c.get(&url))
                .bearer_auth(TOKEN)
                .header("x-github-api-version", "2020-01-01"),
            400,
            None,
        ),
        (
            "version 2026-03-10",
            ua(c.get(&url))
                .bearer_auth(TOKEN)
                .header("x-github-api-version", "2026-03-10"),
            200,
            None,
        ),
        (
            "other user",
            ua(c.post(&url))
                .bearer_auth("ghp_other")
                .json(&json!({"title": "by alice"})),
            201,
            None,
        ),
        (
            "trailing slash",
            ua(c.get(format!("{url}/"))).bearer_auth(TOKEN),
            404,
            Some("Not Found"),
        ),
        (
            "unknown repo",
            ua(c.get(format!("{}/repos/acme/nope/issues", gh.url()))).bearer_auth(TOKEN),
            404,
            Some("Not Found"),
        ),
        (
            "owner and repo are case-insensitive",
            ua(c.get(format!("{}/repos/ACME/Security-Alerts/issues", gh.url()))).bearer_auth(TOKEN),
            200,
            None,
        ),
    ];
    for (name, rb, status, message) in cases {
        let (s, h, v) = send(rb).await;
        assert_eq!(s.as_u16(), status, "{name}: {v}");
        if let Some(m) = message {
            assert_eq!(v["message"], m, "{name}");
            assert_eq!(
                v["status"],
                status.to_string(),
                "{name}: status is a string"
            );
        }
        for r in ["limit", "remaining", "used", "reset", "resource"] {
            assert!(
                h.contains_key(format!("x-ratelimit-{r}").as_str()),
                "{name}: no x-ratelimit-{r}"
            );
        }
        assert!(h.contains_key("x-github-api-version-selected"), "{name}");
    }
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].user, "alice");

    let (_, h, _) = send(req_with(
        &gh,
        Method::GET,
        "/rate_limit",
        TOKEN,
        "2026-03-10",
    ))
    .await;
    assert_eq!(hdr(&h, "x-github-api-version-selected"), Some("2026-03-10"));
    let (_, h, _) = send(Client::new().get(&url).header("user-agent", "t")).await;
    assert_eq!(hdr(&h, "x-github-api-version-selected"), Some("2022-11-28"));
}

#[tokio::test]
async fn rate_limit_headers_count_core_requests_and_rate_limit_is_free() {
    let gh = fake().await;
    let path = format!("/repos/{REPO}/issues");
    let mut used = Vec::new();
    for _ in 0..3 {
        let (_, h, _) = send(req(&gh, Method::GET, &path)).await;
        assert_eq!(hdr(&h, "x-ratelimit-resource"), Some("core"));
        assert_eq!(hdr(&h, "x-ratelimit-limit"), Some("5000"));
        used.push(hdr(&h, "x-ratelimit-used").unwrap_or("").to_string());
        let remaining: u32 = hdr(&h, "x-ratelimit-remaining")
            .unwrap_or("")
            .parse()
            .unwrap_or(0);
        let used_n: u32 = used.last().map(|u| u.parse().unwrap_or(0)).unwrap_or(0);
        assert_eq!(remaining + used_n, 5000);
        let reset: i64 = hdr(&h, "x-ratelimit-reset")
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        assert!(reset > chrono::Utc::now().timestamp());
    }
    assert_eq!(used, vec!["1", "2", "3"]);
    let (s, _, v) = send(req(&gh, Method::GET, "/rate_limit")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["resources"]["core"]["used"], 3,
        "rate_limit itself is not counted"
    );
    assert_eq!(v["resources"]["search"]["limit"], 30);
    assert_eq!(v["rate"]["used"], 3);
    let (_, _, v) = send(req_with(
        &gh,
        Method::GET,
        "/rate_limit",
        TOKEN,
        "2026-03-10",
    ))
    .await;
    assert!(v.get("rate").is_none(), "2026-03-10 drops `rate`");
}

#[tokio::test]
async fn create_validation_errors() {
    let gh = fake().await;
    gh.add_repo("acme/no-issues");
    gh.disable_issues("acme/no-issues");
    let path = format!("/repos/{REPO}/issues");
    let cases: Vec<(&str, String, reqwest::Body, u16, Value)> = vec![
        (
            "missing title",
            path.clone(),
            json!({"body": "x"}).to_string().into(),
            422,
            json!({"message": "Invalid request.\n\n\"title\" wasn't supplied.",
                "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue", "status": "422"}),
        ),
        (
            "body too long",
            path.clone(),
            json!({"title": "t", "body": "x".repeat(65537)})
                .to_string()
                .into(),
            422,
            json!("body is too long (maximum is 65536 characters)"),
        ),
        (
            "title too long",
            path.clone(),
            json!({"title": "t".repeat(257)}).to_string().into(),
            422,
            json!("title is too long (maximum is 256 characters)"),
        ),
        (
            "bad json",
            path.clone(),
            "{nope".into(),
            400,
            json!("Problems parsing JSON"),
        ),
        (
            "not an object",
            path.clone(),
            "[1]".into(),
            400,
            json!("Body should be a JSON object"),
        ),
        (
            "issues disabled",
            "/repos/acme/no-issues/issues".into(),
            json!({"title": "t"}).to_string().into(),
            410,
            json!("Issues are disabled for this repo"),
        ),
        (
            "unknown repo",
            "/repos/acme/nope/issues".into(),
            json!({"title": "t"}).to_string().into(),
            404,
            json!("Not Found"),
        ),
    ];
    for (name, p, body, status, want) in cases {
        let (s, _, v) = send(
            req(&gh, Method::POST, &p)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(s.as_u16(), status, "{name}: {v}");
        match want {
            Value::String(m) if v.get("errors").is_some() => {
                assert_eq!(v["errors"][0]["message"], m.as_str(), "{name}")
            }
            Value::String(m) => assert_eq!(v["message"], m.as_str(), "{name}"),
            whole => assert_eq!(v, whole, "{name}"),
        }
    }
    assert!(gh.issues(REPO).is_empty(), "nothing was created");
    let ok = create(&gh, json!({"title": "t", "body": "x".repeat(65536)})).await;
    assert_eq!(ok["body"].as_str().map(str::len), Some(65536));
}

#[tokio::test]
async fn patch_follows_the_state_reason_table() {
    let gh = fake().await;
    create(&gh, json!({"title": "t", "labels": ["a", "b"]})).await;
    let path = format!("/repos/{REPO}/issues/1");
    // (body, state, state_reason, closed)
    let table: Vec<(Value, &str, Value, bool)> = vec![
        (
            json!({"state": "closed", "state_reason": "completed"}),
            "closed",
            json!("completed"),
            true,
        ),
        (json!({"state": "open"}), "open", json!("reopened"), false),
        (
            json!({"state": "closed", "state_reason": "not_planned"}),
            "closed",
            json!("not_planned"),
            true,
        ),
        (
            json!({"state": "open", "state_reason": "reopened"}),
            "open",
            json!("reopened"),
            false,
        ),
        (
            json!({"state": "closed"}),
            "closed",
            json!("completed"),
            true,
        ),
        (
            json!({"state_reason": "not_planned"}),
            "closed",
            json!("completed"),
            true,
        ),
        (
            json!({"state": "closed", "state_reason": "duplicate"}),
            "closed",
            json!("completed"),
            true,
        ),
    ];
    for (i, (body, state, reason, closed)) in table.into_iter().enumerate() {
        let (s, _, v) = send(req(&gh, Method::PATCH, &path).json(&body)).await;
        assert_eq!(s, StatusCode::OK, "step {i}: {v}");
        assert_eq!(v["state"], state, "step {i}");
        assert_eq!(v["state_reason"], reason, "step {i}");
        assert_eq!(v["closed_at"].is_string(), closed, "step {i}");
        assert_eq!(v["closed_by"].is_object(), closed, "step {i}");
        if closed {
            assert_eq!(v["closed_by"]["login"], "irene-bot");
        }
    }
    let (s, _, v) = send(req(&gh, Method::PATCH, &path).json(&json!({"labels": ["C", "a"]}))).await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names, vec!["C", "a"], "labels replace");
    let (_, _, v) = send(
        req(&gh, Method::PATCH, &path).json(&json!({"labels": [], "title": "new", "body": "b"})),
    )
    .await;
    assert_eq!(v["labels"], json!([]));
    assert_eq!(v["title"], "new");
    let (s, _, _) = send(req(&gh, Method::PATCH, &path).json(&json!({"state": "done"}))).await;
    assert_eq!(s.as_u16(), 422);
    let (s, _, _) = send(
        req(&gh, Method::PATCH, &format!("/repos/{REPO}/issues/99"))
            .json(&json!({"state": "closed"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, v) = send(req(&gh, Method::GET, &path)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["title"], "new");
    let issue = &gh.issues(REPO)[0];
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.closed_by.as_deref(), Some("irene-bot"));
    assert_eq!(issue.body, "b");
}

#[tokio::test]
async fn comments_bump_count_and_updated_at() {
    let gh = fake().await;
    let issue = create(&gh, json!({"title": "t"})).await;
    gh.advance_clock(Duration::from_secs(5));
    let path = format!("/repos/{REPO}/issues/1/comments");
    let (s, h, c) = send(req(&gh, Method::POST, &path).json(&json!({"body": "first"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let id = c["id"].as_u64().unwrap_or(0);
    assert_eq!(
        hdr(&h, "location"),
        Some(format!("{}/repos/{REPO}/issues/comments/{id}", gh.url()).as_str())
    );
    for field in [
        "id",
        "node_id",
        "html_url",
        "issue_url",
        "user",
        "url",
        "created_at",
        "updated_at",
        "body",
    ] {
        assert!(c.get(field).is_some(), "comment lacks {field}");
    }
    send(req(&gh, Method::POST, &path).json(&json!({"body": "second"}))).await;
    let (s, _, v) = send(req(&gh, Method::POST, &path).json(&json!({}))).await;
    assert_eq!(s.as_u16(), 422, "{v}");
    let (_, _, v) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues/1"))).await;
    assert_eq!(v["comments"], 2);
    assert_ne!(
        v["updated_at"], issue["updated_at"],
        "a comment moves updated_at"
    );
    let (_, _, list) = send(req(&gh, Method::GET, &path)).await;
    let bodies: Vec<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["body"].as_str())
        .collect();
    assert_eq!(bodies, vec!["first", "second"]);
    let comments = &gh.issues(REPO)[0].comments;
    assert_eq!(comments.len(), 2);
    assert_eq!(comments[1].user, "irene-bot");
}

#[tokio::test]
async fn labels_append_create_duplicate_and_get() {
    let gh = fake().await;
    create(&gh, json!({"title": "t", "labels": ["a"]})).await;
    let (s, _, v) = send(
        req(&gh, Method::POST, &format!("/repos/{REPO}/issues/1/labels"))
            .json(&json!({"labels": ["b", "A"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let names: Vec<&str> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["name"].as_str())
        .collect();
    assert_eq!(names, vec!["a", "b"], "append returns the full set");
    let (s, _, _) = send(
        req(&gh, Method::POST, &format!("/repos/{REPO}/issues/1/labels"))
            .json(&json!({"labels": []})),
    )
    .await;
    assert_eq!(s.as_u16(), 422);

    let labels = format!("/repos/{REPO}/labels");
    let (s, h, v) = send(
        req(&gh, Method::POST, &labels)
            .json(&json!({"name": "in progress/x", "color": "F29513", "description": "d"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["color"], "f29513");
    assert_eq!(
        hdr(&h, "location"),
        Some(format!("{}/repos/{REPO}/labels/in%20progress%2Fx", gh.url()).as_str())
    );
    let (s, _, v) =
        send(req(&gh, Method::POST, &labels).json(&json!({"name": "IN PROGRESS/X"}))).await;
    assert_eq!(s.as_u16(), 422);
    assert_eq!(
        v,
        json!({"message": "Validation Failed",
               "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}],
               "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label", "status": "422"})
    );
    let (s, _, v) =
        send(req(&gh, Method::POST, &labels).json(&json!({"name": "n".repeat(51)}))).await;
    assert_eq!(s.as_u16(), 422, "{v}");
    let (s, _, v) = send(req(
        &gh,
        Method::GET,
        &format!("{labels}/in%20progress%2Fx"),
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["name"], "in progress/x");
    assert_eq!(v["description"], "d");
    let (s, _, _) = send(req(&gh, Method::GET, &format!("{labels}/missing"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, _, all) = send(req(&gh, Method::GET, &format!("{labels}?per_page=100"))).await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(12),
        "9 defaults + a + b + the new one"
    );
    let (s, _, v) = send(
        req(&gh, Method::PUT, &format!("/repos/{REPO}/issues/1/labels"))
            .json(&json!({"labels": ["z"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "PUT replaces");
}

fn next_link(h: &reqwest::header::HeaderMap) -> Option<String> {
    let link = hdr(h, "link")?;
    link.split(", ")
        .find(|p| p.ends_with("rel=\"next\""))
        .map(|p| {
            p.split(';')
                .next()
                .unwrap_or("")
                .trim_matches(|c| c == '<' || c == '>' || c == ' ')
                .to_string()
        })
}

#[tokio::test]
async fn list_pagination_follows_next_links() {
    let gh = fake().await;
    for i in 1..=150 {
        let labels = if i % 3 == 0 {
            json!(["three"])
        } else {
            json!([])
        };
        create(
            &gh,
            json!({"title": format!("issue {i}"), "labels": labels}),
        )
        .await;
    }
    let mut url = format!("{}/repos/{REPO}/issues?per_page=40&state=all", gh.url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (s, h, v) = send(
            Client::new()
                .get(&url)
                .header("user-agent", "t")
                .bearer_auth(TOKEN),
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        pages += 1;
        seen.extend(
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["number"].as_u64()),
        );
        match next_link(&h) {
            Some(next) => {
                assert!(next.starts_with(&gh.url()), "absolute link: {next}");
                assert!(next.contains("per_page=40"), "per_page is carried: {next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 150);
    assert_eq!(seen[0], 150, "default sort is created desc");
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 150, "no duplicates across pages");

    let (_, h, v) = send(req(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/issues?labels=THREE&per_page=100&direction=asc"),
    ))
    .await;
    assert_eq!(v.as_array().map(Vec::len), Some(50));
    assert_eq!(v[0]["number"], 3);
    assert!(hdr(&h, "link").is_none(), "a single page has no Link");
    let (_, h, v) = send(req(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/issues?per_page=500"),
    ))
    .await;
    assert_eq!(
        v.as_array().map(Vec::len),
        Some(100),
        "per_page is clamped to 100"
    );
    assert!(hdr(&h, "link").is_some_and(|l| l.contains("rel=\"last\"")));

    gh.set_cursor_links(true);
    let (_, h, _) = send(req(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/issues?per_page=100"),
    ))
    .await;
    let next = next_link(&h).unwrap_or_default();
    assert!(next.contains("after="), "{next}");
    let (_, h, v) = send(
        Client::new()
            .get(&next)
            .header("user-agent", "t")
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(v.as_array().map(Vec::len), Some(50));
    assert!(next_link(&h).is_none());
}

#[tokio::test]
async fn list_filters_state_labels_creator_since_and_sort() {
    let gh = fake().await;
    gh.add_token_login("ghp_alice", "alice");
    create(
        &gh,
        json!({"title": "one", "labels": ["Alert-Key:1", "sev:high"]}),
    )
    .await;
    gh.advance_clock(Duration::from_secs(10));
    create(&gh, json!({"title": "two", "labels": ["alert-key:1"]})).await;
    gh.advance_clock(Duration::from_secs(10));
    send(
        req_with(
            &gh,
            Method::POST,
            &format!("/repos/{REPO}/issues"),
            "ghp_alice",
            "2022-11-28",
        )
        .json(&json!({"title": "three"})),
    )
    .await;
    gh.advance_clock(Duration::from_secs(10));
    let (_, _, closed) = send(
        req(&gh, Method::PATCH, &format!("/repos/{REPO}/issues/1"))
            .json(&json!({"state": "closed"})),
    )
    .await;
    let two = &gh.issues(REPO)[1];
    assert_eq!(two.title, "two");
    let (_, _, two_json) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues/2"))).await;
    let since = two_json["updated_at"].as_str().unwrap_or("").to_string();
    let cases: Vec<(String, Vec<u64>)> = vec![
        ("".into(), vec![3, 2]),
        ("state=closed".into(), vec![1]),
        ("state=all".into(), vec![3, 2, 1]),
        ("state=all&labels=alert-key:1".into(), vec![2, 1]),
        ("state=all&labels=ALERT-KEY:1,sev:high".into(), vec![1]),
        ("state=all&creator=alice".into(), vec![3]),
        (format!("state=all&since={since}"), vec![3, 1]),
        (
            format!(
                "state=all&since={}",
                closed["updated_at"].as_str().unwrap_or("")
            ),
            vec![],
        ),
        ("state=all&sort=updated".into(), vec![1, 3, 2]),
        ("state=all&sort=created&direction=asc".into(), vec![1, 2, 3]),
    ];
    for (q, want) in cases {
        let (s, _, v) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues?{q}"))).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        let got: Vec<u64> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["number"].as_u64())
            .collect();
        assert_eq!(got, want, "{q}");
    }
    let (s, _, _) = send(req(
        &gh,
        Method::GET,
        &format!("/repos/{REPO}/issues?state=weird"),
    ))
    .await;
    assert_eq!(s.as_u16(), 422);
}

#[tokio::test]
async fn search_parses_qualifiers_and_uses_its_own_bucket() {
    let gh = fake().await;
    gh.add_repo("acme/other");
    create(&gh, json!({"title": "Leaked AWS key", "body": "marker ak:ab12", "labels": ["alert-key:ab12", "in progress"]})).await;
    create(
        &gh,
        json!({"title": "Public bucket", "body": "marker ak:cd34", "labels": ["alert-key:cd34"]}),
    )
    .await;
    send(
        req(&gh, Method::PATCH, &format!("/repos/{REPO}/issues/2"))
            .json(&json!({"state": "closed", "state_reason": "not_planned"})),
    )
    .await;
    send(
        req(&gh, Method::POST, "/repos/acme/other/issues").json(&json!({"title": "aws elsewhere"})),
    )
    .await;
    let cases: Vec<(&str, Vec<u64>)> = vec![
        ("repo:acme/security-alerts is:issue", vec![2, 1]),
        ("repo:acme/security-alerts is:open", vec![1]),
        ("repo:acme/security-alerts state:closed", vec![2]),
        ("repo:acme/security-alerts label:\"in progress\"", vec![1]),
        (
            "repo:acme/security-alerts label:alert-key:ab12 in:body \"ak:ab12\"",
            vec![1],
        ),
        ("repo:acme/security-alerts in:title ak:ab12", vec![]),
        ("repo:acme/security-alerts aws", vec![1]),
        ("aws", vec![1, 1]),
        ("repo:acme/security-alerts -label:alert-key:ab12", vec![2]),
        (
            "repo:acme/security-alerts author:irene-bot reason:\"not planned\"",
            vec![2],
        ),
        ("repo:acme/security-alerts is:pr", vec![]),
    ];
    for (q, want) in cases {
        let (s, h, v) = send(req(&gh, Method::GET, "/search/issues").query(&[("q", q)])).await;
        assert_eq!(s, StatusCode::OK, "{q}: {v}");
        assert_eq!(hdr(&h, "x-ratelimit-resource"), Some("search"));
        assert_eq!(hdr(&h, "x-ratelimit-limit"), Some("30"));
        let got: Vec<u64> = v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["number"].as_u64())
            .collect();
        assert_eq!(got, want, "{q}");
        assert_eq!(v["total_count"], want.len(), "{q}");
        assert_eq!(v["incomplete_results"], false);
        assert!(v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|i| i["score"].is_number()));
    }
    let (s, _, _) =
        send(req(&gh, Method::GET, "/search/issues").query(&[("q", "repo:acme/missing x")])).await;
    assert_eq!(s.as_u16(), 422);
    let (s, _, _) = send(req(&gh, Method::GET, "/search/issues")).await;
    assert_eq!(s.as_u16(), 422, "q is required");
    // 13 searches so far; the 31st in the minute is refused with remaining 0.
    for i in 14..=30 {
        let (s, h, _) = send(req(&gh, Method::GET, "/search/issues").query(&[("q", "x")])).await;
        assert_eq!(s, StatusCode::OK, "search {i}");
        assert_eq!(hdr(&h, "x-ratelimit-used"), Some(i.to_string().as_str()));
    }
    let (s, h, v) = send(req(&gh, Method::GET, "/search/issues").query(&[("q", "x")])).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(hdr(&h, "x-ratelimit-remaining"), Some("0"));
    assert!(v["message"].as_str().unwrap_or("").contains("rate limit"));
    let (s, h, _) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues"))).await;
    assert_eq!(s, StatusCode::OK, "core is a separate bucket");
    assert_eq!(hdr(&h, "x-ratelimit-resource"), Some("core"));
}

#[tokio::test]
async fn rate_limit_faults_have_the_right_headers() {
    let gh = fake().await;
    let path = format!("/repos/{REPO}/issues");
    gh.fault(
        Fault::new(FaultKind::SecondaryLimit {
            status: 403,
            retry_after: Some(60),
        })
        .on("POST", "/issues"),
    );
    gh.fault(
        Fault::new(FaultKind::SecondaryLimit {
            status: 429,
            retry_after: None,
        })
        .on("POST", "/issues"),
    );
    gh.fault(
        Fault::new(FaultKind::PrimaryLimit {
            status: 403,
            reset_in: Duration::from_secs(120),
        })
        .on("POST", "/issues"),
    );
    gh.fault(
        Fault::new(FaultKind::PrimaryLimit {
            status: 429,
            reset_in: Duration::from_secs(30),
        })
        .on("POST", "/issues"),
    );

    let (s, h, v) = send(req(&gh, Method::POST, &path).json(&json!({"title": "t"}))).await;
    assert_eq!(s.as_u16(), 403);
    assert_eq!(hdr(&h, "retry-after"), Some("60"));
    assert!(
        h.keys().all(|k| !k.as_str().starts_with("x-ratelimit-")),
        "secondary has no x-ratelimit-*"
    );
    assert!(v["message"]
        .as_str()
        .unwrap_or("")
        .starts_with("You have exceeded a secondary rate limit"));

    let (s, h, _) = send(req(&gh, Method::POST, &path).json(&json!({"title": "t"}))).await;
    assert_eq!(s.as_u16(), 429);
    assert!(h.get("retry-after").is_none());
    assert!(h.keys().all(|k| !k.as_str().starts_with("x-ratelimit-")));

    for (status, min_wait) in [(403u16, 100i64), (429, 10)] {
        let (s, h, v) = send(req(&gh, Method::POST, &path).json(&json!({"title": "t"}))).await;
        assert_eq!(s.as_u16(), status);
        assert_eq!(hdr(&h, "x-ratelimit-remaining"), Some("0"));
        let reset: i64 = hdr(&h, "x-ratelimit-reset")
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        assert!(
            reset >= chrono::Utc::now().timestamp() + min_wait,
            "reset in the future"
        );
        assert_eq!(v["message"], "API rate limit exceeded for user ID 1.");
    }
    assert!(gh.issues(REPO).is_empty(), "faulted requests did nothing");
    create(&gh, json!({"title": "after"})).await;

    gh.fault(Fault::new(FaultKind::Status(503)));
    let (s, h, v) = send(req(&gh, Method::GET, &path)).await;
    assert_eq!(s.as_u16(), 503);
    assert_eq!(v["code"], "service_unavailable");
    assert!(h.contains_key("x-ratelimit-remaining"));
    let statuses: Vec<u16> = gh.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![403, 429, 403, 429, 201, 503]);
}

#[tokio::test]
async fn delay_performs_hang_and_reset_do_not() {
    let gh = fake().await;
    let path = format!("/repos/{REPO}/issues");
    gh.fault(Fault::new(FaultKind::Delay(Duration::from_millis(400))).on("POST", "/issues"));
    let t = Instant::now();
    let (s, _, _) = send(req(&gh, Method::POST, &path).json(&json!({"title": "slow"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(t.elapsed() >= Duration::from_millis(400));

    gh.fault(Fault::new(FaultKind::Hang).on("POST", ""));
    let t = Instant::now();
    let err = req(&gh, Method::POST, &path)
        .timeout(Duration::from_millis(300))
        .json(&json!({"title": "hung"}))
        .send()
        .await
        .expect_err("the client times out");
    assert!(err.is_timeout(), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5));

    gh.fault(Fault::new(FaultKind::Reset));
    let err = req(&gh, Method::POST, &path)
        .json(&json!({"title": "reset"}))
        .send()
        .await
        .expect_err("the connection is closed without a response");
    assert!(!err.is_timeout(), "{err}");

    let titles: Vec<String> = gh.issues(REPO).into_iter().map(|i| i.title).collect();
    assert_eq!(titles, vec!["slow"]);
    let statuses: Vec<u16> = gh.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![201, 0, 0]);
}

#[tokio::test]
async fn transferred_issue_answers_301() {
    let gh = fake().await;
    gh.add_repo("acme/archive");
    create(&gh, json!({"title": "moving"})).await;
    let n = gh.transfer_issue(REPO, 1, "acme/archive");
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let (s, h, v) = send(
        client
            .get(format!("{}/repos/{REPO}/issues/1", gh.url()))
            .header("user-agent", "t")
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(s.as_u16(), 301);
    let loc = format!("{}/repos/acme/archive/issues/{n}", gh.url());
    assert_eq!(hdr(&h, "location"), Some(loc.as_str()));
    assert_eq!(v["url"], loc.as_str());
    let (s, _, v) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues/1"))).await;
    assert_eq!(s, StatusCode::OK, "reqwest follows the redirect");
    assert_eq!(v["title"], "moving");
}

fn jwt(pem: &[u8], iss: Value, iat_off: i64, exp_off: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem).expect("test key");
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &json!({"iss": iss, "iat": now + iat_off, "exp": now + exp_off}),
        &key,
    )
    .expect("sign")
}

const APP_KEY: &[u8] = include_bytes!("fixtures/app-key.pem");
const APP_PUB: &str = include_str!("fixtures/app-key.pub.pem");
const OTHER_KEY: &[u8] = include_bytes!("fixtures/other-key.pem");

#[tokio::test]
async fn app_jwt_installation_token_flow() {
    let gh = fake().await;
    gh.add_repo("acme/elsewhere");
    gh.add_app(4242, APP_PUB, 777, REPO);
    let good = jwt(APP_KEY, json!(4242), -60, 540);
    let bare = |method: Method, path: &str, bearer: &str| {
        Client::new()
            .request(method, format!("{}{path}", gh.url()))
            .header("user-agent", "t")
            .bearer_auth(bearer)
    };

    let (s, _, v) = send(bare(
        Method::GET,
        &format!("/repos/{REPO}/installation"),
        &good,
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["id"], 777);
    assert_eq!(v["app_id"], 4242);
    let (s, _, _) = send(bare(
        Method::GET,
        "/repos/acme/elsewhere/installation",
        &good,
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let bad_jwts = [
        ("wrong key", jwt(OTHER_KEY, json!(4242), -60, 540)),
        ("unknown app", jwt(APP_KEY, json!(1), -60, 540)),
        ("expired", jwt(APP_KEY, json!(4242), -700, -10)),
        ("exp too far", jwt(APP_KEY, json!(4242), -60, 3600)),
        ("not a jwt", "eyJhbGciOiJSUzI1NiJ9.e30.AAAA".to_string()),
    ];
    for (name, bad) in &bad_jwts {
        let (s, _, v) = send(bare(
            Method::POST,
            "/app/installations/777/access_tokens",
            bad,
        ))
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{name}: {v}");
    }
    let (s, _, _) = send(bare(
        Method::POST,
        "/app/installations/777/access_tokens",
        TOKEN,
    ))
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a PAT is not a JWT");
    let (s, _, _) = send(bare(
        Method::POST,
        "/app/installations/778/access_tokens",
        &good,
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(
        bare(Method::POST, "/app/installations/777/access_tokens", &good)
            .json(&json!({"repositories": ["elsewhere"]})),
    )
    .await;
    assert_eq!(s.as_u16(), 422);

    let (s, _, v) = send(
        bare(Method::POST, "/app/installations/777/access_tokens", &good).json(
            &json!({"repositories": ["security-alerts"], "permissions": {"issues": "write"}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap_or("").to_string();
    assert!(token.starts_with("ghs_"));
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap_or(""))
        .expect("expires_at");
    let ttl = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((3590..=3610).contains(&ttl), "expires in 1 h: {ttl}");

    let (s, _, v) = send(
        bare(Method::POST, &format!("/repos/{REPO}/issues"), &token)
            .json(&json!({"title": "by app"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(v["user"]["login"], "irene-app[bot]");
    assert_eq!(v["user"]["type"], "Bot");
    let (s, _, _) = send(bare(Method::GET, "/repos/acme/elsewhere/issues", &token)).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "the token sees only its installation's repos"
    );
    let (s, _, _) = send(bare(Method::GET, &format!("/repos/{REPO}/issues"), &good)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a JWT cannot call the issues API");

    gh.advance_clock(Duration::from_secs(3601));
    let (s, _, v) = send(bare(Method::GET, &format!("/repos/{REPO}/issues"), &token)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "expired token: {v}");
    assert_eq!(v["message"], "Bad credentials");
}

#[tokio::test]
async fn acting_as_a_person_returns_the_webhook_event() {
    let gh = fake().await;
    create(&gh, json!({"title": "t"})).await;
    let ev = gh.close_issue_as(REPO, 1, "octocat");
    assert_eq!(ev["action"], "closed");
    assert_eq!(ev["issue"]["number"], 1);
    assert_eq!(ev["issue"]["state"], "closed");
    assert_eq!(ev["issue"]["state_reason"], "completed");
    assert_eq!(ev["issue"]["closed_by"]["login"], "octocat");
    assert_eq!(ev["repository"]["full_name"], REPO);
    assert_eq!(ev["repository"]["name"], "security-alerts");
    assert_eq!(ev["repository"]["owner"]["login"], "acme");
    assert_eq!(ev["sender"]["login"], "octocat");
    assert_eq!(ev["sender"]["type"], "User");
    assert_eq!(gh.issues(REPO)[0].closed_by.as_deref(), Some("octocat"));

    let ev = gh.reopen_issue_as(REPO, 1, "octocat");
    assert_eq!(ev["action"], "reopened");
    assert_eq!(ev["issue"]["state"], "open");
    assert_eq!(ev["issue"]["state_reason"], "reopened");
    assert_eq!(ev["issue"]["closed_at"], Value::Null);
    let (_, _, v) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues/1"))).await;
    assert_eq!(v["state_reason"], "reopened");
}

#[test]
fn sign_webhook_matches_githubs_documented_example() {
    assert_eq!(
        sign_webhook("It's a Secret to Everybody", b"Hello, World!"),
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    assert_ne!(
        sign_webhook("other", b"Hello, World!"),
        sign_webhook("It's a Secret to Everybody", b"Hello, World!")
    );
}

#[tokio::test]
async fn fake_state_is_not_faulted_or_recorded() {
    let gh = fake().await;
    create(&gh, json!({"title": "t"})).await;
    gh.fault(Fault::new(FaultKind::Status(500)).forever());
    let v: Value = Client::new()
        .get(format!("{}/_fake/state", gh.url()))
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    assert_eq!(v["repos"][REPO]["issues"][0]["title"], "t");
    assert_eq!(gh.requests().len(), 1);
}

#[tokio::test]
async fn hostile_inputs_get_github_errors_not_panics() {
    let gh = fake().await;
    create(&gh, json!({"title": "t"})).await;
    let max = u64::MAX;
    let cases: Vec<(Method, String, &str)> = vec![
        (
            Method::GET,
            format!("/repos/{REPO}/issues?page={max}&per_page={max}"),
            "",
        ),
        (
            Method::GET,
            format!("/repos/{REPO}/issues?page=-1&per_page=abc&since=garbage"),
            "",
        ),
        (Method::GET, format!("/repos/{REPO}/issues?after=%%%"), ""),
        (Method::GET, format!("/search/issues?q=x&page={max}"), ""),
        (
            Method::GET,
            "/search/issues?q=%22unterminated%20label:%22x".to_string(),
            "",
        ),
        (
            Method::GET,
            "/search/issues?q=created:%3E%3Dnot-a-date%20-%20--%20:".to_string(),
            "",
        ),
        (Method::GET, format!("/repos/{REPO}/issues/{max}9"), ""),
        (Method::GET, format!("/repos/{REPO}/labels/%FF%FE"), ""),
        (
            Method::PATCH,
            format!("/repos/{REPO}/issues/1"),
            "{\"labels\": [1, null], \"state\": 3}",
        ),
        (
            Method::PATCH,
            format!("/repos/{REPO}/issues/1"),
            "{\"title\": null}",
        ),
        (
            Method::POST,
            format!("/repos/{REPO}/issues"),
            "{\"title\": \"t\", \"labels\": \"bug\"}",
        ),
        (
            Method::POST,
            format!("/repos/{REPO}/issues/1/labels"),
            "\"bug\"",
        ),
        (
            Method::POST,
            format!("/repos/{REPO}/labels"),
            "{\"name\": \"x\", \"color\": \"#zzzzzz\"}",
        ),
        (
            Method::POST,
            "/app/installations/1/access_tokens".to_string(),
            "{",
        ),
        (Method::DELETE, format!("/repos/{REPO}/issues/1"), ""),
    ];
    for (method, path, body) in cases {
        let (s, h, v) = send(req(&gh, method.clone(), &path).body(body.to_string())).await;
        assert!(
            s.is_client_error() || s.is_success(),
            "{method} {path}: {s} {v}"
        );
        assert!(h.contains_key("x-ratelimit-remaining"), "{method} {path}");
    }
    let (s, _, _) = send(req(&gh, Method::GET, &format!("/repos/{REPO}/issues/1"))).await;
    assert_eq!(s, StatusCode::OK, "still serving");
}
