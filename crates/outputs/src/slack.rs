//! The Slack output: incoming-webhook mode (one message per event) or bot mode (a root message
//! per case, replies in its thread, the root kept up to date). One attempt only.

use crate::config::{Secret, SlackConfig};
use crate::http::{classify, Http, Reply, Service, Verdict};
use crate::render;
use crate::{case_of, not_applicable, Context, Journal, Output};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::{Action, Case, Delivery, Outcome, TicketState};
use serde_json::{json, Value};

enum Mode {
    Webhook {
        url: Secret,
    },
    Bot {
        token: Secret,
        channel: String,
        api: String,
    },
}

/// The Slack output.
pub struct SlackOutput {
    name: String,
    mode: Mode,
    http: Http,
    public_url: String,
    repeat_interval: ChronoDuration,
}

/// The bot's root message of a case, as kept in `TicketState.data`.
#[derive(Debug, Clone, PartialEq)]
struct Root {
    channel: String,
    ts: String,
    last_update_at: Option<DateTime<Utc>>,
    data: serde_json::Map<String, Value>,
}

impl Root {
    fn read(t: Option<&TicketState>) -> Option<Root> {
        let t = t?;
        let data = match &t.data {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let text = |k: &str| data.get(k).and_then(Value::as_str).map(str::to_string);
        let (channel, ts) = match (text("channel"), text("ts")) {
            (Some(c), Some(ts)) => (c, ts),
            _ => {
                let (c, ts) = t.reference.split_once(':')?;
                (c.to_string(), ts.to_string())
            }
        };
        if channel.is_empty() || ts.is_empty() {
            return None;
        }
        Some(Root {
            channel,
            ts,
            last_update_at: text("last_update_at")
                .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
                .map(|t| t.with_timezone(&Utc)),
            data,
        })
    }

    fn state(&self) -> TicketState {
        let mut data = self.data.clone();
        data.insert("channel".into(), json!(self.channel));
        data.insert("ts".into(), json!(self.ts));
        data.insert(
            "last_update_at".into(),
            self.last_update_at
                .map(|t| json!(render::time(t)))
                .unwrap_or(Value::Null),
        );
        TicketState {
            reference: format!("{}:{}", self.channel, self.ts),
            url: None,
            data: Value::Object(data),
        }
    }
}

fn done(ticket: Option<TicketState>, note: impl Into<String>) -> Outcome {
    Outcome::Done {
        ticket,
        note: note.into(),
    }
}

impl SlackOutput {
    pub(crate) fn new(c: &SlackConfig, ctx: &Context) -> Result<SlackOutput, String> {
        let mode = match (&c.webhook_url, &c.bot_token, &c.channel) {
            (Some(url), None, _) => Mode::Webhook { url: url.clone() },
            (None, Some(token), Some(channel)) => Mode::Bot {
                token: token.clone(),
                channel: channel.clone(),
                api: c.api_url.trim_end_matches('/').to_string(),
            },
            _ => return Err("set webhook_url, or bot_token and channel".into()),
        };
        let mut secrets: Vec<&Secret> = Vec::new();
        secrets.extend(c.webhook_url.as_ref());
        secrets.extend(c.bot_token.as_ref());
        Ok(SlackOutput {
            name: c.name.clone(),
            mode,
            http: Http::new(&ctx.user_agent, c.timeout, &secrets)?,
            public_url: ctx.public_url.clone(),
            repeat_interval: ChronoDuration::from_std(c.repeat_interval)
                .unwrap_or(ChronoDuration::MAX),
        })
    }

    fn link(&self, case: &Case) -> String {
        render::case_link(&self.public_url, case.id)
    }

    /// What an event on a case says, in one line.
    fn event_text(d: &Delivery, case: &Case) -> String {
        match d.action {
            Action::Open if d.detail.get("from").is_none() => {
                format!("Qualifies again for this channel at {}.", case.severity)
            }
            Action::Severity | Action::Open => render::severity_comment(case, &d.detail),
            Action::Resolve => render::resolve_comment(case, &d.detail),
            Action::Reopen => render::reopen_comment(case, &d.detail),
            Action::Reminder => render::reminder_comment(case, Utc::now()),
            Action::Repeat => render::repeat_comment(case),
            Action::Digest => String::new(),
        }
    }

