//! `POST /api/v1/rules/replay`: a draft rule set replayed over a stored window (`crate::replay`),
//! streamed back as NDJSON progress lines and a final report. It writes nothing.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use crate::replay::{self, Plan, Progress, ReplayError};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use irene_rules::sigma::SigmaRules;
use irene_rules::{RuleFile, TriageRules};
use serde::Deserialize;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::Arc;

/// Rules as YAML text, or as named files (what `irene rules replay` sends).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Rules {
    Text(String),
    Files(Vec<NamedFile>),
}

#[derive(Debug, Deserialize)]
pub struct NamedFile {
    name: String,
    text: String,
}

impl Rules {
    fn files(self, default_name: &str) -> Vec<RuleFile> {
        match self {
            Rules::Text(text) => vec![RuleFile::new(default_name, text)],
            Rules::Files(files) => files
                .into_iter()
                .map(|f| RuleFile::new(f.name, f.text))
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Draft triage rules (default: the loaded ones, e.g. to try Sigma rules alone).
    #[serde(default)]
    triage: Option<Rules>,
    /// Draft Sigma rules: replayed over the window's events, beside the loaded ones.
    #[serde(default)]
    sigma: Option<Rules>,
    /// `30d`, `12h` (back from now) or an RFC 3339 time.
    since: String,
    /// Same forms; default now.
    #[serde(default)]
    until: Option<String>,
    /// Changed alerts shown (default 20, at most 1000).
    #[serde(default)]
    examples: Option<usize>,
}

/// `30d` back from `now`, or an RFC 3339 time.
pub fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is neither a duration (30d, 12h) nor an RFC 3339 time: {e}"))?;
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .ok_or_else(|| format!("{s:?} reaches too far back"))
}

/// A 400 that lists every error (`error.errors`), joined in `error.message` too.
fn invalid(code: &'static str, errors: Vec<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": {"code": code, "message": errors.join("; "), "errors": errors}})),
    )
        .into_response()
}

fn line(v: &Value) -> Bytes {
    let mut s = v.to_string();
    s.push('\n');
    Bytes::from(s)
}

pub async fn replay(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    state.authorize(&headers, Scope::Admin)?;
    let req: ReplayRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "expected {{\"since\", \"triage\"?, \"sigma\"?, \"until\"?, \"examples\"?}}: {e}"
            ),
        )
    })?;
    let now = Utc::now();
    let since =
        parse_time(&req.since, now).map_err(|e| ApiError::bad_request("invalid_since", e))?;
    let until = match &req.until {
        Some(u) => parse_time(u, now).map_err(|e| ApiError::bad_request("invalid_until", e))?,
        None => now,
    };
    if since >= until {
        return Err(ApiError::bad_request(
            "invalid_window",
            format!("since ({since}) must be before until ({until})"),
        ));
    }
    let current = state.app.settings.load();
    let draft = match req.triage {
        Some(rules) => match TriageRules::compile(&rules.files("draft.yaml")) {
            Ok(r) => Arc::new(r),
            Err(errors) => {
                return Ok(invalid(
                    "invalid_rules",
                    errors.iter().map(|e| e.to_string()).collect(),
                ))
            }
        },
        None => current.triage.clone(),
    };
    let sigma = match req.sigma {
        Some(rules) => {
            let (compiled, rejected) = SigmaRules::compile(&rules.files("draft.yml"));
            if !rejected.is_empty() {
                return Ok(invalid(
                    "invalid_sigma",
                    rejected.iter().map(|e| e.to_string()).collect(),
                ));
            }
            Some((current.sigma.clone(), Arc::new(compiled)))
        }
        None => None,
    };
    let plan = Plan {
        live: current.triage.clone(),
        draft,
        sigma,
        since,
        until,
        examples: req.examples.unwrap_or(20).min(1000),
    };
    let store = state.app.store.clone();
    let handle = tokio::runtime::Handle::current();
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut progress = |p: Progress| tx.blocking_send(line(&json!({"progress": p}))).is_ok();
        let last = match replay::run(
            &handle,
            store.clone(),
            store.planner(),
            &plan,
            &mut progress,
        ) {
            Ok(report) => json!({"report": report}),
            Err(ReplayError::Cancelled) => return,
            Err(e) => {
                tracing::error!(error = %e, "rule replay failed");
                json!({"error": {"code": "replay_failed", "message": e.to_string()}})
            }
        };
        let _ = tx.blocking_send(line(&last));
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
