//! The fake GitHub's endpoint handlers: issues, comments, labels, rate limit, app installation tokens.
//! Every handler validates its input and answers with GitHub's own error shapes; none may panic on input.

use super::render::{self, json_response, not_found, validation_failed, verr};
use super::{app, search, Actor, ApiVersion, Auth, Cred, Gh, IssueRec, LabelRec, Repo, Shared};
use crate::server::{encode_segment, lock, query_pairs};
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use base64::Engine;
use chrono::{DateTime, NaiveDate, Utc};
use rand::distr::Alphanumeric;
use rand::Rng;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

type R = Result<Response, Response>;
type PathArgs = Result<Path<HashMap<String, String>>, PathRejection>;

const DOC_CREATE: &str = "https://docs.github.com/rest/issues/issues#create-an-issue";
const DOC_UPDATE: &str = "https://docs.github.com/rest/issues/issues#update-an-issue";
const DOC_GET: &str = "https://docs.github.com/rest/issues/issues#get-an-issue";
const DOC_LIST: &str = "https://docs.github.com/rest/issues/issues#list-repository-issues";
const DOC_COMMENT: &str = "https://docs.github.com/rest/issues/comments#create-an-issue-comment";
const DOC_LABEL: &str = "https://docs.github.com/rest/issues/labels#create-a-label";
const DOC_ADD_LABELS: &str = "https://docs.github.com/rest/issues/labels#add-labels-to-an-issue";
const DOC_TOKEN: &str =
    "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app";

pub(super) const MAX_BODY_CHARS: usize = 65536;

pub(super) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/repos/{owner}/{repo}/issues",
            get(list_issues).post(create_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}",
            get(get_issue).patch(update_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            get(issue_labels).post(add_labels).put(set_labels),
        )
        .route(
            "/repos/{owner}/{repo}/labels",
            get(list_labels).post(create_label),
        )
        .route("/repos/{owner}/{repo}/labels/{name}", get(get_label))
        .route("/repos/{owner}/{repo}/installation", get(get_installation))
        .route(
            "/app/installations/{id}/access_tokens",
            axum::routing::post(create_token),
        )
        .route("/search/issues", get(search_issues))
        .route("/rate_limit", get(rate_limit))
        .route("/_fake/state", get(fake_state))
        .fallback(fallback)
        .method_not_allowed_fallback(fallback)
        .with_state(shared)
}

async fn fallback() -> Response {
    not_found()
}

fn done(r: R) -> Response {
    r.unwrap_or_else(|e| e)
}

fn arg<'a>(p: &'a HashMap<String, String>, k: &str) -> &'a str {
    p.get(k).map(String::as_str).unwrap_or("")
}

fn with_location(mut resp: Response, location: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn parse_object(body: &Bytes, doc: &str) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(render::not_object(doc)),
        Err(_) => Err(render::bad_json(doc)),
    }
}

fn actor_of(gh: &mut Gh, auth: &Auth) -> Result<Actor, Response> {
    match auth {
        Auth::Token { cred, .. } => Ok(gh.actor(&cred.login, cred.bot)),
        _ => Err(render::error(
            401,
            "Requires authentication",
            render::DOC_ROOT,
        )),
    }
}

/// The repository key, or 404.
fn repo_key(gh: &Gh, p: &HashMap<String, String>, auth: &Auth) -> Result<String, Response> {
    gh.repo_key(arg(p, "owner"), arg(p, "repo"), auth)
        .ok_or_else(not_found)
}

fn repo_mut<'a>(gh: &'a mut Gh, key: &str) -> Result<&'a mut Repo, Response> {
    gh.repos.get_mut(key).ok_or_else(not_found)
}

fn disabled() -> Response {
    render::error(
        410,
        "Issues are disabled for this repo",
        "https://docs.github.com/v3/issues/",
    )
}

/// Checks the issue exists (or answers 301 if it was transferred, 404 otherwise).
fn issue_number(
    gh: &Gh,
    base: &str,
    key: &str,
    p: &HashMap<String, String>,
) -> Result<u64, Response> {
    let n: u64 = arg(p, "number").parse().map_err(|_| not_found())?;
    let repo = gh.repos.get(key).ok_or_else(not_found)?;
    if repo.issues_disabled {
        return Err(disabled());
    }
    if repo.issue(n).is_some() {
        return Ok(n);
    }
    if let Some((to, m)) = gh.transferred.get(&(key.to_string(), n)) {
        if let Some(dst) = gh.repos.get(to) {
            let url = format!("{}/issues/{m}", render::repo_api_url(base, dst));
            let resp = json_response(
                301,
                &json!({"message": "Moved Permanently", "url": url, "documentation_url": DOC_GET}),
            );
            return Err(with_location(resp, &url));
        }
    }
    Err(not_found())
}

