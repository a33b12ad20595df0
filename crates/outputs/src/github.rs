//! The GitHub issues output (contract §1–§6): one issue per case, found again after a crash by
//! its marker, rate limits honoured per token; and the inbound webhook's pure helpers. One attempt only.

use crate::config::{GithubConfig, Secret};
use crate::http::{classify, Http, Reply, Service, Verdict};
use crate::render;
use crate::{case_of, not_applicable, Context, Journal, Output};
use async_trait::async_trait;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hmac::{Hmac, Mac};
use irene_core::{Action, Case, Delivery, Outcome, TicketState};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

const API_VERSION: &str = "2022-11-28";
const ACCEPT: &str = "application/vnd.github+json";
/// Redirect hops followed for one request (a transferred issue is one).
const MAX_HOPS: usize = 3;
/// Pages of issues read when looking for an issue an earlier attempt made.
const MAX_PAGES: usize = 30;
/// How far before the recorded intent the search for an earlier issue starts.
const INTENT_SLACK_MINUTES: i64 = 10;

/// The rate-limit state of one credential, shared by every output that uses it: mutative
/// requests go one at a time, `pace` apart; after a limit nothing is sent until it lifts.
pub struct Gate {
    pace: Duration,
    last_mutation: Mutex<Option<Instant>>,
    limited_until: StdMutex<Option<DateTime<Utc>>>,
    /// Mutative requests allowed per sliding hour, and when the recent ones were made.
    per_hour: usize,
    recent: StdMutex<std::collections::VecDeque<Instant>>,
}

const HOUR: Duration = Duration::from_secs(3600);

impl Gate {
    pub(crate) fn new(pace: Duration, per_hour: usize) -> Gate {
        Gate {
            pace,
            last_mutation: Mutex::new(None),
            limited_until: StdMutex::new(None),
            per_hour: per_hour.max(1),
            recent: StdMutex::new(std::collections::VecDeque::new()),
        }
    }

    /// Counts one mutative request against the hourly budget, or says when there is room.
    fn spend(&self, now: Instant) -> Result<(), Outcome> {
        let mut recent = match self.recent.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        while recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= HOUR)
        {
            recent.pop_front();
        }
        if recent.len() >= self.per_hour {
            let wait = recent
                .front()
                .map(|t| (*t + HOUR).saturating_duration_since(now))
                .unwrap_or(HOUR);
            return Err(Outcome::Retry {
                error: format!(
                    "GitHub content budget: {} changes in the last hour; waiting",
                    recent.len()
                ),
                at: Some(Utc::now() + chrono(wait)),
            });
        }
        recent.push_back(now);
        Ok(())
    }

    fn until(&self) -> Option<DateTime<Utc>> {
        match self.limited_until.lock() {
            Ok(g) => *g,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }

    fn hold_until(&self, at: DateTime<Utc>) {
        let mut g = match self.limited_until.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if g.is_none_or(|u| u < at) {
            *g = Some(at);
        }
    }

    /// Err(Retry) while a rate limit holds.
    fn check(&self, now: DateTime<Utc>) -> Result<(), Outcome> {
        match self.until() {
            Some(until) if until > now => Err(Outcome::Retry {
                error: format!(
                    "GitHub rate limit: no requests until {}",
                    render::time(until)
                ),
                at: Some(until),
            }),
            _ => Ok(()),
        }
    }

    /// Waits for this credential's turn to mutate; the turn ends when the guard drops.
    async fn turn(&self) -> Paced<'_> {
        let guard = self.last_mutation.lock().await;
        if let Some(last) = *guard {
            tokio::time::sleep_until(last + self.pace).await;
        }
        Paced(guard)
    }
}

/// A mutative request's turn: records when it ended.
struct Paced<'a>(tokio::sync::MutexGuard<'a, Option<Instant>>);

impl Drop for Paced<'_> {
    fn drop(&mut self) {
        *self.0 = Some(Instant::now());
    }
}

/// The key of a configuration's gate: the same credentials on the same API share one.
pub(crate) fn gate_key(g: &GithubConfig) -> String {
    let api = g.api_url.trim_end_matches('/');
    match (&g.token, g.app_id) {
        (Some(t), _) => format!("{api}\ntoken\n{}", t.expose()),
        (None, Some(app)) => format!("{api}\napp\n{app}"),
        (None, None) => format!("{api}\nnone\n{}", g.name),
    }
}

