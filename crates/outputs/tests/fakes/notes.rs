//! `Action::Note` on every output against the local fakes: a GitHub comment on the case's issue
//! (never an issue of its own), a Slack thread reply or message (mrkdwn), a signed webhook `note`
//! or `investigated` event, nothing on PagerDuty.

use super::*;
use irene_fakes::{FakeGitHub, FakePagerDuty, FakeReceiver, FakeSlack};

fn note() -> Value {
    json!({
        "title": "Credential revoked",
        "markdown": "The key was rotated. cc @security-team <!channel>",
        "ref": "investigation-run-7",
    })
}

fn done_note(o: &Outcome) -> String {
    match o {
        Outcome::Done { ticket: None, note } => note.clone(),
        other => panic!("expected Done without a ticket, got {other:?}"),
    }
}

#[tokio::test]
async fn github_comments_on_the_issue_and_never_opens_one() {
    const REPO: &str = "octo/notes";
    const TOKEN: &str = "ghp_notetoken0123456789";
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    let out = output(json!({
        "type": "github", "name": "gh", "repository": REPO, "token": TOKEN,
        "api_url": gh.url(), "pace": "0s", "timeout": "2s",
    }));
    let c = case(401, Severity::High);
    let j = MemJournal::default();

    // no issue yet: done, nothing made
    let o = out
        .deliver(&delivery(1, "gh", Action::Note, &c, note(), None), &j)
        .await;
    assert!(done_note(&o).contains("no issue"), "{o:?}");
    assert!(gh.issues(REPO).is_empty());

    let ticket = done_ticket(
        &out.deliver(&delivery(2, "gh", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    let o = out
        .deliver(&delivery(3, "gh", Action::Note, &c, note(), ticket), &j)
        .await;
    assert!(done_note(&o).contains("note on issue #"), "{o:?}");
    let issues = gh.issues(REPO);
    assert_eq!(issues.len(), 1);
    let body = &issues[0].comments[0].body;
    assert!(
        body.starts_with("### Credential revoked\n\nThe key was rotated."),
        "{body}"
    );
    assert!(
        body.contains("@\u{2060}security-team"),
        "mention not defused: {body}"
    );
    assert!(body.contains("investigation-run-7"), "{body}");
}

#[tokio::test]
async fn slack_bot_replies_in_the_thread_and_webhook_posts() {
    let sl = FakeSlack::start().await;
    sl.set_rate_limits(false);
    let channel = sl.add_channel("security");
    sl.add_bot_token("xoxb-note-bot");
    let bot = output(json!({
        "type": "slack", "name": "sl", "bot_token": "xoxb-note-bot", "channel": channel,
        "api_url": format!("{}/api", sl.url()),
    }));
    let c = case(402, Severity::High);
    let j = MemJournal::default();
    let o = bot
        .deliver(&delivery(1, "sl", Action::Note, &c, note(), None), &j)
        .await;
    assert!(done_note(&o).contains("no case message"), "{o:?}");
    assert!(sl.messages(&channel).is_empty());

    let ticket = done_ticket(
        &bot.deliver(&delivery(2, "sl", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    done_note(
        &bot.deliver(&delivery(3, "sl", Action::Note, &c, note(), ticket), &j)
            .await,
    );
    let msgs = sl.messages(&channel);
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert_eq!(msgs[1].thread_ts.as_deref(), Some(msgs[0].ts.as_str()));
    let reply = msgs[1].blocks.to_string();
    assert!(reply.contains("Credential revoked"), "{reply}");
    assert!(!reply.contains("<!channel>"), "{reply}");

    let hook = sl.add_webhook(&channel);
    let webhook = output(json!({"type": "slack", "name": "slw", "webhook_url": hook}));
    done_note(
        &webhook
            .deliver(&delivery(4, "slw", Action::Note, &c, note(), None), &j)
            .await,
    );
    let msgs = sl.messages(&channel);
    assert_eq!(msgs.len(), 3);
    assert_eq!(msgs[2].via, "webhook");
    assert!(
        msgs[2].text.contains("Credential revoked"),
        "{}",
        msgs[2].text
    );
}

/// A finished batch of investigations' note, as the store writes it.
fn investigated() -> Value {
    json!({
        "kind": "investigated",
        "title": "Investigation",
        "markdown": "### actor_history (done)\n\n| Event | Count |\n|---|---|\n| `ConsoleLogin` | 3 |\n\n<details><summary>Failures (1 rows)</summary>\n\n| Time | Code |\n|---|---|\n| 2022-01-12 | AccessDenied |\n</details>",
        "ref": "batch-1",
        "investigations": [{"investigator": "actor_history", "status": "done", "reason": null,
                            "findings": {"events": 3}, "summary": "3 events"}],
    })
}

#[tokio::test]
async fn webhook_sends_signed_note_and_investigated_events() {
    let rx = FakeReceiver::start().await;
    let out = output(json!({
        "type": "webhook", "name": "wh", "url": format!("{}/hooks/irene", rx.url()),
        "secret": "note-secret",
    }));
    let c = case(403, Severity::Low);
    // (detail, the event's name)
    for (i, (detail, event)) in [(note(), "note"), (investigated(), "investigated")]
        .into_iter()
        .enumerate()
    {
        done_note(
            &out.deliver(
                &delivery(9 + i as i64, "wh", Action::Note, &c, detail.clone(), None),
                &MemJournal::default(),
            )
            .await,
        );
        let got = rx.received();
        assert_eq!(got.len(), i + 1);
        let got = &got[i];
        assert_eq!(got.header("x-irene-event"), Some(event));
        let sig = got.header("x-irene-signature-256").unwrap_or_default();
        assert!(irene_outputs::verify_signature(
            "note-secret",
            got.body.as_bytes(),
            sig
        ));
        let body: Value = serde_json::from_str(&got.body).unwrap_or_default();
        assert_eq!(body["action"], event);
        assert_eq!(body["detail"], detail);
    }
}

#[tokio::test]
async fn slack_shows_an_investigation_as_mrkdwn_in_both_modes() {
    let sl = FakeSlack::start().await;
    sl.set_rate_limits(false);
    let channel = sl.add_channel("investigations");
    sl.add_bot_token("xoxb-inv-bot");
    let bot = output(json!({
        "type": "slack", "name": "sl", "bot_token": "xoxb-inv-bot", "channel": channel,
        "api_url": format!("{}/api", sl.url()),
    }));
    let hook =
        output(json!({"type": "slack", "name": "slw", "webhook_url": sl.add_webhook(&channel)}));
    let c = case(405, Severity::High);
    let j = MemJournal::default();
    let ticket = done_ticket(
        &bot.deliver(&delivery(1, "sl", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    done_note(
        &bot.deliver(
            &delivery(2, "sl", Action::Note, &c, investigated(), ticket),
            &j,
        )
        .await,
    );
    done_note(
        &hook
            .deliver(
                &delivery(3, "slw", Action::Note, &c, investigated(), None),
                &j,
            )
            .await,
    );
    let msgs = sl.messages(&channel);
    assert_eq!(msgs.len(), 3, "{msgs:#?}");
    assert_eq!(msgs[1].thread_ts.as_deref(), Some(msgs[0].ts.as_str()));
    assert_eq!(msgs[2].via, "webhook");
    assert_eq!(msgs[2].blocks[0]["type"], "header");
    for m in &msgs[1..] {
        let text = m.blocks.to_string();
        assert!(text.contains("*actor_history (done)*"), "{text}");
        assert!(text.contains("```\\nEvent         Count"), "{text}");
        assert!(text.contains("*Failures (1 rows)*"), "{text}");
        assert!(
            !text.contains("details>") && !text.contains("|---"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn pagerduty_sends_nothing() {
    let pd = FakePagerDuty::start().await;
    let out = output(json!({
        "type": "pagerduty", "name": "pd", "routing_key": "R0123456789abcdef0123456789abcde",
        "events_url": format!("{}/v2/enqueue", pd.url()),
    }));
    let c = case(404, Severity::Urgent);
    let o = out
        .deliver(
            &delivery(1, "pd", Action::Note, &c, note(), None),
            &MemJournal::default(),
        )
        .await;
    assert!(done_note(&o).contains("not sent to PagerDuty"), "{o:?}");
    assert!(pd.events().is_empty());
}

#[tokio::test]
async fn github_links_attachments_by_capability_url() {
    const REPO: &str = "octo/files";
    const TOKEN: &str = "ghp_filestoken0123456789";
    let gh = FakeGitHub::start().await;
    gh.add_repo(REPO);
    gh.add_token(TOKEN);
    let links = irene_outputs::files::FileLinks::new(
        b"file secret",
        std::time::Duration::from_secs(30 * 86400),
        Some(PUBLIC_URL),
    );
    let mut context = ctx();
    context.files = Some(links.clone());
    let configs: Vec<OutputConfig> = serde_json::from_value(json!([{
        "type": "github", "name": "gh", "repository": REPO, "token": TOKEN,
        "api_url": gh.url(), "pace": "0s", "timeout": "2s",
    }]))
    .unwrap();
    let out = build(&configs, &context).unwrap().remove(0);
    let c = case(402, Severity::High);
    let j = MemJournal::default();
    let ticket = done_ticket(
        &out.deliver(&delivery(1, "gh", Action::Open, &c, json!({}), None), &j)
            .await,
    );
    let id = Uuid::now_v7();
    let detail = json!({
        "title": "Investigation",
        "markdown": format!("![screenshot 1.2.3.4:443](attachment:{id})\n\n[events as CSV](attachment:{id})"),
    });
    let o = out
        .deliver(&delivery(2, "gh", Action::Note, &c, detail, ticket), &j)
        .await;
    done_note(&o);
    let body = &gh.issues(REPO)[0].comments[0].body;
    let prefix = format!("![screenshot 1.2.3.4:443]({PUBLIC_URL}/files/");
    let start = body
        .find(&prefix)
        .unwrap_or_else(|| panic!("no inline image: {body}"));
    let token: String = body[start + prefix.len()..]
        .chars()
        .take_while(|c| *c != ')')
        .collect();
    assert_eq!(links.verify(&token, chrono::Utc::now()), Some(id), "{body}");
    assert!(
        body.contains(&format!("[events as CSV]({PUBLIC_URL}/files/")),
        "{body}"
    );
    assert!(!body.contains("attachment:"), "{body}");
}