// ---------------------------------------------------------------------------------------------
// Input parsing
// ---------------------------------------------------------------------------------------------

fn parse_title(v: Option<&Value>, doc: &str) -> Result<String, Response> {
    let title = match v {
        None | Some(Value::Null) => {
            return Err(json_response(
                422,
                &json!({"message": "Invalid request.\n\n\"title\" wasn't supplied.",
                        "documentation_url": doc, "status": "422"}),
            ))
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(render::invalid_request(
                &format!("For 'properties/title', {other} is not a string or an integer."),
                doc,
            ))
        }
    };
    if title.trim().is_empty() {
        return Err(validation_failed(
            json!([verr("Issue", "title", "missing_field", None)]),
            doc,
        ));
    }
    if title.chars().count() > 256 {
        return Err(validation_failed(
            json!([verr(
                "Issue",
                "title",
                "custom",
                Some("title is too long (maximum is 256 characters)")
            )]),
            doc,
        ));
    }
    Ok(title)
}

fn too_long_body(resource: &str, doc: &str) -> Response {
    validation_failed(
        json!([verr(
            resource,
            "body",
            "custom",
            Some("body is too long (maximum is 65536 characters)")
        )]),
        doc,
    )
}

fn parse_body(v: Option<&Value>, resource: &str, doc: &str) -> Result<Option<String>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > MAX_BODY_CHARS => {
            Err(too_long_body(resource, doc))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(render::invalid_request(
            &format!("For 'properties/body', {other} is not a string or null."),
            doc,
        )),
    }
}

/// Label names from `["a", {"name": "b"}]`; each at most 50 characters.
fn parse_label_names(v: &Value, doc: &str) -> Result<Vec<String>, Response> {
    let Value::Array(items) = v else {
        return Err(render::invalid_request(
            &format!("For 'properties/labels', {v} is not an array."),
            doc,
        ));
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let name = match item {
            Value::String(s) => s.clone(),
            Value::Object(o) => match o.get("name") {
                Some(Value::String(s)) => s.clone(),
                _ => {
                    return Err(render::invalid_request(
                        &format!("For 'items', {item} is not a string or an object with a name."),
                        doc,
                    ))
                }
            },
            other => {
                return Err(render::invalid_request(
                    &format!("For 'items', {other} is not a string."),
                    doc,
                ))
            }
        };
        let name = name.trim().to_string();
        if name.is_empty() {
            continue;
        }
        if name.chars().count() > 50 {
            return Err(validation_failed(
                json!([verr(
                    "Label",
                    "name",
                    "custom",
                    Some("name is too long (maximum is 50 characters)")
                )]),
                doc,
            ));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    Ok(out)
}

fn parse_logins(v: &Value, doc: &str) -> Result<Vec<String>, Response> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(render::invalid_request(
                    &format!("For 'items', {other} is not a string."),
                    doc,
                )),
            })
            .collect(),
        other => Err(render::invalid_request(
            &format!("For 'properties/assignees', {other} is not an array."),
            doc,
        )),
    }
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn get_q<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

fn cursor_for(page: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("cursor:v2:page:{page}"))
}

fn page_of_cursor(c: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.trim_end_matches('='))
        .ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("cursor:v2:page:")?
        .parse()
        .ok()
}

/// One page of `items` and its `Link` header value (none when everything fits on page 1).
pub(super) struct Paged {
    pub(super) items: Vec<Value>,
    pub(super) link: Option<String>,
}

pub(super) fn paginate(
    items: Vec<Value>,
    q: &[(String, String)],
    base: &str,
    path: &str,
    cursor_links: bool,
) -> Paged {
    let per_page = get_q(q, "per_page")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(30)
        .min(100);
    let page = get_q(q, "after")
        .and_then(page_of_cursor)
        .or_else(|| get_q(q, "page").and_then(|v| v.parse::<u64>().ok()))
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let total = items.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let start = ((page - 1).saturating_mul(per_page)).min(total) as usize;
    let end = (start as u64 + per_page).min(total) as usize;
    let page_items = items[start..end].to_vec();
    let link = (last > 1 || page > 1).then(|| {
        let keep: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k != "page" && k != "after")
            .cloned()
            .collect();
        let url = |n: u64| {
            let mut pairs = keep.clone();
            if cursor_links {
                pairs.push(("after".into(), cursor_for(n)));
            }
            pairs.push(("page".into(), n.to_string()));
            let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
            format!("<{base}{path}?{qs}>")
        };
        let mut parts = Vec::new();
        if page > 1 {
            parts.push(format!("{}; rel=\"prev\"", url(page - 1)));
        }
        if page < last {
            parts.push(format!("{}; rel=\"next\"", url(page + 1)));
            if !cursor_links {
                parts.push(format!("{}; rel=\"last\"", url(last)));
            }
        }
        if page > 1 {
            parts.push(format!("{}; rel=\"first\"", url(1)));
        }
        parts.join(", ")
    });
    Paged {
        items: page_items,
        link: link.filter(|l| !l.is_empty()),
    }
}

