//! The web console: HTML pages (overview, case list, case, audit-log events, dead letters,
//! quarantine, the audit log, sign-in), one file per page, over the same store reads as the
//! API, behind `access`'s sign-in layer, and their forms' actions (`actions.rs`, through
//! `app`); this module holds what the pages share. No business rules; no writes but through `app`.

use crate::api::error::ApiError;
/// The case list's filters, as query parameters (and as kept in its links): the API's own.
use crate::api::CaseQuery as ListQuery;
use crate::api::{
    case_param, health, parse_id, state_param, AppState, EventQuery, DELIVERY_STATES,
};
use access::require;
pub use access::{Role, Viewer};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use irene_core::{Case, CaseStatus, Severity};
use irene_store::{DeliveryFilter, InvestigationFilter};
use notice::{Notice, NoticeQuery};
use serde::{Deserialize, Serialize};

mod access;
mod actions;
mod audit;
mod case;
mod cases;
mod charts;
mod deliveries;
mod events;
mod markdown;
mod notice;
mod oidc;
mod overview;
mod quarantine;
mod replay;
mod rules;
mod runbooks;
mod settings;
mod signin;
mod silences;
mod sources;

/// Every console page's policy: our stylesheet, our one script file (no inline script, no
/// eval), our own images, fetches to ourselves (live refresh) and forms to ourselves only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                       img-src 'self'; connect-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'";

const STYLESHEET: &str = include_str!("../../templates/console/console.css");
/// Keyboard shortcuts and live refresh; every page works without it.
const SCRIPT: &str = include_str!("../../templates/console/console.js");

/// Cases read per page of the case list.
const PAGE_SIZE: u32 = 50;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/signin", get(signin::form).post(signin::sign_in))
        .route("/signin/oidc", get(oidc::start))
        .route("/signin/oidc/callback", get(oidc::callback))
        .route("/signout", post(signin::sign_out))
        .route("/signout/everywhere", post(signin::sign_out_everywhere))
        .route("/audit", get(audit::audit))
        .route("/cases", get(cases::cases))
        .route("/cases/{id}", get(case::case))
        .route("/events", get(events::events))
        .route("/deliveries", get(deliveries::deliveries))
        .route("/quarantine", get(quarantine::quarantine))
        .route("/cases/bulk", post(actions::bulk))
        .route("/cases/{id}/resolve", post(actions::resolve))
        .route("/cases/{id}/reopen", post(actions::reopen))
        .route("/cases/{id}/investigate", post(actions::investigate))
        .route("/cases/{id}/silence", post(actions::silence))
        .route("/deliveries/redrive", post(actions::redrive_all))
        .route("/deliveries/{id}/redrive", post(actions::redrive))
        .route("/quarantine/retry", post(actions::requeue_all))
        .route("/quarantine/{id}/retry", post(actions::requeue))
        .route("/charts/alerts.svg", get(overview::alerts_chart))
        .route("/rules", get(rules::rules))
        .route(
            "/rules/playground",
            get(rules::playground).post(rules::playground_run),
        )
        .route(
            "/rules/replay",
            get(replay::replay_form).post(replay::replay_run),
        )
        .route("/settings", get(settings::index))
        .route("/settings/templates/preview", post(settings::preview))
        .route("/settings/{kind}", get(settings::kind).post(settings::edit))
        .route("/settings/{kind}/diff", get(settings::diff_page))
        .route("/silences", get(silences::list).post(silences::add))
        .route("/silences/{id}/expire", post(silences::expire))
        .route("/sources", get(sources::list))
        .route("/sources/{name}", get(sources::one))
        .route("/sources/{name}/test", post(sources::test))
        .route("/runbooks", get(runbooks::list))
        .route("/runbooks/{*name}", get(runbooks::one))
        .route("/console.css", get(stylesheet))
        .route("/console.js", get(script))
        .route_layer(axum::middleware::from_fn_with_state(state, access::layer))
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

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        SCRIPT,
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    viewer: Viewer,
    title: String,
    message: String,
}

/// A failure as an HTML page with the API's status (and its `WWW-Authenticate` on 401).
fn error_page(state: &AppState, e: ApiError) -> Response {
    let page = ErrorPage {
        viewer: Viewer::nobody(access::is_open(state)),
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

fn list_href(q: &ListQuery) -> String {
    format!(
        "/cases?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

struct Choice {
    value: String,
    selected: bool,
}

/// A list page's first step: the caller may read, and its query parses (400 if not).
fn read_query<T>(
    state: &AppState,
    headers: &HeaderMap,
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<(Viewer, T), ApiError> {
    let viewer = require(state, headers, Role::Viewer)?;
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    Ok((viewer, q))
}

/// The notice of an action's redirect, if the query carries one (a bad query: none).
fn notice_of(
    state: &AppState,
    query: Result<Query<NoticeQuery>, axum::extract::rejection::QueryRejection>,
) -> Option<Notice> {
    notice::notice(state, query.ok().map(|Query(q)| q))
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn events_href(q: &EventQuery) -> String {
    format!(
        "/events?{}",
        serde_urlencoded::to_string(q).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses_are_linked() {
        assert!(is_web_url("https://github.com/acme/x/issues/1"));
        assert!(is_web_url("HTTP://example.test/"));
        for bad in ["javascript:alert(1)", "data:text/html,x", "//evil.test", ""] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }
}
