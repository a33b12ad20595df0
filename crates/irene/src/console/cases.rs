//! The case list page: filters, cursor paging, and the bulk actions' form (a box per case).
//! Reads one page of cases per request; the form posts to `actions.rs`.

use super::*;
use irene_store::CaseSort;

/// The case list counts its matches up to this (a count is a scan of what matches).
const COUNT_CAP: u32 = 10_001;

struct CaseRow {
    id: String,
    severity: String,
    title: String,
    source: String,
    account: String,
    status: String,
    last_seen: String,
    count: i64,
}

impl CaseRow {
    fn of(c: &Case) -> CaseRow {
        CaseRow {
            id: c.id.to_string(),
            severity: c.severity.as_str().to_string(),
            title: c.title.clone(),
            source: c.source.clone(),
            account: c.account.clone().unwrap_or_default(),
            status: c.status.as_str().to_string(),
            last_seen: when(c.last_seen),
            count: c.count,
        }
    }
}

#[derive(Template)]
#[template(path = "console/cases.html")]
struct CasesPage {
    viewer: Viewer,
    notice: Option<Notice>,
    rows: Vec<CaseRow>,
    /// This list's filters, as the bulk form carries them back.
    filters: String,
    bulk_max: usize,
    silence_duration: &'static str,
    severities: Vec<Choice>,
    statuses: Vec<Choice>,
    /// How many cases match the filters (all pages).
    total: String,
    sorts: Vec<Choice>,
    source: String,
    account: String,
    label: String,
    q: String,
    /// The next page's link, when there is one.
    next: String,
}

pub(super) async fn cases(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    notice: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let notice = notice_of(&state, notice);
    let page = cases_page(&state, &headers, query, notice).await;
    render(&state, page)
}

async fn cases_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
    notice: Option<Notice>,
) -> Result<CasesPage, ApiError> {
    let (viewer, q) = read_query(state, headers, query)?;
    // the page size is the console's own; the rest are the API's filters
    let q = ListQuery { limit: None, ..q }.trimmed();
    let mut filter = q.filter(PAGE_SIZE)?;
    filter.limit = PAGE_SIZE;
    let (severity, status, sort) = (filter.severity, filter.status, filter.sort);
    let page = state.app.store.cases_list(&filter).await?;
    let total = state.app.store.cases_count(&filter, COUNT_CAP).await?;
    let total = if total >= u64::from(COUNT_CAP) {
        format!("more than {}", COUNT_CAP - 1)
    } else {
        total.to_string()
    };
    let next = page
        .next_cursor
        .map(|c| {
            list_href(&ListQuery {
                cursor: Some(c),
                ..q.clone()
            })
        })
        .unwrap_or_default();
    Ok(CasesPage {
        viewer,
        notice,
        filters: serde_urlencoded::to_string(&q).unwrap_or_default(),
        bulk_max: actions::BULK_MAX,
        silence_duration: actions::SILENCE_DEFAULT,
        rows: page.items.iter().map(CaseRow::of).collect(),
        severities: Severity::ALL
            .into_iter()
            .map(|s| Choice {
                value: s.as_str().to_string(),
                selected: severity == Some(s),
            })
            .collect(),
        statuses: [CaseStatus::Open, CaseStatus::Resolved]
            .into_iter()
            .map(|s| Choice {
                value: s.as_str().to_string(),
                selected: status == Some(s),
            })
            .collect(),
        total,
        sorts: [CaseSort::LastSeen, CaseSort::Severity]
            .into_iter()
            .map(|s| Choice {
                value: s.as_str().to_string(),
                selected: sort == s,
            })
            .collect(),
        source: q.source.unwrap_or_default(),
        account: q.account.unwrap_or_default(),
        label: q.label.unwrap_or_default(),
        q: q.q.unwrap_or_default(),
        next,
    })
}
