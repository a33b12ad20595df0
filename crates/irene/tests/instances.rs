//! Several instances on one PostgreSQL database: three real `irene serve` processes share
//! intake, pipeline and deliveries; one is SIGKILLed mid-way and restarted. Every 202 has its
//! case, counts are exact, one issue and one page per eligible case, one leader at a time.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::postgres::TestDb;
use common::{generic_alert, Server};
use irene_fakes::github::FakeGitHub;
use irene_fakes::pagerduty::FakePagerDuty;
use irene_fakes::slack::FakeSlack;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPO: &str = "acme/security-alerts";
const GH_TOKEN: &str = "ghp_instances0123456789abcdef";
const PD_KEY: &str = "R0UT1NGKEY0123456789abcdefINSTNC";
const KEYS: usize = 500;
const ALERTS: usize = 20_000;
const PER_REQUEST: usize = 50;
/// The workers that run on the leader only.
const SCHEDULED: [&str; 4] = ["expiry", "retention", "feeds", "jobs"];

/// high: GitHub issue and PagerDuty page; medium: an issue; low: neither.
fn severity(key: usize) -> &'static str {
    match key % 5 {
        0 => "high",
        1 => "medium",
        _ => "low",
    }
}

/// The digest's period: the only Slack messages are digests, one per period for all three.
const DIGEST_SECS: u64 = 3;

fn config(dir: &Path, db: &TestDb, gh: &FakeGitHub, pd: &FakePagerDuty, slack_url: &str) -> String {
    let text = format!(
        r#"database_url = "{db}"
public_url = "https://irene.example"

[investigate]
enabled = false

[pipeline]
lease_secs = 3

[delivery]
backoff_base = "50ms"
backoff_max = "1s"
max_attempts = 60
lease_secs = 30
jobs_every = "500ms"

[[outputs]]
name = "digest"
type = "slack"
webhook_url = "{slack_url}"
min_severity = "urgent"
digest_every = "{DIGEST_SECS}s"

[[outputs]]
name = "security-issues"
type = "github"
repository = "{REPO}"
token = "${{GH_TOKEN}}"
api_url = "{gh}"
min_severity = "medium"
pace = "5ms"
# the budget is per credential for the whole deployment: room for every issue and comment
max_per_hour = 5000
timeout = "2s"

[[outputs]]
name = "oncall"
type = "pagerduty"
routing_key = "${{PD_KEY}}"
events_url = "{pd}/v2/enqueue"
min_severity = "high"
timeout = "2s"
"#,
        db = db.url,
        gh = gh.url(),
        pd = pd.url(),
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

fn start(dir: &Path, cfg: &str, i: usize) -> Server {
    Server::start_env(
        &dir.join(format!("data-{i}")),
        &["--config", cfg],
        &[("GH_TOKEN", GH_TOKEN), ("PD_KEY", PD_KEY)],
    )
}

/// Which instances lead now (their scheduled workers are not standing by).
async fn leaders(servers: &[&Server]) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let (status, body) = s.get("/api/v1/status").await;
        assert_eq!(status, 200, "{body}");
        let workers = body["workers"].as_array().cloned().unwrap_or_default();
        let standing_by = workers
            .iter()
            .filter(|w| SCHEDULED.contains(&w["name"].as_str().unwrap_or_default()))
            .filter(|w| w["state"] == "standby")
            .count();
        if standing_by == 0 {
            out.push(i);
        }
    }
    out
}

