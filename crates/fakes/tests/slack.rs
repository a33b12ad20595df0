//! Contract tests for the fake Slack: incoming webhooks, chat.postMessage, chat.update, rate limits.
//! They post real HTTP requests with reqwest and inspect the fake's recorded messages.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_fakes::{FakeSlack, Fault, FaultKind};
use reqwest::Client;
use serde_json::{json, Value};

const BOT: &str = "xoxb-test";

struct Setup {
    slack: FakeSlack,
    channel: String,
    hook: String,
}

async fn setup() -> Setup {
    let slack = FakeSlack::start().await;
    let channel = slack.add_channel("secops");
    let hook = slack.add_webhook(&channel);
    slack.add_bot_token(BOT);
    Setup {
        slack,
        channel,
        hook,
    }
}

async fn hook_post(url: &str, content_type: &str, body: &str) -> (u16, Option<String>, String) {
    let resp = Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_string())
        .send()
        .await
        .expect("request reaches the fake");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry, resp.text().await.unwrap_or_default())
}

async fn api(
    slack: &FakeSlack,
    method: &str,
    token: Option<&str>,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let mut rb = Client::new()
        .post(format!("{}/api/{method}", slack.url()))
        .json(body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let resp = rb.send().await.expect("request reaches the fake");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, retry, resp.json().await.unwrap_or(Value::Null))
}

fn ts_ok(ts: &str) -> bool {
    let (a, b) = ts.split_once('.').unwrap_or(("", ""));
    a.len() == 10 && b.len() == 6 && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
}

#[tokio::test]
async fn incoming_webhook_answers() {
    let s = setup().await;
    s.slack.set_rate_limits(false);
    let other = s.slack.add_channel("archived");
    let archived_hook = s.slack.add_webhook(&other);
    s.slack.archive(&other);
    let revoked = s.slack.add_webhook(&s.channel);
    s.slack.revoke_webhook(&revoked);
    let blocks = json!({"text": "fallback", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "CRITICAL"}}]});
    let bad_blocks = json!({"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]});
    let cases: Vec<(&str, String, &str, String, u16, &str)> = vec![
        (
            "text",
            s.hook.clone(),
            "application/json",
            json!({"text": "hello"}).to_string(),
            200,
            "ok",
        ),
        (
            "blocks",
            s.hook.clone(),
            "application/json",
            blocks.to_string(),
            200,
            "ok",
        ),
        (
            "form payload",
            s.hook.clone(),
            "application/x-www-form-urlencoded",
            format!("payload={}", "%7B%22text%22%3A%22form%22%7D"),
            200,
            "ok",
        ),
        (
            "not json",
            s.hook.clone(),
            "application/json",
            "{nope".into(),
            400,
            "invalid_payload",
        ),
        (
            "empty",
            s.hook.clone(),
            "application/json",
            "{}".into(),
            400,
            "missing_text_or_fallback_or_attachments",
        ),
        (
            "bad blocks",
            s.hook.clone(),
            "application/json",
            bad_blocks.to_string(),
            400,
            "invalid_blocks",
        ),
        (
            "unknown",
            format!("{}/services/T1/B1/nope", s.slack.url()),
            "application/json",
            json!({"text": "x"}).to_string(),
            404,
            "no_service",
        ),
        (
            "revoked",
            revoked,
            "application/json",
            json!({"text": "x"}).to_string(),
            404,
            "no_service",
        ),
        (
            "archived",
            archived_hook,
            "application/json",
            json!({"text": "x"}).to_string(),
            410,
            "channel_is_archived",
        ),
    ];
    for (name, url, ct, body, status, text) in cases {
        let (got, _, got_text) = hook_post(&url, ct, &body).await;
        assert_eq!((got, got_text.as_str()), (status, text), "{name}");
    }
    let msgs = s.slack.messages(&s.channel);
    let texts: Vec<&str> = msgs.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["hello", "fallback", "form"]);
    assert!(msgs
        .iter()
        .all(|m| m.via == "webhook" && m.thread_ts.is_none()));
    assert_eq!(msgs[1].blocks[0]["type"], "header");
    assert!(msgs[0].blocks.is_null());

    s.slack.set_webhook_empty_error(400, "no_text");
    let (got, _, text) = hook_post(&s.hook, "application/json", "{}").await;
    assert_eq!((got, text.as_str()), (400, "no_text"));
}

