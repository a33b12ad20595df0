//! The replay form (admin): a draft triage file replayed over stored alerts by the API's own
//! replay (`crate::replay::run`), its report shown as tables. Writes nothing but the audit entry.

use super::*;
use crate::api::rules_replay::parse_time;
use crate::replay::{self, Plan, Report};
use axum::Form;
use irene_rules::{RuleFile, TriageRules};
use std::sync::Arc;

/// Changed alerts shown.
const EXAMPLES: usize = 20;

#[derive(Debug, Default, Deserialize)]
pub(super) struct ReplayForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    triage: String,
    #[serde(default)]
    since: String,
}

struct Row {
    name: String,
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "console/replay.html")]
struct ReplayPage {
    viewer: Viewer,
    triage: String,
    since: String,
    ran: bool,
    /// Why the draft could not be replayed (invalid rules or window), shown above the form.
    problem: String,
    totals: Vec<Row>,
    rules: Vec<Row>,
    examples: Vec<Row>,
}

impl ReplayPage {
    fn empty(viewer: Viewer) -> Self {
        ReplayPage {
            viewer,
            triage: String::new(),
            since: "7d".into(),
            ran: false,
            problem: String::new(),
            totals: vec![],
            rules: vec![],
            examples: vec![],
        }
    }
}

pub(super) async fn replay_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = require(&state, &headers, Role::Admin).map(ReplayPage::empty);
    render(&state, page)
}

pub(super) async fn replay_run(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ReplayForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let page = replay_page(&state, &headers, form).await;
    render(&state, page)
}

async fn replay_page(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<Form<ReplayForm>, axum::extract::rejection::FormRejection>,
) -> Result<ReplayPage, ApiError> {
    let viewer = require(state, headers, Role::Admin)?;
    let Form(form) = form.map_err(|e| ApiError::bad_request("invalid_form", e.body_text()))?;
    access::check_form(&viewer, headers, &form.csrf)?;
    let mut page = ReplayPage::empty(viewer);
    page.triage = form.triage;
    page.since = form.since.trim().to_string();
    let now = Utc::now();
    let since = match parse_time(&page.since, now) {
        Ok(t) if t < now => t,
        Ok(_) => {
            page.problem = "since must be in the past".into();
            return Ok(page);
        }
        Err(e) => {
            page.problem = e;
            return Ok(page);
        }
    };
    let draft = match TriageRules::compile(&[RuleFile::new("draft.yaml", page.triage.clone())]) {
        Ok(r) => Arc::new(r),
        Err(errors) => {
            let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            page.problem = msgs.join("; ");
            return Ok(page);
        }
    };
    let plan = Plan {
        live: state.app.settings.load().triage.clone(),
        draft,
        sigma: None,
        since,
        until: now,
        examples: EXAMPLES,
    };
    let store = state.app.store.clone();
    let handle = tokio::runtime::Handle::current();
    let report = tokio::task::spawn_blocking(move || {
        replay::run(&handle, store.clone(), store.planner(), &plan, &mut |_| {
            true
        })
    })
    .await
    .map_err(|e| internal(e.to_string()))?
    .map_err(|e| internal(e.to_string()))?;
    access::audit(state, &page.viewer, "rules.replay", "triage", &page.since).await;
    fill(&mut page, report);
    Ok(page)
}

fn internal(e: String) -> ApiError {
    tracing::error!(error = %e, "console rule replay failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "replay_failed",
        "the replay failed; see the server's log",
    )
}

fn fill(page: &mut ReplayPage, r: Report) {
    let t = &r.totals;
    let pair = |name: &str, before: u64, after: u64| Row {
        name: name.into(),
        before: before.to_string(),
        after: after.to_string(),
    };
    page.ran = true;
    page.totals = vec![
        pair("alerts scanned", t.alerts_scanned, t.alerts_scanned),
        pair("cases", t.cases_before, t.cases_after),
        pair("deliveries", t.deliveries_before, t.deliveries_after),
        Row {
            name: "verdicts changed".into(),
            before: String::new(),
            after: t.verdicts_changed.to_string(),
        },
    ];
    page.rules = r
        .rules
        .iter()
        .map(|c| Row {
            name: c.rule.clone().unwrap_or_else(|| "(no rule)".into()),
            before: c.before.to_string(),
            after: c.after.to_string(),
        })
        .collect();
    let verdict = |v: &Option<replay::ExampleVerdict>| {
        v.as_ref().map_or_else(String::new, |v| {
            format!(
                "{} · {}",
                v.rule.as_deref().unwrap_or("(no rule)"),
                v.severity.as_str()
            )
        })
    };
    page.examples = r
        .examples
        .iter()
        .map(|e| Row {
            name: e.alert_id.to_string(),
            before: verdict(&e.before),
            after: verdict(&e.after),
        })
        .collect();
}
