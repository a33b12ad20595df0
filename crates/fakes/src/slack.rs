//! The fake Slack: incoming webhooks and the Web API's chat.postMessage / chat.update, with rate limits.
//! It keeps channels and messages in memory and must never call the real Slack.

mod blocks;

use crate::fault::FaultKind;
use crate::server::{self, lock, query_pairs, Common, Running};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const TEAM_ID: &str = "T0000000001";
const APP_ID: &str = "A0000000001";
/// Text longer than this is truncated by chat.postMessage (with a warning).
const MAX_TEXT: usize = 40_000;
/// chat.update rejects longer text with `msg_too_long`.
const MAX_UPDATE_TEXT: usize = 4_000;

/// A message as the fake holds it (top-level or reply).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlackMessage {
    pub ts: String,
    pub text: String,
    /// The message's blocks, or `Null` when it has none.
    pub blocks: Value,
    /// The parent's `ts` for a thread reply.
    pub thread_ts: Option<String>,
    /// How many times chat.update changed it.
    pub edits: u32,
    /// `webhook` or `bot`.
    pub via: String,
}

/// Local stand-in for slack.com/api and hooks.slack.com.
#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
    shared: Arc<Shared>,
}

/// Who posted a message: a bot token's bot, or an incoming webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Author {
    Bot(String),
    Webhook(String),
}

struct Msg {
    public: SlackMessage,
    author: Author,
}

struct Channel {
    id: String,
    name: String,
    archived: bool,
    bot_member: bool,
    messages: Vec<Msg>,
}

struct Webhook {
    path: String,
    channel_id: String,
    revoked: bool,
}

struct Bot {
    user_id: String,
    bot_id: String,
}

/// A token bucket: `capacity` requests at once, refilled at `per_sec`.
struct Bucket {
    capacity: f64,
    tokens: f64,
    per_sec: f64,
    last: Instant,
}

impl Bucket {
    fn new(capacity: f64, per_sec: f64) -> Self {
        Bucket {
            capacity,
            tokens: capacity,
            per_sec,
            last: Instant::now(),
        }
    }

    /// Takes one token, or returns the seconds to wait (at least 1).
    fn take(&mut self) -> Result<(), u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - self.tokens) / self.per_sec).ceil() as u64).max(1))
        }
    }
}

struct Sl {
    base: String,
    channels: Vec<Channel>,
    webhooks: Vec<Webhook>,
    bots: HashMap<String, Bot>,
    next_id: u64,
    last_ts_micros: i64,
    rate_limits: bool,
    post_buckets: HashMap<String, Bucket>,
    update_buckets: HashMap<String, Bucket>,
    hook_buckets: HashMap<String, Bucket>,
    empty_webhook_error: (u16, String),
}

struct Shared {
    sl: Mutex<Sl>,
}

impl Sl {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh `ts`: `<10 digits>.<6 digits>`, strictly increasing.
    fn new_ts(&mut self) -> String {
        let now = chrono::Utc::now().timestamp_micros();
        let t = now.max(self.last_ts_micros + 1);
        self.last_ts_micros = t;
        format!("{}.{:06}", t / 1_000_000, t % 1_000_000)
    }

    fn channel_by_id(&mut self, id: &str) -> Option<&mut Channel> {
        self.channels.iter_mut().find(|c| c.id == id)
    }

