//! Operations endpoints: status counts, quarantine (list, retry), the audit log, health,
//! readiness, metrics. They report and replay; they never change a case.

use super::cases::parse_limit;
use super::error::{ApiError, ApiResult};
use super::{parse_id, AppState};
use crate::auth::Scope;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// The pipeline's health as `GET /api/v1/status` and the console's overview show it: the
/// store's queue counts, every worker's state and last error, and each feed's copy.
pub struct Health {
    pub counts: irene_store::StatusCounts,
    pub workers: Vec<crate::worker::WorkerInfo>,
    /// Each feed (without its body) and the age of its copy in seconds.
    pub feeds: Vec<(irene_store::FeedCopy, Option<i64>)>,
}

/// Reads the pipeline's health (the one read behind the status endpoint and the console).
pub async fn health(state: &AppState) -> ApiResult<Health> {
    let counts = state.app.store.status().await?;
    let now = chrono::Utc::now();
    let feeds = state
        .app
        .store
        .feeds_list(false)
        .await?
        .into_iter()
        .map(|f| {
            let age = f.fetched_at.map(|t| (now - t).num_seconds());
            (f, age)
        })
        .collect();
    Ok(Health {
        counts,
        workers: state.workers.list(),
        feeds,
    })
}

pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let h = health(&state).await?;
    let mut body = serde_json::to_value(h.counts).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut body {
        m.insert("workers".into(), json!(h.workers));
        // the settings documents this process runs, by version
        let live = state.app.settings.load();
        let versions: serde_json::Map<String, Value> = live
            .versions
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), json!(v)))
            .collect();
        m.insert("settings".into(), Value::Object(versions));
        let feeds: Vec<Value> = h
            .feeds
            .into_iter()
            .map(|(f, age)| {
                let mut v = serde_json::to_value(&f).unwrap_or(Value::Null);
                if let Value::Object(o) = &mut v {
                    o.insert("age_seconds".into(), json!(age));
                }
                v
            })
            .collect();
        m.insert("feeds".into(), Value::Array(feeds));
    }
    Ok(Json(body))
}

#[derive(Debug, Deserialize, Default)]
pub struct PageQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

pub async fn quarantine_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let limit = parse_limit(q.limit.as_deref(), 50)?;
    let page = state
        .app
        .store
        .quarantine_list(limit, q.cursor.as_deref().filter(|c| !c.is_empty()))
        .await?;
    Ok(Json(
        json!({"quarantine": page.items, "next_cursor": page.next_cursor}),
    ))
}

pub async fn quarantine_retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.authorize(&headers, Scope::Admin)?;
    let id = parse_id("quarantine entry", &id)?;
    let inbox = state
        .app
        .requeue_quarantined(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no quarantined item {id}")))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": inbox, "accepted": 1})),
    ))
}

#[derive(Debug, Deserialize, Default)]
pub struct AuditQuery {
    actor: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /api/v1/audit[?actor=…]` (admin): who did what, newest first.
pub async fn audit_list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Admin)?;
    let page = state
        .app
        .store
        .audit_list(&irene_store::AuditFilter {
            actor: q.actor.filter(|a| !a.is_empty()),
            limit: parse_limit(q.limit.as_deref(), 50)?,
            cursor: q.cursor.filter(|c| !c.is_empty()),
        })
        .await?;
    Ok(Json(
        json!({"audit": page.items, "next_cursor": page.next_cursor}),
    ))
}

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    state.app.store.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}
