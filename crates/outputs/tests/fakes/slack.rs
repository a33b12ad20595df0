//! The Slack output against the fake Slack: webhook mode (one message per event, strict
//! `200 ok`) and bot mode (root message, thread replies, root updates, repeat pacing).

use super::*;
use irene_fakes::{FakeSlack, Fault, FaultKind};

const BOT: &str = "xoxb-test-bot-token";

async fn fake() -> (FakeSlack, String) {
    let sl = FakeSlack::start().await;
    sl.set_rate_limits(false);
    let channel = sl.add_channel("security");
    sl.add_bot_token(BOT);
    (sl, channel)
}

fn bot(sl: &FakeSlack, channel: &str) -> Arc<dyn Output> {
    output(json!({
        "type": "slack",
        "name": "sl",
        "bot_token": BOT,
        "channel": channel,
        "api_url": format!("{}/api", sl.url()),
    }))
}

#[tokio::test]
async fn webhook_mode_posts_one_message_per_event() {
    let (sl, channel) = fake().await;
    let hook = sl.add_webhook(&channel);
    let out = output(json!({"type": "slack", "name": "sl", "webhook_url": hook}));
    let mut c = case(201, Severity::Low);
    let j = MemJournal::default();
    done_ticket(
        &out.deliver(&delivery(1, "sl", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    c.severity = Severity::Medium;
    done_ticket(
        &out.deliver(
            &delivery(
                2,
                "sl",
                Action::Severity,
                &c,
                json!({"from": "low", "to": "medium"}),
                None,
            ),
            &j,
        )
        .await,
    );
    // repeats are not posted by a webhook
    done_ticket(
        &out.deliver(&delivery(3, "sl", Action::Repeat, &c, json!({}), None), &j)
            .await,
    );
    done_ticket(
        &out.deliver(
            &delivery(
                4,
                "sl",
                Action::Resolve,
                &c,
                json!({"resolution": "source"}),
                None,
            ),
            &j,
        )
        .await,
    );
    let digest = Delivery {
        case: None,
        case_id: None,
        alert: None,
        ..delivery(
            5,
            "sl",
            Action::Digest,
            &c,
            json!({"open": 3, "by_severity": {"high": 1, "low": 2}}),
            None,
        )
    };
    done_ticket(&out.deliver(&digest, &j).await);
    let msgs = sl.messages(&channel);
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(msgs
        .iter()
        .all(|m| m.via == "webhook" && m.thread_ts.is_none()));
    assert_eq!(msgs[0].text, "[LOW] Root credential used in production");
    assert_eq!(msgs[0].blocks[0]["type"], "header");
    assert!(
        msgs[1].text.contains("Severity changed from low to medium"),
        "{}",
        msgs[1].text
    );
    assert!(
        msgs[2].text.contains("Resolved (source)"),
        "{}",
        msgs[2].text
    );
    assert!(msgs[3].text.starts_with("Irene digest"), "{}", msgs[3].text);
}

#[tokio::test]
async fn webhook_mode_failures() {
    let (sl, channel) = fake().await;
    let hook = sl.add_webhook(&channel);
    let secret_part = hook.rsplit('/').next().unwrap_or_default().to_string();
    let out = output(json!({"type": "slack", "name": "sl", "webhook_url": hook}));
    let c = case(202, Severity::Low);
    let d = delivery(1, "sl", Action::Open, &c, json!({}), None);
    let j = MemJournal::default();
    sl.fault(Fault::new(FaultKind::RateLimited {
        retry_after: Some(7),
    }));
    let at = assert_retry(&out.deliver(&d, &j).await);
    assert!(near(at, 7, 3), "{at:?}");
    sl.fault(Fault::new(FaultKind::Status(500)));
    assert_eq!(assert_retry(&out.deliver(&d, &j).await), None);
    sl.revoke_webhook(&hook);
    let err = assert_dead(&out.deliver(&d, &j).await);
    assert!(err.contains("no_service"), "{err}");
    assert!(!err.contains(&secret_part), "{err}");
    assert!(sl.messages(&channel).is_empty());
}

#[tokio::test]
async fn bot_mode_threads_and_updates_the_root() {
    let (sl, channel) = fake().await;
    let out = bot(&sl, &channel);
    let mut c = case(203, Severity::High);
    let j = MemJournal::default();
    let ticket = done_ticket(
        &out.deliver(&delivery(1, "sl", Action::Open, &c, json!({}), None), &j)
            .await,
    )
    .unwrap_or_else(|| panic!("no ticket"));
    let msgs = sl.messages(&channel);
    assert_eq!(msgs.len(), 1);
    let root_ts = msgs[0].ts.clone();
    assert_eq!(ticket.reference, format!("{channel}:{root_ts}"));
    assert_eq!(ticket.data["ts"], json!(root_ts));
    assert_eq!(ticket.data["channel"], json!(channel));
    assert_eq!(msgs[0].via, "bot");

    c.severity = Severity::Urgent;
    done_ticket(
        &out.deliver(
            &delivery(
                2,
                "sl",
                Action::Severity,
                &c,
                json!({"from": "high", "to": "urgent", "rule": "r"}),
                Some(ticket.clone()),
            ),
            &j,
        )
        .await,
    );
    c.count = 5;
    let t2 = done_ticket(
        &out.deliver(
            &delivery(
                3,
                "sl",
                Action::Repeat,
                &c,
                json!({"count": 5}),
                Some(ticket.clone()),
            ),
            &j,
        )
        .await,
    )
    .unwrap_or_else(|| panic!("no ticket"));
    assert!(t2.data["last_update_at"].is_string());
    match out
        .deliver(
            &delivery(
                4,
                "sl",
                Action::Repeat,
                &c,
                json!({"count": 5}),
                Some(t2.clone()),
            ),
            &j,
        )
        .await
    {
        Outcome::Defer { until } => assert!(near(Some(until), 3600, 30)),
        other => panic!("expected Defer, got {other:?}"),
    }
    done_ticket(
        &out.deliver(
            &delivery(5, "sl", Action::Reminder, &c, json!({}), Some(t2.clone())),
            &j,
        )
        .await,
    );
    done_ticket(
        &out.deliver(
            &delivery(
                6,
                "sl",
                Action::Resolve,
                &c,
                json!({"resolution": "manual", "by": "alice", "reason": "done"}),
                Some(t2),
            ),
            &j,
        )
        .await,
    );

    let msgs = sl.messages(&channel);
    let root = &msgs[0];
    let replies: Vec<_> = msgs
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(root_ts.as_str()))
        .collect();
    assert_eq!(replies.len(), 3, "{msgs:#?}");
    assert!(replies[0]
        .text
        .contains("Severity changed from high to urgent"));
    assert!(replies[1].text.starts_with("Reminder:"));
    assert!(replies[2].text.contains("by `alice`: done"));
    // severity, repeat and resolve each updated the root once
    assert_eq!(root.edits, 3);
    assert!(root.text.starts_with("[RESOLVED] "), "{}", root.text);
    assert!(root.blocks.to_string().contains("5 occurrences"));
    for r in sl.requests() {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {BOT}").as_str())
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(r.header("user-agent"), Some("irene-tests/0.1"));
    }
}

#[tokio::test]
async fn bot_mode_reopen_without_a_message_posts_a_root_and_digest_is_top_level() {
    let (sl, channel) = fake().await;
    let out = bot(&sl, &channel);
    let c = case(204, Severity::Medium);
    let j = MemJournal::default();
    let ticket = done_ticket(
        &out.deliver(
            &delivery(1, "sl", Action::Reopen, &c, json!({"count": 2}), None),
            &j,
        )
        .await,
    );
    assert!(ticket.is_some());
    let digest = Delivery {
        case: None,
        case_id: None,
        ..delivery(
            2,
            "sl",
            Action::Digest,
            &c,
            json!({"open": 1, "cases": [{"id": c.id.to_string(), "severity": "medium", "title": "x"}]}),
            None,
        )
    };
    done_ticket(&out.deliver(&digest, &j).await);
    let msgs = sl.messages(&channel);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| m.thread_ts.is_none()));
    // an Open with a root already there replies in its thread
    done_ticket(
        &out.deliver(
            &delivery(
                3,
                "sl",
                Action::Open,
                &c,
                json!({"severity": "medium"}),
                ticket,
            ),
            &j,
        )
        .await,
    );
    assert_eq!(
        sl.messages(&channel)
            .iter()
            .filter(|m| m.thread_ts.is_some())
            .count(),
        1
    );
}

