//! The GitHub output against the fake GitHub: create, crash recovery by marker, repeats,
//! severity, resolve, reopen, transfers, failures, rate limits and app tokens.

use super::*;
use irene_fakes::{FakeGitHub, Fault, FaultKind};

const REPO: &str = "octo/sec-alerts";
const TOKEN: &str = "ghp_testtoken0123456789";

async fn fake() -> FakeGitHub {
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    gh
}

fn config(gh: &FakeGitHub, extra: Value) -> Value {
    let mut c = json!({
        "type": "github",
        "name": "gh",
        "repository": REPO,
        "token": TOKEN,
        "api_url": gh.url(),
        "pace": "0s",
        "timeout": "2s",
    });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    c
}

/// Opens the case's issue; returns the ticket.
async fn open(out: &Arc<dyn Output>, case: &Case) -> TicketState {
    let j = MemJournal::default();
    let o = out
        .deliver(&delivery(1, "gh", Action::Open, case, json!({}), None), &j)
        .await;
    done_ticket(&o).unwrap_or_else(|| panic!("no ticket"))
}

#[tokio::test]
async fn create_makes_exactly_one_labelled_issue_with_the_marker() {
    let gh = fake().await;
    let out = output(config(&gh, json!({"extra_labels": ["team-a"]})));
    let c = case(1, Severity::High);
    let j = MemJournal::default();
    let o = out
        .deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
        .await;
    let ticket = done_ticket(&o).unwrap_or_else(|| panic!("no ticket"));
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1);
    let issue = &issues[0];
    assert_eq!(ticket.reference, issue.number.to_string());
    assert_eq!(ticket.data["number"], json!(issue.number));
    assert_eq!(ticket.data["actor"], json!(issue.user));
    assert!(ticket.data["intent_at"].is_string());
    assert!(ticket
        .url
        .as_deref()
        .is_some_and(|u| u.ends_with(&format!("/issues/{}", issue.number))));
    assert_eq!(issue.title, "[HIGH] Root credential used in production");
    for l in ["irene", "severity:high", "source:aws.guardduty", "team-a"] {
        assert!(
            issue.labels.iter().any(|x| x == l),
            "{l} not in {:?}",
            issue.labels
        );
    }
    assert!(issue
        .body
        .contains(&format!("<!-- irene:case:{} -->", c.id)));
    assert!(issue.body.contains(&format!("{PUBLIC_URL}/cases/{}", c.id)));
    assert!(issue.body.contains("198.51.100.7"));
    // the intent was recorded before the create, without a number
    let intent = j.last().unwrap_or_else(|| panic!("no intent"));
    assert_eq!(intent.reference, "");
    assert!(intent.data["intent_at"].is_string());
    // every request carried GitHub's headers; the token never left as anything but a bearer
    for r in gh.requests() {
        assert_eq!(r.header("user-agent"), Some("irene-tests/0.1"));
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert!(!r.body.contains(TOKEN));
    }
    // a second Open with the ticket changes nothing
    let o = out
        .deliver(
            &delivery(2, "gh", Action::Open, &c, json!({}), Some(ticket)),
            &j,
        )
        .await;
    done_ticket(&o);
    assert_eq!(gh.issues(REPO).len(), 1);
}

#[tokio::test]
async fn a_create_lost_in_a_crash_is_found_not_repeated() {
    let gh = fake().await;
    // the create happens on GitHub, but the answer comes too late: as if the process died
    gh.fault(Fault::new(FaultKind::Delay(std::time::Duration::from_secs(4))).on("POST", "/issues"));
    let out = output(config(&gh, json!({"timeout": "1s"})));
    let c = case(2, Severity::Urgent);
    let j = MemJournal::default();
    let o = out
        .deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
        .await;
    assert_eq!(assert_retry(&o), None, "{o:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(gh.issues(REPO).len(), 1, "the fake should have made it");
    // the next attempt starts from what the journal holds: an intent, no number
    let intent = j.last().unwrap_or_else(|| panic!("no intent"));
    let o = out
        .deliver(
            &delivery(1, "gh", Action::Open, &c, json!({}), Some(intent)),
            &j,
        )
        .await;
    let ticket = done_ticket(&o).unwrap_or_else(|| panic!("no ticket"));
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1, "a second issue was opened");
    assert_eq!(ticket.reference, issues[0].number.to_string());
    assert_eq!(j.count(), 1, "the earliest intent is kept");
    assert!(
        gh.requests().iter().all(|r| r.path != "/search/issues"),
        "used search"
    );
}

