//! The overview page: open cases by severity and source, and the pipeline's health.
//! Reads counts only; it must not page through cases per row.

use super::*;

/// How many open cases the overview reads to count them by source (pages of 500).
const SOURCE_COUNT_PAGES: usize = 20;

struct Count {
    name: String,
    count: i64,
    /// The case list's query for these cases.
    href: String,
}

struct WorkerRow {
    name: String,
    state: String,
    runs: u64,
    errors_total: u64,
    last_run: String,
    last_error: String,
    last_error_at: String,
}

struct FeedRow {
    name: String,
    entries: i64,
    age: String,
    last_error: String,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    viewer: Viewer,
    open_total: i64,
    by_severity: Vec<Count>,
    by_source: Vec<Count>,
    /// Set when there were more open cases than the overview counts by source.
    sources_partial: bool,
    inbox_pending: i64,
    outbox_pending: i64,
    dead_letters: i64,
    quarantined: i64,
    workers: Vec<WorkerRow>,
    feeds: Vec<FeedRow>,
}

pub(super) async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = overview_page(&state, &headers).await;
    render(&state, page)
}

async fn overview_page(state: &AppState, headers: &HeaderMap) -> Result<OverviewPage, ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let store = &state.app.store;
    let per_severity = store.open_counts().await?;
    let by_severity: Vec<Count> = Severity::ALL
        .into_iter()
        .map(|s| Count {
            name: s.as_str().to_string(),
            count: per_severity
                .iter()
                .find(|(sev, _)| *sev == s)
                .map(|(_, n)| *n)
                .unwrap_or(0),
            href: list_href(&ListQuery {
                status: Some("open".into()),
                severity: Some(s.as_str().into()),
                ..Default::default()
            }),
        })
        .collect();
    let open_total = by_severity.iter().map(|c| c.count).sum();

    // by source: the store counts only by severity, so read the open cases in pages
    let mut sources: BTreeMap<String, i64> = BTreeMap::new();
    let mut filter = CaseFilter {
        status: Some(CaseStatus::Open),
        limit: 500,
        ..Default::default()
    };
    let mut sources_partial = false;
    for i in 0..SOURCE_COUNT_PAGES {
        let page = store.cases_list(&filter).await?;
        for c in &page.items {
            *sources.entry(c.source.clone()).or_default() += 1;
        }
        match page.next_cursor {
            Some(next) if i + 1 < SOURCE_COUNT_PAGES => filter.cursor = Some(next),
            Some(_) => sources_partial = true,
            None => break,
        }
    }
    let mut by_source: Vec<Count> = sources
        .into_iter()
        .map(|(name, count)| Count {
            href: list_href(&ListQuery {
                status: Some("open".into()),
                source: Some(name.clone()),
                ..Default::default()
            }),
            name,
            count,
        })
        .collect();
    by_source.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));

    let h = health(state).await?;
    Ok(OverviewPage {
        viewer,
        open_total,
        by_severity,
        by_source,
        sources_partial,
        inbox_pending: h.counts.inbox_pending,
        outbox_pending: h.counts.outbox_pending,
        dead_letters: h.counts.dead_letters,
        quarantined: h.counts.quarantined,
        workers: h
            .workers
            .into_iter()
            .map(|w| WorkerRow {
                name: w.name.to_string(),
                state: w.state.to_string(),
                runs: w.runs,
                errors_total: w.errors_total,
                last_run: when_opt(w.last_run_at),
                last_error: w.last_error.unwrap_or_default(),
                last_error_at: when_opt(w.last_error_at),
            })
            .collect(),
        feeds: h
            .feeds
            .into_iter()
            .map(|(f, age)| FeedRow {
                name: f.name,
                entries: f.entries,
                age: age
                    .map(|a| format!("{a} s"))
                    .unwrap_or_else(|| "never".into()),
                last_error: f.last_error.unwrap_or_default(),
            })
            .collect(),
    })
}
