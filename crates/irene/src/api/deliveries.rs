//! Deliveries (the outbox) over HTTP: list them by state, case or output, and replay a dead
//! letter. The delivery worker does the sending; these handlers only read and requeue.

use super::cases::parse_limit;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use irene_store::DeliveryFilter;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, Default)]
pub struct DeliveryQuery {
    state: Option<String>,
    case: Option<String>,
    output: Option<String>,
    /// Held back by this silence or inhibition (`silence:3`).
    held_by: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// A delivery's states, as `?state=` takes them.
pub const STATES: [&str; 5] = ["pending", "sending", "done", "dead", "held"];

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let st = super::state_param(q.state, &STATES)?;
    let case_id = super::case_param(q.case.as_deref())?;
    let page = state
        .app
        .store
        .outbox_list(&DeliveryFilter {
            state: st,
            case_id,
            output: q.output.filter(|o| !o.is_empty()),
            held_by: q.held_by.filter(|h| !h.is_empty()),
            limit: parse_limit(q.limit.as_deref(), 50)?,
            cursor: q.cursor.filter(|c| !c.is_empty()),
        })
        .await?;
    Ok(Json(
        json!({"deliveries": page.items, "next_cursor": page.next_cursor}),
    ))
}

pub async fn retry(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.authorize(&headers, Scope::Admin)?;
    let seq: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no delivery {id:?}")))?;
    let row = state
        .app
        .retry_delivery(seq)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no dead delivery {seq}")))?;
    Ok((StatusCode::ACCEPTED, Json(json!({"delivery": row}))))
}
