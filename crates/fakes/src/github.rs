//! The fake GitHub REST API: its public handle, its in-memory state and the request gate (user agent,
//! API version, credentials, rate-limit headers). It must never call the real GitHub.

// Handlers return `Result<_, Response>`: the error *is* GitHub's answer, built once per request,
// so its size does not matter.
#[allow(clippy::result_large_err)]
mod app;
#[allow(clippy::result_large_err)]
mod handlers;
mod render;
#[allow(clippy::result_large_err)]
mod search;

use crate::fault::FaultKind;
use crate::server::{self, lock, Common, Running};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// API versions the fake accepts in `X-GitHub-Api-Version`.
pub const API_VERSIONS: [&str; 2] = ["2022-11-28", "2026-03-10"];
const DEFAULT_VERSION: &str = "2022-11-28";
/// Login of the app installation tokens' bot user.
pub const APP_BOT_LOGIN: &str = "irene-app[bot]";
const DEFAULT_LOGIN: &str = "irene-bot";

/// An issue as the fake holds it, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    /// The body; empty when the issue has none.
    pub body: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub labels: Vec<String>,
    pub comments: Vec<Comment>,
    /// Login of the author.
    pub user: String,
    pub closed_by: Option<String>,
}

/// An issue comment, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub body: String,
    pub user: String,
}

/// Local stand-in for api.github.com (issues, comments, labels, search, app tokens).
#[derive(Clone)]
pub struct FakeGitHub {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
    shared: Arc<Shared>,
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Actor {
    login: String,
    id: u64,
    bot: bool,
}

#[derive(Debug, Clone)]
struct Cred {
    login: String,
    bot: bool,
    expires_at: Option<DateTime<Utc>>,
    /// Repository keys an installation token may see; `None` = every repository.
    repos: Option<Vec<String>>,
}

struct App {
    key: jsonwebtoken::DecodingKey,
    installation_id: u64,
    repos: Vec<String>,
    created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct LabelRec {
    id: u64,
    name: String,
    color: String,
    description: Option<String>,
    default: bool,
}

#[derive(Debug, Clone)]
struct CommentRec {
    id: u64,
    body: String,
    user: Actor,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
struct IssueRec {
    id: u64,
    number: u64,
    title: String,
    body: Option<String>,
    state: String,
    state_reason: Option<String>,
    /// Label names, spelled as the repository's label.
    labels: Vec<String>,
    assignees: Vec<Actor>,
    user: Actor,
    comments: Vec<CommentRec>,
    closed_at: Option<DateTime<Utc>>,
    closed_by: Option<Actor>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

struct Repo {
    id: u64,
    owner: String,
    name: String,
    issues: Vec<IssueRec>,
    labels: Vec<LabelRec>,
    issues_disabled: bool,
    next_number: u64,
}

impl Repo {
    fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn find_label(&self, name: &str) -> Option<&LabelRec> {
        self.labels
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name))
    }

    fn issue(&self, number: u64) -> Option<&IssueRec> {
        self.issues.iter().find(|i| i.number == number)
    }

    fn issue_mut(&mut self, number: u64) -> Option<&mut IssueRec> {
        self.issues.iter_mut().find(|i| i.number == number)
    }

    /// Returns the repository's spelling of `name`, creating the label (colour `ededed`, no
    /// description) when it does not exist.
    fn ensure_label(&mut self, name: &str, ids: &AtomicU64) -> String {
        if let Some(l) = self.find_label(name) {
            return l.name.clone();
        }
        self.labels.push(LabelRec {
            id: ids.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            color: "ededed".into(),
            description: None,
            default: false,
        });
        name.to_string()
    }
}

/// A primary rate-limit window.
#[derive(Debug, Clone)]
struct Bucket {
    limit: u32,
    used: u32,
    reset: i64,
    window_secs: i64,
}

impl Bucket {
    fn new(limit: u32, window_secs: i64) -> Self {
        Bucket {
            limit,
            used: 0,
            reset: 0,
            window_secs,
        }
    }

    fn roll(&mut self, now: i64) {
        if now >= self.reset {
            self.used = 0;
            self.reset = now + self.window_secs;
        }
    }

    fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Resource {
    Core,
    Search,
}

impl Resource {
    fn of(path: &str) -> Self {
        if path.starts_with("/search/") {
            Resource::Search
        } else {
            Resource::Core
        }
    }

