//! The Slack output (settings, quirks, reply classification, client): incoming-webhook mode (one
//! message per event) or bot mode (a root message per case, replies in its thread). One attempt only.

use crate::config::{
    check_url, duration, one_day, one_hour, optional_duration, OutputCommon, Secret,
};
use crate::http::{Hints, Http, Reply, Verdict};
use crate::kind::{Build, OutputKind};
use crate::plan::Quirks;
use crate::render;
use crate::templates::{Input, SharedTemplates};
use crate::{case_of, done, not_applicable, Context, Journal, Output};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::{Action, Case, Delivery, Outcome, Severity, TicketState};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Deserialize)]
/// The Slack output's own settings (`type = "slack"`).
pub struct SlackConfig {
    /// Incoming-webhook mode (no threads, no updates).
    pub webhook_url: Option<Secret>,
    /// Bot mode (`chat.postMessage`/`chat.update`), with `channel`.
    pub bot_token: Option<Secret>,
    /// Channel ID (preferred) or name.
    pub channel: Option<String>,
    #[serde(default = "slack_api")]
    pub api_url: String,
    #[serde(default = "one_hour", deserialize_with = "duration")]
    pub repeat_interval: Duration,
    /// The digest job's period; `"off"` disables it.
    #[serde(default = "daily", deserialize_with = "optional_duration")]
    pub digest_every: Option<Duration>,
}

impl SlackConfig {
    pub fn is_bot(&self) -> bool {
        self.bot_token.is_some()
    }
}

fn slack_api() -> String {
    "https://slack.com/api".into()
}
fn daily() -> Option<Duration> {
    Some(one_day())
}

impl OutputKind for SlackConfig {
    fn credentials(&self) -> Vec<(&'static str, bool)> {
        vec![
            ("webhook_url", self.webhook_url.is_some()),
            ("bot_token", self.bot_token.is_some()),
        ]
    }

    /// Bot mode keeps a root message per case (repeats update it, notes reply in its thread);
    /// an incoming webhook can only post new messages (a note is one, headed with the case).
    fn quirks(&self) -> Quirks {
        if self.is_bot() {
            Quirks::TICKET
        } else {
            Quirks::MESSAGES
        }
    }

    fn check(&self, err: &mut dyn FnMut(String)) {
        let s = self;
        match (&s.webhook_url, &s.bot_token, &s.channel) {
            (Some(url), None, None) => {
                if let Err(e) = check_url(url.expose()) {
                    err(format!("webhook_url (not shown, it is a secret): {e}"));
                }
            }
            (None, Some(token), Some(channel)) => {
                if token.expose().trim().is_empty() {
                    err("bot_token must not be empty".into());
                }
                if channel.trim().is_empty() {
                    err("channel must not be empty".into());
                }
            }
            (None, Some(_), None) => err("bot_token needs channel".into()),
            (None, None, Some(_)) => err("channel needs bot_token".into()),
            (None, None, None) => err("set webhook_url, or bot_token and channel".into()),
            (Some(_), _, _) => {
                err("set either webhook_url or bot_token and channel, not both".into())
            }
        }
        if let Err(e) = check_url(&s.api_url) {
            err(format!("api_url {:?}: {e}", s.api_url));
        }
        if s.repeat_interval.is_zero() {
            err("repeat_interval must be more than 0s".into());
        }
    }

    fn default_min_severity() -> Severity {
        Severity::Low
    }

    fn build(&self, b: &Build<'_>) -> Result<Arc<dyn Output>, String> {
        SlackOutput::new(b.common, self, b.ctx).map(|o| Arc::new(o) as _)
    }
}

/// Classifies an incoming webhook's reply: only `200 ok` is a success; 429 and 5xx are retried.
fn classify_webhook(status: u16, hints: &Hints, body: &str, now: DateTime<Utc>) -> Verdict {
    if status == 200 && body.trim() == "ok" {
        return Verdict::Success;
    }
    if status == 429 || status >= 500 {
        return Verdict::Retry {
            at: hints.retry_at(now),
            limited: false,
        };
    }
    Verdict::Dead
}

