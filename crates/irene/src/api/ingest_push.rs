//! `POST /api/v1/ingest/{source}/sns` and `/pubsub`: the SNS and Pub/Sub push transports of
//! [`App::accept`](crate::app::App::accept), authenticated by the message's signature or the
//! push's OIDC token (`irene-push`), not by a bearer token. They answer 2xx only once the payload
//! is durable (else SNS and Pub/Sub send it again); they must not decode, split or count cases.

use super::error::{ApiError, ApiResult};
use super::ingest::{accept_error, refused_body};
use super::AppState;
use crate::app::{count_rejected, AcceptError, Payload};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use irene_push::{PubsubError, SnsError, SnsKind};
use serde_json::{json, Value};

type Answer = ApiResult<(StatusCode, Json<Value>)>;

/// A refusal before `App::accept` ran, counted as a refused request under `reason`.
fn refuse(reason: &'static str, e: ApiError) -> ApiError {
    metrics::counter!("irene_ingest_requests_total").increment(1);
    count_rejected(reason);
    e
}

/// 404 for a source no decoder has, before anything is verified or confirmed.
fn known_source(source: &str) -> ApiResult<()> {
    if irene_sources::decoder(source).is_some() {
        return Ok(());
    }
    let e = AcceptError::UnknownSource {
        name: source.to_string(),
        known: irene_sources::names().join(", "),
    };
    Err(refuse(e.code(), accept_error(e)))
}

/// Stores the payload (`App::accept`): 202, 200 for a delivery seen before, else the error.
async fn accept(state: &AppState, source: &str, body: &[u8], key: &str) -> Answer {
    let accepted = state
        .app
        .accept(Payload {
            source,
            body,
            encoding: None,
            idempotency_key: Some(key),
            complete_scan: false,
        })
        .await
        .map_err(accept_error)?;
    let status = if accepted.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(
            json!({"id": accepted.id, "accepted": accepted.accepted, "duplicate": accepted.duplicate}),
        ),
    ))
}

/// `POST /api/v1/ingest/{source}/sns`: an SNS HTTP(S) subscription's messages. A verified
/// `SubscriptionConfirmation` is confirmed (its `SubscribeURL` fetched); a `Notification`'s
/// `Message` is the payload, its idempotency key `sns:<MessageId>`.
pub async fn sns(
    State(state): State<AppState>,
    Path(source): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let Some(verifier) = state.push.sns.as_ref() else {
        return Err(refuse(
            "push_off",
            ApiError::not_found("the SNS intake is off: [intake.sns] names no topics"),
        ));
    };
    known_source(&source)?;
    let body = body.map_err(|e| refused_body(&state, e))?;
    let msg = match verifier.verify(&body, chrono::Utc::now()).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(source = %source, reason = %e, "SNS message refused");
            let (status, code, reason) = match &e {
                e if e.is_upstream() => (StatusCode::BAD_GATEWAY, "sns_unavailable", "upstream"),
                SnsError::Malformed(_) | SnsError::UnknownType(_) => (
                    StatusCode::BAD_REQUEST,
                    "invalid_sns_message",
                    "invalid_envelope",
                ),
                _ => (StatusCode::FORBIDDEN, "sns_refused", "auth"),
            };
            return Err(refuse(reason, ApiError::new(status, code, e.to_string())));
        }
    };
    match msg.kind() {
        Ok(SnsKind::Notification) => {
            let key = format!("sns:{}", msg.message_id);
            accept(&state, &source, msg.message.as_bytes(), &key).await
        }
        Ok(SnsKind::SubscriptionConfirmation) => {
            verifier.confirm(&msg).await.map_err(|e| {
                tracing::warn!(topic = %msg.topic_arn, reason = %e, "SNS subscription not confirmed");
                ApiError::new(StatusCode::BAD_GATEWAY, "sns_unavailable", e.to_string())
            })?;
            tracing::info!(topic = %msg.topic_arn, source = %source, "SNS subscription confirmed");
            Ok((
                StatusCode::OK,
                Json(json!({"confirmed": true, "topic": msg.topic_arn})),
            ))
        }
        Ok(SnsKind::UnsubscribeConfirmation) => {
            tracing::info!(topic = %msg.topic_arn, source = %source, "SNS subscription ended");
            Ok((
                StatusCode::OK,
                Json(json!({"unsubscribed": true, "topic": msg.topic_arn})),
            ))
        }
        Err(e) => Err(ApiError::bad_request("invalid_sns_message", e.to_string())),
    }
}

/// `POST /api/v1/ingest/{source}/pubsub`: a Pub/Sub push subscription's requests, with the
/// Google-signed token of its service account. `message.data`, decoded, is the payload, its
/// idempotency key `pubsub:<messageId>`; attributes are not part of it (logged by name).
pub async fn pubsub(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let Some(verifier) = state.push.pubsub.as_ref() else {
        return Err(refuse(
            "push_off",
            ApiError::not_found("the Pub/Sub intake is off: [intake.pubsub] has no audience"),
        ));
    };
    known_source(&source)?;
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Err(e) = verifier.verify(authorization).await {
        tracing::warn!(source = %source, reason = %e, "Pub/Sub push refused");
        let (status, code, reason) = match &e {
            PubsubError::KeysUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "pubsub_unavailable",
                "upstream",
            ),
            _ => (StatusCode::UNAUTHORIZED, "unauthorized", "auth"),
        };
        return Err(refuse(reason, ApiError::new(status, code, e.to_string())));
    }
    let body = body.map_err(|e| refused_body(&state, e))?;
    let msg = irene_push::pubsub::parse_envelope(&body).map_err(|e| {
        refuse(
            "invalid_envelope",
            ApiError::bad_request("invalid_envelope", e.to_string()),
        )
    })?;
    if !msg.attributes.is_empty() {
        let names: Vec<&str> = msg.attributes.keys().map(String::as_str).collect();
        tracing::debug!(message_id = %msg.message_id, attributes = ?names, "Pub/Sub attributes not kept");
    }
    let key = format!("pubsub:{}", msg.message_id);
    accept(&state, &source, &msg.data, &key).await
}
