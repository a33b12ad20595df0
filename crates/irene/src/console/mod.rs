//! The web console: read-only HTML pages (overview, case list, case, audit-log events, dead
//! letters, quarantine) over the same store reads as the API, under the API's auth rule. No
//! business rules and no writes here yet.

use crate::api::error::ApiError;
use crate::api::{
    case_param, health, parse_id, state_param, AppState, EventQuery, DELIVERY_STATES,
};
use crate::auth::Scope;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use irene_core::{Case, CaseStatus, Severity};
use irene_store::{CaseFilter, DeliveryFilter, InvestigationFilter};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every console page's policy: nothing but our stylesheet and our own images; no script at all.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
                       form-action 'self'; frame-ancestors 'none'";

const STYLESHEET: &str = include_str!("../../templates/console/console.css");

/// Cases read per page of the case list.
const PAGE_SIZE: u32 = 50;
/// How many open cases the overview reads to count them by source (pages of 500).
const SOURCE_COUNT_PAGES: usize = 20;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview))
        .route("/cases", get(cases))
        .route("/cases/{id}", get(case))
        .route("/events", get(events))
        .route("/deliveries", get(deliveries))
        .route("/quarantine", get(quarantine))
        .route("/console.css", get(stylesheet))
}

/// The headers every console page carries.
fn page_headers() -> [(HeaderName, &'static str); 5] {
    [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "private, no-store"),
    ]
}

fn html(status: StatusCode, body: String) -> Response {
    (status, page_headers(), body).into_response()
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    open: bool,
    title: String,
    message: String,
}

/// A failure as an HTML page with the API's status (and its `WWW-Authenticate` on 401).
fn error_page(state: &AppState, e: ApiError) -> Response {
    let page = ErrorPage {
        open: state.tokens.is_open(),
        title: format!(
            "{} {}",
            e.status.as_u16(),
            e.status.canonical_reason().unwrap_or("")
        ),
        message: e.message,
    };
    let body = page
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>error</title>".to_string());
    let mut resp = html(e.status, body);
    if e.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    resp
}

fn render(state: &AppState, page: Result<impl Template, ApiError>) -> Response {
    match page.and_then(|p| {
        p.render().map_err(|e| {
            tracing::error!(error = %e, "console template failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "render_failed",
                "the page could not be rendered",
            )
        })
    }) {
        Ok(body) => html(StatusCode::OK, body),
        Err(e) => error_page(state, e),
    }
}

