//! Investigations over HTTP: list them by state, investigator or case. The investigation
//! worker runs them; these handlers only read.

use super::cases::parse_limit;
use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::Json;
use irene_store::InvestigationFilter;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, Default)]
pub struct InvestigationQuery {
    state: Option<String>,
    investigator: Option<String>,
    case: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

const STATES: [&str; 3] = ["pending", "running", "done"];

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<InvestigationQuery>,
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
        .app
        .store
        .investigations_list(&InvestigationFilter {
            case_id,
            state: st,
            investigator: q.investigator.filter(|o| !o.is_empty()),
            limit: parse_limit(q.limit.as_deref(), 50)?,
            cursor: q.cursor.filter(|c| !c.is_empty()),
        })
        .await?;
    Ok(Json(
        json!({"investigations": page.items, "next_cursor": page.next_cursor}),
    ))
}
