//! JSON shapes of the fake GitHub: issue, label, comment, user, repository and error bodies.
//! Pure builders over the fake's records; they never change state or decide status codes.

use super::{Actor, CommentRec, IssueRec, LabelRec, Repo};
use crate::server::encode_segment;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub(super) const DOC_ROOT: &str = "https://docs.github.com/rest";

/// RFC 3339 UTC with second precision, as GitHub writes it.
pub(super) fn ts(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn opt_ts(t: &Option<DateTime<Utc>>) -> Value {
    t.as_ref().map_or(Value::Null, |t| Value::String(ts(t)))
}

/// Legacy global node id: base64 of `0<len>:<Kind><id>`, e.g. `MDU6SXNzdWUx` for Issue 1.
pub(super) fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

/// A `simple-user` with its 18 required fields.
pub(super) fn user(base: &str, a: &Actor) -> Value {
    let kind = if a.bot { "Bot" } else { "User" };
    user_like(base, &a.login, a.id, kind)
}

pub(super) fn user_like(base: &str, login: &str, id: u64, kind: &str) -> Value {
    let u = format!("{base}/users/{}", encode_segment(login));
    json!({
        "login": login,
        "id": id,
        "node_id": node_id(kind, id),
        "avatar_url": format!("{base}/avatars/u/{id}?v=4"),
        "gravatar_id": "",
        "url": u,
        "html_url": format!("{base}/{}", encode_segment(login)),
        "followers_url": format!("{u}/followers"),
        "following_url": format!("{u}/following{{/other_user}}"),
        "gists_url": format!("{u}/gists{{/gist_id}}"),
        "starred_url": format!("{u}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{u}/subscriptions"),
        "organizations_url": format!("{u}/orgs"),
        "repos_url": format!("{u}/repos"),
        "events_url": format!("{u}/events{{/privacy}}"),
        "received_events_url": format!("{u}/received_events"),
        "type": kind,
        "user_view_type": "public",
        "site_admin": false
    })
}

pub(super) fn repo_api_url(base: &str, repo: &Repo) -> String {
    format!("{base}/repos/{}/{}", repo.owner, repo.name)
}

pub(super) fn label(base: &str, repo: &Repo, l: &LabelRec) -> Value {
    json!({
        "id": l.id,
        "node_id": node_id("Label", l.id),
        "url": format!("{}/labels/{}", repo_api_url(base, repo), encode_segment(&l.name)),
        "name": l.name,
        "description": l.description,
        "color": l.color,
        "default": l.default
    })
}

pub(super) fn issue(base: &str, repo: &Repo, i: &IssueRec) -> Value {
    let repo_url = repo_api_url(base, repo);
    let url = format!("{repo_url}/issues/{}", i.number);
    let labels: Vec<Value> = i
        .labels
        .iter()
        .filter_map(|name| repo.find_label(name))
        .map(|l| label(base, repo, l))
        .collect();
    let assignees: Vec<Value> = i.assignees.iter().map(|a| user(base, a)).collect();
    json!({
        "url": url,
        "repository_url": repo_url,
        "labels_url": format!("{url}/labels{{/name}}"),
        "comments_url": format!("{url}/comments"),
        "events_url": format!("{url}/events"),
        "html_url": format!("{base}/{}/{}/issues/{}", repo.owner, repo.name, i.number),
        "id": i.id,
        "node_id": node_id("Issue", i.id),
        "number": i.number,
        "title": i.title,
        "user": user(base, &i.user),
        "labels": labels,
        "state": i.state,
        "locked": false,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "milestone": Value::Null,
        "comments": i.comments.len(),
        "created_at": ts(&i.created_at),
        "updated_at": ts(&i.updated_at),
        "closed_at": opt_ts(&i.closed_at),
        "author_association": "OWNER",
        "type": Value::Null,
        "active_lock_reason": Value::Null,
        "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
        "body": i.body,
        "closed_by": i.closed_by.as_ref().map_or(Value::Null, |a| user(base, a)),
        "reactions": reactions(&format!("{url}/reactions")),
        "timeline_url": format!("{url}/timeline"),
        "performed_via_github_app": Value::Null,
        "state_reason": i.state_reason
    })
}

fn reactions(url: &str) -> Value {
    json!({"url": url, "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
           "confused": 0, "heart": 0, "rocket": 0, "eyes": 0})
}

pub(super) fn comment(base: &str, repo: &Repo, issue_number: u64, c: &CommentRec) -> Value {
    let repo_url = repo_api_url(base, repo);
    let url = format!("{repo_url}/issues/comments/{}", c.id);
    json!({
        "url": url,
        "html_url": format!("{base}/{}/{}/issues/{issue_number}#issuecomment-{}", repo.owner, repo.name, c.id),
        "issue_url": format!("{repo_url}/issues/{issue_number}"),
        "id": c.id,
        "node_id": node_id("IssueComment", c.id),
        "user": user(base, &c.user),
        "created_at": ts(&c.created_at),
        "updated_at": ts(&c.updated_at),
        "author_association": "OWNER",
        "body": c.body,
        "reactions": reactions(&format!("{url}/reactions")),
        "performed_via_github_app": Value::Null
    })
}

/// The `repository` object of a webhook payload (a subset of GitHub's, with the fields clients read).
pub(super) fn repository(base: &str, repo: &Repo, owner_id: u64) -> Value {
    json!({
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": format!("{}/{}", repo.owner, repo.name),
        "private": true,
        "owner": user_like(base, &repo.owner, owner_id, "Organization"),
        "html_url": format!("{base}/{}/{}", repo.owner, repo.name),
        "url": repo_api_url(base, repo),
        "issues_url": format!("{}/issues{{/number}}", repo_api_url(base, repo)),
        "labels_url": format!("{}/labels{{/name}}", repo_api_url(base, repo)),
        "has_issues": !repo.issues_disabled,
        "default_branch": "main",
        "archived": false,
        "disabled": false,
        "visibility": "private"
    })
}

/// A JSON response with GitHub's content type.
pub(super) fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// `basic-error`: `{"message","documentation_url","status"}` with `status` as a string.
pub(super) fn error(status: u16, message: &str, doc: &str) -> Response {
    json_response(
        status,
        &json!({"message": message, "documentation_url": doc, "status": status.to_string()}),
    )
}

pub(super) fn not_found() -> Response {
    error(404, "Not Found", DOC_ROOT)
}

/// `validation-error` 422 with an `errors` array.
pub(super) fn validation_failed(errors: Value, doc: &str) -> Response {
    json_response(
        422,
        &json!({"message": "Validation Failed", "errors": errors, "documentation_url": doc, "status": "422"}),
    )
}

/// One `errors[]` entry.
pub(super) fn verr(resource: &str, field: &str, code: &str, message: Option<&str>) -> Value {
    let mut e = json!({"resource": resource, "field": field, "code": code});
    if let Some(m) = message {
        e["message"] = Value::String(m.to_string());
    }
    e
}

/// 422 "Invalid request." (schema violations; no `errors` array).
pub(super) fn invalid_request(detail: &str, doc: &str) -> Response {
    json_response(
        422,
        &json!({"message": format!("Invalid request.\n\n{detail}"), "documentation_url": doc, "status": "422"}),
    )
}

pub(super) fn bad_json(doc: &str) -> Response {
    error(400, "Problems parsing JSON", doc)
}

pub(super) fn not_object(doc: &str) -> Response {
    error(400, "Body should be a JSON object", doc)
}