    fn name(self) -> &'static str {
        match self {
            Resource::Core => "core",
            Resource::Search => "search",
        }
    }
}

struct Gh {
    repos: BTreeMap<String, Repo>,
    creds: HashMap<String, Cred>,
    apps: HashMap<u64, App>,
    users: HashMap<String, u64>,
    buckets: HashMap<(String, Resource), Bucket>,
    transferred: HashMap<(String, u64), (String, u64)>,
    clock_offset: ChronoDuration,
    cursor_links: bool,
}

struct Shared {
    base: String,
    ids: AtomicU64,
    gh: Mutex<Gh>,
}

impl Shared {
    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }
}

impl Gh {
    fn now(&self) -> DateTime<Utc> {
        let t = Utc::now() + self.clock_offset;
        DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
    }

    fn actor(&mut self, login: &str, bot: bool) -> Actor {
        let next = 1000 + self.users.len() as u64;
        let id = *self.users.entry(login.to_ascii_lowercase()).or_insert(next);
        Actor {
            login: login.to_string(),
            id,
            bot,
        }
    }

    fn bucket(&mut self, key: &str, res: Resource, anonymous: bool) -> &mut Bucket {
        let now = self.now().timestamp();
        let b = self
            .buckets
            .entry((key.to_string(), res))
            .or_insert_with(|| match (res, anonymous) {
                (Resource::Core, false) => Bucket::new(5000, 3600),
                (Resource::Core, true) => Bucket::new(60, 3600),
                (Resource::Search, false) => Bucket::new(30, 60),
                (Resource::Search, true) => Bucket::new(10, 60),
            });
        b.roll(now);
        b
    }

    /// The repository `owner/name` if it exists and `auth` may see it.
    fn repo_key(&self, owner: &str, name: &str, auth: &Auth) -> Option<String> {
        let key = format!("{owner}/{name}").to_ascii_lowercase();
        if !self.repos.contains_key(&key) {
            return None;
        }
        match auth {
            Auth::Token { cred, .. } => match &cred.repos {
                Some(allowed) if !allowed.contains(&key) => None,
                _ => Some(key),
            },
            _ => Some(key),
        }
    }
}

/// Who is calling, as established by the gate.
#[derive(Debug, Clone)]
enum Auth {
    Anonymous,
    Token { key: String, cred: Cred },
    Jwt(String),
}

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

impl FakeGitHub {
    /// Starts on 127.0.0.1 at a free port.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::start_on_port(0)
            .await
            .unwrap_or_else(|e| panic!("FakeGitHub: cannot bind 127.0.0.1: {e}"))
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on_port(port: u16) -> std::io::Result<Self> {
        let (listener, url, addr) = server::bind(port).await?;
        let shared = Arc::new(Shared {
            base: url.clone(),
            ids: AtomicU64::new(1),
            gh: Mutex::new(Gh {
                repos: BTreeMap::new(),
                creds: HashMap::new(),
                apps: HashMap::new(),
                users: HashMap::new(),
                buckets: HashMap::new(),
                transferred: HashMap::new(),
                clock_offset: ChronoDuration::zero(),
                cursor_links: false,
            }),
        });
        let for_faults = shared.clone();
        let common = Common::new(Box::new(move |kind, parts| {
            fault_response(&for_faults, kind, parts)
        }));
        let router = handlers::router(shared.clone());
        let router = router.layer(axum::middleware::from_fn_with_state(shared.clone(), gate));
        let running = server::spawn(listener, url, addr, router, common.clone());
        Ok(FakeGitHub {
            inner: Arc::new(Inner {
                running,
                common,
                shared,
            }),
        })
    }

    fn gh(&self) -> std::sync::MutexGuard<'_, Gh> {
        lock(&self.inner.shared.gh)
    }

    /// Creates an empty repository (with GitHub's nine default labels). Idempotent.
    pub fn add_repo(&self, full_name: &str) {
        let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
        let key = full_name.to_ascii_lowercase();
        let shared = &self.inner.shared;
        let mut gh = self.gh();
        if gh.repos.contains_key(&key) {
            return;
        }
        let defaults = [
            ("bug", "d73a4a", "Something isn't working"),
            (
                "documentation",
                "0075ca",
                "Improvements or additions to documentation",
            ),
            (
                "duplicate",
                "cfd3d7",
                "This issue or pull request already exists",
            ),
            ("enhancement", "a2eeef", "New feature or request"),
            ("good first issue", "7057ff", "Good for newcomers"),
            ("help wanted", "008672", "Extra attention is needed"),
            ("invalid", "e4e669", "This doesn't seem right"),
            ("question", "d876e3", "Further information is requested"),
            ("wontfix", "ffffff", "This will not be worked on"),
        ];
        let labels = defaults
            .iter()
            .map(|(n, c, d)| LabelRec {
                id: shared.next_id(),
                name: n.to_string(),
                color: c.to_string(),
                description: Some(d.to_string()),
                default: true,
            })
            .collect();
        let repo = Repo {
            id: shared.next_id(),
            owner: owner.to_string(),
            name: name.to_string(),
            issues: Vec::new(),
            labels,
            issues_disabled: false,
            next_number: 1,
        };
        gh.repos.insert(key, repo);
    }

