//! Investigation results on every kind of output, end to end: the real `irene` process, a high
//! GuardDuty finding whose investigations finish, then ONE `investigated` webhook event, ONE Slack
//! thread reply (bot) and ONE Slack message (incoming webhook); PagerDuty gets only its page.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::investigation::{cloudtrail, finding, investigated, IP};
use common::Server;
use irene_fakes::{FakePagerDuty, FakeReceiver, FakeSlack, SlackMessage};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const BOT_TOKEN: &str = "xoxb-notes-bot";
const HOOK_SECRET: &str = "notes-hook-secret";
const INVESTIGATORS: [&str; 3] = ["actor_history", "threat_context", "reputation"];

struct Fakes {
    receiver: FakeReceiver,
    slack: FakeSlack,
    bot_channel: String,
    hook_channel: String,
    hook_url: String,
    pd: FakePagerDuty,
}

async fn fakes() -> Fakes {
    let slack = FakeSlack::start().await;
    slack.set_rate_limits(false);
    slack.add_bot_token(BOT_TOKEN);
    let bot_channel = slack.add_channel("secops-bot");
    let hook_channel = slack.add_channel("secops-hook");
    let hook_url = slack.add_webhook(&hook_channel);
    Fakes {
        receiver: FakeReceiver::start().await,
        slack,
        bot_channel,
        hook_channel,
        hook_url,
        pd: FakePagerDuty::start().await,
    }
}

fn config(dir: &Path, f: &Fakes) -> String {
    let text = format!(
        r#"public_url = "https://irene.example"

[delivery]
backoff_base = "50ms"
backoff_max = "1s"

[[outputs]]
name = "siem"
type = "webhook"
url = "{receiver}/hooks/irene"
secret = "{HOOK_SECRET}"

[[outputs]]
name = "chat-bot"
type = "slack"
bot_token = "{BOT_TOKEN}"
channel = "{bot_channel}"
api_url = "{slack}/api"
digest_every = "off"

[[outputs]]
name = "chat-hook"
type = "slack"
webhook_url = "{hook_url}"
digest_every = "off"

[[outputs]]
name = "oncall"
type = "pagerduty"
routing_key = "R0123456789abcdef0123456789abcde"
events_url = "{pd}/v2/enqueue"
"#,
        receiver = f.receiver.url(),
        bot_channel = f.bot_channel,
        slack = f.slack.url(),
        hook_url = f.hook_url,
        pd = f.pd.url(),
    );
    let path = dir.join("irene.toml");
    std::fs::write(&path, text).expect("write config");
    path.to_string_lossy().into_owned()
}

/// The webhook events named `investigated`: header and body.
fn investigated_events(f: &Fakes) -> Vec<Value> {
    f.receiver
        .received()
        .into_iter()
        .filter(|r| r.header("x-irene-event") == Some("investigated"))
        .map(|r| {
            let sig = r.header("x-irene-signature-256").unwrap_or_default();
            assert!(
                irene_outputs::verify_signature(HOOK_SECRET, r.body.as_bytes(), sig),
                "unsigned: {r:?}"
            );
            serde_json::from_str(&r.body).expect("json body")
        })
        .collect()
}

