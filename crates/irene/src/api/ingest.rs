//! `POST /api/v1/ingest/{source}`: the HTTP transport of [`App::accept`](crate::app::App::accept):
//! checks the token, reads the body and headers, answers 202 once the payload is durable. It
//! must not decode, split or count: the application layer does.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::app::{count_rejected, AcceptError, Payload};
use crate::auth::Scope;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize, Default)]
pub struct IngestQuery {
    /// `1` or `true`: the payload is a complete scan of its scope.
    complete_scan: Option<String>,
}

pub async fn ingest(
    State(state): State<AppState>,
    Path(source): Path<String>,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.authorize(&headers, Scope::Ingest).inspect_err(|_| {
        metrics::counter!("irene_ingest_requests_total").increment(1);
        count_rejected("auth");
    })?;
    let body = body.map_err(|e| refused_body(&state, e))?;
    let complete_scan = match q.complete_scan.as_deref() {
        None | Some("") | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(other) => {
            metrics::counter!("irene_ingest_requests_total").increment(1);
            count_rejected("invalid_query");
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("complete_scan must be 1 or 0, not {other:?}"),
            ));
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let accepted = state
        .app
        .accept(Payload {
            source: &source,
            body: &body,
            encoding: header("content-encoding"),
            idempotency_key: header("idempotency-key"),
            complete_scan,
        })
        .await;
    match accepted {
        Ok(a) => Ok((
            if a.duplicate {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            },
            Json(json!({"id": a.id, "accepted": a.accepted, "duplicate": a.duplicate})),
        )),
        Err(e) => Err(accept_error(e)),
    }
}

/// The HTTP answer to a body axum refused (over the limit, or unreadable) before the app saw
/// it, counted as a refused request.
pub(super) fn refused_body(state: &AppState, e: BytesRejection) -> ApiError {
    metrics::counter!("irene_ingest_requests_total").increment(1);
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let e = AcceptError::TooLarge {
            max: state.app.max_body,
        };
        count_rejected(e.code());
        return accept_error(e);
    }
    count_rejected("unreadable");
    ApiError::bad_request("unreadable_body", e.body_text())
}

/// The HTTP answer to a refused payload.
pub(super) fn accept_error(e: AcceptError) -> ApiError {
    let status = match &e {
        AcceptError::UnknownSource { .. } => return ApiError::not_found(e.to_string()),
        AcceptError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AcceptError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        AcceptError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        AcceptError::BadGzip(_) | AcceptError::Payload(_) | AcceptError::BadIdempotencyKey => {
            StatusCode::BAD_REQUEST
        }
    };
    ApiError::new(status, e.code(), e.to_string())
}