    fn channel_by_id_or_name(&mut self, v: &str) -> Option<&mut Channel> {
        let name = v.strip_prefix('#').unwrap_or(v);
        let idx = self
            .channels
            .iter()
            .position(|c| c.id == v)
            .or_else(|| self.channels.iter().position(|c| c.name == name))?;
        self.channels.get_mut(idx)
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

fn api_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// HTTP 200 `{"ok":false,"error":code}`: how the Web API reports errors.
fn api_error(code: &str) -> Response {
    api_response(200, &json!({"ok": false, "error": code}))
}

fn with_retry_after(mut resp: Response, secs: Option<u64>) -> Response {
    if let Some(v) = secs.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn api_ratelimited(retry_after: Option<u64>) -> Response {
    with_retry_after(
        api_response(429, &json!({"ok": false, "error": "ratelimited"})),
        retry_after,
    )
}

/// Incoming-webhook answers are plain text.
fn hook_response(status: u16, text: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, text.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

fn fault_response(kind: &FaultKind, parts: &Parts) -> Response {
    let webhook = parts.uri.path().starts_with("/services/");
    let (status, retry_after) = match kind {
        FaultKind::Status(s) => (*s, None),
        FaultKind::RateLimited { retry_after } => (429, *retry_after),
        FaultKind::SecondaryLimit { retry_after, .. } => (429, *retry_after),
        _ => (429, None),
    };
    if webhook {
        let text = match status {
            400 => "invalid_payload",
            403 => "action_prohibited",
            404 => "no_service",
            410 => "channel_is_archived",
            429 => "rate_limited",
            503 => "service_unavailable",
            _ => "rollup_error",
        };
        return with_retry_after(hook_response(status, text), retry_after);
    }
    // Status(200) injects `internal_error` in Slack's usual HTTP-200 envelope.
    let code = match status {
        429 => "ratelimited",
        503 => "service_unavailable",
        500 | 200 => "internal_error",
        _ => "fatal_error",
    };
    let retry_after = if status == 429 {
        retry_after.or(Some(1))
    } else {
        retry_after
    };
    with_retry_after(
        api_response(status, &json!({"ok": false, "error": code})),
        retry_after,
    )
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

/// The Web API arguments and the token: header `Authorization: Bearer`, or `token` in a form body.
fn parse_args(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Map<String, Value>, Option<String>), &'static str> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        })
        .filter(|t| !t.is_empty());
    if content_type.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => Ok((m, bearer)),
            _ => Err("invalid_json"),
        }
    } else if content_type.starts_with("application/x-www-form-urlencoded")
        || content_type.is_empty()
    {
        let text = std::str::from_utf8(body).map_err(|_| "invalid_form_data")?;
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(text).map_err(|_| "invalid_form_data")?;
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert(k, Value::String(v));
        }
        let token = bearer.or_else(|| m.get("token").and_then(Value::as_str).map(str::to_string));
        Ok((m, token))
    } else {
        Err("invalid_post_type")
    }
}

fn arg_str(m: &Map<String, Value>, k: &str) -> Option<String> {
    match m.get(k)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `blocks` as a JSON value (form bodies carry it as a JSON string). `Ok(None)` when absent.
fn arg_blocks(m: &Map<String, Value>) -> Result<Option<Value>, &'static str> {
    match m.get("blocks") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => serde_json::from_str(s)
            .map(Some)
            .map_err(|_| "invalid_blocks_format"),
        Some(v) => Ok(Some(v.clone())),
    }
}

fn attachments_count(m: &Map<String, Value>) -> usize {
    match m.get("attachments") {
        Some(Value::Array(a)) => a.len(),
        Some(Value::String(s)) => serde_json::from_str::<Vec<Value>>(s).map_or(0, |a| a.len()),
        _ => 0,
    }
}

/// Content checks shared by postMessage and update: returns (text, blocks).
fn content(m: &Map<String, Value>) -> Result<(String, Value), &'static str> {
    let text = arg_str(m, "text").unwrap_or_default();
    let markdown = arg_str(m, "markdown_text").unwrap_or_default();
    let blocks = arg_blocks(m)?;
    let has_blocks = blocks
        .as_ref()
        .is_some_and(|b| b.as_array().is_none_or(|a| !a.is_empty()));
    let attachments = attachments_count(m);
    if !markdown.is_empty() && (!text.is_empty() || has_blocks) {
        return Err("markdown_text_conflict");
    }
    if markdown.chars().count() > 12_000 {
        return Err("msg_too_long");
    }
    if text.is_empty() && !has_blocks && attachments == 0 && markdown.is_empty() {
        return Err("no_text");
    }
    if attachments > 100 {
        return Err("too_many_attachments");
    }
    if let Some(b) = &blocks {
        blocks::validate(b)?;
    }
    let text = if markdown.is_empty() { text } else { markdown };
    Ok((
        text,
        if has_blocks {
            blocks.unwrap_or(Value::Null)
        } else {
            Value::Null
        },
    ))
}