/// Waits until exactly one of `servers` leads; its index.
async fn one_leader(servers: &[&Server]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let l = leaders(servers).await;
        if l.len() == 1 {
            return l[0];
        }
        assert!(Instant::now() < deadline, "not exactly one leader: {l:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_share_the_work_and_survive_a_sigkill() {
    let db = common::postgres::create();
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(GH_TOKEN);
    let pd = FakePagerDuty::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let slack = FakeSlack::start().await;
    let channel = slack.add_channel("secops");
    let slack_url = slack.add_webhook(&channel);
    let cfg = config(dir.path(), &db, &gh, &pd, &slack_url);
    let mut servers = [
        start(dir.path(), &cfg, 0),
        start(dir.path(), &cfg, 1),
        start(dir.path(), &cfg, 2),
    ];
    one_leader(&servers.iter().collect::<Vec<_>>()).await;

    // 20,000 alerts over 500 keys in requests of 50, posted by 6 clients to all three in
    // turn; instance 1 is SIGKILLed when half are accepted. A request that fails is sent
    // again to the next instance with the same Idempotency-Key, so none counts twice.
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    let victim = servers[1].child.id();
    let next = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicUsize::new(0));
    let requests = ALERTS / PER_REQUEST;
    let mut clients = Vec::new();
    for _ in 0..6 {
        let (urls, next, accepted, killed) =
            (urls.clone(), next.clone(), accepted.clone(), killed.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client");
            loop {
                let r = next.fetch_add(1, Ordering::SeqCst);
                if r >= requests {
                    return;
                }
                let batch: Vec<Value> = (0..PER_REQUEST)
                    .map(|j| {
                        let k = (r * PER_REQUEST + j) % KEYS;
                        generic_alert(&format!("inst-{k}"), severity(k))
                    })
                    .collect();
                let body = Value::Array(batch).to_string();
                let mut attempt = 0;
                loop {
                    let url = &urls[(r + attempt) % urls.len()];
                    let sent = client
                        .post(format!("{url}/api/v1/ingest/generic"))
                        .header("idempotency-key", format!("req-{r}"))
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(resp) if resp.status().is_success() => break,
                        Ok(resp) => panic!("request {r}: status {}", resp.status()),
                        Err(_) => attempt += 1, // that instance is gone: the next one
                    }
                    assert!(attempt < 10, "request {r} found no instance");
                }
                let n = accepted.fetch_add(PER_REQUEST, Ordering::SeqCst) + PER_REQUEST;
                if n >= ALERTS / 2 && killed.fetch_add(1, Ordering::SeqCst) == 0 {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &victim.to_string()])
                        .status();
                }
            }
        }));
    }
    for c in clients {
        c.await.expect("client");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), ALERTS);
    servers[1].kill9(); // reaped
    servers[1] = start(dir.path(), &cfg, 1);

    // Everything is judged and delivered: one case per key with every occurrence counted.
    let deadline = Instant::now() + Duration::from_secs(240);
    let eligible_issues = (0..KEYS).filter(|k| severity(*k) != "low").count();
    let eligible_pages = (0..KEYS).filter(|k| severity(*k) == "high").count();
    loop {
        let (_, st) = servers[0].get("/api/v1/status").await;
        let issues = gh.issues(REPO).len();
        let pages = pd.alerts().len();
        // (repeats of a case with an issue wait an hour for their comment: not counted here)
        if st["inbox_pending"] == 0 && issues >= eligible_issues && pages >= eligible_pages {
            break;
        }
        if Instant::now() >= deadline {
            let (_, pending) = servers[0]
                .get("/api/v1/deliveries?state=pending&limit=5")
                .await;
            panic!("not done: {st}, {issues} issues, {pages} pages; pending: {pending}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // a duplicate issue or page would come late: give one a moment to appear
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, st) = servers[0].get("/api/v1/status").await;
    assert_eq!(st["dead_letters"], 0, "{st}");
    let cases = servers[2].all_cases("").await;
    let mut by_key: HashMap<String, i64> = HashMap::new();
    for c in &cases {
        let key = c["key"].as_str().unwrap_or_default().to_string();
        assert!(
            by_key
                .insert(key.clone(), c["count"].as_i64().unwrap_or(0))
                .is_none(),
            "two cases for {key}"
        );
    }
    assert_eq!(by_key.len(), KEYS, "one case per key");
    let per_key = i64::try_from(ALERTS / KEYS).unwrap();
    let wrong: Vec<_> = by_key.iter().filter(|(_, n)| **n != per_key).collect();
    assert!(wrong.is_empty(), "counts other than {per_key}: {wrong:?}");

    // One issue per eligible case, one page per high case: none twice.
    let issues = gh.issues(REPO);
    let titles: HashSet<&str> = issues.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(issues.len(), eligible_issues, "issues");
    assert_eq!(titles.len(), eligible_issues, "an issue opened twice");
    let pages = pd.alerts();
    let dedup: HashSet<&str> = pages.iter().map(|a| a.dedup_key.as_str()).collect();
    assert_eq!(pages.len(), eligible_pages, "pages");
    assert_eq!(dedup.len(), eligible_pages, "a case paged twice");

    // Scheduled work runs once per period for the deployment, not once per instance: over
    // five periods, about five digests (three instances each sending would make fifteen).
    let digests = || slack.messages(&channel).len();
    let before = digests();
    tokio::time::sleep(Duration::from_secs(5 * DIGEST_SECS)).await;
    let sent = digests() - before;
    assert!((3..=6).contains(&sent), "{sent} digests in 5 periods");

    // Scheduled work: one leader among the three; when it dies another takes over.
    let all: Vec<&Server> = servers.iter().collect();
    let leader = one_leader(&all).await;
    servers[leader].kill9();
    let rest: Vec<&Server> = servers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != leader)
        .map(|(_, s)| s)
        .collect();
    one_leader(&rest).await;
}