    fn failure(&self, service: Service, reply: &Reply) -> Outcome {
        match classify(
            service,
            reply.status,
            &reply.hints(),
            &reply.body,
            Utc::now(),
        ) {
            // ok:true without what we need, or a success the caller did not expect
            Verdict::Success => self.http.failure(&Verdict::Dead, reply),
            v => self.http.failure(&v, reply),
        }
    }

    // ------------------------------------------------------------ webhook mode

    async fn post_webhook(&self, url: &Secret, message: &Value) -> Result<(), Outcome> {
        let req = self.http.client().post(url.expose()).json(message);
        let reply = self.http.send(req).await?;
        match classify(
            Service::SlackWebhook,
            reply.status,
            &reply.hints(),
            &reply.body,
            Utc::now(),
        ) {
            Verdict::Success => Ok(()),
            _ => Err(self.failure(Service::SlackWebhook, &reply)),
        }
    }

    async fn deliver_webhook(&self, url: &Secret, d: &Delivery) -> Result<Outcome, Outcome> {
        let message = match d.action {
            Action::Repeat => {
                return Ok(not_applicable(
                    "repeats are not posted by an incoming webhook",
                ))
            }
            Action::Digest => render::slack_digest(&d.detail, &self.public_url),
            Action::Open => {
                let case = case_of(d)?;
                render::slack_case(case, d.alert.as_ref(), &self.link(case), false)
            }
            _ => {
                let case = case_of(d)?;
                render::slack_event(case, &Self::event_text(d, case), &self.link(case), false)
            }
        };
        self.post_webhook(url, &message).await?;
        Ok(done(None, format!("posted ({})", d.action.as_str())))
    }

    // ------------------------------------------------------------ bot mode

    /// Calls a Web API method; `Ok` only for `ok: true`.
    async fn api(
        &self,
        token: &Secret,
        api: &str,
        method: &str,
        body: &Value,
    ) -> Result<Value, Outcome> {
        let req = self
            .http
            .client()
            .post(format!("{api}/{method}"))
            .bearer_auth(token.expose())
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body.to_string());
        let reply = self.http.send(req).await?;
        match classify(
            Service::SlackApi,
            reply.status,
            &reply.hints(),
            &reply.body,
            Utc::now(),
        ) {
            Verdict::Success => Ok(reply.json().unwrap_or(Value::Null)),
            _ => Err(self.failure(Service::SlackApi, &reply)),
        }
    }

    /// Posts a message (a reply when `thread_ts`); returns the channel ID and `ts`.
    async fn post(
        &self,
        token: &Secret,
        api: &str,
        channel: &str,
        mut message: Value,
        thread_ts: Option<&str>,
    ) -> Result<(String, String), Outcome> {
        if let Value::Object(m) = &mut message {
            m.insert("channel".into(), json!(channel));
            if let Some(ts) = thread_ts {
                m.insert("thread_ts".into(), json!(ts));
            }
        }
        let v = self.api(token, api, "chat.postMessage", &message).await?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        match (text("channel"), text("ts")) {
            (Some(c), Some(ts)) => Ok((c, ts)),
            _ => Err(Outcome::Dead {
                error: "chat.postMessage answered ok without channel and ts".into(),
            }),
        }
    }

    async fn update(
        &self,
        token: &Secret,
        api: &str,
        root: &Root,
        mut message: Value,
    ) -> Result<(), Outcome> {
        if let Value::Object(m) = &mut message {
            m.insert("channel".into(), json!(root.channel));
            m.insert("ts".into(), json!(root.ts));
        }
        self.api(token, api, "chat.update", &message)
            .await
            .map(|_| ())
    }