fn paged_response(p: Paged) -> Response {
    let resp = json_response(200, &Value::Array(p.items));
    match p.link {
        Some(l) => {
            let mut resp = resp;
            if let Ok(v) = HeaderValue::from_str(&l) {
                resp.headers_mut().insert(header::LINK, v);
            }
            resp
        }
        None => resp,
    }
}

// ---------------------------------------------------------------------------------------------
// State changes shared with the "act as a person" helpers
// ---------------------------------------------------------------------------------------------

pub(super) fn close(issue: &mut IssueRec, reason: Option<&str>, by: &Actor, now: DateTime<Utc>) {
    issue.state = "closed".into();
    issue.state_reason = Some(reason.unwrap_or("completed").to_string());
    issue.closed_at = Some(now);
    issue.closed_by = Some(by.clone());
    issue.updated_at = now;
}

pub(super) fn reopen(issue: &mut IssueRec, now: DateTime<Utc>) {
    issue.state = "open".into();
    issue.state_reason = Some("reopened".into());
    issue.closed_at = None;
    issue.closed_by = None;
    issue.updated_at = now;
}

// ---------------------------------------------------------------------------------------------
// Issues
// ---------------------------------------------------------------------------------------------

async fn create_issue(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let mut gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let actor = actor_of(&mut gh, &auth)?;
        let now = gh.now();
        if repo_mut(&mut gh, &key)?.issues_disabled {
            return Err(disabled());
        }
        let obj = parse_object(&body, DOC_CREATE)?;
        let title = parse_title(obj.get("title"), DOC_CREATE)?;
        let text = parse_body(obj.get("body"), "Issue", DOC_CREATE)?;
        let labels = match obj.get("labels") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => parse_label_names(v, DOC_CREATE)?,
        };
        let mut logins = match obj.get("assignees") {
            None => Vec::new(),
            Some(v) => parse_logins(v, DOC_CREATE)?,
        };
        if let Some(Value::String(a)) = obj.get("assignee") {
            logins.insert(0, a.clone());
        }
        let assignees: Vec<Actor> = logins.iter().map(|l| gh.actor(l, false)).collect();
        let repo = repo_mut(&mut gh, &key)?;
        let labels = labels
            .iter()
            .map(|l| repo.ensure_label(l, &sh.ids))
            .collect();
        let number = repo.next_number;
        repo.next_number += 1;
        repo.issues.push(IssueRec {
            id: sh.next_id(),
            number,
            title,
            body: text,
            state: "open".into(),
            state_reason: None,
            labels,
            assignees,
            user: actor,
            comments: Vec::new(),
            closed_at: None,
            closed_by: None,
            created_at: now,
            updated_at: now,
        });
        let issue = repo.issue(number).ok_or_else(not_found)?;
        let v = render::issue(&sh.base, repo, issue);
        let location = format!("{}/issues/{number}", render::repo_api_url(&sh.base, repo));
        Ok(with_location(json_response(201, &v), &location))
    })())
}

async fn get_issue(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let n = issue_number(&gh, &sh.base, &key, &p)?;
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let issue = repo.issue(n).ok_or_else(not_found)?;
        Ok(json_response(200, &render::issue(&sh.base, repo, issue)))
    })())
}

