//! Investigations over HTTP: list them by state, investigator or case, ask for them on a case
//! by hand, and serve the files they attached. The investigation worker runs them.

use super::cases::parse_limit;
use super::error::{ApiError, ApiResult};
use super::{parse_id, AppState};
use crate::app::RequestError;
use crate::auth::Scope;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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

#[derive(Debug, Deserialize, Default)]
pub struct InvestigateQuery {
    only: Option<String>,
}

/// `POST /api/v1/cases/{id}/investigate[?only=name]` (admin): runs the case's investigations
/// again now; 202 with the batch, whose note is posted when all have finished.
pub async fn investigate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<InvestigateQuery>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = state.authorize(&headers, Scope::Admin)?;
    let id = parse_id("case", &id)?;
    let only = q.only.as_deref().filter(|o| !o.is_empty());
    match state.app.investigate_case(id, only).await {
        Ok(r) => {
            tracing::info!(case = %id, by = %who, investigators = ?r.investigators, "investigations asked for by hand");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"case": id, "batch": r.batch, "investigators": r.investigators})),
            ))
        }
        Err(e) => Err(request_error(id, e)),
    }
}

/// Why investigations of case `id` could not be asked for, as an HTTP answer (the API's and
/// the console's).
pub(crate) fn request_error(id: uuid::Uuid, e: RequestError) -> ApiError {
    match e {
        RequestError::NoCase => ApiError::not_found(format!("no case {id}")),
        e @ RequestError::Unknown { .. } => {
            ApiError::bad_request("unknown_investigator", e.to_string())
        }
        e @ RequestError::Disabled => ApiError::new(
            StatusCode::CONFLICT,
            "investigations_disabled",
            e.to_string(),
        ),
        RequestError::Store(e) => e.into(),
    }
}

/// `GET /api/v1/attachments/{id}`: a file an investigation attached, with its content type.
pub async fn attachment(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state.authorize(&headers, Scope::Read)?;
    let id = parse_id("attachment", &id)?;
    let file = state
        .app
        .store
        .attachment_get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no attachment {id}")))?;
    Ok(attachment_response(
        file,
        "default-src 'none'; img-src 'self'; sandbox",
    ))
}

/// An attachment as served: its own content type, never sniffed, inline under a safe name, in
/// a sandbox with `csp`; never cached by shared caches and never sent on as a referrer.
pub(crate) fn attachment_response(
    file: irene_store::StoredAttachment,
    csp: &'static str,
) -> Response {
    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // the name is the investigator's; keep it to safe characters for the header
    let name: String = file
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = HeaderValue::from_str(&format!("inline; filename=\"{name}\""))
        .unwrap_or(HeaderValue::from_static("inline"));
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(csp),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-store"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        file.bytes,
    )
        .into_response()
}
