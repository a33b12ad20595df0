//! Inbound GitHub webhooks: a person closing or reopening an issue Irene opened resolves or
//! reopens its case. Verified by HMAC before anything is read; Irene's own actions change nothing.

use super::error::{ApiError, ApiResult};
use super::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use irene_outputs::github::{parse_issue_event, verify_signature};
use serde_json::{json, Value};

/// A GitHub output that accepts inbound webhooks.
#[derive(Clone)]
pub struct GithubHook {
    pub output: String,
    pub repository: String,
    pub secret: irene_outputs::Secret,
}

fn ignored(why: &str) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok((StatusCode::ACCEPTED, Json(json!({"ignored": why}))))
}

pub async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if state.github_hooks.is_empty() {
        return Err(ApiError::not_found(
            "no GitHub output has a webhook_secret: inbound webhooks are off",
        ));
    }
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The signature is checked against every configured secret before the body is parsed.
    let verified: Vec<&GithubHook> = state
        .github_hooks
        .iter()
        .filter(|h| verify_signature(h.secret.expose(), &body, signature))
        .collect();
    if verified.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "X-Hub-Signature-256 is missing or does not match any GitHub output's webhook_secret",
        ));
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match event {
        "ping" => return Ok((StatusCode::OK, Json(json!({"pong": true})))),
        "issues" => {}
        other => return ignored(&format!("event {other:?} is not handled")),
    }
    let ev = parse_issue_event(&body)
        .map_err(|e| ApiError::bad_request("invalid_event", format!("issues event: {e}")))?;
    let open = match ev.action.as_str() {
        "closed" => false,
        "reopened" => true,
        other => return ignored(&format!("issue action {other:?} changes no case")),
    };
    let Some(hook) = verified
        .iter()
        .find(|h| h.repository.eq_ignore_ascii_case(&ev.repository))
    else {
        return ignored("the repository is not one of this output's");
    };
    let reference = ev.number.to_string();
    let Some((case_id, ticket)) = state.store.ticket_find(&hook.output, &reference).await? else {
        return ignored("no case has this issue");
    };
    if ticket.data.get("actor").and_then(Value::as_str) == Some(ev.sender.as_str()) {
        return ignored("caused by Irene itself");
    }
    let by = format!("github:{}", ev.sender);
    let Some((case, change)) = state
        .store
        .case_set_by_ticket(&hook.output, &reference, open, &by, chrono::Utc::now())
        .await?
    else {
        return ignored("no case has this issue");
    };
    if change.is_some() {
        tracing::info!(case = %case_id, output = %hook.output, by, open, "case changed from its GitHub issue");
        state.deliver_wake.notify_one();
    }
    Ok((
        StatusCode::OK,
        Json(json!({"case": case.id, "status": case.status, "changed": change.is_some()})),
    ))
}
