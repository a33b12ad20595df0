//! The audit-log events page: the API's event search as HTML, with each event's detections.
//! Reads only; filters are parsed by the API's own `EventQuery`.

use super::*;

/// Events read per page of the events search (unless `limit` says otherwise).
const EVENTS_PAGE_SIZE: &str = "50";

struct EventRow {
    at: String,
    source: String,
    name: String,
    principal: String,
    principal_href: String,
    ip: String,
    ip_href: String,
    account: String,
    detections: Vec<String>,
    raw: String,
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    viewer: Viewer,
    rows: Vec<EventRow>,
    ip: String,
    principal: String,
    account: String,
    name: String,
    source: String,
    since: String,
    until: String,
    next: String,
}

pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = events_page(&state, &headers, query).await;
    render(&state, page)
}

async fn events_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<EventsPage, ApiError> {
    let (viewer, q) = read_query(state, headers, query)?;
    let q = EventQuery {
        source: nonempty(q.source),
        ip: nonempty(q.ip),
        principal: nonempty(q.principal),
        account: nonempty(q.account),
        name: nonempty(q.name),
        since: nonempty(q.since),
        until: nonempty(q.until),
        limit: nonempty(q.limit),
        cursor: nonempty(q.cursor),
    };
    // the API's parsing; the console's page size when none is asked for
    let filter = EventQuery {
        limit: q.limit.clone().or_else(|| Some(EVENTS_PAGE_SIZE.into())),
        ..q.clone()
    }
    .filter()?;
    let page = state.app.store.events_list(&filter).await?;
    let next = page
        .next_cursor
        .map(|c| {
            events_href(&EventQuery {
                cursor: Some(c),
                ..q.clone()
            })
        })
        .unwrap_or_default();
    let rows = page
        .items
        .into_iter()
        .map(|e| {
            let principal = e.event.actor.principal.clone().unwrap_or_default();
            let ip = e.event.actor.ip.clone().unwrap_or_default();
            EventRow {
                at: when(e.event.observed_at.unwrap_or(e.received_at)),
                source: e.event.source,
                name: e.event.name,
                principal_href: if principal.is_empty() {
                    String::new()
                } else {
                    events_href(&EventQuery {
                        principal: Some(principal.clone()),
                        ..Default::default()
                    })
                },
                ip_href: if ip.is_empty() {
                    String::new()
                } else {
                    events_href(&EventQuery {
                        ip: Some(ip.clone()),
                        ..Default::default()
                    })
                },
                principal,
                ip,
                account: e.event.account.unwrap_or_default(),
                detections: e.detections,
                raw: serde_json::to_string_pretty(&e.event.raw).unwrap_or_default(),
            }
        })
        .collect();
    Ok(EventsPage {
        viewer,
        rows,
        ip: q.ip.unwrap_or_default(),
        principal: q.principal.unwrap_or_default(),
        account: q.account.unwrap_or_default(),
        name: q.name.unwrap_or_default(),
        source: q.source.unwrap_or_default(),
        since: q.since.unwrap_or_default(),
        until: q.until.unwrap_or_default(),
        next,
    })
}
