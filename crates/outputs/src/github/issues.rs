//! GitHub issues: the ticket kept per case, labels, the issue read/patch/comment calls, the
//! severity sync and the marker lookup of an issue a crashed attempt made. No action flows here.

use super::api::next_link;
use super::GithubOutput;
use crate::render;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use irene_core::{Case, Outcome, TicketState};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

/// Pages of issues read when looking for an issue an earlier attempt made.
const MAX_PAGES: usize = 30;
/// How far before the recorded intent the search for an earlier issue starts.
const INTENT_SLACK_MINUTES: i64 = 10;

/// What the GitHub output keeps per case in `TicketState.data`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct IssueTicket {
    pub(super) number: Option<u64>,
    pub(super) url: Option<String>,
    pub(super) actor: Option<String>,
    pub(super) last_repeat_at: Option<DateTime<Utc>>,
    pub(super) intent_at: Option<DateTime<Utc>>,
    /// The stored data, kept so that fields this version does not know survive.
    data: serde_json::Map<String, Value>,
}

impl IssueTicket {
    pub(super) fn read(t: Option<&TicketState>) -> IssueTicket {
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

    pub(super) fn state(&self) -> TicketState {
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
    pub(super) fn with_issue(mut self, issue: &Value) -> IssueTicket {
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

impl GithubOutput {
    /// Makes sure the labels exist with their colours (once per process each).
    pub(super) async fn ensure_labels(&self, labels: &[String]) -> Result<(), Outcome> {
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

    pub(super) async fn get_issue(&self, number: u64) -> Result<Value, Outcome> {
        self.call(
            Method::GET,
            &self.repo_url(&format!("/issues/{number}")),
            None,
        )
        .await
    }

    pub(super) async fn patch_issue(&self, number: u64, body: Value) -> Result<Value, Outcome> {
        self.call(
            Method::PATCH,
            &self.repo_url(&format!("/issues/{number}")),
            Some(&body),
        )
        .await
    }

    pub(super) async fn comment(&self, number: u64, text: &str) -> Result<(), Outcome> {
        let body = json!({"body": render::truncate(text, render::GITHUB_BODY_MAX)});
        self.call(
            Method::POST,
            &self.repo_url(&format!("/issues/{number}/comments")),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// Posts a comment once per delivery, even across a crash between the post and its record:
    /// the comment carries the delivery's hidden marker, and a comment with that marker made
    /// since the delivery was planned means it was posted already. `Ok(false)`: it was.
    pub(super) async fn comment_once(
        &self,
        number: u64,
        text: &str,
        delivery: i64,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, Outcome> {
        let mark = format!("<!-- irene:delivery:{delivery} -->");
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let url = self.repo_url(&format!(
            "/issues/{number}/comments?since={since}&per_page=100"
        ));
        let posted = self.call(Method::GET, &url, None).await?;
        let found = posted.as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("body")
                    .and_then(Value::as_str)
                    .is_some_and(|b| b.contains(&mark))
            })
        });
        if found {
            return Ok(false);
        }
        let room = render::GITHUB_BODY_MAX.saturating_sub(mark.chars().count() + 2);
        let body = format!("{}\n\n{mark}", render::truncate(text, room));
        self.call(
            Method::POST,
            &self.repo_url(&format!("/issues/{number}/comments")),
            Some(&json!({ "body": body })),
        )
        .await?;
        Ok(true)
    }

    /// Gives the issue this case's severity label (other labels kept) and, with `reopen`,
    /// opens it if closed. Returns the issue as it is after.
    pub(super) async fn sync_issue(
        &self,
        number: u64,
        case: &Case,
        reopen: bool,
    ) -> Result<Value, Outcome> {
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
    pub(super) async fn find_intended(
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