#[tokio::test]
async fn an_intent_with_no_issue_creates_one() {
    let gh = fake().await;
    gh.fault(Fault::new(FaultKind::Status(502)).on("POST", "/issues"));
    let out = output(config(&gh, json!({})));
    let c = case(3, Severity::High);
    let j = MemJournal::default();
    let o = out
        .deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
        .await;
    let err = match &o {
        Outcome::Retry { error, at: None } => error.clone(),
        other => panic!("expected Retry, got {other:?}"),
    };
    assert!(err.starts_with("HTTP 502"), "{err}");
    assert!(gh.issues(REPO).is_empty());
    let o = out
        .deliver(
            &delivery(1, "gh", Action::Open, &c, json!({}), j.last()),
            &j,
        )
        .await;
    done_ticket(&o);
    assert_eq!(gh.issues(REPO).len(), 1);
}

#[tokio::test]
async fn a_journal_that_fails_stops_the_create() {
    let gh = fake().await;
    let out = output(config(&gh, json!({})));
    let c = case(4, Severity::High);
    let o = out
        .deliver(
            &delivery(1, "gh", Action::Open, &c, json!({}), None),
            &MemJournal::refusing(),
        )
        .await;
    assert_retry(&o);
    assert!(gh.issues(REPO).is_empty());
    assert!(!gh
        .requests()
        .iter()
        .any(|r| r.method == "POST" && r.path.ends_with("/issues")));
}

#[tokio::test]
async fn repeats_comment_at_most_once_per_interval() {
    let gh = fake().await;
    let out = output(config(&gh, json!({"repeat_interval": "1h"})));
    let mut c = case(5, Severity::High);
    let ticket = open(&out, &c).await;
    c.count = 7;
    let j = MemJournal::default();
    let o = out
        .deliver(
            &delivery(
                2,
                "gh",
                Action::Repeat,
                &c,
                json!({"count": 7}),
                Some(ticket),
            ),
            &j,
        )
        .await;
    let ticket = done_ticket(&o).unwrap_or_else(|| panic!("no ticket"));
    assert!(ticket.data["last_repeat_at"].is_string());
    let o = out
        .deliver(
            &delivery(
                3,
                "gh",
                Action::Repeat,
                &c,
                json!({"count": 7}),
                Some(ticket),
            ),
            &j,
        )
        .await;
    match o {
        Outcome::Defer { until } => assert!(near(Some(until), 3600, 30), "{until}"),
        other => panic!("expected Defer, got {other:?}"),
    }
    let issue = &gh.issues(REPO)[0];
    assert_eq!(issue.comments.len(), 1);
    assert!(issue.comments[0]
        .body
        .starts_with("Seen again: 7 occurrences"));
    // no issue yet: nothing to do
    let o = out
        .deliver(
            &delivery(
                4,
                "gh",
                Action::Repeat,
                &case(55, Severity::High),
                json!({}),
                None,
            ),
            &j,
        )
        .await;
    assert_eq!(done_ticket(&o), None);
}