async fn update_issue(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let mut gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let n = issue_number(&gh, &sh.base, &key, &p)?;
        let actor = actor_of(&mut gh, &auth)?;
        let now = gh.now();
        let obj = parse_object(&body, DOC_UPDATE)?;

        // Validate everything before changing anything.
        let title = match obj.get("title") {
            None => None,
            Some(v) => Some(parse_title(Some(v), DOC_UPDATE)?),
        };
        let text = match obj.get("body") {
            None => None,
            Some(v) => Some(parse_body(Some(v), "Issue", DOC_UPDATE)?),
        };
        let state = match obj.get("state") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s == "open" || s == "closed" => Some(s.clone()),
            Some(_) => {
                return Err(validation_failed(
                    json!([verr("Issue", "state", "invalid", None)]),
                    DOC_UPDATE,
                ))
            }
        };
        let reason = match obj.get("state_reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if ["completed", "not_planned", "duplicate", "reopened"].contains(&s.as_str()) =>
            {
                Some(s.clone())
            }
            Some(_) => {
                return Err(validation_failed(
                    json!([verr("Issue", "state_reason", "invalid", None)]),
                    DOC_UPDATE,
                ))
            }
        };
        if state.as_deref() == Some("closed") && reason.as_deref() == Some("reopened") {
            return Err(validation_failed(
                json!([verr(
                    "Issue",
                    "state_reason",
                    "invalid",
                    Some("state_reason 'reopened' needs state 'open'")
                )]),
                DOC_UPDATE,
            ));
        }
        let labels = match obj.get("labels") {
            None => None,
            Some(Value::Null) => Some(Vec::new()),
            Some(v) => Some(parse_label_names(v, DOC_UPDATE)?),
        };
        let assignees = match obj.get("assignees") {
            None => None,
            Some(v) => Some(
                parse_logins(v, DOC_UPDATE)?
                    .iter()
                    .map(|l| gh.actor(l, false))
                    .collect::<Vec<_>>(),
            ),
        };

        let repo = repo_mut(&mut gh, &key)?;
        let labels: Option<Vec<String>> =
            labels.map(|ls| ls.iter().map(|l| repo.ensure_label(l, &sh.ids)).collect());
        let issue = repo.issue_mut(n).ok_or_else(not_found)?;
        let mut changed = false;
        if let Some(t) = title.filter(|t| *t != issue.title) {
            issue.title = t;
            changed = true;
        }
        if let Some(b) = text.filter(|b| *b != issue.body) {
            issue.body = b;
            changed = true;
        }
        if let Some(ls) = labels.filter(|ls| *ls != issue.labels) {
            issue.labels = ls;
            changed = true;
        }
        if let Some(a) = assignees.filter(|a| *a != issue.assignees) {
            issue.assignees = a;
            changed = true;
        }
        // state_reason is ignored unless the state changes (§3.2).
        match state.as_deref() {
            Some("closed") if issue.state != "closed" => {
                close(issue, reason.as_deref(), &actor, now);
            }
            Some("open") if issue.state != "open" => reopen(issue, now),
            _ => {}
        }
        if changed {
            issue.updated_at = now;
        }
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let issue = repo.issue(n).ok_or_else(not_found)?;
        Ok(json_response(200, &render::issue(&sh.base, repo, issue)))
    })())
}

/// Whether `issue` passes the list filters.
struct ListFilter {
    state: String,
    labels: Vec<String>,
    creator: Option<String>,
    assignee: Option<String>,
    milestone: Option<String>,
    since: Option<DateTime<Utc>>,
}

impl ListFilter {
    fn parse(q: &[(String, String)]) -> Result<Self, Response> {
        let bad = |field: &str| {
            validation_failed(json!([verr("Issue", field, "invalid", None)]), DOC_LIST)
        };
        let state = get_q(q, "state").unwrap_or("open").to_string();
        if !["open", "closed", "all"].contains(&state.as_str()) {
            return Err(bad("state"));
        }
        let since = match get_q(q, "since") {
            None | Some("") => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| bad("since"))?),
        };
        Ok(ListFilter {
            state,
            labels: get_q(q, "labels")
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            creator: get_q(q, "creator").map(str::to_string),
            assignee: get_q(q, "assignee").map(str::to_string),
            milestone: get_q(q, "milestone").map(str::to_string),
            since,
        })
    }

    fn keeps(&self, i: &IssueRec) -> bool {
        (self.state == "all" || i.state == self.state)
            && self
                .labels
                .iter()
                .all(|l| i.labels.iter().any(|x| x.eq_ignore_ascii_case(l)))
            && self
                .creator
                .as_deref()
                .is_none_or(|c| i.user.login.eq_ignore_ascii_case(c))
            && match self.assignee.as_deref() {
                None => true,
                Some("none") => i.assignees.is_empty(),
                Some("*") => !i.assignees.is_empty(),
                Some(l) => i.assignees.iter().any(|a| a.login.eq_ignore_ascii_case(l)),
            }
            && match self.milestone.as_deref() {
                None | Some("none") => true,
                Some(_) => false, // the fake has no milestones
            }
            && self.since.is_none_or(|s| i.updated_at > s)
    }
}

