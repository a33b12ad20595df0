//! The overview page: open cases by severity and source, alerts per hour (the chart's route),
//! resolve times, top alert types, and the pipeline's health. Reads counts only; no paging.

use super::*;

/// The chart's and the top types' window, in hours (7 days).
const CHART_HOURS: i64 = 7 * 24;
/// The window of the mean time to resolve, in days.
const RESOLVE_DAYS: i64 = 30;
/// Alert types listed.
const TOP_TYPES: u32 = 10;

struct ResolveRow {
    severity: String,
    resolves: i64,
    mean: String,
}

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
    resolve_times: Vec<ResolveRow>,
    /// The most frequent alert types of the last 7 days (the name, no link).
    top_types: Vec<Count>,
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

    let by_source: Vec<Count> = store
        .open_counts_by_source()
        .await?
        .into_iter()
        .map(|c| Count {
            href: list_href(&ListQuery {
                status: Some("open".into()),
                source: Some(c.name.clone()),
                ..Default::default()
            }),
            name: c.name,
            count: c.count,
        })
        .collect();
    let now = Utc::now();
    let resolve_times = store
        .resolve_times(now - chrono::Duration::days(RESOLVE_DAYS), now)
        .await?
        .into_iter()
        .map(|r| ResolveRow {
            severity: r.severity.as_str().to_string(),
            resolves: r.resolves,
            mean: duration_text(r.mean_seconds),
        })
        .collect();
    let top_types = store
        .alert_type_counts(now - chrono::Duration::hours(CHART_HOURS), now, TOP_TYPES)
        .await?
        .into_iter()
        .map(|c| Count {
            name: c.name,
            count: c.count,
            href: String::new(),
        })
        .collect();

    let h = health(state).await?;
    Ok(OverviewPage {
        viewer,
        open_total,
        by_severity,
        by_source,
        resolve_times,
        top_types,
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

/// `GET /charts/alerts.svg`: alerts per hour over the last 7 days, as SVG.
pub(super) async fn alerts_chart(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let chart = async {
        require(&state, &headers, Role::Viewer)?;
        let now = Utc::now();
        // whole hours: the current one is the last bar
        let end = DateTime::from_timestamp(now.timestamp() / 3600 * 3600, 0).unwrap_or(now)
            + chrono::Duration::hours(1);
        let since = end - chrono::Duration::hours(CHART_HOURS);
        let counts = state.app.store.alerts_per_hour(since, end).await?;
        Ok::<_, ApiError>(super::charts::alerts_per_hour(&counts, since, CHART_HOURS))
    };
    match chart.await {
        Ok(svg) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::CACHE_CONTROL, "private, no-store"),
            ],
            svg,
        )
            .into_response(),
        Err(e) => error_page(&state, e),
    }
}

/// `90061` seconds as `1d 1h 1m`; under a minute as seconds.
fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    if s < 60 {
        return format!("{s}s");
    }
    let (d, h, m) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::duration_text;

    #[test]
    fn durations_read_as_days_hours_minutes() {
        assert_eq!(duration_text(42.4), "42s");
        assert_eq!(duration_text(7200.0), "2h 0m");
        assert_eq!(duration_text(90_061.0), "1d 1h 1m");
        assert_eq!(duration_text(600.0), "10m");
    }
}
