//! `POST /api/v1/rules/test`: a dry run of decode → Sigma → triage on a payload (the pipeline's
//! own [`evaluate`]), against the loaded rules or draft rule files given in the request. It
//! writes nothing and moves no correlation window.

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::auth::Scope;
use crate::evaluate::evaluate;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use irene_core::Alert;
use irene_rules::sigma::SigmaRules;
use irene_rules::{RuleFile, TriageRules, Verdict};
use irene_sources::decoder;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    /// A decoder name or `auto` (default).
    #[serde(default)]
    source: Option<String>,
    /// The payload, as it would be posted to the intake (an object or an array of items).
    payload: Value,
    /// A draft triage rule file (YAML text) used instead of the loaded rules.
    #[serde(default)]
    rules: Option<String>,
    /// Draft Sigma rules (YAML text, several documents allowed) used instead of the loaded ones.
    #[serde(default)]
    sigma: Option<String>,
    /// Investigation findings to judge with, as triage sees them after a case's investigations
    /// (`{"reputation": {"tor": true}}` → `enrichment.reputation.tor`).
    #[serde(default)]
    enrichment: Option<serde_json::Map<String, Value>>,
}

impl DryRunRequest {
    /// A payload judged by the loaded rules, decoded by `source` (a decoder name or `auto`).
    pub fn loaded_rules(source: String, payload: Value) -> Self {
        DryRunRequest {
            source: Some(source),
            payload,
            rules: None,
            sigma: None,
            enrichment: None,
        }
    }
}

/// One judged alert as the dry run shows it.
fn shown(item: usize, from: &str, mut alert: Alert, verdict: Verdict) -> Value {
    alert.raw = Value::Null;
    json!({
        "item": item,
        "from": from,
        "alert": alert,
        "rule": verdict.rule,
        "severity": verdict.severity,
        "labels": verdict.labels,
        "key": verdict.key,
        "errors": verdict.errors.iter().map(|e| json!({"rule": e.rule, "message": e.message})).collect::<Vec<_>>(),
        "trace": verdict.trace,
    })
}

pub async fn dry_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    state.authorize(&headers, Scope::Read)?;
    let req: DryRunRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "expected {{\"source\", \"payload\", \"rules\"?, \"sigma\"?, \"enrichment\"?}}: {e}"
            ),
        )
    })?;
    run(&state, req).map(Json)
}

/// The dry run itself (the API's and the console playground's): `{results, events, errors}`.
pub fn run(state: &AppState, req: DryRunRequest) -> ApiResult<Value> {
    let source = req.source.unwrap_or_else(|| "auto".to_string());
    let dec = decoder(&source)
        .ok_or_else(|| ApiError::not_found(format!("unknown source {source:?}")))?;
    let draft;
    let live = state.app.settings.load();
    let rules: &TriageRules = match &req.rules {
        Some(text) => {
            draft = TriageRules::compile(&[RuleFile::new("draft", text.clone())]).map_err(
                |errors| {
                    let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                    ApiError::bad_request("invalid_rules", msgs.join("; "))
                },
            )?;
            &draft
        }
        None => &live.triage,
    };
    let draft_sigma;
    let sigma: &SigmaRules = match &req.sigma {
        Some(text) => {
            let (compiled, rejected) =
                SigmaRules::compile(&[RuleFile::new("draft.yml", text.clone())]);
            if !rejected.is_empty() {
                let msgs: Vec<String> = rejected.iter().map(|e| e.to_string()).collect();
                return Err(ApiError::bad_request("invalid_sigma", msgs.join("; ")));
            }
            draft_sigma = compiled;
            &draft_sigma
        }
        None => &live.sigma,
    };
    let items: Vec<Value> = match req.payload {
        Value::Array(items) => items,
        other => vec![other],
    };
    let enrichment = req.enrichment.map(Value::Object);
    let now = chrono::Utc::now();
    let mut results = Vec::new();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let explain = |a: Alert| {
            let v = match &enrichment {
                Some(e) => rules.explain_enriched(&a, e),
                None => rules.explain(&a),
            };
            (a, v)
        };
        match evaluate(dec, item, now, sigma, explain) {
            Ok(out) => {
                for e in out.events {
                    events.push(json!({
                        "item": index,
                        "source": e.event.source,
                        "name": e.event.name,
                        "account": e.event.account,
                        "actor": e.event.actor,
                        "detections": e.detections,
                    }));
                    for (alert, verdict) in e.hits {
                        results.push(shown(index, "sigma", alert, verdict));
                    }
                }
                for (alert, verdict) in out.alerts {
                    results.push(shown(index, "finding", alert, verdict));
                }
            }
            Err(e) => errors.push(json!({"item": index, "error": e.to_string()})),
        }
    }
    Ok(json!({"results": results, "events": events, "errors": errors}))
}