/// Sorts by `sort` (created|updated|comments) and `direction` (desc by default).
fn sort_issues(
    issues: &mut [&IssueRec],
    q: &[(String, String)],
    doc: &str,
) -> Result<(), Response> {
    let asc = match get_q(q, "direction").unwrap_or("desc") {
        "asc" => true,
        "desc" => false,
        _ => {
            return Err(validation_failed(
                json!([verr("Issue", "direction", "invalid", None)]),
                doc,
            ))
        }
    };
    match get_q(q, "sort").unwrap_or("created") {
        "created" => issues.sort_by_key(|i| (i.created_at, i.id)),
        "updated" => issues.sort_by_key(|i| (i.updated_at, i.id)),
        "comments" => issues.sort_by_key(|i| (i.comments.len(), i.id)),
        _ => {
            return Err(validation_failed(
                json!([verr("Issue", "sort", "invalid", None)]),
                doc,
            ))
        }
    }
    if !asc {
        issues.reverse();
    }
    Ok(())
}

async fn list_issues(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    RawQuery(query): RawQuery,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let q = query_pairs(query.as_deref());
        let gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        if repo.issues_disabled {
            return Err(disabled());
        }
        let filter = ListFilter::parse(&q)?;
        let mut issues: Vec<&IssueRec> = repo.issues.iter().filter(|i| filter.keeps(i)).collect();
        sort_issues(&mut issues, &q, DOC_LIST)?;
        let items = issues
            .iter()
            .map(|i| render::issue(&sh.base, repo, i))
            .collect();
        let path = format!("/repos/{}/{}/issues", repo.owner, repo.name);
        Ok(paged_response(paginate(
            items,
            &q,
            &sh.base,
            &path,
            gh.cursor_links,
        )))
    })())
}

// ---------------------------------------------------------------------------------------------
// Comments
// ---------------------------------------------------------------------------------------------

async fn create_comment(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let mut gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let n = issue_number(&gh, &sh.base, &key, &p)?;
        let actor = actor_of(&mut gh, &auth)?;
        let now = gh.now();
        let obj = parse_object(&body, DOC_COMMENT)?;
        let text = match obj.get("body") {
            None | Some(Value::Null) => {
                return Err(render::invalid_request(
                    "\"body\" wasn't supplied.",
                    DOC_COMMENT,
                ))
            }
            Some(v) => parse_body(Some(v), "IssueComment", DOC_COMMENT)?.unwrap_or_default(),
        };
        if text.trim().is_empty() {
            return Err(validation_failed(
                json!([verr("IssueComment", "body", "missing_field", None)]),
                DOC_COMMENT,
            ));
        }
        let id = sh.next_id();
        let repo = repo_mut(&mut gh, &key)?;
        let issue = repo.issue_mut(n).ok_or_else(not_found)?;
        issue.comments.push(super::CommentRec {
            id,
            body: text,
            user: actor,
            created_at: now,
            updated_at: now,
        });
        issue.updated_at = now;
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let issue = repo.issue(n).ok_or_else(not_found)?;
        let c = issue.comments.last().ok_or_else(not_found)?;
        let v = render::comment(&sh.base, repo, n, c);
        let location = format!(
            "{}/issues/comments/{id}",
            render::repo_api_url(&sh.base, repo)
        );
        Ok(with_location(json_response(201, &v), &location))
    })())
}

async fn list_comments(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    RawQuery(query): RawQuery,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let q = query_pairs(query.as_deref());
        let gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let n = issue_number(&gh, &sh.base, &key, &p)?;
        let since = match get_q(&q, "since") {
            None | Some("") => None,
            Some(s) => Some(parse_time(s).ok_or_else(|| {
                validation_failed(
                    json!([verr("IssueComment", "since", "invalid", None)]),
                    DOC_COMMENT,
                )
            })?),
        };
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let issue = repo.issue(n).ok_or_else(not_found)?;
        let items = issue
            .comments
            .iter()
            .filter(|c| since.is_none_or(|s| c.updated_at > s))
            .map(|c| render::comment(&sh.base, repo, n, c))
            .collect();
        let path = format!("/repos/{}/{}/issues/{n}/comments", repo.owner, repo.name);
        Ok(paged_response(paginate(
            items,
            &q,
            &sh.base,
            &path,
            gh.cursor_links,
        )))
    })())
}

// ---------------------------------------------------------------------------------------------
// Labels
// ---------------------------------------------------------------------------------------------

fn labels_json(base: &str, repo: &Repo, names: &[String]) -> Value {
    Value::Array(
        names
            .iter()
            .filter_map(|n| repo.find_label(n))
            .map(|l| render::label(base, repo, l))
            .collect(),
    )
}

