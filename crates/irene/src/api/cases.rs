//! Cases and alerts: list with filters and cursors, one case with its timeline and
//! investigations, resolve by hand, one alert normalized and raw. Store reads and `app` only.

use super::error::{ApiError, ApiResult};
use super::{parse_id, AppState};
use crate::auth::Scope;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use irene_core::{CaseStatus, Severity};
use irene_store::{CaseFilter, InvestigationFilter};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    severity: Option<String>,
    status: Option<String>,
    source: Option<String>,
    q: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
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
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let severity = q
        .severity
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|e| ApiError::bad_request("invalid_severity", e.to_string()))
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<CaseStatus>()
                .map_err(|e| ApiError::bad_request("invalid_status", e))
        })
        .transpose()?;
    let filter = CaseFilter {
        severity,
        status,
        source: q.source.filter(|s| !s.is_empty()),
        q: q.q,
        limit: parse_limit(q.limit.as_deref(), 50)?,
        cursor: q.cursor.filter(|s| !s.is_empty()),
    };
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