enum Auth {
    Token(Secret),
    App(App),
}

struct App {
    app_id: u64,
    key: jsonwebtoken::EncodingKey,
    installation_id: Mutex<Option<u64>>,
    /// The installation token and when it expires.
    token: Mutex<Option<(Secret, DateTime<Utc>)>>,
}

impl App {
    fn jwt(&self, now: DateTime<Utc>) -> Result<String, Outcome> {
        #[derive(serde::Serialize)]
        struct Claims {
            iat: i64,
            exp: i64,
            iss: String,
        }
        let claims = Claims {
            iat: now.timestamp() - 60,
            exp: now.timestamp() + 9 * 60,
            iss: self.app_id.to_string(),
        };
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| Outcome::Dead {
            error: format!("cannot sign the GitHub App JWT: {e}"),
        })
    }
}

/// What the GitHub output keeps per case in `TicketState.data`.
#[derive(Debug, Clone, Default, PartialEq)]
struct IssueTicket {
    number: Option<u64>,
    url: Option<String>,
    actor: Option<String>,
    last_repeat_at: Option<DateTime<Utc>>,
    intent_at: Option<DateTime<Utc>>,
    /// The stored data, kept so that fields this version does not know survive.
    data: serde_json::Map<String, Value>,
}

impl IssueTicket {
    fn read(t: Option<&TicketState>) -> IssueTicket {
        let Some(t) = t else {
            return IssueTicket::default();
        };
        let data = match &t.data {
            Value::Object(m) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let time = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        IssueTicket {
            number: data
                .get("number")
                .and_then(Value::as_u64)
                .or_else(|| t.reference.parse().ok()),
            url: t.url.clone(),
            actor: data
                .get("actor")
                .and_then(Value::as_str)
                .map(str::to_string),
            last_repeat_at: time("last_repeat_at"),
            intent_at: time("intent_at"),
            data,
        }
    }

    fn state(&self) -> TicketState {
        let mut data = self.data.clone();
        let time =
            |t: Option<DateTime<Utc>>| t.map(|t| json!(render::time(t))).unwrap_or(Value::Null);
        data.insert("number".into(), json!(self.number));
        data.insert("actor".into(), json!(self.actor));
        data.insert("last_repeat_at".into(), time(self.last_repeat_at));
        data.insert("intent_at".into(), time(self.intent_at));
        TicketState {
            reference: self.number.map(|n| n.to_string()).unwrap_or_default(),
            url: self.url.clone(),
            data: Value::Object(data),
        }
    }

    /// Takes number, url and author from an issue GitHub returned.
    fn with_issue(mut self, issue: &Value) -> IssueTicket {
        if let Some(n) = issue.get("number").and_then(Value::as_u64) {
            self.number = Some(n);
        }
        if let Some(u) = issue.get("html_url").and_then(Value::as_str) {
            self.url = Some(u.to_string());
        }
        if let Some(login) = issue.pointer("/user/login").and_then(Value::as_str) {
            self.actor = Some(login.to_string());
        }
        self
    }
}

/// The GitHub issues output.
pub struct GithubOutput {
    name: String,
    owner: String,
    repo: String,
    repository: String,
    api: String,
    api_url: reqwest::Url,
    http: Http,
    auth: Auth,
    gate: Arc<Gate>,
    public_url: String,
    repeat_interval: ChronoDuration,
    extra_labels: Vec<String>,
    webhook_secret: Option<Secret>,
    /// Labels known to exist in the repository (ensured once per process).
    labels_done: StdMutex<HashSet<String>>,
}

fn chrono(d: Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

fn done(ticket: Option<TicketState>, note: impl Into<String>) -> Outcome {
    Outcome::Done {
        ticket,
        note: note.into(),
    }
}

impl GithubOutput {
    pub(crate) fn new(
        c: &GithubConfig,
        ctx: &Context,
        gate: Arc<Gate>,
    ) -> Result<GithubOutput, String> {
        let (owner, repo) = c
            .repository
            .split_once('/')
            .ok_or_else(|| format!("repository {:?} must be \"owner/repo\"", c.repository))?;
        let api_url = crate::config::check_url(&c.api_url).map_err(|e| format!("api_url: {e}"))?;
        let mut secrets: Vec<&Secret> = Vec::new();
        secrets.extend(c.token.as_ref());
        secrets.extend(c.private_key.as_ref());
        secrets.extend(c.webhook_secret.as_ref());
        let http = Http::new(&ctx.user_agent, c.timeout, &secrets)?;
        let auth = match (&c.token, c.app_id, &c.private_key) {
            (Some(t), _, _) => Auth::Token(t.clone()),
            (None, Some(app_id), Some(key)) => {
                let key = jsonwebtoken::EncodingKey::from_rsa_pem(key.expose().as_bytes())
                    .map_err(|e| format!("private_key is not a usable RSA PEM key ({e})"))?;
                Auth::App(App {
                    app_id,
                    key,
                    installation_id: Mutex::new(c.installation_id),
                    token: Mutex::new(None),
                })
            }
            _ => return Err("set token, or app_id and private_key".into()),
        };
        Ok(GithubOutput {
            name: c.name.clone(),
            owner: owner.to_string(),
            repo: repo.to_string(),
            repository: c.repository.clone(),
            api: c.api_url.trim_end_matches('/').to_string(),
            api_url,
            http,
            auth,
            gate,
            public_url: ctx.public_url.clone(),
            repeat_interval: chrono(c.repeat_interval),
            extra_labels: c.extra_labels.clone(),
            webhook_secret: c.webhook_secret.clone(),
            labels_done: StdMutex::new(HashSet::new()),
        })
    }

    /// `owner/repo`, as configured.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The secret that signs this repository's inbound webhooks, if configured.
    pub fn webhook_secret(&self) -> Option<&Secret> {
        self.webhook_secret.as_ref()
    }

    fn repo_url(&self, rest: &str) -> String {
        format!("{}/repos/{}/{}{rest}", self.api, self.owner, self.repo)
    }

    /// Whether `url` points at the configured API (same scheme, host and port): the token
    /// is never sent anywhere else, whatever a `Location` or `Link` says.
    fn same_origin(&self, url: &reqwest::Url) -> bool {
        url.scheme() == self.api_url.scheme()
            && url.host_str() == self.api_url.host_str()
            && url.port_or_known_default() == self.api_url.port_or_known_default()
    }

    /// Sends one request with GitHub's headers and `bearer`, and notes a primary limit the
    /// reply announces (`x-ratelimit-remaining: 0`) for every later request.
    async fn send(
        &self,
        method: &Method,
        url: &str,
        bearer: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Outcome> {
        let mut req = self
            .http
            .client()
            .request(method.clone(), url)
            .bearer_auth(bearer)
            .header(reqwest::header::ACCEPT, ACCEPT)
            .header("X-GitHub-Api-Version", API_VERSION);
        if let Some(b) = body {
            req = req.json(b);
        }
        let reply = self.http.send(req).await?;
        if let Some(reset) = reply.hints().primary_reset() {
            if reset > Utc::now() {
                self.gate.hold_until(reset);
            }
        }
        Ok(reply)
    }

    /// One API request: waits for the gate (mutative requests in turn, `pace` apart), uses
    /// the current token (an app re-mints once on a 401) and repeats the request at the
    /// `Location` of a redirect (a transferred issue).
    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Reply, Outcome> {
        self.gate.check(Utc::now())?;
        let _turn = if method == Method::GET {
            None
        } else {
            let turn = self.gate.turn().await;
            // a limit may have been hit while this request waited its turn
            self.gate.check(Utc::now())?;
            self.gate.spend(Instant::now())?;
            Some(turn)
        };
        let mut url = url.to_string();
        let mut reminted = false;
        let mut hops = 0;
        loop {
            let token = self.token().await?;
            let reply = self.send(&method, &url, token.expose(), body).await?;
            match reply.status {
                401 if matches!(self.auth, Auth::App(_)) && !reminted => {
                    reminted = true;
                    self.forget_token().await;
                }
                301 | 302 | 307 | 308 if hops < MAX_HOPS => {
                    let next = reply
                        .headers
                        .get(reqwest::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|loc| reqwest::Url::parse(&url).ok()?.join(loc).ok())
                        .map(|to| keep_subresource(&url, to))
                        .filter(|u| self.same_origin(u));
                    match next {
                        Some(next) => {
                            hops += 1;
                            url = next.to_string();
                        }
                        None => return Ok(reply),
                    }
                }
                _ => return Ok(reply),
            }
        }
    }

    /// The outcome of a reply that is not what the caller wanted; a rate limit holds back
    /// every later request of this credential.
    fn failure(&self, reply: &Reply) -> Outcome {
        let verdict = match classify(
            Service::Github,
            reply.status,
            &reply.hints(),
            &reply.body,
            Utc::now(),
        ) {
            // a success the caller did not expect (a 3xx not followed, a 204 for a 201)
            Verdict::Success => Verdict::Dead,
            v => v,
        };
        if let Verdict::Retry {
            at: Some(at),
            limited: true,
        } = verdict
        {
            self.gate.hold_until(at);
        }
        self.http.failure(&verdict, reply)
    }

    /// Requests and expects a 2xx with a JSON body.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Value, Outcome> {
        let reply = self.request(method, url, body).await?;
        if !(200..300).contains(&reply.status) {
            return Err(self.failure(&reply));
        }
        Ok(reply.json().unwrap_or(Value::Null))
    }

    // ------------------------------------------------------------ authentication

    async fn token(&self) -> Result<Secret, Outcome> {
        let app = match &self.auth {
            Auth::Token(t) => return Ok(t.clone()),
            Auth::App(app) => app,
        };
        let mut cached = app.token.lock().await;
        let now = Utc::now();
        if let Some((token, expires)) = &*cached {
            if *expires - ChronoDuration::minutes(5) > now {
                return Ok(token.clone());
            }
        }
        let jwt = app.jwt(now)?;
        let installation = {
            let mut id = app.installation_id.lock().await;
            match *id {
                Some(i) => i,
                None => {
                    let reply = self
                        .send(&Method::GET, &self.repo_url("/installation"), &jwt, None)
                        .await?;
                    let found = (reply.status == 200)
                        .then(|| reply.json())
                        .flatten()
                        .and_then(|v| v.get("id").and_then(Value::as_u64));
                    match found {
                        Some(i) => {
                            *id = Some(i);
                            i
                        }
                        None => {
                            return Err(self.auth_failure("finding the app's installation", &reply))
                        }
                    }
                }
            }
        };
        let url = format!(
            "{}/app/installations/{installation}/access_tokens",
            self.api
        );
        let reply = self.send(&Method::POST, &url, &jwt, None).await?;
        let minted = (reply.status == 201 || reply.status == 200)
            .then(|| reply.json())
            .flatten()
            .and_then(|v| {
                let token = v.get("token")?.as_str()?.to_string();
                let expires = v
                    .get("expires_at")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc))
                    // without a usable expiry: the documented hour
                    .unwrap_or(now + ChronoDuration::hours(1));
                Some((Secret::new(token), expires))
            });
        match minted {
            Some((token, expires)) => {
                *cached = Some((token.clone(), expires));
                Ok(token)
            }
            None => Err(self.auth_failure("minting an installation token", &reply)),
        }
    }