#[tokio::test]
async fn severity_change_relabels_and_comments() {
    let gh = fake().await;
    let out = output(config(&gh, json!({})));
    let mut c = case(6, Severity::High);
    let ticket = open(&out, &c).await;
    c.severity = Severity::Urgent;
    let d = delivery(
        2,
        "gh",
        Action::Severity,
        &c,
        json!({"from": "high", "to": "urgent", "rule": "root-login"}),
        Some(ticket),
    );
    done_ticket(&out.deliver(&d, &MemJournal::default()).await);
    let issue = &gh.issues(REPO)[0];
    assert!(
        issue.labels.iter().any(|l| l == "severity:urgent"),
        "{:?}",
        issue.labels
    );
    assert!(
        !issue.labels.iter().any(|l| l == "severity:high"),
        "{:?}",
        issue.labels
    );
    assert!(issue.labels.iter().any(|l| l == "irene"));
    assert_eq!(
        issue.comments.last().map(|c| c.body.as_str()),
        Some("Severity changed from high to urgent (rule `root-login`).")
    );
}

#[tokio::test]
async fn resolve_closes_as_completed_and_reopen_opens_again() {
    let gh = fake().await;
    let out = output(config(&gh, json!({})));
    let mut c = case(7, Severity::High);
    let ticket = open(&out, &c).await;
    let j = MemJournal::default();
    c.status = CaseStatus::Resolved;
    let d = delivery(
        2,
        "gh",
        Action::Resolve,
        &c,
        json!({"resolution": "manual", "by": "alice", "reason": "key rotated"}),
        Some(ticket.clone()),
    );
    done_ticket(&out.deliver(&d, &j).await);
    let issue = &gh.issues(REPO)[0];
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.state_reason.as_deref(), Some("completed"));
    assert!(issue
        .comments
        .last()
        .is_some_and(|c| c.body.contains("by `alice`: key rotated")));

    c.status = CaseStatus::Open;
    c.count = 2;
    let d = delivery(
        3,
        "gh",
        Action::Reopen,
        &c,
        json!({"count": 2, "by": null}),
        Some(ticket.clone()),
    );
    done_ticket(&out.deliver(&d, &j).await);
    let issue = &gh.issues(REPO)[0];
    assert_eq!(issue.state, "open");
    assert!(issue
        .comments
        .last()
        .is_some_and(|c| c.body.starts_with("Reopened: seen again")));

    // an Open on a closed issue with another severity: relabelled and reopened
    let d = delivery(
        4,
        "gh",
        Action::Resolve,
        &c,
        json!({"resolution": "source"}),
        Some(ticket.clone()),
    );
    done_ticket(&out.deliver(&d, &j).await);
    c.severity = Severity::Medium;
    let d = delivery(5, "gh", Action::Open, &c, json!({}), Some(ticket));
    done_ticket(&out.deliver(&d, &j).await);
    let issue = &gh.issues(REPO)[0];
    assert_eq!(issue.state, "open");
    assert!(
        issue.labels.iter().any(|l| l == "severity:medium"),
        "{:?}",
        issue.labels
    );
    assert_eq!(gh.issues(REPO).len(), 1);
}

#[tokio::test]
async fn reopen_without_an_issue_opens_one_and_reminders_comment() {
    let gh = fake().await;
    let out = output(config(&gh, json!({})));
    let c = case(8, Severity::Urgent);
    let j = MemJournal::default();
    let o = out
        .deliver(
            &delivery(1, "gh", Action::Reopen, &c, json!({"count": 2}), None),
            &j,
        )
        .await;
    let ticket = done_ticket(&o).unwrap_or_else(|| panic!("no ticket"));
    let o = out
        .deliver(
            &delivery(2, "gh", Action::Reminder, &c, json!({}), Some(ticket)),
            &j,
        )
        .await;
    done_ticket(&o);
    let issue = &gh.issues(REPO)[0];
    assert!(issue.comments[0]
        .body
        .starts_with("Reminder: this urgent case has been open since"));
    let digest = Delivery {
        case: None,
        case_id: None,
        ..delivery(3, "gh", Action::Digest, &c, json!({"open": 1}), None)
    };
    assert_eq!(done_ticket(&out.deliver(&digest, &j).await), None);
}