#[tokio::test]
async fn post_message_errors_are_http_200_ok_false() {
    let s = setup().await;
    let outside = s.slack.add_channel("outside");
    s.slack.remove_bot_from(&outside);
    let old = s.slack.add_channel("old");
    s.slack.archive(&old);
    let long_header =
        json!([{"type": "header", "text": {"type": "plain_text", "text": "h".repeat(151)}}]);
    let cases: Vec<(&str, Option<&str>, Value, &str)> = vec![
        (
            "no token",
            None,
            json!({"channel": s.channel, "text": "x"}),
            "not_authed",
        ),
        (
            "bad token",
            Some("xoxb-nope"),
            json!({"channel": s.channel, "text": "x"}),
            "invalid_auth",
        ),
        (
            "unknown channel id",
            Some(BOT),
            json!({"channel": "C9999999999", "text": "x"}),
            "channel_not_found",
        ),
        (
            "unknown channel name",
            Some(BOT),
            json!({"channel": "#nope", "text": "x"}),
            "channel_not_found",
        ),
        (
            "not a member",
            Some(BOT),
            json!({"channel": outside, "text": "x"}),
            "not_in_channel",
        ),
        (
            "archived",
            Some(BOT),
            json!({"channel": old, "text": "x"}),
            "is_archived",
        ),
        (
            "no content",
            Some(BOT),
            json!({"channel": s.channel}),
            "no_text",
        ),
        (
            "header too long",
            Some(BOT),
            json!({"channel": s.channel, "text": "x", "blocks": long_header}),
            "invalid_blocks",
        ),
        (
            "too many blocks",
            Some(BOT),
            json!({"channel": s.channel, "text": "x", "blocks": vec![json!({"type": "divider"}); 51]}),
            "invalid_blocks",
        ),
        (
            "unknown thread",
            Some(BOT),
            json!({"channel": s.channel, "text": "x", "thread_ts": "1700000000.000001"}),
            "thread_not_found",
        ),
    ];
    for (name, token, body, code) in cases {
        let (status, _, v) = api(&s.slack, "chat.postMessage", token, &body).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(v, json!({"ok": false, "error": code}), "{name}");
    }
    assert!(s.slack.messages(&s.channel).is_empty());
}

