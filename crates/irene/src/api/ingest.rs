//! `POST /api/v1/ingest/{source}`: checks the payload (size, gzip, UTF-8, JSON, depth), writes it
//! durably to the inbox and answers 202. It must not decode: that is the pipeline's job.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use irene_sources::{decoder, names, split_payload, PayloadError};
use irene_store::NewInbox;
use serde_json::{json, Value};
use std::io::Read;

fn reject(reason: &'static str, e: ApiError) -> ApiError {
    metrics::counter!("irene_ingest_rejected_total", "reason" => reason).increment(1);
    e
}

pub async fn ingest(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    metrics::counter!("irene_ingest_requests_total").increment(1);
    state
        .authorize(&headers, Scope::Ingest)
        .map_err(|e| reject("auth", e))?;
    if decoder(&source).is_none() {
        return Err(reject(
            "unknown_source",
            ApiError::not_found(format!(
                "unknown source {source:?}; known sources: {}",
                names().join(", ")
            )),
        ));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            reject("too_large", too_large(state.max_body))
        } else {
            reject(
                "unreadable",
                ApiError::bad_request("unreadable_body", e.body_text()),
            )
        }
    })?;
    let body = decode_content(&headers, body, state.max_body)?;
    let items = split_payload(&body, &state.limits).map_err(|e| {
        let code = e.code();
        reject(code, ApiError::bad_request(code, payload_message(&e)))
    })?;
    let id = uuid::Uuid::now_v7();
    let accepted = items.len();
    let item = NewInbox {
        id,
        source,
        received_at: chrono::Utc::now(),
        body: body.to_vec(),
        items: accepted as i64,
    };
    state.intake.append(item).await.map_err(|e| {
        reject(
            "store",
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                format!("not stored: {e}"),
            ),
        )
    })?;
    metrics::counter!("irene_ingest_accepted_total").increment(accepted as u64);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "accepted": accepted})),
    ))
}

fn too_large(max: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("payload larger than the limit of {max} bytes"),
    )
}

fn payload_message(e: &PayloadError) -> String {
    format!("payload is not usable JSON: {e}")
}

/// Undoes `Content-Encoding: gzip`, bounded so that a small bomb cannot fill memory.
fn decode_content(headers: &HeaderMap, body: Bytes, max: usize) -> ApiResult<Bytes> {
    let encoding = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match encoding.as_str() {
        "" | "identity" => Ok(body),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max));
            let mut reader = flate2::read::MultiGzDecoder::new(&body[..]).take(max as u64 + 1);
            reader.read_to_end(&mut out).map_err(|e| {
                reject(
                    "bad_gzip",
                    ApiError::bad_request("bad_gzip", format!("body is not valid gzip: {e}")),
                )
            })?;
            if out.len() > max {
                return Err(reject("too_large", too_large(max)));
            }
            Ok(Bytes::from(out))
        }
        other => Err(reject(
            "bad_encoding",
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_encoding",
                format!("Content-Encoding {other:?} is not supported (gzip or none)"),
            ),
        )),
    }
}
