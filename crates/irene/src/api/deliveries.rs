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
    limit: Option<String>,
    cursor: Option<String>,
}

const STATES: [&str; 4] = ["pending", "sending", "done", "dead"];

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let st = q.state.filter(|s| !s.is_empty());
    if let Some(s) = &st {
        if !STATES.contains(&s.as_str()) {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!("state must be one of {}, not {s:?}", STATES.join(", ")),
            ));
        }
    }
    let case_id = match q.case.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => Some(uuid::Uuid::parse_str(c).map_err(|_| {
            ApiError::bad_request("invalid_case", format!("case {c:?} is not a case id"))
        })?),
        None => None,
    };
    let page = state
        .store
        .outbox_list(&DeliveryFilter {
            state: st,
            case_id,
            output: q.output.filter(|o| !o.is_empty()),
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
        .store
        .outbox_retry(seq, chrono::Utc::now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no dead delivery {seq}")))?;
    state.deliver_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({"delivery": row}))))
}