/// `{"labels": [...]}` or a bare array.
fn label_list_body(body: &Bytes, allow_empty: bool) -> Result<Vec<String>, Response> {
    let v: Value = serde_json::from_slice(body).map_err(|_| render::bad_json(DOC_ADD_LABELS))?;
    let list = match &v {
        Value::Array(_) => v.clone(),
        Value::Object(o) => o.get("labels").cloned().unwrap_or(Value::Null),
        _ => return Err(render::not_object(DOC_ADD_LABELS)),
    };
    if list.is_null() {
        return Err(render::invalid_request(
            "\"labels\" wasn't supplied.",
            DOC_ADD_LABELS,
        ));
    }
    let names = parse_label_names(&list, DOC_ADD_LABELS)?;
    if names.is_empty() && !allow_empty {
        return Err(render::invalid_request(
            "For 'properties/labels', [] has fewer items than 1.",
            DOC_ADD_LABELS,
        ));
    }
    Ok(names)
}

async fn issue_labels(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let n = issue_number(&gh, &sh.base, &key, &p)?;
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let issue = repo.issue(n).ok_or_else(not_found)?;
        Ok(json_response(
            200,
            &labels_json(&sh.base, repo, &issue.labels),
        ))
    })())
}

async fn change_labels(
    sh: Arc<Shared>,
    auth: Auth,
    path: PathArgs,
    body: Bytes,
    replace: bool,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let mut gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let n = issue_number(&gh, &sh.base, &key, &p)?;
        actor_of(&mut gh, &auth)?;
        let now = gh.now();
        let names = label_list_body(&body, replace)?;
        let repo = repo_mut(&mut gh, &key)?;
        let names: Vec<String> = names
            .iter()
            .map(|l| repo.ensure_label(l, &sh.ids))
            .collect();
        let issue = repo.issue_mut(n).ok_or_else(not_found)?;
        let before = issue.labels.clone();
        if replace {
            issue.labels = names;
        } else {
            for name in names {
                if !issue.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
                    issue.labels.push(name);
                }
            }
        }
        if issue.labels != before {
            issue.updated_at = now;
        }
        let labels = issue.labels.clone();
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        Ok(json_response(200, &labels_json(&sh.base, repo, &labels)))
    })())
}

async fn add_labels(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    change_labels(sh, auth, path, body, false).await
}

async fn set_labels(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    change_labels(sh, auth, path, body, true).await
}

async fn list_labels(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    RawQuery(query): RawQuery,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let q = query_pairs(query.as_deref());
        let gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let items = repo
            .labels
            .iter()
            .map(|l| render::label(&sh.base, repo, l))
            .collect();
        let path = format!("/repos/{}/{}/labels", repo.owner, repo.name);
        Ok(paged_response(paginate(
            items,
            &q,
            &sh.base,
            &path,
            gh.cursor_links,
        )))
    })())
}

async fn create_label(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let mut gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        actor_of(&mut gh, &auth)?;
        let obj = parse_object(&body, DOC_LABEL)?;
        let name = match obj.get("name") {
            None | Some(Value::Null) => {
                return Err(render::invalid_request(
                    "\"name\" wasn't supplied.",
                    DOC_LABEL,
                ))
            }
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                return Err(render::invalid_request(
                    &format!("For 'properties/name', {other} is not a string."),
                    DOC_LABEL,
                ))
            }
        };
        if name.is_empty() {
            return Err(validation_failed(
                json!([verr("Label", "name", "missing_field", None)]),
                DOC_LABEL,
            ));
        }
        if name.chars().count() > 50 {
            return Err(validation_failed(
                json!([verr(
                    "Label",
                    "name",
                    "custom",
                    Some("name is too long (maximum is 50 characters)")
                )]),
                DOC_LABEL,
            ));
        }
        let color = match obj.get("color") {
            None | Some(Value::Null) => "ededed".to_string(),
            Some(Value::String(c))
                if c.len() == 6 && c.chars().all(|ch| ch.is_ascii_hexdigit()) =>
            {
                c.to_ascii_lowercase()
            }
            Some(_) => {
                return Err(validation_failed(
                    json!([verr("Label", "color", "invalid", None)]),
                    DOC_LABEL,
                ))
            }
        };
        let description = match obj.get("description") {
            None | Some(Value::Null) => None,
            Some(Value::String(d)) if d.chars().count() > 100 => {
                return Err(validation_failed(
                    json!([verr(
                        "Label",
                        "description",
                        "custom",
                        Some("description is too long (maximum is 100 characters)")
                    )]),
                    DOC_LABEL,
                ))
            }
            Some(Value::String(d)) => Some(d.clone()),
            Some(other) => {
                return Err(render::invalid_request(
                    &format!("For 'properties/description', {other} is not a string."),
                    DOC_LABEL,
                ))
            }
        };
        let repo = repo_mut(&mut gh, &key)?;
        if repo.find_label(&name).is_some() {
            return Err(json_response(
                422,
                &json!({"message": "Validation Failed",
                        "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}],
                        "documentation_url": DOC_LABEL, "status": "422"}),
            ));
        }
        let label = LabelRec {
            id: sh.next_id(),
            name,
            color,
            description,
            default: false,
        };
        let v = render::label(&sh.base, repo, &label);
        let location = format!(
            "{}/labels/{}",
            render::repo_api_url(&sh.base, repo),
            encode_segment(&label.name)
        );
        repo.labels.push(label);
        Ok(with_location(json_response(201, &v), &location))
    })())
}