    fn auth_failure(&self, doing: &str, reply: &Reply) -> Outcome {
        match self.failure(reply) {
            Outcome::Retry { error, at } => Outcome::Retry {
                error: format!("GitHub App: {doing}: {error}"),
                at,
            },
            Outcome::Dead { error } => Outcome::Dead {
                error: format!("GitHub App: {doing}: {error}"),
            },
            other => other,
        }
    }

    async fn forget_token(&self) {
        if let Auth::App(app) = &self.auth {
            *app.token.lock().await = None;
        }
    }

    // ------------------------------------------------------------ repository operations

    /// Makes sure the labels exist with their colours (once per process each).
    async fn ensure_labels(&self, labels: &[String]) -> Result<(), Outcome> {
        for name in labels {
            let known = match self.labels_done.lock() {
                Ok(set) => set.contains(name),
                Err(poisoned) => poisoned.into_inner().contains(name),
            };
            if known {
                continue;
            }
            let body = json!({
                "name": name,
                "color": render::label_colour(name),
                "description": "Managed by Irene",
            });
            let reply = self
                .request(Method::POST, &self.repo_url("/labels"), Some(&body))
                .await?;
            let exists = reply.status == 422 && reply.body.contains("already_exists");
            if !(200..300).contains(&reply.status) && !exists {
                return Err(self.failure(&reply));
            }
            match self.labels_done.lock() {
                Ok(mut set) => set.insert(name.clone()),
                Err(poisoned) => poisoned.into_inner().insert(name.clone()),
            };
        }
        Ok(())
    }