    /// Makes the issue endpoints of `repo` answer 410 "Issues are disabled for this repo".
    pub fn disable_issues(&self, repo: &str) {
        if let Some(r) = self.gh().repos.get_mut(&repo.to_ascii_lowercase()) {
            r.issues_disabled = true;
        }
    }

    /// Re-enables issues on `repo`.
    pub fn enable_issues(&self, repo: &str) {
        if let Some(r) = self.gh().repos.get_mut(&repo.to_ascii_lowercase()) {
            r.issues_disabled = false;
        }
    }

    /// Accepts `token` (as `Bearer` or `token`) for every repository, acting as the default login
    /// `irene-bot` unless [`add_token_login`](Self::add_token_login) names another.
    pub fn add_token(&self, token: &str) {
        self.gh().creds.entry(token.to_string()).or_insert(Cred {
            login: DEFAULT_LOGIN.into(),
            bot: false,
            expires_at: None,
            repos: None,
        });
    }

    /// Accepts `token` and makes it act as `login` (a `User`).
    pub fn add_token_login(&self, token: &str, login: &str) {
        let mut gh = self.gh();
        let cred = gh.creds.entry(token.to_string()).or_insert(Cred {
            login: DEFAULT_LOGIN.into(),
            bot: false,
            expires_at: None,
            repos: None,
        });
        cred.login = login.to_string();
    }

    /// Stops accepting `token` (later calls get 401 "Bad credentials").
    pub fn revoke_token(&self, token: &str) {
        self.gh().creds.remove(token);
    }