#[tokio::test]
async fn post_message_threads_and_update() {
    let s = setup().await;
    let blocks = json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*Key:* `ak:ab12`"},
                         "fields": [{"type": "mrkdwn", "text": "*Severity*\ncritical"}]}]);
    let (status, _, v) = api(
        &s.slack,
        "chat.postMessage",
        Some(BOT),
        &json!({"channel": "#secops", "text": "alert", "blocks": blocks}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        v["channel"],
        s.channel.as_str(),
        "the channel ID comes back even for a name"
    );
    let parent = v["ts"].as_str().unwrap_or("").to_string();
    assert!(ts_ok(&parent), "{parent}");
    assert_eq!(v["message"]["ts"], parent.as_str());
    assert_eq!(v["message"]["text"], "alert");

    let (_, _, r) = api(
        &s.slack,
        "chat.postMessage",
        Some(BOT),
        &json!({"channel": s.channel, "text": "reply", "thread_ts": parent}),
    )
    .await;
    assert_eq!(r["ok"], true, "{r}");
    let reply = r["ts"].as_str().unwrap_or("").to_string();
    assert!(reply > parent, "ts increases");
    assert_eq!(r["message"]["thread_ts"], parent.as_str());
    let (_, _, r) = api(
        &s.slack,
        "chat.postMessage",
        Some(BOT),
        &json!({"channel": s.channel, "text": "x", "thread_ts": reply}),
    )
    .await;
    assert_eq!(
        r["error"], "cannot_reply_to_message",
        "replies hang off the parent"
    );

    // Form-encoded body with the token in the body.
    let resp = Client::new()
        .post(format!("{}/api/chat.postMessage", s.slack.url()))
        .form(&[
            ("token", BOT),
            ("channel", s.channel.as_str()),
            ("text", "form post"),
            ("thread_ts", parent.as_str()),
        ])
        .send()
        .await
        .expect("send");
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!(v["ok"], true, "{v}");

    let (_, _, u) = api(
        &s.slack,
        "chat.update",
        Some(BOT),
        &json!({"channel": s.channel, "ts": parent, "text": "resolved"}),
    )
    .await;
    assert_eq!(u["ok"], true, "{u}");
    assert_eq!(u["ts"], parent.as_str());
    assert_eq!(u["text"], "resolved");
    assert_eq!(u["message"]["text"], "resolved");

    let msgs = s.slack.messages(&s.channel);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[0].text, "resolved");
    assert_eq!(msgs[0].edits, 1);
    assert!(msgs[0].blocks.is_null(), "update replaces the content");
    assert_eq!(msgs[1].thread_ts.as_deref(), Some(parent.as_str()));
    assert_eq!(msgs[2].text, "form post");
    assert!(msgs.iter().all(|m| m.via == "bot"));

    // Update errors.
    s.slack.add_bot_token("xoxb-other");
    let webhook_ts = {
        hook_post(
            &s.hook,
            "application/json",
            &json!({"text": "from hook"}).to_string(),
        )
        .await;
        s.slack
            .messages(&s.channel)
            .last()
            .map(|m| m.ts.clone())
            .unwrap_or_default()
    };
    let cases: Vec<(&str, &str, Value, &str)> = vec![
        (
            "unknown ts",
            BOT,
            json!({"channel": s.channel, "ts": "1111111111.000001", "text": "x"}),
            "message_not_found",
        ),
        (
            "other bot",
            "xoxb-other",
            json!({"channel": s.channel, "ts": parent, "text": "x"}),
            "cant_update_message",
        ),
        (
            "webhook message",
            BOT,
            json!({"channel": s.channel, "ts": webhook_ts, "text": "x"}),
            "cant_update_message",
        ),
        (
            "channel name",
            BOT,
            json!({"channel": "secops", "ts": parent, "text": "x"}),
            "channel_not_found",
        ),
        (
            "too long",
            BOT,
            json!({"channel": s.channel, "ts": parent, "text": "x".repeat(4001)}),
            "msg_too_long",
        ),
        (
            "no content",
            BOT,
            json!({"channel": s.channel, "ts": parent}),
            "no_text",
        ),
    ];
    for (name, token, body, code) in cases {
        let (status, _, v) = api(&s.slack, "chat.update", Some(token), &body).await;
        assert_eq!(
            (status, v),
            (200, json!({"ok": false, "error": code})),
            "{name}"
        );
    }
    assert_eq!(s.slack.messages(&s.channel)[0].edits, 1);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let s = setup().await;
    for i in 0..5 {
        let (status, _, v) = api(
            &s.slack,
            "chat.postMessage",
            Some(BOT),
            &json!({"channel": s.channel, "text": format!("m{i}")}),
        )
        .await;
        assert_eq!((status, &v["ok"]), (200, &json!(true)), "burst message {i}");
    }
    let (status, retry, v) = api(
        &s.slack,
        "chat.postMessage",
        Some(BOT),
        &json!({"channel": s.channel, "text": "too fast"}),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(v, json!({"ok": false, "error": "ratelimited"}));
    let retry: u64 = retry.and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!(retry >= 1, "Retry-After in seconds");
    assert_eq!(
        s.slack.messages(&s.channel).len(),
        5,
        "the limited post was not made"
    );

    // Another channel has its own budget.
    let other = s.slack.add_channel("other");
    let (status, _, _) = api(
        &s.slack,
        "chat.postMessage",
        Some(BOT),
        &json!({"channel": other, "text": "x"}),
    )
    .await;
    assert_eq!(status, 200);

    // Webhooks: 1/s with a burst of 5, plain-text 429.
    for i in 0..5 {
        let (st, _, _) = hook_post(
            &s.hook,
            "application/json",
            &json!({"text": format!("h{i}")}).to_string(),
        )
        .await;
        assert_eq!(st, 200, "hook burst {i}");
    }
    let (st, retry, _) = hook_post(
        &s.hook,
        "application/json",
        &json!({"text": "too fast"}).to_string(),
    )
    .await;
    assert_eq!(st, 429);
    assert!(retry.is_some());

    s.slack.set_rate_limits(false);
    for i in 0..12 {
        let (status, _, _) = api(
            &s.slack,
            "chat.postMessage",
            Some(BOT),
            &json!({"channel": s.channel, "text": format!("n{i}")}),
        )
        .await;
        assert_eq!(status, 200, "unlimited {i}");
    }
    let ts: Vec<String> = s
        .slack
        .messages(&s.channel)
        .into_iter()
        .map(|m| m.ts)
        .collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]), "ts strictly increasing");
    assert!(ts.iter().all(|t| ts_ok(t)));
}

#[tokio::test]
async fn slack_fault_shapes() {
    let s = setup().await;
    s.slack
        .fault(Fault::new(FaultKind::Status(200)).on("POST", "/api/"));
    s.slack
        .fault(Fault::new(FaultKind::Status(503)).on("POST", "/api/"));
    s.slack.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(30),
        })
        .on("POST", "/api/"),
    );
    s.slack
        .fault(Fault::new(FaultKind::Status(500)).on("POST", "/services/"));
    let body = json!({"channel": s.channel, "text": "x"});
    let (st, _, v) = api(&s.slack, "chat.postMessage", Some(BOT), &body).await;
    assert_eq!(
        (st, v),
        (200, json!({"ok": false, "error": "internal_error"}))
    );
    let (st, _, v) = api(&s.slack, "chat.postMessage", Some(BOT), &body).await;
    assert_eq!(
        (st, v),
        (503, json!({"ok": false, "error": "service_unavailable"}))
    );
    let (st, retry, v) = api(&s.slack, "chat.postMessage", Some(BOT), &body).await;
    assert_eq!(
        (st, retry.as_deref(), v),
        (
            429,
            Some("30"),
            json!({"ok": false, "error": "ratelimited"})
        )
    );
    let (st, _, text) = hook_post(
        &s.hook,
        "application/json",
        &json!({"text": "x"}).to_string(),
    )
    .await;
    assert_eq!((st, text.as_str()), (500, "rollup_error"));
    assert!(s.slack.messages(&s.channel).is_empty());
}
