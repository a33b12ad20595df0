//! Cases and alerts: list with filters and cursors, one case with its timeline and
//! investigations, resolve by hand, one alert normalized and raw. Store reads and `app` only.

use super::error::{ApiError, ApiResult};
use super::{parse_id, AppState};
use crate::auth::Scope;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use irene_core::{CaseStatus, Severity};
use irene_store::{CaseFilter, CaseSort, InvestigationFilter};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// A case list's filters as query parameters (`GET /api/v1/cases`, and the console's list,
/// which keeps them in its links): the one way they are read.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CaseQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// `last_seen` (default) or `severity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl CaseQuery {
    /// The same query with its empty parameters dropped (a form sends them all).
    pub fn trimmed(self) -> CaseQuery {
        let keep = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        CaseQuery {
            severity: keep(self.severity),
            status: keep(self.status),
            source: keep(self.source),
            account: keep(self.account),
            label: keep(self.label),
            q: keep(self.q),
            sort: keep(self.sort),
            limit: keep(self.limit),
            cursor: keep(self.cursor),
        }
    }

    /// The store's filter (400 for a value it does not know), `default_limit` when none is given.
    pub fn filter(&self, default_limit: u32) -> ApiResult<CaseFilter> {
        let q = self.clone().trimmed();
        let severity = q
            .severity
            .as_deref()
            .map(|s| {
                s.parse::<Severity>()
                    .map_err(|e| ApiError::bad_request("invalid_severity", e.to_string()))
            })
            .transpose()?;
        let status = q
            .status
            .as_deref()
            .map(|s| {
                s.parse::<CaseStatus>()
                    .map_err(|e| ApiError::bad_request("invalid_status", e))
            })
            .transpose()?;
        let sort = match q.sort.as_deref() {
            None => CaseSort::default(),
            Some(s) => CaseSort::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_sort",
                    format!("sort must be last_seen or severity, not {s:?}"),
                )
            })?,
        };
        Ok(CaseFilter {
            severity,
            status,
            source: q.source,
            account: q.account,
            label: q.label,
            q: q.q,
            sort,
            limit: parse_limit(q.limit.as_deref(), default_limit)?,
            cursor: q.cursor,
        })
    }
}

pub fn parse_limit(limit: Option<&str>, default: u32) -> ApiResult<u32> {
    match limit {
        None | Some("") => Ok(default),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=500).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be a number from 1 to 500, not {s:?}"),
            )),
        },
    }
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CaseQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let filter = q.filter(50)?;
    let page = state.app.store.cases_list(&filter).await?;
    Ok(Json(
        json!({"cases": page.items, "next_cursor": page.next_cursor}),
    ))
}

pub async fn get_one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let id = parse_id("case", &id)?;
    let detail = state
        .app
        .store
        .case_get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let investigations = state
        .app
        .store
        .investigations_list(&InvestigationFilter {
            case_id: Some(id),
            limit: 500,
            ..Default::default()
        })
        .await?;
    // the latest run of each investigator (the list is newest first)
    let mut last_runs: Vec<(String, chrono::DateTime<chrono::Utc>)> = Vec::new();
    for i in &investigations.items {
        if !last_runs.iter().any(|(n, _)| *n == i.investigator) {
            last_runs.push((i.investigator.clone(), i.created_at));
        }
    }
    let rechecks = state
        .app
        .policies
        .rechecks(detail.case.status == CaseStatus::Open, &last_runs);
    let mut doc = serde_json::to_value(detail).unwrap_or(Value::Null);
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(
            "investigations".into(),
            serde_json::to_value(investigations.items).unwrap_or(Value::Null),
        );
        obj.insert("rechecks".into(), Value::Array(rechecks));
    }
    Ok(Json(doc))
}

#[derive(Debug, Deserialize, Default)]
pub struct ResolveBody {
    #[serde(default)]
    reason: Option<String>,
}

pub async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let id = parse_id("case", &id)?;
    let body: ResolveBody = if body.iter().all(u8::is_ascii_whitespace) {
        ResolveBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("body must be {{\"reason\": \"…\"}}: {e}"),
            )
        })?
    };
    let reason = body.reason.unwrap_or_default();
    let out = state
        .app
        .resolve_case(id, &who, &reason)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    Ok(Json(json!({"case": out.case, "changed": out.changed})))
}

pub async fn alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let id = parse_id("alert", &id)?;
    let stored = state
        .app
        .store
        .alert_get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
    let mut alert = stored.judged.alert;
    let raw = std::mem::take(&mut alert.raw);
    let mut normalized = serde_json::to_value(&alert).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut normalized {
        m.remove("raw");
    }
    Ok(Json(json!({
        "id": stored.id,
        "case_id": stored.case_id,
        "inbox_id": stored.inbox_id,
        "received_at": stored.received_at,
        "severity": stored.judged.severity,
        "labels": stored.judged.labels,
        "key": stored.judged.key,
        "rule": stored.judged.rule,
        "alert": normalized,
        "raw": raw,
    })))
}
