//! The tamper watch over HTTP: each watched page's state, and accepting the page as it is now
//! as its new baseline. The tamper worker checks the pages; these handlers read and ask.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

/// `GET /api/v1/watch`: every watched page: url, baseline and last check times, whether it is
/// changed, the last error, and the latest snapshot's script hosts.
pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let rows = state.app.store.watches_list().await?;
    let watches: Vec<Value> = state
        .app
        .watches
        .iter()
        .map(|w| {
            let row = rows.iter().find(|r| r.name == w.name && r.url == w.url);
            let current: Option<Value> = row
                .and_then(|r| r.current.as_deref())
                .and_then(|c| serde_json::from_str(c).ok());
            json!({
                "name": w.name,
                "url": w.url,
                "every": humantime::format_duration(w.every).to_string(),
                "baseline_at": row.and_then(|r| r.baseline_at),
                "checked_at": row.and_then(|r| r.checked_at),
                "changed": row.is_some_and(|r| r.changed),
                "last_error": row.and_then(|r| r.last_error.clone()),
                "script_hosts": current.as_ref().map(|c| c["script_hosts"].clone()),
            })
        })
        .collect();
    Ok(Json(json!({ "watches": watches })))
}

/// `POST /api/v1/watch/{name}/accept` (admin): the page as last seen becomes the baseline, and
/// its tamper case resolves.
pub async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let done = crate::tamper::TamperWorker::accept_current(&state.app, &state.app.watches, &name)
        .await
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
        })?;
    if !done {
        return Err(ApiError::not_found(format!(
            "no watched page {name:?} with a snapshot to accept"
        )));
    }
    tracing::info!(watch = %name, by = %who, "the page as it is now is the new baseline");
    Ok(Json(json!({"watch": name, "accepted": true})))
}