/// A Slack message's block texts, joined.
fn block_text(m: &SlackMessage) -> String {
    m.blocks
        .as_array()
        .map(|bs| {
            bs.iter()
                .map(|b| {
                    let text = b["text"]["text"].as_str().unwrap_or("").to_string();
                    let context = b["elements"][0]["text"].as_str().unwrap_or("").to_string();
                    format!("{text}{context}")
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The Slack messages of a channel that carry the investigation note.
fn slack_notes(f: &Fakes, channel: &str) -> Vec<SlackMessage> {
    f.slack
        .messages(channel)
        .into_iter()
        .filter(|m| block_text(m).contains("Investigation"))
        .collect()
}

async fn all_three_arrived(s: &Server, f: &Fakes) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, status) = s.get("/api/v1/status").await;
        if status["outbox_pending"] == 0
            && !investigated_events(f).is_empty()
            && !slack_notes(f, &f.bot_channel).is_empty()
            && !slack_notes(f, &f.hook_channel).is_empty()
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the notes did not all arrive: {status}\nwebhook: {:?}\nbot: {:#?}\nhook: {:#?}\n{}",
            f.receiver.received(),
            f.slack.messages(&f.bot_channel),
            f.slack.messages(&f.hook_channel),
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What every Slack rendering of the note must hold: a section per investigator, tables laid
/// out as preformatted text, no raw Markdown tables or `<details>`.
fn assert_slack_note(text: &str) {
    for name in INVESTIGATORS {
        assert!(
            text.contains(&format!("*{name} (")),
            "no section for {name}:\n{text}"
        );
    }
    assert!(text.contains("```"), "no preformatted table:\n{text}");
    assert!(!text.contains("|---"), "a Markdown table left:\n{text}");
    assert!(!text.contains("<details>"), "{text}");
    assert!(text.contains(IP), "{text}");
}

#[tokio::test]
async fn a_high_case_investigated_reaches_the_webhook_and_both_slacks_once_and_not_pagerduty() {
    let f = fakes().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path(), &f);
    let s = Server::start(&dir.path().join("data"), &["--config", &cfg]);

    let (st, body) = s.ingest("aws.cloudtrail", cloudtrail().to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let mut high = finding();
    high["severity"] = json!(8);
    let (st, body) = s.ingest("aws.guardduty", high.to_string()).await;
    assert_eq!(st, 202, "{body}");
    s.drained().await;
    let case = investigated(&s).await;
    assert_eq!(case["severity"], "high", "{case}");
    let case_id = case["id"].as_str().expect("id").to_string();

    all_three_arrived(&s, &f).await;
    // nothing more comes later
    tokio::time::sleep(Duration::from_millis(700)).await;

    // the webhook: one `investigated` event, the markdown and the results as data
    let events = investigated_events(&f);
    assert_eq!(events.len(), 1, "{events:#?}");
    let e = &events[0];
    assert_eq!(e["action"], "investigated");
    assert_eq!(e["case"]["id"], case_id.as_str());
    assert_eq!(e["detail"]["kind"], "investigated");
    assert_eq!(e["detail"]["title"], "Investigation");
    let markdown = e["detail"]["markdown"].as_str().expect("markdown");
    let data = e["detail"]["investigations"]
        .as_array()
        .expect("investigations");
    for name in INVESTIGATORS {
        assert!(markdown.contains(&format!("### {name} (")), "{markdown}");
        let one = data
            .iter()
            .find(|i| i["investigator"] == name)
            .unwrap_or_else(|| panic!("no {name} in {data:?}"));
        assert!(
            one["status"].is_string() && one["summary"].is_string(),
            "{one}"
        );
    }
    let history = data
        .iter()
        .find(|i| i["investigator"] == "actor_history")
        .expect("actor_history");
    assert_eq!(history["status"], "done", "{history}");
    assert_eq!(history["findings"]["events"], 3, "{history}");
    let others: Vec<String> = f
        .receiver
        .received()
        .iter()
        .filter_map(|r| r.header("x-irene-event").map(str::to_string))
        .collect();
    assert!(!others.iter().any(|n| n == "note"), "{others:?}");

    // Slack, bot mode: one reply in the case's thread
    let bot = f.slack.messages(&f.bot_channel);
    let notes = slack_notes(&f, &f.bot_channel);
    assert_eq!(notes.len(), 1, "{bot:#?}");
    let root = bot.first().expect("the case's message");
    assert_eq!(notes[0].thread_ts.as_deref(), Some(root.ts.as_str()));
    assert_slack_note(&block_text(&notes[0]));

    // Slack, incoming webhook: one message, headed with the case
    let notes = slack_notes(&f, &f.hook_channel);
    assert_eq!(notes.len(), 1, "{:#?}", f.slack.messages(&f.hook_channel));
    assert_eq!(notes[0].via, "webhook");
    let first = &notes[0].blocks[0];
    assert_eq!(first["type"], "header", "{first}");
    assert!(
        first["text"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("[HIGH]") && t.ends_with(": Investigation")),
        "{first}"
    );
    assert_slack_note(&block_text(&notes[0]));

    // PagerDuty: its trigger, nothing for the note
    let pd = f.pd.events();
    assert_eq!(pd.len(), 1, "{pd:#?}");
    assert_eq!(pd[0]["event_action"], "trigger", "{pd:#?}");
    let (_, deliveries) = s
        .get(&format!("/api/v1/deliveries?case={case_id}&limit=100"))
        .await;
    let listed = deliveries["deliveries"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let note_outputs: Vec<&str> = listed
        .iter()
        .filter(|d| d["action"] == "note")
        .filter_map(|d| d["output"].as_str())
        .collect();
    assert_eq!(note_outputs.len(), 3, "{listed:#?}");
    for output in ["siem", "chat-bot", "chat-hook"] {
        assert!(note_outputs.contains(&output), "{output}: {listed:#?}");
    }
}
