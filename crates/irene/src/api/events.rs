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
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The events search's query parameters (the API's and the console's `/events`); as kept in
/// the console's links, unset ones are left out.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct EventQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl EventQuery {
    /// The store's filter for these parameters (empty ones unset; `limit` defaults to 50).
    pub fn filter(&self) -> ApiResult<EventFilter> {
        Ok(EventFilter {
            source: set(self.source.clone()),
            source_ip: set(self.ip.clone()),
            principal: set(self.principal.clone()),
            account: set(self.account.clone()),
            name: set(self.name.clone()),
            since: time("since", self.since.clone())?,
            until: time("until", self.until.clone())?,
            limit: parse_limit(self.limit.as_deref(), 50)?,
            cursor: set(self.cursor.clone()),
        })
    }
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
    let page = state.app.store.events_list(&q.filter()?).await?;
    Ok(Json(
        json!({"events": page.items, "next_cursor": page.next_cursor}),
    ))
}