fn message_json(msg: &Msg, bot: Option<&Bot>) -> Value {
    let mut v = json!({
        "type": "message",
        "text": msg.public.text,
        "ts": msg.public.ts,
        "team": TEAM_ID,
        "app_id": APP_ID,
    });
    if let Some(b) = bot {
        v["user"] = json!(b.user_id);
        v["bot_id"] = json!(b.bot_id);
    }
    if !msg.public.blocks.is_null() {
        v["blocks"] = msg.public.blocks.clone();
    }
    if let Some(t) = &msg.public.thread_ts {
        v["thread_ts"] = json!(t);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

async fn post_message(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (m, token) = match parse_args(&headers, &body) {
        Ok(x) => x,
        Err(e) => return api_error(e),
    };
    let Some(token) = token else {
        return api_error("not_authed");
    };
    let mut sl = lock(&sh.sl);
    let Some(bot) = sl.bots.get(&token) else {
        return api_error("invalid_auth");
    };
    let (bot_user, bot_id) = (bot.user_id.clone(), bot.bot_id.clone());
    let Some(channel_arg) = arg_str(&m, "channel").filter(|c| !c.is_empty()) else {
        return api_error("channel_not_found");
    };
    let Some(ch) = sl.channel_by_id_or_name(&channel_arg) else {
        return api_error("channel_not_found");
    };
    if ch.archived {
        return api_error("is_archived");
    }
    if !ch.bot_member {
        return api_error("not_in_channel");
    }
    let channel_id = ch.id.clone();
    if sl.rate_limits {
        // Special tier: about 1 message per second per channel, with short bursts.
        let bucket = sl
            .post_buckets
            .entry(channel_id.clone())
            .or_insert_with(|| Bucket::new(5.0, 1.0));
        if let Err(wait) = bucket.take() {
            return api_ratelimited(Some(wait));
        }
    }
    let (mut text, blocks) = match content(&m) {
        Ok(x) => x,
        Err(e) => return api_error(e),
    };
    let thread_ts = arg_str(&m, "thread_ts").filter(|t| !t.is_empty());
    if let Some(parent) = &thread_ts {
        let Some(ch) = sl.channel_by_id(&channel_id) else {
            return api_error("channel_not_found");
        };
        match ch.messages.iter().find(|x| &x.public.ts == parent) {
            // Fake-only choice: Slack's answer for an unknown parent ts is undocumented.
            None => return api_error("thread_not_found"),
            // Replies must hang off the top-level message, not off another reply.
            Some(p) if p.public.thread_ts.is_some() => return api_error("cannot_reply_to_message"),
            Some(_) => {}
        }
    }
    let mut warning = None;
    if text.chars().count() > MAX_TEXT {
        text = text.chars().take(MAX_TEXT).collect();
        warning = Some("message_truncated");
    }
    let ts = sl.new_ts();
    let msg = Msg {
        public: SlackMessage {
            ts: ts.clone(),
            text,
            blocks,
            thread_ts,
            edits: 0,
            via: "bot".into(),
        },
        author: Author::Bot(bot_id.clone()),
    };
    let bot = Bot {
        user_id: bot_user,
        bot_id,
    };
    let mut message = message_json(&msg, Some(&bot));
    if let Some(parent) = &msg.public.thread_ts {
        message["parent_user_id"] = json!(bot.user_id);
        message["thread_ts"] = json!(parent);
    }
    let Some(ch) = sl.channel_by_id(&channel_id) else {
        return api_error("channel_not_found");
    };
    ch.messages.push(msg);
    let mut body = json!({"ok": true, "channel": channel_id, "ts": ts, "message": message});
    if let Some(w) = warning {
        body["warning"] = json!(w);
        body["response_metadata"] = json!({"warnings": [w], "messages": [
            "[WARN] Your message was truncated but still posted. The `text` field accepts up to 40,000 characters."
        ]});
    }
    api_response(200, &body)
}

async fn update(State(sh): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (m, token) = match parse_args(&headers, &body) {
        Ok(x) => x,
        Err(e) => return api_error(e),
    };
    let Some(token) = token else {
        return api_error("not_authed");
    };
    let mut sl = lock(&sh.sl);
    let Some(bot) = sl.bots.get(&token) else {
        return api_error("invalid_auth");
    };
    let bot = Bot {
        user_id: bot.user_id.clone(),
        bot_id: bot.bot_id.clone(),
    };
    let channel_id = arg_str(&m, "channel").unwrap_or_default();
    // chat.update takes channel IDs only.
    let Some(ch) = sl.channel_by_id(&channel_id) else {
        return api_error("channel_not_found");
    };
    if ch.archived {
        return api_error("is_inactive");
    }
    if sl.rate_limits {
        // Tier 3: 50+ per minute, per app (here: per token).
        let bucket = sl
            .update_buckets
            .entry(token.clone())
            .or_insert_with(|| Bucket::new(50.0, 50.0 / 60.0));
        if let Err(wait) = bucket.take() {
            return api_ratelimited(Some(wait));
        }
    }
    let ts = arg_str(&m, "ts").unwrap_or_default();
    let Some(ch) = sl.channel_by_id(&channel_id) else {
        return api_error("channel_not_found");
    };
    let Some(msg) = ch.messages.iter_mut().find(|x| x.public.ts == ts) else {
        return api_error("message_not_found");
    };
    if msg.author != Author::Bot(bot.bot_id.clone()) {
        return api_error("cant_update_message");
    }
    let (text, blocks) = match content(&m) {
        Ok(x) => x,
        Err(e) => return api_error(e),
    };
    if text.chars().count() > MAX_UPDATE_TEXT {
        return api_error("msg_too_long");
    }
    msg.public.text = text.clone();
    msg.public.blocks = blocks;
    msg.public.edits += 1;
    let mut message = message_json(msg, Some(&bot));
    message["edited"] = json!({"user": bot.user_id, "ts": ts});
    api_response(
        200,
        &json!({"ok": true, "channel": channel_id, "ts": ts, "text": text, "message": message}),
    )
}

async fn unknown_method() -> Response {
    api_response(404, &json!({"ok": false, "error": "unknown_method"}))
}

async fn webhook(
    State(sh): State<Arc<Shared>>,
    Path((team, bot, secret)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/services/{team}/{bot}/{secret}");
    let mut sl = lock(&sh.sl);
    let Some(hook) = sl.webhooks.iter().find(|h| h.path == path && !h.revoked) else {
        return hook_response(404, "no_service");
    };
    let channel_id = hook.channel_id.clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let parsed: Option<Value> = if content_type.starts_with("application/x-www-form-urlencoded") {
        std::str::from_utf8(&body)
            .ok()
            .map(|s| query_pairs(Some(s)))
            .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "payload"))
            .and_then(|(_, v)| serde_json::from_str(&v).ok())
    } else {
        serde_json::from_slice(&body).ok()
    };
    let Some(Value::Object(m)) = parsed else {
        return hook_response(400, "invalid_payload");
    };
    let Some(ch) = sl.channel_by_id(&channel_id) else {
        return hook_response(404, "channel_not_found");
    };
    if ch.archived {
        return hook_response(410, "channel_is_archived");
    }
    if sl.rate_limits {
        // About 1 per second, with short bursts.
        let bucket = sl
            .hook_buckets
            .entry(path.clone())
            .or_insert_with(|| Bucket::new(5.0, 1.0));
        if let Err(wait) = bucket.take() {
            return with_retry_after(hook_response(429, "rate_limited"), Some(wait));
        }
    }
    let (text, blocks) = match content(&m) {
        Ok(x) => x,
        Err("no_text") => {
            let (status, code) = sl.empty_webhook_error.clone();
            return hook_response(status, &code);
        }
        Err("invalid_blocks_format") => return hook_response(400, "invalid_blocks_format"),
        Err("too_many_attachments") => return hook_response(400, "too_many_attachments"),
        Err(_) => return hook_response(400, "invalid_blocks"),
    };
    let ts = sl.new_ts();
    let Some(ch) = sl.channel_by_id(&channel_id) else {
        return hook_response(404, "channel_not_found");
    };
    ch.messages.push(Msg {
        public: SlackMessage {
            ts,
            text,
            blocks,
            thread_ts: None,
            edits: 0,
            via: "webhook".into(),
        },
        author: Author::Webhook(path),
    });
    hook_response(200, "ok")
}

async fn fallback(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/services/") {
        hook_response(404, "no_service")
    } else {
        unknown_method().await
    }
}