    /// Registers a GitHub App: JWTs signed (RS256) by the key whose public half is
    /// `public_key_pem`, with `iss` = `app_id`, may mint tokens for `installation_id`, which is
    /// installed on `repo`. Calling it again with the same app adds another repository.
    ///
    /// # Panics
    /// If the PEM is not an RSA public key.
    pub fn add_app(&self, app_id: u64, public_key_pem: &str, installation_id: u64, repo: &str) {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key_pem.as_bytes())
            .unwrap_or_else(|e| panic!("FakeGitHub::add_app: not an RSA public key PEM: {e}"));
        let repo_key = repo.to_ascii_lowercase();
        let mut gh = self.gh();
        let now = gh.now();
        let app = gh.apps.entry(app_id).or_insert(App {
            key,
            installation_id,
            repos: Vec::new(),
            created_at: now,
        });
        app.installation_id = installation_id;
        if !app.repos.contains(&repo_key) {
            app.repos.push(repo_key);
        }
    }

    /// Moves the fake's clock forward (token expiry, rate-limit windows, timestamps).
    pub fn advance_clock(&self, by: Duration) {
        let by = ChronoDuration::from_std(by).unwrap_or(ChronoDuration::zero());
        let mut gh = self.gh();
        gh.clock_offset += by;
    }

    /// When on, `Link` URLs also carry a cursor-style `after=` parameter (and no `rel="last"`),
    /// as newer GitHub responses do. Requests may then page with `after` alone.
    pub fn set_cursor_links(&self, on: bool) {
        self.gh().cursor_links = on;
    }

    /// Transfers issue `number` of `from` to `to` (which must exist) and returns its new number.
    /// The old address then answers `301` with `Location` of the new one.
    ///
    /// # Panics
    /// If either repository or the issue does not exist.
    pub fn transfer_issue(&self, from: &str, number: u64, to: &str) -> u64 {
        let (from_key, to_key) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
        let mut gh = self.gh();
        assert!(gh.repos.contains_key(&to_key), "no repository {to}");
        let src = gh
            .repos
            .get_mut(&from_key)
            .unwrap_or_else(|| panic!("no repository {from}"));
        let pos = src
            .issues
            .iter()
            .position(|i| i.number == number)
            .unwrap_or_else(|| panic!("no issue {from}#{number}"));
        let mut issue = src.issues.remove(pos);
        let labels: Vec<(String, String, Option<String>)> = issue
            .labels
            .iter()
            .filter_map(|n| src.find_label(n))
            .map(|l| (l.name.clone(), l.color.clone(), l.description.clone()))
            .collect();
        let ids = &self.inner.shared.ids;
        let Some(dst) = gh.repos.get_mut(&to_key) else {
            unreachable!("checked above")
        };
        for (name, color, description) in labels {
            if dst.find_label(&name).is_none() {
                dst.labels.push(LabelRec {
                    id: ids.fetch_add(1, Ordering::Relaxed),
                    name,
                    color,
                    description,
                    default: false,
                });
            }
        }
        issue.number = dst.next_number;
        dst.next_number += 1;
        let new_number = issue.number;
        dst.issues.push(issue);
        gh.transferred
            .insert((from_key, number), (to_key, new_number));
        new_number
    }

    /// The issues of `repo`, by number.
    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        let gh = self.gh();
        let Some(r) = gh.repos.get(&repo.to_ascii_lowercase()) else {
            return Vec::new();
        };
        let mut out: Vec<Issue> = r
            .issues
            .iter()
            .map(|i| Issue {
                number: i.number,
                title: i.title.clone(),
                body: i.body.clone().unwrap_or_default(),
                state: i.state.clone(),
                state_reason: i.state_reason.clone(),
                labels: i.labels.clone(),
                comments: i
                    .comments
                    .iter()
                    .map(|c| Comment {
                        body: c.body.clone(),
                        user: c.user.login.clone(),
                    })
                    .collect(),
                user: i.user.login.clone(),
                closed_by: i.closed_by.as_ref().map(|a| a.login.clone()),
            })
            .collect();
        out.sort_by_key(|i| i.number);
        out
    }

    /// The label names of `repo`, in creation order.
    pub fn labels(&self, repo: &str) -> Vec<String> {
        self.gh()
            .repos
            .get(&repo.to_ascii_lowercase())
            .map(|r| r.labels.iter().map(|l| l.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Closes the issue as the human `login` would in the web UI (state_reason `completed`) and
    /// returns the `issues` webhook event body GitHub would send.
    ///
    /// # Panics
    /// If the repository or issue does not exist.
    pub fn close_issue_as(&self, repo: &str, number: u64, login: &str) -> Value {
        self.act_as(repo, number, login, true)
    }

    /// Reopens the issue as the human `login` would (state_reason `reopened`) and returns the
    /// `issues` webhook event body.
    ///
    /// # Panics
    /// If the repository or issue does not exist.
    pub fn reopen_issue_as(&self, repo: &str, number: u64, login: &str) -> Value {
        self.act_as(repo, number, login, false)
    }

    fn act_as(&self, repo: &str, number: u64, login: &str, close: bool) -> Value {
        let base = &self.inner.shared.base;
        let mut gh = self.gh();
        let sender = gh.actor(login, false);
        let owner_login = repo.split('/').next().unwrap_or(repo).to_string();
        let owner = gh.actor(&owner_login, false);
        let now = gh.now();
        let r = gh
            .repos
            .get_mut(&repo.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("FakeGitHub: no repository {repo}"));
        let issue = r
            .issue_mut(number)
            .unwrap_or_else(|| panic!("FakeGitHub: no issue {repo}#{number}"));
        if close {
            handlers::close(issue, Some("completed"), &sender, now);
        } else {
            handlers::reopen(issue, now);
        }
        let Some(issue) = r.issue(number) else {
            unreachable!("just changed it")
        };
        json!({
            "action": if close { "closed" } else { "reopened" },
            "issue": render::issue(base, r, issue),
            "repository": render::repository(base, r, owner.id),
            "sender": render::user(base, &sender),
        })
    }
}

crate::impl_common!(FakeGitHub);

/// The `X-Hub-Signature-256` value for a webhook `body`: `sha256=<hex hmac-sha256>`.
pub fn sign_webhook(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Gate: headers every request needs, and the headers every response carries
// ---------------------------------------------------------------------------------------------

/// Paths that take an app JWT rather than a token.
fn is_app_path(path: &str) -> bool {
    path.starts_with("/app/") || path == "/app" || path.ends_with("/installation")
}

fn looks_like_jwt(t: &str) -> bool {
    t.starts_with("eyJ") && t.split('.').count() == 3
}

/// The credential string of the `Authorization` header: `Ok(None)` when absent,
/// `Err(())` when present but not `Bearer`/`token`.
fn credential(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| ())?.trim();
    let (scheme, rest) = v.split_once(' ').ok_or(())?;
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        let t = rest.trim();
        if t.is_empty() {
            Err(())
        } else {
            Ok(Some(t.to_string()))
        }
    } else {
        Err(())
    }
}

fn api_version(headers: &HeaderMap) -> Result<&'static str, String> {
    match headers.get("x-github-api-version") {
        None => Ok(DEFAULT_VERSION),
        Some(v) => {
            let v = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
            API_VERSIONS
                .iter()
                .find(|known| **known == v)
                .copied()
                .ok_or(v)
        }
    }
}