#[tokio::test]
async fn a_transferred_issue_is_followed() {
    let gh = fake().await;
    gh.add_repo("octo/elsewhere");
    let out = output(config(&gh, json!({})));
    let c = case(9, Severity::High);
    let ticket = open(&out, &c).await;
    let old: u64 = ticket.reference.parse().unwrap_or_default();
    let new = gh.transfer_issue(REPO, old, "octo/elsewhere");
    let d = delivery(
        2,
        "gh",
        Action::Resolve,
        &c,
        json!({"resolution": "source"}),
        Some(ticket),
    );
    done_ticket(&out.deliver(&d, &MemJournal::default()).await);
    let moved = gh.issues("octo/elsewhere");
    let issue = moved
        .iter()
        .find(|i| i.number == new)
        .unwrap_or_else(|| panic!("not moved"));
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.comments.len(), 1);
}

#[tokio::test]
async fn permanent_failures_are_dead() {
    let gh = fake().await;
    let out = output(config(&gh, json!({})));
    let c = case(10, Severity::High);
    let j = MemJournal::default();
    for status in [403, 404, 410, 422] {
        gh.clear_faults();
        gh.fault(Fault::new(FaultKind::Status(status)).on("POST", "/issues"));
        let o = out
            .deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
            .await;
        let err = assert_dead(&o);
        assert!(err.starts_with(&format!("HTTP {status}: ")), "{err}");
        assert!(!err.contains(TOKEN));
    }
    // a bad token
    let bad = output(
        json!({"type": "github", "name": "gh", "repository": REPO, "token": "ghp_nope_nope", "api_url": gh.url(), "pace": "0s"}),
    );
    let err = assert_dead(
        &bad.deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    assert!(err.starts_with("HTTP 401"), "{err}");
    assert!(!err.contains("ghp_nope_nope"));
}

#[tokio::test]
async fn a_secondary_limit_holds_every_later_request() {
    let gh = fake().await;
    gh.fault(
        Fault::new(FaultKind::SecondaryLimit {
            status: 403,
            retry_after: Some(30),
        })
        .on("POST", "/issues"),
    );
    let out = output(config(&gh, json!({})));
    let c = case(11, Severity::High);
    let j = MemJournal::default();
    let o = out
        .deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
        .await;
    let at = assert_retry(&o);
    assert!(near(at, 30, 3), "{at:?}");
    let before = gh.requests().len();
    let o = out
        .deliver(
            &delivery(1, "gh", Action::Open, &c, json!({}), j.last()),
            &j,
        )
        .await;
    assert_eq!(assert_retry(&o), at);
    let other = out
        .deliver(
            &delivery(
                2,
                "gh",
                Action::Open,
                &case(12, Severity::High),
                json!({}),
                None,
            ),
            &j,
        )
        .await;
    assert_eq!(assert_retry(&other), at);
    assert_eq!(
        gh.requests().len(),
        before,
        "a request was sent while limited"
    );
}

#[tokio::test]
async fn a_primary_limit_waits_for_the_reset() {
    let gh = fake().await;
    gh.fault(
        Fault::new(FaultKind::PrimaryLimit {
            status: 429,
            reset_in: std::time::Duration::from_secs(120),
        })
        .on("POST", "/issues"),
    );
    let out = output(config(&gh, json!({})));
    let c = case(13, Severity::High);
    let o = out
        .deliver(
            &delivery(1, "gh", Action::Open, &c, json!({}), None),
            &MemJournal::default(),
        )
        .await;
    let at = assert_retry(&o);
    assert!(near(at, 120, 5), "{at:?}");
}

#[tokio::test]
async fn a_limit_message_without_headers_waits_a_minute() {
    let gh = fake().await;
    gh.fault(
        Fault::new(FaultKind::SecondaryLimit {
            status: 403,
            retry_after: None,
        })
        .on("POST", "/issues"),
    );
    let out = output(config(&gh, json!({})));
    let o = out
        .deliver(
            &delivery(
                1,
                "gh",
                Action::Open,
                &case(14, Severity::High),
                json!({}),
                None,
            ),
            &MemJournal::default(),
        )
        .await;
    let at = assert_retry(&o);
    assert!(near(at, 60, 3), "{at:?}");
}

#[tokio::test]
async fn mutative_requests_keep_the_pace() {
    let gh = fake().await;
    let out = output(config(&gh, json!({"pace": "300ms"})));
    let start = std::time::Instant::now();
    open(&out, &case(15, Severity::High)).await;
    // three labels and the issue: four mutative requests, three gaps
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn app_tokens_are_minted_and_used() {
    let gh = fake().await;
    gh.add_app(4242, include_str!("keys/test-app.pub"), 777, REPO);
    let out = output(json!({
        "type": "github",
        "name": "gh",
        "repository": REPO,
        "app_id": 4242,
        "private_key": include_str!("keys/test-app.pem"),
        "api_url": gh.url(),
        "pace": "0s",
    }));
    let c = case(16, Severity::High);
    let ticket = open(&out, &c).await;
    let issue = &gh.issues(REPO)[0];
    assert_eq!(issue.user, "irene-app[bot]");
    assert_eq!(ticket.data["actor"], "irene-app[bot]");
    let paths: Vec<String> = gh
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        paths
            .iter()
            .any(|p| p == &format!("GET /repos/{REPO}/installation")),
        "{paths:?}"
    );
    let mints = paths
        .iter()
        .filter(|p| p.as_str() == "POST /app/installations/777/access_tokens")
        .count();
    assert_eq!(mints, 1, "{paths:?}");
    // the token is cached: another delivery mints nothing
    let d = delivery(2, "gh", Action::Reminder, &c, json!({}), Some(ticket));
    done_ticket(&out.deliver(&d, &MemJournal::default()).await);
    let mints = gh
        .requests()
        .iter()
        .filter(|r| r.path == "/app/installations/777/access_tokens")
        .count();
    assert_eq!(mints, 1);
}

#[tokio::test]
async fn a_rejected_app_token_is_minted_again_once() {
    let gh = fake().await;
    gh.add_app(4243, include_str!("keys/test-app.pub"), 778, REPO);
    let out = output(json!({
        "type": "github",
        "name": "gh",
        "repository": REPO,
        "app_id": 4243,
        "installation_id": 778,
        "private_key": include_str!("keys/test-app.pem"),
        "api_url": gh.url(),
        "pace": "0s",
    }));
    let c = case(17, Severity::High);
    let ticket = open(&out, &c).await;
    // the installation token stops working before the expiry the client knows of
    let used = gh
        .requests()
        .iter()
        .rev()
        .find_map(|r| {
            r.header("authorization")
                .and_then(|a| a.strip_prefix("Bearer "))
                .map(str::to_string)
        })
        .unwrap_or_default();
    assert!(!used.is_empty() && !used.starts_with("ey"), "{used}");
    gh.revoke_token(&used);
    let d = delivery(2, "gh", Action::Reminder, &c, json!({}), Some(ticket));
    done_ticket(&out.deliver(&d, &MemJournal::default()).await);
    let paths: Vec<String> = gh
        .requests()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    let mints = paths
        .iter()
        .filter(|p| p.contains("/app/installations/778/access_tokens"))
        .count();
    assert_eq!(mints, 2, "{paths:#?}");
    assert!(
        !paths.iter().any(|p| p.contains("/installation ")),
        "installation id was configured"
    );
    assert_eq!(
        paths.iter().filter(|p| p.ends_with(" 401")).count(),
        1,
        "{paths:#?}"
    );
    assert_eq!(gh.issues(REPO)[0].comments.len(), 1);
}
