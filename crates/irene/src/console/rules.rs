//! The rules page (triage and Sigma rules with their hits, the rule behind the latest alerts)
//! and the playground (the API's dry run on a pasted or stored alert). Writes nothing.

use super::*;
use crate::api::rules_dry_run::{run as dry_run, DryRunRequest};
use axum::Form;
use serde_json::Value;

/// The latest alerts shown with the rule that decided them.
const RECENT: u32 = 20;
/// Sigma rules are counted by alert type (a hit's type is its rule's id): types read per window.
const SIGMA_TYPES: u32 = 10_000;
/// A playground payload larger than this is refused (the API's body limit is larger; a form
/// is for one alert or a few).
const PLAYGROUND_MAX: usize = 256 * 1024;

struct RuleRow {
    name: String,
    title: String,
    hits_day: i64,
    hits_week: i64,
}

struct RecentRow {
    received_at: String,
    source: String,
    kind: String,
    title: String,
    severity: String,
    rule: String,
    alert_id: String,
    case_id: String,
}

#[derive(Template)]
#[template(path = "console/rules.html")]
struct RulesPage {
    viewer: Viewer,
    triage: Vec<RuleRow>,
    /// Alerts no triage rule decided (the source's severity stood): 24 h, 7 d.
    undecided_day: i64,
    undecided_week: i64,
    sigma: Vec<RuleRow>,
    recent: Vec<RecentRow>,
    /// The viewer may replay drafts (admin): the replay form is linked.
    can_replay: bool,
}

pub(super) async fn rules(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = rules_page(&state, &headers).await;
    render(&state, page)
}

async fn rules_page(state: &AppState, headers: &HeaderMap) -> Result<RulesPage, ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let store = &state.app.store;
    let now = Utc::now();
    let day = now - chrono::Duration::hours(24);
    let week = now - chrono::Duration::days(7);
    let by_rule_day = store.alert_rule_counts(day, now).await?;
    let by_rule_week = store.alert_rule_counts(week, now).await?;
    let rule_hits = |counts: &[irene_store::RuleCount], name: Option<&str>| {
        counts
            .iter()
            .find(|c| c.rule.as_deref() == name)
            .map_or(0, |c| c.count)
    };
    let by_type_day = store.alert_type_counts(day, now, SIGMA_TYPES).await?;
    let by_type_week = store.alert_type_counts(week, now, SIGMA_TYPES).await?;
    let type_hits = |counts: &[irene_store::NameCount], id: &str| {
        counts.iter().find(|c| c.name == id).map_or(0, |c| c.count)
    };
    let live = state.app.settings.load();
    let triage = live
        .triage
        .names()
        .into_iter()
        .map(|name| RuleRow {
            name: name.to_string(),
            title: String::new(),
            hits_day: rule_hits(&by_rule_day, Some(name)),
            hits_week: rule_hits(&by_rule_week, Some(name)),
        })
        .collect();
    let sigma = live
        .sigma
        .rules()
        .iter()
        .map(|r| RuleRow {
            name: r.id.clone(),
            title: r.title.clone(),
            hits_day: type_hits(&by_type_day, &r.id),
            hits_week: type_hits(&by_type_week, &r.id),
        })
        .collect();
    let recent = store
        .alerts_recent(RECENT)
        .await?
        .into_iter()
        .map(|a| RecentRow {
            received_at: when(a.received_at),
            source: a.judged.alert.source,
            kind: a.judged.alert.kind,
            title: a.judged.alert.title,
            severity: a.judged.severity.as_str().to_string(),
            rule: a.judged.rule.unwrap_or_default(),
            alert_id: a.id.to_string(),
            case_id: a.case_id.map(|c| c.to_string()).unwrap_or_default(),
        })
        .collect();
    Ok(RulesPage {
        can_replay: viewer.can(Role::Admin),
        viewer,
        triage,
        undecided_day: rule_hits(&by_rule_day, None),
        undecided_week: rule_hits(&by_rule_week, None),
        sigma,
        recent,
    })
}

/// The playground's form: a payload and its decoder, or a stored alert's id.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PlaygroundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    payload: Option<String>,
    #[serde(default)]
    alert_id: Option<String>,
}

/// One judged alert of a dry run.
struct ResultRow {
    item: String,
    from: String,
    source: String,
    kind: String,
    title: String,
    rule: String,
    severity: String,
    labels: String,
    key: String,
    /// Rules that failed to evaluate on the way: `rule: message`.
    errors: Vec<String>,
    /// Each rule's `when` as evaluated, in order, up to the deciding one: `(rule, result)`.
    trace: Vec<(String, String)>,
}

struct EventRow {
    item: String,
    source: String,
    name: String,
    detections: String,
}

#[derive(Template)]
#[template(path = "console/playground.html")]
struct PlaygroundPage {
    viewer: Viewer,
    sources: Vec<Choice>,
    payload: String,
    alert_id: String,
    ran: bool,
    results: Vec<ResultRow>,
    events: Vec<EventRow>,
    errors: Vec<String>,
}