async fn get_label(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let gh = lock(&sh.gh);
        let key = repo_key(&gh, &p, &auth)?;
        let repo = gh.repos.get(&key).ok_or_else(not_found)?;
        let label = repo.find_label(arg(&p, "name")).ok_or_else(not_found)?;
        Ok(json_response(200, &render::label(&sh.base, repo, label)))
    })())
}

// ---------------------------------------------------------------------------------------------
// Search, rate limit, apps, inspection
// ---------------------------------------------------------------------------------------------

async fn search_issues(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    RawQuery(query): RawQuery,
) -> Response {
    let q = query_pairs(query.as_deref());
    let gh = lock(&sh.gh);
    done(search::search(&gh, &sh.base, &auth, &q))
}

async fn rate_limit(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    Extension(version): Extension<ApiVersion>,
) -> Response {
    let mut gh = lock(&sh.gh);
    let (key, anonymous) = match &auth {
        Auth::Token { key, .. } => (key.clone(), false),
        _ => ("anonymous".to_string(), true),
    };
    let b = |gh: &mut Gh, res| {
        let b = gh.bucket(&key, res, anonymous);
        json!({"limit": b.limit, "used": b.used, "remaining": b.remaining(), "reset": b.reset})
    };
    let core = b(&mut gh, super::Resource::Core);
    let search = b(&mut gh, super::Resource::Search);
    let reset = core["reset"].clone();
    let mut body = json!({"resources": {
        "core": core,
        "search": search,
        "graphql": {"limit": 5000, "used": 0, "remaining": 5000, "reset": reset},
        "integration_manifest": {"limit": 5000, "used": 0, "remaining": 5000, "reset": reset},
        "code_search": {"limit": 10, "used": 0, "remaining": 10, "reset": reset},
    }});
    // 2026-03-10 dropped the top-level `rate`.
    if version.0 == "2022-11-28" {
        body["rate"] = body["resources"]["core"].clone();
    }
    json_response(200, &body)
}

fn installation_json(
    base: &str,
    app_id: u64,
    app: &super::App,
    owner: &str,
    owner_id: u64,
) -> Value {
    let id = app.installation_id;
    json!({
        "id": id,
        "account": render::user_like(base, owner, owner_id, "Organization"),
        "repository_selection": "selected",
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("{base}/organizations/{owner}/settings/installations/{id}"),
        "app_id": app_id,
        "client_id": format!("Iv1.fake{app_id:08}"),
        "target_id": owner_id,
        "target_type": "Organization",
        "permissions": {"issues": "write", "metadata": "read"},
        "events": ["issues", "issue_comment"],
        "created_at": render::ts(&app.created_at),
        "updated_at": render::ts(&app.created_at),
        "single_file_name": Value::Null,
        "has_multiple_single_files": false,
        "single_file_paths": [],
        "app_slug": "irene-app",
        "suspended_by": Value::Null,
        "suspended_at": Value::Null
    })
}

async fn get_installation(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let Auth::Jwt(jwt) = &auth else {
            return Err(render::error(
                401,
                "A JSON web token could not be decoded",
                render::DOC_ROOT,
            ));
        };
        let mut gh = lock(&sh.gh);
        let app_id = app::verify(&gh, jwt)?;
        let key = format!("{}/{}", arg(&p, "owner"), arg(&p, "repo")).to_ascii_lowercase();
        let owner = gh.repos.get(&key).ok_or_else(not_found)?.owner.clone();
        let owner_id = gh.actor(&owner, false).id;
        let app = gh.apps.get(&app_id).ok_or_else(not_found)?;
        if !app.repos.contains(&key) {
            return Err(not_found());
        }
        Ok(json_response(
            200,
            &installation_json(&sh.base, app_id, app, &owner, owner_id),
        ))
    })())
}

