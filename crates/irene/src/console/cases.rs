//! The case list page: filters, cursor paging, and the bulk actions' form (a box per case).
//! Reads one page of cases per request; the form posts to `actions.rs`.

use super::*;

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
    source: String,
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
    let q = ListQuery {
        severity: nonempty(q.severity),
        status: nonempty(q.status),
        source: nonempty(q.source),
        q: nonempty(q.q),
        cursor: nonempty(q.cursor),
    };
    let severity = q
        .severity
        .as_deref()
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|e| ApiError::bad_request("invalid_severity", e.to_string()))
        })
        .transpose()?;
    let status = q
        .status
        .as_deref()
        .map(|s| {
            s.parse::<CaseStatus>()
                .map_err(|e| ApiError::bad_request("invalid_status", e))
        })
        .transpose()?;
    let page = state
        .app
        .store
        .cases_list(&CaseFilter {
            severity,
            status,
            source: q.source.clone(),
            q: q.q.clone(),
            limit: PAGE_SIZE,
            cursor: q.cursor.clone(),
        })
        .await?;
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
        source: q.source.unwrap_or_default(),
        q: q.q.unwrap_or_default(),
        next,
    })
}