/// Classifies a Web API reply: an HTTP 200 with `ok: true` is a success; 429, 5xx and the
/// transient error codes are retried; other codes (and a body that is no envelope) are dead.
fn classify_api(status: u16, hints: &Hints, body: &str, now: DateTime<Utc>) -> Verdict {
    let retry = |at| Verdict::Retry { at, limited: false };
    if status == 429 || status >= 500 {
        return retry(hints.retry_at(now));
    }
    if status != 200 {
        return Verdict::Dead;
    }
    match slack_error(body) {
        Ok(None) => Verdict::Success,
        Ok(Some(code)) => match code.as_str() {
            "ratelimited" => retry(hints.retry_at(now)),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                retry(None)
            }
            _ => Verdict::Dead,
        },
        Err(()) => Verdict::Dead,
    }
}

/// A Slack Web API envelope: `Ok(None)` when `ok: true`, `Ok(Some(code))` when `ok: false`,
/// `Err` when the body is not such an envelope.
fn slack_error(body: &str) -> Result<Option<String>, ()> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| ())?;
    match v.get("ok").and_then(serde_json::Value::as_bool) {
        Some(true) => Ok(None),
        Some(false) => Ok(Some(
            v.get("error")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("unknown_error")
                .to_string(),
        )),
        None => Err(()),
    }
}

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

/// A reply classifier of one of Slack's two APIs.
type Classify = fn(u16, &Hints, &str, DateTime<Utc>) -> Verdict;