    async fn post_digest(
        &self,
        token: &Secret,
        api: &str,
        channel: &str,
        d: &Delivery,
    ) -> Result<Outcome, Outcome> {
        let message = render::slack_digest(&d.detail, &self.public_url);
        self.post(token, api, channel, message, None).await?;
        Ok(done(None, "posted the digest"))
    }

    async fn deliver_bot(
        &self,
        token: &Secret,
        channel: &str,
        api: &str,
        d: &Delivery,
    ) -> Result<Outcome, Outcome> {
        let case = match (d.action, case_of(d)) {
            (Action::Digest, _) => return self.post_digest(token, api, channel, d).await,
            (_, case) => case?,
        };
        let link = self.link(case);
        let root = Root::read(d.ticket.as_ref());
        let root_message = |resolved| render::slack_case(case, d.alert.as_ref(), &link, resolved);
        let reply_message = || render::slack_event(case, &Self::event_text(d, case), &link, true);
        let new_root = |ch: String, ts: String| Root {
            channel: ch,
            ts,
            last_update_at: None,
            data: serde_json::Map::new(),
        };
        match (d.action, root) {
            (Action::Open | Action::Reopen, None) => {
                let (ch, ts) = self
                    .post(token, api, channel, root_message(false), None)
                    .await?;
                let root = new_root(ch, ts);
                let note = format!("posted the case message {}", root.ts);
                Ok(done(Some(root.state()), note))
            }
            (Action::Digest, _) => self.post_digest(token, api, channel, d).await,
            (Action::Repeat, None) => Ok(not_applicable("no message yet")),
            (Action::Repeat, Some(mut root)) => {
                let now = Utc::now();
                if let Some(last) = root.last_update_at {
                    let until = last
                        .checked_add_signed(self.repeat_interval)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC);
                    if until > now {
                        return Ok(Outcome::Defer { until });
                    }
                }
                self.update(token, api, &root, root_message(false)).await?;
                root.last_update_at = Some(now);
                Ok(done(
                    Some(root.state()),
                    format!("updated the count to {}", case.count),
                ))
            }
            (Action::Severity | Action::Resolve | Action::Reminder, None) => {
                let message = render::slack_event(case, &Self::event_text(d, case), &link, false);
                self.post(token, api, channel, message, None).await?;
                Ok(done(
                    None,
                    format!("posted ({}) without a case message", d.action.as_str()),
                ))
            }
            (action, Some(root)) => {
                // the root first: an update is idempotent, so a retry after a failed reply
                // repeats nothing visible
                match action {
                    Action::Resolve => self.update(token, api, &root, root_message(true)).await?,
                    Action::Reopen | Action::Severity => {
                        self.update(token, api, &root, root_message(false)).await?
                    }
                    _ => {}
                }
                self.post(token, api, &root.channel, reply_message(), Some(&root.ts))
                    .await?;
                Ok(done(
                    None,
                    format!("replied ({}) in the case's thread", action.as_str()),
                ))
            }
        }
    }
}

#[async_trait]
impl Output for SlackOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "slack"
    }

    async fn deliver(&self, d: &Delivery, _journal: &dyn Journal) -> Outcome {
        let result = match &self.mode {
            Mode::Webhook { url } => self.deliver_webhook(url, d).await,
            Mode::Bot {
                token,
                channel,
                api,
            } => self.deliver_bot(token, channel, api, d).await,
        };
        result.unwrap_or_else(|o| o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_round_trip() {
        let t = TicketState {
            reference: "C1:1503435956.000247".into(),
            url: None,
            data: json!({"channel": "C1", "ts": "1503435956.000247", "last_update_at": null}),
        };
        let root = Root::read(Some(&t)).unwrap_or_else(|| panic!("no root"));
        assert_eq!(root.ts, "1503435956.000247");
        assert_eq!(root.state(), t);
        let bare = TicketState {
            reference: "C9:1.000100".into(),
            url: None,
            data: Value::Null,
        };
        assert_eq!(
            Root::read(Some(&bare)).map(|r| r.ts),
            Some("1.000100".into())
        );
        let empty = TicketState::default();
        assert_eq!(Root::read(Some(&empty)), None);
    }
}