    async fn get_issue(&self, number: u64) -> Result<Value, Outcome> {
        self.call(
            Method::GET,
            &self.repo_url(&format!("/issues/{number}")),
            None,
        )
        .await
    }

    async fn patch_issue(&self, number: u64, body: Value) -> Result<Value, Outcome> {
        self.call(
            Method::PATCH,
            &self.repo_url(&format!("/issues/{number}")),
            Some(&body),
        )
        .await
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), Outcome> {
        let body = json!({"body": render::truncate(text, render::GITHUB_BODY_MAX)});
        self.call(
            Method::POST,
            &self.repo_url(&format!("/issues/{number}/comments")),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Gives the issue this case's severity label (other labels kept) and, with `reopen`,
    /// opens it if closed. Returns the issue as it is after.
    async fn sync_issue(&self, number: u64, case: &Case, reopen: bool) -> Result<Value, Outcome> {
        let issue = self.get_issue(number).await?;
        let current: Vec<String> = issue
            .get("labels")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .filter_map(|l| l.get("name").and_then(Value::as_str).or_else(|| l.as_str()))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let wanted_severity = render::severity_label(case.severity);
        let mut labels: Vec<String> = current
            .iter()
            .filter(|l| !l.to_ascii_lowercase().starts_with("severity:"))
            .cloned()
            .collect();
        labels.push(wanted_severity.clone());
        let relabel = {
            let a: HashSet<&String> = current.iter().collect();
            let b: HashSet<&String> = labels.iter().collect();
            a != b
        };
        let closed = issue.get("state").and_then(Value::as_str) == Some("closed");
        let mut patch = serde_json::Map::new();
        if relabel {
            self.ensure_labels(std::slice::from_ref(&wanted_severity))
                .await?;
            patch.insert("labels".into(), json!(labels));
        }
        if reopen && closed {
            patch.insert("state".into(), json!("open"));
        }
        if patch.is_empty() {
            return Ok(issue);
        }
        self.patch_issue(number, Value::Object(patch)).await
    }

    /// Looks for the issue an earlier attempt may have created for `case_id` (listing the
    /// repository's `irene` issues updated since shortly before the intent; never search).
    async fn find_intended(
        &self,
        case_id: uuid::Uuid,
        intent_at: DateTime<Utc>,
    ) -> Result<Option<Value>, Outcome> {
        let since = intent_at - ChronoDuration::minutes(INTENT_SLACK_MINUTES);
        let mark = render::marker(case_id);
        let mut url = self.repo_url(&format!(
            "/issues?labels=irene&state=all&sort=created&direction=desc&since={}&per_page=100",
            render::time(since)
        ));
        for _ in 0..MAX_PAGES {
            let reply = self.request(Method::GET, &url, None).await?;
            if reply.status != 200 {
                return Err(self.failure(&reply));
            }
            let Some(Value::Array(items)) = reply.json() else {
                return Err(Outcome::Retry {
                    error: "GitHub listed issues in an unexpected shape".into(),
                    at: None,
                });
            };
            let mut older = true;
            for item in &items {
                if item.get("pull_request").is_some() {
                    continue;
                }
                if item
                    .get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(&mark))
                {
                    return Ok(Some(item.clone()));
                }
                let created = item
                    .get("created_at")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
                if created.is_none_or(|c| c >= since) {
                    older = false;
                }
            }
            // sorted by creation, newest first: a page wholly older than the window ends it
            if items.is_empty() || older {
                return Ok(None);
            }
            let next = next_link(&reply.headers)
                .and_then(|n| reqwest::Url::parse(&n).ok())
                .filter(|u| self.same_origin(u));
            match next {
                Some(n) => url = n.to_string(),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    // ------------------------------------------------------------ actions

    async fn open(
        &self,
        d: &Delivery,
        case: &Case,
        journal: &dyn Journal,
    ) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        if let Some(n) = t.number {
            let issue = self.sync_issue(n, case, true).await?;
            return Ok(done(
                Some(t.with_issue(&issue).state()),
                format!("issue #{n} exists; severity label and state brought up to date"),
            ));
        }
        if let Some(intent_at) = t.intent_at {
            if let Some(issue) = self.find_intended(case.id, intent_at).await? {
                let t = t.with_issue(&issue);
                let n = t.number.unwrap_or_default();
                return Ok(done(
                    Some(t.state()),
                    format!("found issue #{n}, made by an earlier attempt"),
                ));
            }
        }
        let labels = render::github_labels(case, &self.extra_labels);
        self.ensure_labels(&labels).await?;
        let mut t = t;
        if t.intent_at.is_none() {
            // the earliest intent stays: the search window must cover every earlier attempt
            t.intent_at = Some(Utc::now());
            journal
                .record_intent(d, &t.state())
                .await
                .map_err(|e| Outcome::Retry {
                    error: self.http.redact(&format!(
                        "could not record the intent to create an issue: {e}"
                    )),
                    at: None,
                })?;
        }
        let body = json!({
            "title": render::github_title(case),
            "body": render::github_body(case, d.alert.as_ref(), &render::case_link(&self.public_url, case.id)),
            "labels": labels,
        });
        let issue = self
            .call(Method::POST, &self.repo_url("/issues"), Some(&body))
            .await?;
        let t = t.with_issue(&issue);
        let Some(n) = t.number else {
            return Err(Outcome::Retry {
                error: "GitHub answered the create without an issue number".into(),
                at: None,
            });
        };
        Ok(done(Some(t.state()), format!("opened issue #{n}")))
    }

    async fn repeat(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let mut t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return Ok(not_applicable("no issue yet"));
        };
        let now = Utc::now();
        if let Some(last) = t.last_repeat_at {
            let until = last
                .checked_add_signed(self.repeat_interval)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if until > now {
                return Ok(Outcome::Defer { until });
            }
        }
        self.comment(n, &render::repeat_comment(case)).await?;
        t.last_repeat_at = Some(now);
        Ok(done(
            Some(t.state()),
            format!("commented on issue #{n}: seen again"),
        ))
    }

    async fn severity(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return Ok(not_applicable("no issue yet"));
        };
        self.sync_issue(n, case, false).await?;
        self.comment(n, &render::severity_comment(case, &d.detail))
            .await?;
        Ok(done(
            None,
            format!("relabelled issue #{n} severity:{}", case.severity),
        ))
    }

    async fn resolve(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return Ok(not_applicable("no issue"));
        };
        // the close first: it is idempotent, so a retry after a failed comment repeats nothing
        self.patch_issue(n, json!({"state": "closed", "state_reason": "completed"}))
            .await?;
        self.comment(n, &render::resolve_comment(case, &d.detail))
            .await?;
        Ok(done(None, format!("closed issue #{n}")))
    }

