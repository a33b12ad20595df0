//! The runbook pages: the live runbooks (which cases each is for) and one runbook rendered; and
//! the runbook a case page shows. Choosing is `settings::runbooks`'s; this only renders.

use super::*;
use crate::settings::runbooks::Runbook;

/// A runbook as a page shows it: its markdown already rendered safe (see `markdown`).
pub(super) struct RunbookView {
    pub name: String,
    pub title: String,
    pub html: String,
}

impl RunbookView {
    fn of(r: &Runbook) -> RunbookView {
        RunbookView {
            name: r.name.clone(),
            title: r.title.clone(),
            html: markdown::to_html(&r.body),
        }
    }
}

/// The runbook the live settings choose for `case`, if any.
pub(super) fn for_case(state: &AppState, case: &Case) -> Option<RunbookView> {
    let snap = state.app.settings.load();
    snap.runbooks
        .choose(&irene_outputs::case_json(case))
        .map(RunbookView::of)
}

struct RunbookRow {
    name: String,
    title: String,
    types: String,
    when: String,
}

#[derive(Template)]
#[template(path = "console/runbooks.html")]
struct RunbooksPage {
    viewer: Viewer,
    rows: Vec<RunbookRow>,
}

pub(super) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = require(&state, &headers, Role::Viewer).map(|viewer| {
        let snap = state.app.settings.load();
        RunbooksPage {
            viewer,
            rows: snap
                .runbooks
                .all()
                .map(|r| RunbookRow {
                    name: r.name.clone(),
                    title: r.title.clone(),
                    types: r.types.join(", "),
                    when: r.when.clone().unwrap_or_default(),
                })
                .collect(),
        }
    });
    render(&state, page)
}

#[derive(Template)]
#[template(path = "console/runbook.html")]
struct RunbookPage {
    viewer: Viewer,
    runbook: RunbookView,
}

pub(super) async fn one(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    let page = require(&state, &headers, Role::Viewer).and_then(|viewer| {
        let snap = state.app.settings.load();
        let r = snap
            .runbooks
            .get(&name)
            .ok_or_else(|| ApiError::not_found(format!("no runbook {name:?}")))?;
        Ok(RunbookPage {
            viewer,
            runbook: RunbookView::of(r),
        })
    });
    render(&state, page)
}
