//! The HTTP API v1 of DESIGN.md: routes, shared state and auth checks.
//! Handlers translate HTTP to the application layer (`crate::app`) and to store reads; they hold
//! no business rules, wake no worker and count no case change themselves.

mod cases;
mod deliveries;
pub use deliveries::STATES as DELIVERY_STATES;
pub mod error;
mod events;
pub use cases::CaseQuery;
pub use events::EventQuery;
mod files;
mod ingest;
mod ingest_push;
pub(crate) mod investigations;
mod ops;
pub use ops::{health, Health};
pub(crate) mod rules_dry_run;
pub(crate) mod rules_replay;
pub(crate) mod settings;
mod watch;
pub mod webhooks;

use crate::app::App;
use crate::auth::{Scope, Tokens};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use error::{ApiError, ApiResult};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    /// What the handlers ask Irene to do (accept, resolve, replay, …) and read (the store).
    pub app: App,
    pub tokens: Arc<Tokens>,
    pub metrics: PrometheusHandle,
    /// GitHub outputs that accept inbound webhooks.
    pub github_hooks: Arc<Vec<webhooks::GithubHook>>,
    /// Every background worker's state and last error (for `/api/v1/status`).
    pub workers: Arc<crate::worker::Workers>,
    /// Checks `/files/{token}` capability links.
    pub files: Arc<irene_outputs::files::FileLinks>,
    /// How people reach Irene (case links in template previews; `Secure` session cookies
    /// when it is https).
    pub public_url: String,
    /// The console's session lifetimes (`[console]`).
    pub console: Arc<crate::config::ConsoleConfig>,
    /// The SNS and Pub/Sub push intakes (`[intake.sns]`, `[intake.pubsub]`); `None` when off.
    pub push: Arc<irene_push::Verifiers>,
}

impl AppState {
    /// Checks the bearer token for `scope`; returns the caller's name. For ingestion the
    /// token may come in an `X-Api-Key` header instead (EventBridge API destinations'
    /// API-key connections send a header of their choosing, not a bearer).
    pub fn authorize(&self, headers: &HeaderMap, scope: Scope) -> ApiResult<String> {
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        let api_key;
        let authorization = match header(axum::http::header::AUTHORIZATION.as_str()) {
            Some(a) => Some(a),
            None if scope == Scope::Ingest => {
                api_key = header("x-api-key").map(|k| format!("Bearer {}", k.trim()));
                api_key.as_deref()
            }
            None => None,
        };
        Ok(self.tokens.check(authorization, scope)?)
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/ingest/{source}", post(ingest::ingest))
        // authenticated by the SNS signature / the Pub/Sub OIDC token, not by a bearer token
        .route("/api/v1/ingest/{source}/sns", post(ingest_push::sns))
        .route("/api/v1/ingest/{source}/pubsub", post(ingest_push::pubsub))
        .route("/api/v1/cases", get(cases::list))
        .route("/api/v1/cases/{id}", get(cases::get_one))
        .route("/api/v1/cases/{id}/resolve", post(cases::resolve))
        .route(
            "/api/v1/cases/{id}/investigate",
            post(investigations::investigate),
        )
        .route("/api/v1/attachments/{id}", get(investigations::attachment))
        .route("/api/v1/watch", get(watch::list))
        .route("/api/v1/watch/{name}/accept", post(watch::accept))
        // a capability link: the signed token is the authorization, no bearer token
        .route("/files/{token}", get(files::get))
        .route("/api/v1/alerts/{id}", get(cases::alert))
        .route("/api/v1/quarantine", get(ops::quarantine_list))
        .route("/api/v1/quarantine/{id}/retry", post(ops::quarantine_retry))
        .route("/api/v1/events", get(events::list))
        .route("/api/v1/deliveries", get(deliveries::list))
        .route("/api/v1/investigations", get(investigations::list))
        .route("/api/v1/deliveries/{id}/retry", post(deliveries::retry))
        .route("/api/v1/webhooks/github", post(webhooks::github))
        .route("/api/v1/rules/test", post(rules_dry_run::dry_run))
        .route("/api/v1/settings/apply", post(settings::apply))
        .route(
            "/api/v1/settings/templates/preview",
            post(settings::preview),
        )
        .route(
            "/api/v1/settings/{kind}",
            get(settings::current).put(settings::put),
        )
        .route("/api/v1/settings/{kind}/versions", get(settings::versions))
        .route(
            "/api/v1/settings/{kind}/versions/{n}",
            get(settings::version),
        )
        .route("/api/v1/settings/{kind}/diff", get(settings::diff_versions))
        .route(
            "/api/v1/silences",
            get(settings::silences).post(settings::silence_add),
        )
        .route(
            "/api/v1/silences/{id}/expire",
            post(settings::silence_expire),
        )
        .route("/api/v1/rules/replay", post(rules_replay::replay))
        .route("/api/v1/status", get(ops::status))
        .route("/api/v1/audit", get(ops::audit_list))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        // the web console: its pages and forms (`crate::console`), behind its sign-in layer
        .merge(crate::console::routes(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(state)
}

/// Parses a UUID path segment, or says which one was wrong.
pub fn parse_id(what: &str, s: &str) -> ApiResult<uuid::Uuid> {
    uuid::Uuid::parse_str(s).map_err(|_| ApiError::not_found(format!("no {what} {s:?}")))
}

/// An optional `state` query parameter, one of `allowed` (empty means none).
pub fn state_param(state: Option<String>, allowed: &[&str]) -> ApiResult<Option<String>> {
    match state.filter(|s| !s.is_empty()) {
        Some(s) if !allowed.contains(&s.as_str()) => Err(ApiError::bad_request(
            "invalid_state",
            format!("state must be one of {}, not {s:?}", allowed.join(", ")),
        )),
        other => Ok(other),
    }
}

/// An optional `case` query parameter: a case id (empty means none).
pub fn case_param(case: Option<&str>) -> ApiResult<Option<uuid::Uuid>> {
    case.filter(|c| !c.is_empty())
        .map(|c| {
            uuid::Uuid::parse_str(c).map_err(|_| {
                ApiError::bad_request("invalid_case", format!("case {c:?} is not a case id"))
            })
        })
        .transpose()
}
