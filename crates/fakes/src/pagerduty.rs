//! The fake PagerDuty Events API v2: `/v2/enqueue` validation, the alert state machine, change events.
//! It keeps alerts in memory per (routing_key, dedup_key) and must never call the real PagerDuty.

use crate::fault::FaultKind;
use crate::server::{self, lock, Common, Running};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Largest event body PagerDuty accepts.
pub const MAX_EVENT_BYTES: usize = 512 * 1024;

/// One alert (incident) as the fake holds it. A trigger after a resolve makes a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PdAlert {
    pub routing_key: String,
    pub dedup_key: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub summary: String,
    pub severity: String,
    /// Trigger events folded into this alert (1 for a fresh alert).
    pub triggers: u32,
}

/// Local stand-in for events.pagerduty.com.
#[derive(Clone)]
pub struct FakePagerDuty {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Pd {
    events: Vec<Value>,
    change_events: Vec<Value>,
    alerts: Vec<PdAlert>,
    /// (routing_key, dedup_key) → index of the alert that is not resolved.
    open: HashMap<(String, String), usize>,
    /// Events answered 202 but dropped by the state machine (ack/resolve with no open alert).
    dropped: Vec<Value>,
    allowed_keys: Option<HashSet<String>>,
}

struct Shared {
    pd: Mutex<Pd>,
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn invalid(errors: Vec<String>) -> Response {
    json_response(
        400,
        &json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

fn unrecognized(error: &str) -> Response {
    json_response(
        400,
        &json!({"status": "Unrecognized object", "message": "Event object format is unrecognized", "errors": [error]}),
    )
}

fn throttled(retry_after: Option<u64>) -> Response {
    let mut resp = json_response(
        429,
        &json!({"status": "throttle exceeded", "message": "Requests for this service are arriving too quickly.  Please retry later."}),
    );
    if let Some(v) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, v);
    }
    resp
}

fn fault_response(kind: &FaultKind, _parts: &Parts) -> Response {
    match kind {
        FaultKind::Status(429) => throttled(None),
        FaultKind::RateLimited { retry_after } => throttled(*retry_after),
        FaultKind::PrimaryLimit { .. } | FaultKind::SecondaryLimit { .. } => throttled(None),
        FaultKind::Status(400) => invalid(vec!["injected fault".into()]),
        FaultKind::Status(s) => {
            let text = StatusCode::from_u16(*s)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("Error");
            json_response(
                *s,
                &json!({"status": text, "message": "The server encountered an error processing the event.", "errors": ["injected fault"]}),
            )
        }
        FaultKind::Delay(_) | FaultKind::Hang | FaultKind::Reset => throttled(None),
    }
}

fn str_field<'a>(o: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    o.get(k).and_then(Value::as_str)
}

fn blank(v: Option<&str>) -> bool {
    v.is_none_or(|s| s.trim().is_empty())
}

/// Errors about `routing_key` (PagerDuty's wording where captured live).
fn routing_key_errors(o: &Map<String, Value>, allowed: &Option<HashSet<String>>) -> Vec<String> {
    let Some(rk) = str_field(o, "routing_key").filter(|s| !s.is_empty()) else {
        return vec!["'routing_key' is missing or blank".into()];
    };
    let mut errors = Vec::new();
    if rk.chars().count() != 32 {
        errors.push("Length of 'routing_key' is incorrect (should be 32 characters)".into());
    }
    if !rk.chars().all(|c| c.is_ascii_alphanumeric()) {
        errors.push("'routing_key' cannot contain non-alphanumeric characters.".into());
    }
    // Fake-only wording: PagerDuty's answer for a well-formed but unknown key is not documented.
    if errors.is_empty() && allowed.as_ref().is_some_and(|a| !a.contains(rk)) {
        errors.push("Invalid routing key".into());
    }
    errors
}

fn summary_errors(payload: &Map<String, Value>, errors: &mut Vec<String>) {
    match str_field(payload, "summary") {
        s if blank(s) => errors.push("'payload.summary' is missing or blank".into()),
        Some(s) if s.chars().count() > 1024 => {
            errors.push("Length of 'payload.summary' is too long (max 1024 characters)".into())
        }
        _ => {}
    }
}

/// The body as a JSON object, or PagerDuty's 400.
#[allow(clippy::result_large_err)] // the error is the (single, per-request) response itself
fn parse(body: &Bytes) -> Result<Map<String, Value>, Response> {
    if body.len() > MAX_EVENT_BYTES {
        return Err(invalid(vec![
            "Event object is too large (maximum size is 512 KB)".into(),
        ]));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(_) => Err(unrecognized("Event object must be a JSON object")),
        Err(_) => Err(unrecognized("JSON parse error")),
    }
}

async fn enqueue(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let o = match parse(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut pd = lock(&sh.pd);
    let mut errors = routing_key_errors(&o, &pd.allowed_keys);
    let action = str_field(&o, "event_action").unwrap_or("").to_string();
    let action = action.as_str();
    match action {
        "trigger" | "acknowledge" | "resolve" => {}
        "" => errors.push("'event_action' is missing or blank".into()),
        _ => errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')".into()),
    }
    let dedup = match o.get("dedup_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push("'dedup_key' must be a string".into());
            None
        }
    };
    if dedup.as_ref().is_some_and(|d| d.chars().count() > 255) {
        errors.push("Length of 'dedup_key' is too long (max 255 characters)".into());
    }
    if matches!(action, "acknowledge" | "resolve") && blank(dedup.as_deref()) {
        errors.push("'dedup_key' is missing or blank".into());
    }
    let mut summary = String::new();
    let mut severity = String::new();
    if action == "trigger" {
        match o.get("payload") {
            Some(Value::Object(p)) => {
                summary_errors(p, &mut errors);
                if blank(str_field(p, "source")) {
                    errors.push("'payload.source' is missing or blank".into());
                }
                match str_field(p, "severity") {
                    s if blank(s) => errors.push("'payload.severity' is missing or blank".into()),
                    Some("critical" | "error" | "warning" | "info") => {}
                    Some(_) => errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')".into()),
                    None => {}
                }
                summary = str_field(p, "summary").unwrap_or("").to_string();
                severity = str_field(p, "severity").unwrap_or("").to_string();
            }
            _ => errors.push("'payload' is missing or blank".into()),
        }
    }
    if !errors.is_empty() {
        return invalid(errors);
    }

    let rk = str_field(&o, "routing_key").unwrap_or("").to_string();
    let dk = dedup
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    let event = Value::Object(o);
    let key = (rk.clone(), dk.clone());
    let open = pd.open.get(&key).copied();
    match (action, open) {
        ("trigger", Some(i)) => pd.alerts[i].triggers += 1,
        ("trigger", None) => {
            pd.alerts.push(PdAlert {
                routing_key: rk,
                dedup_key: dk.clone(),
                status: "triggered".into(),
                summary,
                severity,
                triggers: 1,
            });
            let idx = pd.alerts.len() - 1;
            pd.open.insert(key, idx);
        }
        ("acknowledge", Some(i)) => pd.alerts[i].status = "acknowledged".into(),
        ("resolve", Some(i)) => {
            pd.alerts[i].status = "resolved".into();
            pd.open.remove(&key);
        }
        // Ack/resolve with no open alert for this routing key: accepted, then dropped.
        _ => pd.dropped.push(event.clone()),
    }
    pd.events.push(event);
    json_response(
        202,
        &json!({"status": "success", "message": "Event processed", "dedup_key": dk}),
    )
}

async fn change_enqueue(State(sh): State<Arc<Shared>>, body: Bytes) -> Response {
    let o = match parse(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let mut pd = lock(&sh.pd);
    let mut errors = routing_key_errors(&o, &pd.allowed_keys);
    if errors.is_empty() && str_field(&o, "routing_key").is_some_and(|k| k.starts_with('R')) {
        errors.push("Change events cannot be sent to a ruleset routing key".into());
    }
    match o.get("payload") {
        Some(Value::Object(p)) => summary_errors(p, &mut errors),
        _ => errors.push("'payload' is missing or blank".into()),
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    pd.change_events.push(Value::Object(o));
    json_response(
        202,
        &json!({"status": "success", "message": "Change event processed"}),
    )
}

async fn not_found() -> Response {
    json_response(
        404,
        &json!({"status": "Not Found", "message": "Not Found", "errors": ["No route matches this path and method"]}),
    )
}

async fn state(State(sh): State<Arc<Shared>>) -> Response {
    let pd = lock(&sh.pd);
    json_response(
        200,
        &json!({"alerts": pd.alerts, "events": pd.events, "change_events": pd.change_events, "dropped": pd.dropped}),
    )
}

impl FakePagerDuty {
    /// Starts on 127.0.0.1 at a free port.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::start_on_port(0)
            .await
            .unwrap_or_else(|e| panic!("FakePagerDuty: cannot bind 127.0.0.1: {e}"))
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on_port(port: u16) -> std::io::Result<Self> {
        let (listener, url, addr) = server::bind(port).await?;
        let shared = Arc::new(Shared {
            pd: Mutex::new(Pd::default()),
        });
        let common = Common::new(Box::new(fault_response));
        let router = Router::new()
            .route("/v2/enqueue", post(enqueue))
            .route("/v2/change/enqueue", post(change_enqueue))
            .route("/_fake/state", get(state))
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .with_state(shared.clone());
        let running = server::spawn(listener, url, addr, router, common.clone());
        Ok(FakePagerDuty {
            inner: Arc::new(Inner {
                running,
                common,
                shared,
            }),
        })
    }

    /// From now on only these routing keys are accepted; others get 400 "Invalid routing key".
    pub fn restrict_routing_keys(&self, keys: Vec<String>) {
        lock(&self.inner.shared.pd).allowed_keys = Some(keys.into_iter().collect());
    }

    /// Accepted (202) alert events from `/v2/enqueue`, in order, as sent (dropped ones included).
    pub fn events(&self) -> Vec<Value> {
        lock(&self.inner.shared.pd).events.clone()
    }

    /// Accepted change events from `/v2/change/enqueue`, in order.
    pub fn change_events(&self) -> Vec<Value> {
        lock(&self.inner.shared.pd).change_events.clone()
    }

    /// Accepted acknowledge/resolve events that matched no open alert.
    pub fn dropped(&self) -> Vec<Value> {
        lock(&self.inner.shared.pd).dropped.clone()
    }

    /// One entry per alert (incident), in creation order.
    pub fn alerts(&self) -> Vec<PdAlert> {
        lock(&self.inner.shared.pd).alerts.clone()
    }
}

crate::impl_common!(FakePagerDuty);