/// The version the request asked for (for handlers whose output depends on it).
#[derive(Debug, Clone, Copy)]
struct ApiVersion(&'static str);

fn set_header(h: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        h.insert(HeaderName::from_static(name), v);
    }
}

fn rate_headers(h: &mut HeaderMap, b: &Bucket, res: Resource) {
    set_header(h, "x-ratelimit-limit", b.limit.to_string());
    set_header(h, "x-ratelimit-remaining", b.remaining().to_string());
    set_header(h, "x-ratelimit-used", b.used.to_string());
    set_header(h, "x-ratelimit-reset", b.reset.to_string());
    set_header(h, "x-ratelimit-resource", res.name().to_string());
}

fn request_id(shared: &Shared) -> String {
    let n = shared.next_id();
    format!("FA4E:{:X}:{:X}:{:X}", n, n * 31 + 7, n * 977 + 13)
}

fn common_headers(shared: &Shared, h: &mut HeaderMap, version: &str) {
    set_header(h, "x-github-api-version-selected", version.to_string());
    set_header(h, "x-github-media-type", "github.v3; format=json".into());
    set_header(h, "x-github-request-id", request_id(shared));
}

const UA_MESSAGE: &str = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.";
const PRIMARY_MESSAGE: &str = "API rate limit exceeded for user ID 1.";
const PRIMARY_DOC: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits";
const SECONDARY_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID FA4E:0:0:0.";
const SECONDARY_DOC: &str = "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

/// Checks user agent, API version and credentials, counts the request against its rate-limit
/// bucket, and adds the `x-ratelimit-*` / `x-github-*` headers to the response.
async fn gate(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with("/_fake/") {
        return next.run(req).await;
    }
    let res = Resource::of(&path);
    let counts = path != "/rate_limit";
    let headers = req.headers();
    let ua_ok = headers
        .get(header::USER_AGENT)
        .is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace));
    let version = api_version(headers);
    let cred_str = credential(headers);
    let is_write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);

    // Decide under the lock; build the early answer (if any) with its rate headers.
    let (early, bucket, auth) = {
        let mut gh = lock(&shared.gh);
        let now = gh.now();
        let auth: Result<Auth, &'static str> = match &cred_str {
            Err(()) => Err("Bad credentials"),
            Ok(None) => Ok(Auth::Anonymous),
            Ok(Some(t)) if looks_like_jwt(t) => Ok(Auth::Jwt(t.clone())),
            Ok(Some(t)) => match gh.creds.get(t) {
                Some(c) if c.expires_at.is_none_or(|e| e > now) => Ok(Auth::Token {
                    key: t.clone(),
                    cred: c.clone(),
                }),
                _ => Err("Bad credentials"),
            },
        };
        let (key, anonymous) = match (&cred_str, &auth) {
            (Ok(Some(t)), Ok(_)) => (t.clone(), false),
            _ => ("anonymous".to_string(), true),
        };
        let early = if !ua_ok {
            Some(ua_forbidden())
        } else if let Err(v) = &version {
            Some(render::error(
                400,
                &format!(
                    "Unsupported 'X-GitHub-Api-Version' header '{v}'. Supported versions: {}.",
                    API_VERSIONS.join(", ")
                ),
                "https://docs.github.com/rest/about-the-rest-api/api-versions",
            ))
        } else {
            match &auth {
                Err(m) => Some(render::error(401, m, render::DOC_ROOT)),
                Ok(a) if is_app_path(&path) && !matches!(a, Auth::Jwt(_)) => Some(render::error(
                    401,
                    "A JSON web token could not be decoded",
                    render::DOC_ROOT,
                )),
                Ok(Auth::Jwt(_)) if !is_app_path(&path) => Some(render::error(
                    403,
                    "Resource not accessible by integration",
                    render::DOC_ROOT,
                )),
                Ok(Auth::Anonymous) if is_write => Some(render::error(
                    401,
                    "Requires authentication",
                    render::DOC_ROOT,
                )),
                Ok(_) => None,
            }
        };
        let bucket = gh.bucket(&key, res, anonymous);
        let early = match early {
            Some(e) => Some(e),
            None if counts && bucket.remaining() == 0 => {
                Some(render::error(403, PRIMARY_MESSAGE, PRIMARY_DOC))
            }
            None => {
                if counts {
                    bucket.used += 1;
                }
                None
            }
        };
        (early, bucket.clone(), auth)
    };
    let version = version.unwrap_or(DEFAULT_VERSION);
    let mut resp = match (early, auth) {
        (Some(e), _) => e,
        (None, Ok(auth)) => {
            req.extensions_mut().insert(auth);
            req.extensions_mut().insert(ApiVersion(version));
            next.run(req).await
        }
        (None, Err(_)) => unreachable!("a credential error always answers early"),
    };
    rate_headers(resp.headers_mut(), &bucket, res);
    common_headers(&shared, resp.headers_mut(), version);
    resp
}