async fn create_token(
    State(sh): State<Arc<Shared>>,
    Extension(auth): Extension<Auth>,
    path: PathArgs,
    body: Bytes,
) -> Response {
    done((|| {
        let Ok(Path(p)) = path else {
            return Err(not_found());
        };
        let Auth::Jwt(jwt) = &auth else {
            return Err(render::error(
                401,
                "A JSON web token could not be decoded",
                render::DOC_ROOT,
            ));
        };
        let mut gh = lock(&sh.gh);
        let app_id = app::verify(&gh, jwt)?;
        let app = gh.apps.get(&app_id).ok_or_else(not_found)?;
        let id: u64 = arg(&p, "id").parse().map_err(|_| not_found())?;
        if id != app.installation_id {
            return Err(not_found());
        }
        let obj = if body.iter().all(u8::is_ascii_whitespace) {
            Map::new()
        } else {
            parse_object(&body, DOC_TOKEN)?
        };
        let inaccessible = || {
            validation_failed(
                json!([{"code": "custom", "message": "There is at least one repository that does not exist or is not accessible to the parent installation."}]),
                DOC_TOKEN,
            )
        };
        let mut repos: Vec<String> = Vec::new();
        if let Some(v) = obj.get("repositories").filter(|v| !v.is_null()) {
            let Value::Array(names) = v else {
                return Err(render::invalid_request(
                    "For 'properties/repositories', not an array.",
                    DOC_TOKEN,
                ));
            };
            for n in names {
                let n = n.as_str().ok_or_else(inaccessible)?.to_ascii_lowercase();
                let found = app
                    .repos
                    .iter()
                    .find(|k| k.split('/').nth(1) == Some(n.as_str()) || **k == n)
                    .ok_or_else(inaccessible)?;
                repos.push(found.clone());
            }
        }
        if let Some(v) = obj.get("repository_ids").filter(|v| !v.is_null()) {
            let Value::Array(ids) = v else {
                return Err(render::invalid_request(
                    "For 'properties/repository_ids', not an array.",
                    DOC_TOKEN,
                ));
            };
            for rid in ids {
                let rid = rid.as_u64().ok_or_else(inaccessible)?;
                let found = app
                    .repos
                    .iter()
                    .find(|k| gh.repos.get(*k).is_some_and(|r| r.id == rid))
                    .ok_or_else(inaccessible)?;
                repos.push(found.clone());
            }
        }
        if repos.is_empty() {
            repos = app.repos.clone();
        }
        let permissions = match obj.get("permissions") {
            Some(Value::Object(m)) => Value::Object(m.clone()),
            _ => json!({"issues": "write", "metadata": "read"}),
        };
        let token: String = format!(
            "ghs_{}",
            rand::rng()
                .sample_iter(&Alphanumeric)
                .take(36)
                .map(char::from)
                .collect::<String>()
        );
        let expires_at = gh.now() + chrono::Duration::hours(1);
        gh.creds.insert(
            token.clone(),
            Cred {
                login: super::APP_BOT_LOGIN.into(),
                bot: true,
                expires_at: Some(expires_at),
                repos: Some(repos),
            },
        );
        Ok(json_response(
            201,
            &json!({"token": token, "expires_at": render::ts(&expires_at),
                    "permissions": permissions, "repository_selection": "selected"}),
        ))
    })())
}

async fn fake_state(State(sh): State<Arc<Shared>>) -> Response {
    let gh = lock(&sh.gh);
    let repos: Map<String, Value> = gh
        .repos
        .values()
        .map(|r| {
            let issues: Vec<Value> = r
                .issues
                .iter()
                .map(|i| render::issue(&sh.base, r, i))
                .collect();
            let comments: Map<String, Value> = r
                .issues
                .iter()
                .map(|i| {
                    (
                        i.number.to_string(),
                        Value::Array(
                            i.comments
                                .iter()
                                .map(|c| render::comment(&sh.base, r, i.number, c))
                                .collect(),
                        ),
                    )
                })
                .collect();
            let labels: Vec<Value> = r
                .labels
                .iter()
                .map(|l| render::label(&sh.base, r, l))
                .collect();
            (
                r.full_name(),
                json!({"issues_disabled": r.issues_disabled, "issues": issues,
                       "comments": comments, "labels": labels}),
            )
        })
        .collect();
    json_response(200, &json!({"repos": repos}))
}