fn sources(selected: &str) -> Vec<Choice> {
    std::iter::once("auto")
        .chain(irene_sources::names())
        .map(|name| Choice {
            value: name.to_string(),
            selected: name == selected,
        })
        .collect()
}

pub(super) async fn playground(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = require(&state, &headers, Role::Viewer).map(|viewer| PlaygroundPage {
        viewer,
        sources: sources("auto"),
        payload: String::new(),
        alert_id: String::new(),
        ran: false,
        results: vec![],
        events: vec![],
        errors: vec![],
    });
    render(&state, page)
}

pub(super) async fn playground_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<PlaygroundForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let page = playground_page(&state, &headers, form).await;
    render(&state, page)
}

async fn playground_page(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<PlaygroundForm>, axum::extract::rejection::FormRejection>,
) -> Result<PlaygroundPage, ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let Form(form) = form.map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
    access::check_form(&viewer, headers, &form.csrf)?;
    let alert_id = nonempty(form.alert_id).unwrap_or_default();
    let payload_text = form.payload.unwrap_or_default();
    let mut source = nonempty(form.source).unwrap_or_else(|| "auto".to_string());
    let payload: Value = if !alert_id.is_empty() {
        let id = parse_id("alert", &alert_id)?;
        let stored = state
            .app
            .store
            .alert_get(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))?;
        source = stored.judged.alert.source.clone();
        stored.judged.alert.raw
    } else {
        if payload_text.len() > PLAYGROUND_MAX {
            return Err(ApiError::bad_request(
                "payload_too_large",
                format!("the payload is over {} KiB", PLAYGROUND_MAX / 1024),
            ));
        }
        serde_json::from_str(&payload_text).map_err(|e| {
            ApiError::bad_request("invalid_payload", format!("the payload is not JSON: {e}"))
        })?
    };
    let out = dry_run(state, DryRunRequest::loaded_rules(source.clone(), payload))?;
    Ok(PlaygroundPage {
        viewer,
        sources: sources(&source),
        payload: payload_text,
        alert_id,
        ran: true,
        results: list(&out, "results").iter().map(result_row).collect(),
        events: list(&out, "events")
            .iter()
            .map(|e| EventRow {
                item: text(&e["item"]),
                source: text(&e["source"]),
                name: text(&e["name"]),
                detections: text(&e["detections"]),
            })
            .collect(),
        errors: list(&out, "errors")
            .iter()
            .map(|e| format!("item {}: {}", text(&e["item"]), text(&e["error"])))
            .collect(),
    })
}

fn list<'a>(out: &'a Value, field: &str) -> &'a [Value] {
    out[field].as_array().map_or(&[], Vec::as_slice)
}

/// A JSON value as plain text: strings as they are, null as nothing, the rest as JSON.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn result_row(r: &Value) -> ResultRow {
    ResultRow {
        item: text(&r["item"]),
        from: text(&r["from"]),
        source: text(&r["alert"]["source"]),
        kind: text(&r["alert"]["type"]),
        title: text(&r["alert"]["title"]),
        rule: text(&r["rule"]),
        severity: text(&r["severity"]),
        labels: r["labels"]
            .as_array()
            .map(|l| l.iter().map(text).collect::<Vec<_>>().join(", "))
            .unwrap_or_default(),
        key: text(&r["key"]),
        errors: list(r, "errors")
            .iter()
            .map(|e| format!("{}: {}", text(&e["rule"]), text(&e["message"])))
            .collect(),
        trace: list(r, "trace")
            .iter()
            .map(|s| (text(&s["rule"]), text(&s["result"])))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_dry_run_result_reads_as_a_row() {
        let r = json!({
            "item": 0, "from": "finding",
            "alert": {"source": "aws.guardduty", "type": "Recon:EC2/Portscan", "title": "<b>x</b>"},
            "rule": "portscans", "severity": "low", "labels": ["noise", "recon"], "key": "k",
            "errors": [{"rule": "bad", "message": "no such field"}],
            "trace": [{"rule": "bad", "result": "error"}, {"rule": "portscans", "result": "true"}],
        });
        let row = result_row(&r);
        assert_eq!(row.item, "0");
        assert_eq!(row.rule, "portscans");
        assert_eq!(
            row.title, "<b>x</b>",
            "kept as text; the template escapes it"
        );
        assert_eq!(row.labels, "noise, recon");
        assert_eq!(row.errors, vec!["bad: no such field".to_string()]);
        assert_eq!(
            row.trace,
            vec![
                ("bad".to_string(), "error".to_string()),
                ("portscans".to_string(), "true".to_string())
            ]
        );
        let none = result_row(&json!({"rule": null}));
        assert_eq!(none.rule, "");
    }
}