    async fn reopen(
        &self,
        d: &Delivery,
        case: &Case,
        journal: &dyn Journal,
    ) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return self.open(d, case, journal).await;
        };
        self.patch_issue(n, json!({"state": "open"})).await?;
        self.comment(n, &render::reopen_comment(case, &d.detail))
            .await?;
        Ok(done(None, format!("reopened issue #{n}")))
    }

    async fn reminder(&self, d: &Delivery, case: &Case) -> Result<Outcome, Outcome> {
        let t = IssueTicket::read(d.ticket.as_ref());
        let Some(n) = t.number else {
            return Ok(not_applicable("no issue to remind on"));
        };
        self.comment(n, &render::reminder_comment(case, Utc::now()))
            .await?;
        Ok(done(None, format!("reminded on issue #{n}")))
    }
}

#[async_trait]
impl Output for GithubOutput {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "github"
    }

    async fn deliver(&self, d: &Delivery, journal: &dyn Journal) -> Outcome {
        if d.action == Action::Digest {
            return not_applicable("digests are not posted to GitHub");
        }
        let case = match case_of(d) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let result = match d.action {
            Action::Open => self.open(d, case, journal).await,
            Action::Repeat => self.repeat(d, case).await,
            Action::Severity => self.severity(d, case).await,
            Action::Resolve => self.resolve(d, case).await,
            Action::Reopen => self.reopen(d, case, journal).await,
            Action::Reminder => self.reminder(d, case).await,
            Action::Digest => Ok(not_applicable("digests are not posted to GitHub")),
        };
        result.unwrap_or_else(|o| o)
    }

    fn as_github(&self) -> Option<&GithubOutput> {
        Some(self)
    }
}

