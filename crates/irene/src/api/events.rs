//! Audit-log events over HTTP: the investigator's filters (source IP, principal, account,
//! event name, time, source) with cursors. Each event carries its raw record and detections.

use super::cases::parse_limit;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Utc};
use irene_store::EventFilter;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, Default)]
pub struct EventQuery {
    source: Option<String>,
    ip: Option<String>,
    principal: Option<String>,
    account: Option<String>,
    name: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn time(what: &'static str, v: Option<String>) -> ApiResult<Option<DateTime<Utc>>> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => DateTime::parse_from_rfc3339(&s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::bad_request(
                    "invalid_time",
                    format!(
                        "{what} must be an RFC 3339 time such as 2026-12-01T10:00:00Z, not {s:?}"
                    ),
                )
            }),
    }
}

fn set(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<EventQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let filter = EventFilter {
        source: set(q.source),
        source_ip: set(q.ip),
        principal: set(q.principal),
        account: set(q.account),
        name: set(q.name),
        since: time("since", q.since)?,
        until: time("until", q.until)?,
        limit: parse_limit(q.limit.as_deref(), 50)?,
        cursor: set(q.cursor),
    };
    let page = state.app.store.events_list(&filter).await?;
    Ok(Json(
        json!({"events": page.items, "next_cursor": page.next_cursor}),
    ))
}