/// Whether a link target is a plain web address (never `javascript:`, `data:`, …).
fn is_web_url(u: &str) -> bool {
    let lower = u.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn when_opt(t: Option<DateTime<Utc>>) -> String {
    t.map(when).unwrap_or_default()
}

// ---------------------------------------------------------------- overview

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
    open: bool,
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

fn list_href(q: &ListQuery) -> String {
    format!(
        "/cases?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

async fn overview(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = overview_page(&state, &headers).await;
    render(&state, page)
}

async fn overview_page(state: &AppState, headers: &HeaderMap) -> Result<OverviewPage, ApiError> {
    state.authorize(headers, Scope::Read)?;
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
        open: state.tokens.is_open(),
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

// ---------------------------------------------------------------- case list

/// The case list's filters, as query parameters (and as kept in its links).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
struct ListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

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

struct Choice {
    value: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "console/cases.html")]
struct CasesPage {
    open: bool,
    rows: Vec<CaseRow>,
    severities: Vec<Choice>,
    statuses: Vec<Choice>,
    source: String,
    q: String,
    /// The next page's link, when there is one.
    next: String,
}

/// A list page's first step: the caller may read, and its query parses (400 if not).
fn read_query<T>(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    state.authorize(headers, Scope::Read)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    Ok(q)
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn cases(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = cases_page(&state, &headers, query).await;
    render(&state, page)
}

async fn cases_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<CasesPage, ApiError> {
    let q = read_query(state, headers, query)?;
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
        open: state.tokens.is_open(),
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

// ---------------------------------------------------------------- one case

struct Pair {
    key: String,
    value: String,
}

struct TimelineRow {
    at: String,
    kind: String,
    detail: String,
    alert_id: String,
}

struct OccurrenceRow {
    alert_id: String,
    received_at: String,
    severity: String,
    state: String,
}

struct TicketRow {
    output: String,
    kind: String,
    reference: String,
    /// Only an http(s) address, else empty.
    url: String,
}

struct AttachmentRow {
    id: String,
    name: String,
    /// A PNG, shown inline; anything else is a link.
    png: bool,
}

struct InvestigationRow {
    investigator: String,
    trigger: String,
    state: String,
    status: String,
    reason: String,
    finished_at: String,
    summary: String,
    attachments: Vec<AttachmentRow>,
}

#[derive(Template)]
#[template(path = "console/case.html")]
struct CasePage {
    open: bool,
    id: String,
    title: String,
    severity: String,
    status: String,
    resolution: String,
    source: String,
    kind: String,
    account: String,
    region: String,
    resource_id: String,
    resource_kind: String,
    resource_name: String,
    tags: Vec<Pair>,
    labels: Vec<String>,
    rule: String,
    first_seen: String,
    last_seen: String,
    count: i64,
    timeline: Vec<TimelineRow>,
    occurrences: Vec<OccurrenceRow>,
    tickets: Vec<TicketRow>,
    investigations: Vec<InvestigationRow>,
    /// The latest alert as received, pretty-printed (empty when it is gone).
    raw: String,
    /// The latest alert's actor, each with its events search (empty when unknown).
    actor: Vec<ActorLink>,
}

/// A link to the events search for one of an actor's values.
struct ActorLink {
    /// "principal" or "IP"
    what: &'static str,
    value: String,
    href: String,
}

fn events_href(q: &EventQuery) -> String {
    format!(
        "/events?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

/// The events search links for an actor's principal and IP (those it has).
fn actor_links(actor: &irene_core::Actor) -> Vec<ActorLink> {
    let mut links = Vec::new();
    if let Some(p) = nonempty(actor.principal.clone()) {
        links.push(ActorLink {
            what: "principal",
            href: events_href(&EventQuery {
                principal: Some(p.clone()),
                ..Default::default()
            }),
            value: p,
        });
    }
    if let Some(ip) = nonempty(actor.ip.clone()) {
        links.push(ActorLink {
            what: "IP",
            href: events_href(&EventQuery {
                ip: Some(ip.clone()),
                ..Default::default()
            }),
            value: ip,
        });
    }
    links
}

/// Attachments looked at per case page (each is read to learn its type).
const ATTACHMENTS_SHOWN: usize = 40;

async fn case(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let page = case_page(&state, &headers, &id).await;
    render(&state, page)
}

async fn case_page(state: &AppState, headers: &HeaderMap, id: &str) -> Result<CasePage, ApiError> {
    state.authorize(headers, Scope::Read)?;
    let id = parse_id("case", id)?;
    let store = &state.app.store;
    let detail = store
        .case_get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case {id}")))?;
    let investigations = store
        .investigations_list(&InvestigationFilter {
            case_id: Some(id),
            limit: 500,
            ..Default::default()
        })
        .await?;
    let mut shown = 0usize;
    let mut rows = Vec::with_capacity(investigations.items.len());
    for i in investigations.items {
        let mut attachments = Vec::new();
        for a in i.attachments {
            if shown >= ATTACHMENTS_SHOWN {
                break;
            }
            shown += 1;
            if let Some(file) = store.attachment_get(a).await? {
                attachments.push(AttachmentRow {
                    id: a.to_string(),
                    png: file.content_type == "image/png",
                    name: file.name,
                });
            }
        }
        rows.push(InvestigationRow {
            investigator: i.investigator,
            trigger: i.trigger,
            state: i.state,
            status: i.status.unwrap_or_default(),
            reason: i.reason.unwrap_or_default(),
            finished_at: when_opt(i.finished_at),
            summary: i.summary.unwrap_or_default(),
            attachments,
        });
    }
    let (raw, actor) = match store.alert_get(detail.case.last_alert_id).await? {
        Some(a) => (
            serde_json::to_string_pretty(&a.judged.alert.raw).unwrap_or_default(),
            actor_links(&a.judged.alert.actor),
        ),
        None => (String::new(), Vec::new()),
    };
    let c = detail.case;
    Ok(CasePage {
        open: state.tokens.is_open(),
        id: c.id.to_string(),
        title: c.title,
        severity: c.severity.as_str().to_string(),
        status: c.status.as_str().to_string(),
        resolution: c
            .resolution
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        source: c.source,
        kind: c.kind,
        account: c.account.unwrap_or_default(),
        region: c.region.unwrap_or_default(),
        resource_id: c.resource.id.unwrap_or_default(),
        resource_kind: c.resource.kind.unwrap_or_default(),
        resource_name: c.resource.name.unwrap_or_default(),
        tags: c
            .resource
            .tags
            .into_iter()
            .map(|(key, value)| Pair { key, value })
            .collect(),
        labels: c.labels,
        rule: c.rule.unwrap_or_default(),
        first_seen: when(c.first_seen),
        last_seen: when(c.last_seen),
        count: c.count,
        timeline: detail
            .timeline
            .into_iter()
            .map(|t| TimelineRow {
                at: when(t.at),
                kind: t.kind.as_str().to_string(),
                detail: if t.detail.is_null() {
                    String::new()
                } else {
                    t.detail.to_string()
                },
                alert_id: t.alert_id.map(|a| a.to_string()).unwrap_or_default(),
            })
            .collect(),
        occurrences: detail
            .occurrences
            .into_iter()
            .map(|o| OccurrenceRow {
                alert_id: o.alert_id.to_string(),
                received_at: when(o.received_at),
                severity: o.severity.as_str().to_string(),
                state: o.state,
            })
            .collect(),
        tickets: c
            .tickets
            .into_iter()
            .map(|t| TicketRow {
                output: t.output,
                kind: t.kind,
                reference: t.reference,
                url: t.url.filter(|u| is_web_url(u)).unwrap_or_default(),
            })
            .collect(),
        investigations: rows,
        raw,
        actor,
    })
}

// ---------------------------------------------------------------- audit-log events

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
    open: bool,
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

async fn events(
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
    let q = read_query(state, headers, query)?;
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
        open: state.tokens.is_open(),
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

// ---------------------------------------------------------------- dead letters

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
struct DeliveriesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

struct DeliveryRowView {
    id: i64,
    output: String,
    action: String,
    case_id: String,
    state: String,
    attempts: i64,
    last_error: String,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage {
    open: bool,
    state: String,
    states: Vec<Choice>,
    rows: Vec<DeliveryRowView>,
    next: String,
}

async fn deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = deliveries_page(&state, &headers, query).await;
    render(&state, page)
}

async fn deliveries_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<DeliveriesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<DeliveriesPage, ApiError> {
    let q = read_query(state, headers, query)?;
    let q = DeliveriesQuery {
        // dead letters unless another state is asked for
        state: nonempty(q.state).or_else(|| Some("dead".into())),
        case: nonempty(q.case),
        output: nonempty(q.output),
        cursor: nonempty(q.cursor),
    };
    let st = state_param(q.state.clone(), &DELIVERY_STATES)?;
    let page = state
        .app
        .store
        .outbox_list(&DeliveryFilter {
            state: st.clone(),
            case_id: case_param(q.case.as_deref())?,
            output: q.output.clone(),
            limit: PAGE_SIZE,
            cursor: q.cursor.clone(),
        })
        .await?;
    let next = page
        .next_cursor
        .map(|c| {
            format!(
                "/deliveries?{}",
                serde_urlencoded::to_string(DeliveriesQuery {
                    cursor: Some(c),
                    ..q.clone()
                })
                .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let st = st.unwrap_or_default();
    Ok(DeliveriesPage {
        open: state.tokens.is_open(),
        states: DELIVERY_STATES
            .into_iter()
            .map(|s| Choice {
                value: s.to_string(),
                selected: s == st,
            })
            .collect(),
        state: st,
        rows: page
            .items
            .into_iter()
            .map(|d| DeliveryRowView {
                id: d.id,
                output: d.output,
                action: d.action.as_str().to_string(),
                case_id: d.case_id.map(|c| c.to_string()).unwrap_or_default(),
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error.unwrap_or_default(),
                updated_at: when(d.updated_at),
            })
            .collect(),
        next,
    })
}

// ---------------------------------------------------------------- quarantine

/// How much of a quarantined payload the page shows.
const EXCERPT_BYTES: usize = 4096;

#[derive(Debug, Default, Clone, Deserialize, Serialize)]
struct CursorQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

struct QuarantineRow {
    id: String,
    source: String,
    received_at: String,
    item_index: i64,
    error: String,
    excerpt: String,
    /// Set when the excerpt is cut.
    cut: bool,
}

#[derive(Template)]
#[template(path = "console/quarantine.html")]
struct QuarantinePage {
    open: bool,
    rows: Vec<QuarantineRow>,
    next: String,
}

/// `s` cut to at most `max` bytes on a character boundary, and whether it was cut.
fn excerpt(s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), true)
}

async fn quarantine(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<CursorQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let page = quarantine_page(&state, &headers, query).await;
    render(&state, page)
}

async fn quarantine_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<CursorQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<QuarantinePage, ApiError> {
    let q = read_query(state, headers, query)?;
    let cursor = nonempty(q.cursor);
    let page = state
        .app
        .store
        .quarantine_list(PAGE_SIZE, cursor.as_deref())
        .await?;
    let next = page
        .next_cursor
        .map(|c| {
            format!(
                "/quarantine?{}",
                serde_urlencoded::to_string(CursorQuery { cursor: Some(c) }).unwrap_or_default()
            )
        })
        .unwrap_or_default();
    Ok(QuarantinePage {
        open: state.tokens.is_open(),
        rows: page
            .items
            .into_iter()
            .map(|e| {
                let text = match e.raw {
                    serde_json::Value::String(s) => s,
                    v => serde_json::to_string_pretty(&v).unwrap_or_default(),
                };
                let (excerpt, cut) = excerpt(text, EXCERPT_BYTES);
                QuarantineRow {
                    id: e.id.to_string(),
                    source: e.source,
                    received_at: when(e.received_at),
                    item_index: e.item_index,
                    error: e.error,
                    excerpt,
                    cut,
                }
            })
            .collect(),
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case_page() -> CasePage {
        CasePage {
            open: false,
            id: "c1".into(),
            title: "<b>t</b>".into(),
            severity: "high".into(),
            status: "open".into(),
            resolution: String::new(),
            source: "generic".into(),
            kind: "k".into(),
            account: String::new(),
            region: String::new(),
            resource_id: String::new(),
            resource_kind: String::new(),
            resource_name: String::new(),
            tags: vec![Pair {
                key: "owner".into(),
                value: "\"><script>x</script>".into(),
            }],
            labels: vec![],
            rule: String::new(),
            first_seen: String::new(),
            last_seen: String::new(),
            count: 1,
            timeline: vec![],
            occurrences: vec![],
            tickets: vec![],
            investigations: vec![InvestigationRow {
                investigator: "exposure".into(),
                trigger: "opened".into(),
                state: "done".into(),
                status: "done".into(),
                reason: String::new(),
                finished_at: String::new(),
                summary: "**found** <script>alert(1)</script>".into(),
                attachments: vec![
                    AttachmentRow {
                        id: "a1".into(),
                        name: "shot\".png".into(),
                        png: true,
                    },
                    AttachmentRow {
                        id: "a2".into(),
                        name: "ports.csv".into(),
                        png: false,
                    },
                ],
            }],
            raw: "{\"x\": \"</pre><script>\"}".into(),
            actor: actor_links(&irene_core::Actor {
                principal: Some("arn:aws:iam::1:user/<b>".into()),
                ip: Some("198.51.100.7".into()),
                user_agent: None,
            }),
        }
    }

    #[test]
    fn case_page_shows_pngs_inline_links_otherwise_and_escapes_everything() {
        let html = case_page().render().expect("render");
        assert!(html.contains(r#"<img src="/api/v1/attachments/a1" alt="shot&#34;.png">"#));
        assert!(html.contains(r#"<a href="/api/v1/attachments/a2">ports.csv</a>"#));
        assert!(!html.contains("/api/v1/attachments/a2\" alt"));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>t</b>"));
        assert!(html.contains("&#60;/pre&#62;"));
        // the actor's searches, their values as text
        assert!(html.contains(
            r#"<a class="actor-events" href="/events?principal=arn%3Aaws%3Aiam%3A%3A1%3Auser%2F%3Cb%3E">"#
        ), "{html}");
        assert!(html.contains("<code>arn:aws:iam::1:user/&#60;b&#62;</code>"));
        assert!(html.contains(r#"href="/events?ip=198.51.100.7""#));
        assert!(!html.contains("No accounts configured"));
    }

    #[test]
    fn excerpts_are_cut_on_a_character_boundary() {
        assert_eq!(excerpt("abc".into(), 3), ("abc".to_string(), false));
        assert_eq!(excerpt("abcd".into(), 3), ("abc".to_string(), true));
        assert_eq!(excerpt("aé".into(), 2), ("a".to_string(), true));
    }

    #[test]
    fn only_web_addresses_are_linked() {
        assert!(is_web_url("https://github.com/acme/x/issues/1"));
        assert!(is_web_url("HTTP://example.test/"));
        for bad in ["javascript:alert(1)", "data:text/html,x", "//evil.test", ""] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }
}