async fn state(State(sh): State<Arc<Shared>>) -> Response {
    let sl = lock(&sh.sl);
    let channels: Vec<Value> = sl
        .channels
        .iter()
        .map(|c| {
            let messages: Vec<&SlackMessage> = c.messages.iter().map(|m| &m.public).collect();
            json!({"id": c.id, "name": c.name, "archived": c.archived, "bot_member": c.bot_member,
                   "messages": messages})
        })
        .collect();
    let webhooks: Vec<Value> = sl
        .webhooks
        .iter()
        .map(|h| json!({"url": format!("{}{}", sl.base, h.path), "channel": h.channel_id, "revoked": h.revoked}))
        .collect();
    api_response(200, &json!({"channels": channels, "webhooks": webhooks}))
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

impl FakeSlack {
    /// Starts on 127.0.0.1 at a free port.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::start_on_port(0)
            .await
            .unwrap_or_else(|e| panic!("FakeSlack: cannot bind 127.0.0.1: {e}"))
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on_port(port: u16) -> std::io::Result<Self> {
        let (listener, url, addr) = server::bind(port).await?;
        let shared = Arc::new(Shared {
            sl: Mutex::new(Sl {
                base: url.clone(),
                channels: Vec::new(),
                webhooks: Vec::new(),
                bots: HashMap::new(),
                next_id: 0,
                last_ts_micros: 0,
                rate_limits: true,
                post_buckets: HashMap::new(),
                update_buckets: HashMap::new(),
                hook_buckets: HashMap::new(),
                empty_webhook_error: (400, "missing_text_or_fallback_or_attachments".into()),
            }),
        });
        let common = Common::new(Box::new(fault_response));
        let router = Router::new()
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/chat.update", post(update))
            .route("/api/{method}", post(unknown_method).get(unknown_method))
            .route("/services/{team}/{bot}/{secret}", post(webhook))
            .route("/_fake/state", get(state))
            .fallback(fallback)
            .method_not_allowed_fallback(fallback)
            .with_state(shared.clone());
        let running = server::spawn(listener, url, addr, router, common.clone());
        Ok(FakeSlack {
            inner: Arc::new(Inner {
                running,
                common,
                shared,
            }),
        })
    }

    fn sl(&self) -> std::sync::MutexGuard<'_, Sl> {
        lock(&self.inner.shared.sl)
    }

    /// Creates a public channel (the bots are members) and returns its ID, e.g. `C0000000001`.
    /// A name that already exists returns the existing channel's ID.
    pub fn add_channel(&self, name: &str) -> String {
        let mut sl = self.sl();
        let name = name.strip_prefix('#').unwrap_or(name);
        if let Some(c) = sl.channels.iter().find(|c| c.name == name) {
            return c.id.clone();
        }
        let id = format!("C{:010}", sl.next());
        sl.channels.push(Channel {
            id: id.clone(),
            name: name.to_string(),
            archived: false,
            bot_member: true,
            messages: Vec::new(),
        });
        id
    }

    /// Archives the channel: posts get `is_archived`, webhooks `410 channel_is_archived`.
    pub fn archive(&self, channel_id: &str) {
        if let Some(c) = self.sl().channel_by_id(channel_id) {
            c.archived = true;
        }
    }

    /// Removes the bots from the channel: posts get `not_in_channel`.
    pub fn remove_bot_from(&self, channel_id: &str) {
        if let Some(c) = self.sl().channel_by_id(channel_id) {
            c.bot_member = false;
        }
    }

    /// Adds an incoming webhook posting to `channel_id`; returns its full URL
    /// `{url}/services/T…/B…/<secret>`.
    pub fn add_webhook(&self, channel_id: &str) -> String {
        let mut sl = self.sl();
        let secret: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(24)
            .map(char::from)
            .collect();
        let path = format!("/services/{TEAM_ID}/B{:010}/{secret}", sl.next());
        sl.webhooks.push(Webhook {
            path: path.clone(),
            channel_id: channel_id.to_string(),
            revoked: false,
        });
        format!("{}{path}", sl.base)
    }

    /// Revokes a webhook (given its full URL): it then answers `404 no_service`.
    pub fn revoke_webhook(&self, url: &str) {
        let mut sl = self.sl();
        let base = sl.base.clone();
        let path = url.strip_prefix(&base).unwrap_or(url).to_string();
        for h in sl.webhooks.iter_mut().filter(|h| h.path == path) {
            h.revoked = true;
        }
    }

    /// Accepts a bot token. Each token is its own bot: it may update only its own messages.
    pub fn add_bot_token(&self, token: &str) {
        let mut sl = self.sl();
        if sl.bots.contains_key(token) {
            return;
        }
        let n = sl.next();
        sl.bots.insert(
            token.to_string(),
            Bot {
                user_id: format!("U{n:010}"),
                bot_id: format!("B{n:010}"),
            },
        );
    }

    /// Turns the rate limits (postMessage per channel, update tier 3, webhooks) on or off.
    pub fn set_rate_limits(&self, enabled: bool) {
        let mut sl = self.sl();
        sl.rate_limits = enabled;
        sl.post_buckets.clear();
        sl.update_buckets.clear();
        sl.hook_buckets.clear();
    }

    /// What a webhook answers for a payload with no `text`, `blocks` or `attachments`
    /// (default `400 missing_text_or_fallback_or_attachments`, a code not confirmed by Slack).
    pub fn set_webhook_empty_error(&self, status: u16, code: &str) {
        self.sl().empty_webhook_error = (status, code.to_string());
    }

    /// The messages of a channel (top-level and replies) in post order.
    pub fn messages(&self, channel_id: &str) -> Vec<SlackMessage> {
        self.sl()
            .channel_by_id(channel_id)
            .map(|c| c.messages.iter().map(|m| m.public.clone()).collect())
            .unwrap_or_default()
    }
}

crate::impl_common!(FakeSlack);