/// The part of an issue URL's path after `/issues/{number}` (`/comments`, or empty).
fn issue_suffix(path: &str) -> Option<(&str, &str)> {
    let at = path.rfind("/issues/")?;
    let rest = &path[at + "/issues/".len()..];
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    (digits > 0).then(|| (&path[..at + "/issues/".len() + digits], &rest[digits..]))
}

/// A `Location` that names a moved issue, for a request on one of its sub-resources
/// (`…/issues/7/comments`), keeps the sub-resource: the comment goes to the moved issue.
fn keep_subresource(from: &str, mut to: reqwest::Url) -> reqwest::Url {
    let Some(from) = reqwest::Url::parse(from).ok() else {
        return to;
    };
    let Some((_, suffix)) = issue_suffix(from.path()) else {
        return to;
    };
    if suffix.is_empty() {
        return to;
    }
    let moved = match issue_suffix(to.path()) {
        Some((issue, "")) => format!("{issue}{suffix}"),
        _ => return to,
    };
    to.set_path(&moved);
    to
}

/// The `rel="next"` URL of a `Link` header, verbatim.
fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    for value in headers.get_all(reqwest::header::LINK) {
        let Ok(v) = value.to_str() else { continue };
        let mut rest = v;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>')?;
            let url = &after[..close];
            let params_end = after[close..].find('<').map_or(after.len(), |i| close + i);
            let params = &after[close + 1..params_end];
            if params.split(';').any(|p| {
                matches!(
                    p.trim().trim_end_matches(',').trim(),
                    "rel=\"next\"" | "rel=next"
                )
            }) {
                return Some(url.to_string());
            }
            rest = &after[params_end..];
        }
    }
    None
}

