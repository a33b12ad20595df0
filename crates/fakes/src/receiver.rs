//! A generic webhook endpoint: any POST to any path is answered `200 {}` and recorded.
//! It validates nothing and keeps no state beyond the request log.

use crate::fault::FaultKind;
use crate::server::{self, Common, Recorded, Running};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::sync::{Arc, Weak};

/// Local stand-in for any webhook receiver.
#[derive(Clone)]
pub struct FakeReceiver {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
}

fn json_response(status: u16, body: &serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn fault_response(kind: &FaultKind, _parts: &Parts) -> Response {
    let (status, retry_after) = match kind {
        FaultKind::Status(s) => (*s, None),
        FaultKind::RateLimited { retry_after } => (429, *retry_after),
        _ => (429, None),
    };
    let mut resp = json_response(
        status,
        &json!({"error": "injected fault", "status": status}),
    );
    if let Some(s) = retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        resp.headers_mut().insert(header::RETRY_AFTER, s);
    }
    resp
}

async fn receive(method: Method) -> Response {
    if method == Method::POST {
        json_response(200, &json!({}))
    } else {
        json_response(405, &json!({"error": "method not allowed"}))
    }
}

async fn state(State(common): State<Weak<Common>>) -> Response {
    let received: Vec<Recorded> = common
        .upgrade()
        .map(|c| c.requests())
        .unwrap_or_default()
        .into_iter()
        .filter(|r| (200..300).contains(&r.status))
        .collect();
    json_response(200, &json!({"received": received}))
}

impl FakeReceiver {
    /// Starts on 127.0.0.1 at a free port.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::start_on_port(0)
            .await
            .unwrap_or_else(|e| panic!("FakeReceiver: cannot bind 127.0.0.1: {e}"))
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on_port(port: u16) -> std::io::Result<Self> {
        let (listener, url, addr) = server::bind(port).await?;
        let common = Common::new(Box::new(fault_response));
        let router = Router::new()
            .route("/_fake/state", get(state))
            .fallback(receive)
            .with_state(Arc::downgrade(&common));
        let running = server::spawn(listener, url, addr, router, common.clone());
        Ok(FakeReceiver {
            inner: Arc::new(Inner { running, common }),
        })
    }

    /// The requests answered 2xx, in arrival order.
    pub fn received(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

crate::impl_common!(FakeReceiver);