fn ua_forbidden() -> Response {
    let mut resp = axum::response::IntoResponse::into_response((
        axum::http::StatusCode::FORBIDDEN,
        format!("{UA_MESSAGE}\n"),
    ));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// GitHub-shaped answers for injected faults.
fn fault_response(shared: &Shared, kind: &FaultKind, parts: &Parts) -> Response {
    let res = Resource::of(parts.uri.path());
    let version = api_version(&parts.headers).unwrap_or(DEFAULT_VERSION);
    let snapshot = |primary_exhausted: Option<Duration>| {
        let mut gh = lock(&shared.gh);
        let now = gh.now().timestamp();
        let key = match credential(&parts.headers) {
            Ok(Some(t)) if gh.creds.contains_key(&t) => t,
            _ => "anonymous".to_string(),
        };
        let anonymous = key == "anonymous";
        let mut b = gh.bucket(&key, res, anonymous).clone();
        if let Some(reset_in) = primary_exhausted {
            b.used = b.limit;
            b.reset = now + (reset_in.as_secs_f64().ceil() as i64).max(1);
        }
        b
    };
    let mut resp = match kind {
        FaultKind::PrimaryLimit { status, reset_in } => {
            let mut r = render::error(*status, PRIMARY_MESSAGE, PRIMARY_DOC);
            rate_headers(r.headers_mut(), &snapshot(Some(*reset_in)), res);
            r
        }
        FaultKind::SecondaryLimit {
            status,
            retry_after,
        } => {
            return secondary(*status, *retry_after, shared);
        }
        FaultKind::RateLimited { retry_after } => return secondary(429, *retry_after, shared),
        FaultKind::Status(s) => {
            let mut r = match s {
                503 => render::json_response(
                    503,
                    &json!({"code": "service_unavailable", "message": "Service Unavailable",
                            "documentation_url": render::DOC_ROOT}),
                ),
                500..=599 => render::error(*s, "Server Error", render::DOC_ROOT),
                _ => render::error(*s, status_message(*s), render::DOC_ROOT),
            };
            rate_headers(r.headers_mut(), &snapshot(None), res);
            r
        }
        // Delay, Hang and Reset never reach the responder.
        FaultKind::Delay(_) | FaultKind::Hang | FaultKind::Reset => {
            render::error(500, "Server Error", render::DOC_ROOT)
        }
    };
    common_headers(shared, resp.headers_mut(), version);
    resp
}

fn secondary(status: u16, retry_after: Option<u64>, shared: &Shared) -> Response {
    let mut r = render::json_response(
        status,
        &json!({"documentation_url": SECONDARY_DOC, "message": SECONDARY_MESSAGE}),
    );
    if let Some(s) = retry_after {
        set_header(r.headers_mut(), "retry-after", s.to_string());
    }
    set_header(r.headers_mut(), "x-github-request-id", request_id(shared));
    r
}

fn status_message(s: u16) -> &'static str {
    match s {
        400 => "Problems parsing JSON",
        401 => "Bad credentials",
        403 => "Resource not accessible by integration",
        404 => "Not Found",
        409 => "Conflict",
        410 => "Issues are disabled for this repo",
        422 => "Validation Failed",
        429 => "Too Many Requests",
        _ => "Error",
    }
}
