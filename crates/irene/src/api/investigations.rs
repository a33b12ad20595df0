//! Investigations over HTTP: list them by state, investigator or case. The investigation
//! worker runs them; these handlers only read.

use super::cases::parse_limit;
use super::error::ApiResult;
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
    let st = super::state_param(q.state, &STATES)?;
    let case_id = super::case_param(q.case.as_deref())?;
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