#[tokio::test]
async fn bot_mode_failures() {
    let (sl, channel) = fake().await;
    let out = bot(&sl, &channel);
    let c = case(205, Severity::High);
    let d = delivery(1, "sl", Action::Open, &c, json!({}), None);
    let j = MemJournal::default();
    sl.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(4),
        })
        .on("POST", "chat.postMessage"),
    );
    let at = assert_retry(&out.deliver(&d, &j).await);
    assert!(near(at, 4, 3), "{at:?}");
    sl.fault(Fault::new(FaultKind::Status(503)));
    assert_eq!(assert_retry(&out.deliver(&d, &j).await), None);
    sl.remove_bot_from(&channel);
    let err = assert_dead(&out.deliver(&d, &j).await);
    assert!(err.contains("not_in_channel"), "{err}");
    let stranger = output(
        json!({"type": "slack", "name": "sl", "bot_token": "xoxb-unknown", "channel": channel, "api_url": format!("{}/api", sl.url())}),
    );
    let err = assert_dead(&stranger.deliver(&d, &j).await);
    assert!(
        err.contains("invalid_auth") && !err.contains("xoxb-unknown"),
        "{err}"
    );
}

#[tokio::test]
async fn bot_mode_rate_limit_from_slack_itself() {
    let sl = FakeSlack::start().await;
    let channel = sl.add_channel("busy");
    sl.add_bot_token(BOT);
    let out = bot(&sl, &channel);
    let j = MemJournal::default();
    let mut limited = None;
    for i in 0..12 {
        let o = out
            .deliver(
                &delivery(
                    i,
                    "sl",
                    Action::Open,
                    &case(300 + i as u128, Severity::High),
                    json!({}),
                    None,
                ),
                &j,
            )
            .await;
        if let Outcome::Retry { at, .. } = o {
            limited = Some(at);
            break;
        }
    }
    let at = limited.unwrap_or_else(|| panic!("never limited"));
    assert!(
        at.is_some_and(|at| at > Utc::now() - chrono::Duration::seconds(1)),
        "{at:?}"
    );
}