// ---------------------------------------------------------------- inbound webhook

/// Checks GitHub's `X-Hub-Signature-256: sha256=<hex>` over the raw body, in constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// An inbound `issues` event, reduced to what Irene acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueEvent {
    /// `closed`, `reopened`, `edited`, `labeled`…
    pub action: String,
    /// `owner/repo` (`repository.full_name`).
    pub repository: String,
    pub number: u64,
    /// Who did it (`sender.login`).
    pub sender: String,
    /// The case in the issue body's marker, when the issue is one of Irene's.
    pub marker_case_id: Option<uuid::Uuid>,
}

/// Parses an `issues` webhook body.
pub fn parse_issue_event(body: &[u8]) -> Result<IssueEvent, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let text = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
    Ok(IssueEvent {
        action: text("/action").ok_or("no action")?,
        repository: text("/repository/full_name").ok_or("no repository.full_name")?,
        number: v
            .pointer("/issue/number")
            .and_then(Value::as_u64)
            .ok_or("no issue.number (not an issues event?)")?,
        sender: text("/sender/login").unwrap_or_default(),
        marker_case_id: v
            .pointer("/issue/body")
            .and_then(Value::as_str)
            .and_then(render::parse_marker),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn signatures() {
        // GitHub's documented example: secret "It's a Secret to Everybody", payload "Hello, World!"
        let secret = "It's a Secret to Everybody";
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        let table = [
            (secret, &body[..], good, true),
            (secret, &b"Hello, World?"[..], good, false),
            ("other", &body[..], good, false),
            (secret, &body[..], "sha1=757107ea", false),
            (secret, &body[..], "sha256=zz", false),
            (secret, &body[..], "", false),
            (
                secret,
                &body[..],
                "sha256=757107ea0eb2509fc211221cce984b8a",
                false,
            ),
        ];
        for (s, b, h, want) in table {
            assert_eq!(verify_signature(s, b, h), want, "{h}");
        }
    }

    #[test]
    fn issue_events() {
        let id = uuid::Uuid::from_u128(99);
        let body = json!({
            "action": "closed",
            "issue": {"number": 12, "body": format!("text\n{}", render::marker(id))},
            "repository": {"full_name": "octo/sec"},
            "sender": {"login": "alice"}
        });
        let ev = parse_issue_event(body.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ev,
            IssueEvent {
                action: "closed".into(),
                repository: "octo/sec".into(),
                number: 12,
                sender: "alice".into(),
                marker_case_id: Some(id),
            }
        );
        let no_marker = json!({"action": "edited", "issue": {"number": 1, "body": null},
            "repository": {"full_name": "o/r"}, "sender": {"login": "b"}});
        let ev =
            parse_issue_event(no_marker.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.marker_case_id, None);
        assert!(parse_issue_event(b"{").is_err());
        assert!(parse_issue_event(br#"{"action":"created","comment":{}}"#).is_err());
    }

    #[test]
    fn redirects_keep_the_subresource() {
        let url = |s: &str| reqwest::Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let table = [
            (
                "https://a/repos/o/r/issues/1/comments",
                "https://a/repos/o/x/issues/9",
                "https://a/repos/o/x/issues/9/comments",
            ),
            (
                "https://a/repos/o/r/issues/1/comments",
                "https://a/repositories/5/issues/9/comments",
                "https://a/repositories/5/issues/9/comments",
            ),
            (
                "https://a/repos/o/r/issues/1",
                "https://a/repos/o/x/issues/9",
                "https://a/repos/o/x/issues/9",
            ),
            (
                "https://a/repos/o/r/labels",
                "https://a/repos/o/x/labels",
                "https://a/repos/o/x/labels",
            ),
        ];
        for (from, to, want) in table {
            assert_eq!(
                keep_subresource(from, url(to)).as_str(),
                want,
                "{from} → {to}"
            );
        }
    }

    #[test]
    fn link_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static("<https://api.github.com/repositories/1300192/issues?page=2>; rel=\"prev\", <https://api.github.com/repositories/1300192/issues?page=4&after=Y3Vy,c29y>; rel=\"next\", <https://api.github.com/repositories/1300192/issues?page=515>; rel=\"last\""),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/repositories/1300192/issues?page=4&after=Y3Vy,c29y")
        );
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static("<https://x/issues?page=1>; rel=\"first\""),
        );
        assert_eq!(next_link(&h), None);
        assert_eq!(next_link(&HeaderMap::new()), None);
    }

    #[test]
    fn the_hourly_content_budget_holds_back_and_moves_on() {
        let gate = Gate::new(Duration::ZERO, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(gate.spend(t0).is_ok());
        }
        match gate.spend(t0 + Duration::from_secs(60)) {
            Err(Outcome::Retry {
                at: Some(at),
                error,
            }) => {
                let wait = (at - Utc::now()).num_seconds();
                assert!((3500..=3600).contains(&wait), "{wait} s");
                assert!(error.contains("budget"), "{error}");
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        // An hour after the first three, there is room again.
        assert!(gate.spend(t0 + HOUR + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn ticket_data_round_trip() {
        let t = TicketState {
            reference: "12".into(),
            url: Some("https://github.com/o/r/issues/12".into()),
            data: json!({"number": 12, "actor": "irene[bot]", "last_repeat_at": "2026-01-01T00:00:00Z", "intent_at": null, "future": 1}),
        };
        let read = IssueTicket::read(Some(&t));
        assert_eq!(read.number, Some(12));
        assert_eq!(read.actor.as_deref(), Some("irene[bot]"));
        assert!(read.last_repeat_at.is_some());
        assert_eq!(read.intent_at, None);
        assert_eq!(read.state(), t);
        let fresh = IssueTicket::read(None);
        assert_eq!(fresh.state().reference, "");
        assert_eq!(fresh.state().data["number"], Value::Null);
    }
}
