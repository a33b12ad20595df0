//! `POST /api/v1/rules/test`: a dry run of decode → triage on a payload, against the loaded rules
//! or a draft rule file given in the request. It writes nothing.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use irene_rules::{RuleFile, TriageRules};
use irene_sources::decoder;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// A decoder name or `auto` (default).
    #[serde(default)]
    source: Option<String>,
    /// The payload, as it would be posted to the intake (an object or an array of items).
    payload: Value,
    /// A draft triage rule file (YAML text) used instead of the loaded rules.
    #[serde(default)]
    rules: Option<String>,
}

pub async fn test(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let req: TestRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("expected {{\"source\", \"payload\", \"rules\"?}}: {e}"),
        )
    })?;
    let source = req.source.unwrap_or_else(|| "auto".to_string());
    let dec = decoder(&source)
        .ok_or_else(|| ApiError::not_found(format!("unknown source {source:?}")))?;
    let draft;
    let rules: &TriageRules = match &req.rules {
        Some(text) => {
            draft = TriageRules::compile(&[RuleFile {
                name: "draft".into(),
                text: text.clone(),
            }])
            .map_err(|errors| {
                let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                ApiError::bad_request("invalid_rules", msgs.join("; "))
            })?;
            &draft
        }
        None => &state.rules,
    };
    let items: Vec<Value> = match req.payload {
        Value::Array(items) => items,
        other => vec![other],
    };
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match dec.decode(item) {
            Ok(decoded) => {
                for mut alert in decoded.alerts {
                    let verdict = rules.explain(&alert);
                    alert.raw = Value::Null;
                    results.push(json!({
                        "item": index,
                        "alert": alert,
                        "rule": verdict.rule,
                        "severity": verdict.severity,
                        "labels": verdict.labels,
                        "key": verdict.key,
                        "errors": verdict.errors.iter().map(|e| json!({"rule": e.rule, "message": e.message})).collect::<Vec<_>>(),
                    }));
                }
            }
            Err(e) => errors.push(json!({"item": index, "error": e.to_string()})),
        }
    }
    Ok(Json(json!({"results": results, "errors": errors})))
}