/// The Slack output.
pub struct SlackOutput {
    name: String,
    mode: Mode,
    http: Http,
    public_url: String,
    files: Option<crate::files::FileLinks>,
    templates: SharedTemplates,
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

impl SlackOutput {
    fn new(common: &OutputCommon, c: &SlackConfig, ctx: &Context) -> Result<SlackOutput, String> {
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
            name: common.name.clone(),
            mode,
            http: Http::new(&ctx.user_agent, common.timeout, &secrets)?
                .shared(ctx.pacing.clone(), &common.name),
            public_url: ctx.public_url.clone(),
            files: ctx.files.clone(),
            templates: ctx.templates.clone(),
            repeat_interval: ChronoDuration::from_std(c.repeat_interval)
                .unwrap_or(ChronoDuration::MAX),
        })
    }

    fn link(&self, case: &Case) -> String {
        render::case_link(&self.public_url, case.id)
    }

    /// What an event on a case says, in one line.
    fn event_text(d: &Delivery, case: &Case) -> String {
        render::event_text(d.action, case, &d.detail, Utc::now())
    }

    fn failure(&self, classify: Classify, reply: &Reply) -> Outcome {
        match classify(reply.status, &reply.hints(), &reply.body, Utc::now()) {
            // ok:true without what we need, or a success the caller did not expect
            Verdict::Success => self.http.failure(&Verdict::Dead, reply),
            v => self.http.failure(&v, reply),
        }
    }

    // ------------------------------------------------------------ webhook mode

    async fn post_webhook(&self, url: &Secret, message: &Value) -> Result<(), Outcome> {
        let req = self.http.client().post(url.expose()).json(message);
        let reply = self.http.send(req).await?;
        match classify_webhook(reply.status, &reply.hints(), &reply.body, Utc::now()) {
            Verdict::Success => Ok(()),
            _ => Err(self.failure(classify_webhook, &reply)),
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
            Action::Note => {
                let case = case_of(d)?;
                let detail = crate::files::note_detail(self.files.as_ref(), &d.detail, false);
                render::slack_note(case, &detail, &self.link(case), false)
            }
            Action::Open => {
                let case = case_of(d)?;
                let link = self.link(case);
                let set = self.templates.load_full();
                set.slack_case(&input(d, case, &link), false)
            }
            _ => {
                let case = case_of(d)?;
                let link = self.link(case);
                let set = self.templates.load_full();
                set.slack_event(&input(d, case, &link), &Self::event_text(d, case), false)
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
        match classify_api(reply.status, &reply.hints(), &reply.body, Utc::now()) {
            Verdict::Success => Ok(reply.json().unwrap_or(Value::Null)),
            _ => Err(self.failure(classify_api, &reply)),
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
        let set = self.templates.load_full();
        let input = input(d, case, &link);
        let root_message = |resolved| set.slack_case(&input, resolved);
        let reply_message = || set.slack_event(&input, &Self::event_text(d, case), true);
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
            // a note never makes the case's message: without it there is no thread to reply in
            (Action::Note, None) => Ok(not_applicable("no case message to reply to")),
            (Action::Note, Some(root)) => {
                let detail = crate::files::note_detail(self.files.as_ref(), &d.detail, false);
                let message = render::slack_note(case, &detail, &link, true);
                self.post(token, api, &root.channel, message, Some(&root.ts))
                    .await?;
                Ok(done(None, "replied with the note in the case's thread"))
            }
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
                let message = set.slack_event(&input, &Self::event_text(d, case), false);
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

/// What the templates see of a delivery.
fn input<'a>(d: &'a Delivery, case: &'a Case, link: &'a str) -> Input<'a> {
    Input {
        case,
        alert: d.alert.as_ref(),
        case_url: link,
        action: d.action,
        detail: &d.detail,
        now: Utc::now(),
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
    fn classification_tables() {
        use crate::http::table::{check, hints, retry, secs, Row};
        let none = Hints::default();
        let webhook: Vec<Row> = vec![
            ("slack wh ok", 200, none.clone(), "ok", Verdict::Success),
            (
                "slack wh 200 not ok",
                200,
                none.clone(),
                "invalid_payload",
                Verdict::Dead,
            ),
            (
                "slack wh 400",
                400,
                none.clone(),
                "invalid_payload",
                Verdict::Dead,
            ),
            (
                "slack wh 404",
                404,
                none.clone(),
                "no_service",
                Verdict::Dead,
            ),
            (
                "slack wh 410",
                410,
                none.clone(),
                "channel_is_archived",
                Verdict::Dead,
            ),
            (
                "slack wh 429",
                429,
                hints(Some("30"), None, None),
                "",
                retry(Some(secs(30))),
            ),
            (
                "slack wh 500",
                500,
                none.clone(),
                "rollup_error",
                retry(None),
            ),
        ];
        check(webhook, classify_webhook);
        let api: Vec<Row> = vec![
            (
                "slack api ok",
                200,
                none.clone(),
                "{\"ok\":true,\"ts\":\"1.2\"}",
                Verdict::Success,
            ),
            (
                "slack api ratelimited",
                429,
                hints(Some("3"), None, None),
                "{\"ok\":false,\"error\":\"ratelimited\"}",
                retry(Some(secs(3))),
            ),
            (
                "slack api internal_error",
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"internal_error\"}",
                retry(None),
            ),
            (
                "slack api fatal_error",
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"fatal_error\"}",
                retry(None),
            ),
            (
                "slack api service_unavailable",
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"service_unavailable\"}",
                retry(None),
            ),
            (
                "slack api channel_not_found",
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"channel_not_found\"}",
                Verdict::Dead,
            ),
            (
                "slack api invalid_auth",
                200,
                none.clone(),
                "{\"ok\":false,\"error\":\"invalid_auth\"}",
                Verdict::Dead,
            ),
            (
                "slack api not json",
                200,
                none.clone(),
                "<html>",
                Verdict::Dead,
            ),
            ("slack api 503", 503, none.clone(), "", retry(None)),
        ];
        check(api, classify_api);
    }

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
