//! The HTTP plumbing every fake shares: binding, the accept loop, request recording and fault application.
//! It knows nothing about any service's API: each fake supplies its router and its fault-response builder.

use crate::fault::{FaultEngine, FaultKind};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tower::ServiceExt;

/// Largest request body any fake reads (bigger ones get 413 before reaching the service).
pub(crate) const MAX_BODY: usize = 16 * 1024 * 1024;

/// How long a `Hang` fault keeps the request open.
const HANG_FOR: Duration = Duration::from_secs(600);

/// One request as the fake saw it. `status` is the status it answered, or 0 for Hang/Reset (and
/// for a request still being processed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded as UTF-8 (lossily).
    pub body: String,
    pub status: u16,
}

impl Recorded {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Builds the service's own response for an injected fault (Status and the rate-limit kinds).
pub(crate) type FaultResponder = Box<dyn Fn(&FaultKind, &Parts) -> Response + Send + Sync>;

/// Per-server shared state: the request log and the fault rules.
pub(crate) struct Common {
    log: Mutex<Vec<Recorded>>,
    pub(crate) faults: Mutex<FaultEngine>,
    responder: FaultResponder,
}

/// Locks a mutex, recovering the data if a previous holder panicked (the fakes never leave
/// their state half-updated across a panic point, so the data is still consistent).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Common {
    pub(crate) fn new(responder: FaultResponder) -> Arc<Self> {
        Arc::new(Common {
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(FaultEngine::default()),
            responder,
        })
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        lock(&self.log).clone()
    }

    fn push(&self, r: Recorded) -> usize {
        let mut log = lock(&self.log);
        log.push(r);
        log.len() - 1
    }

    fn set_status(&self, idx: usize, status: u16) {
        if let Some(r) = lock(&self.log).get_mut(idx) {
            r.status = status;
        }
    }
}

/// Lets a handler ask its connection task to drop the TCP connection (the `Reset` fault).
#[derive(Clone, Default)]
struct ConnCtl(Arc<Notify>);

/// A running server: its base URL and the switch that stops it.
pub(crate) struct Running {
    pub(crate) url: String,
    pub(crate) addr: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl Running {
    pub(crate) fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

/// Binds 127.0.0.1:`port` (0 = any free port) and returns the listener and its base URL.
pub(crate) async fn bind(port: u16) -> std::io::Result<(TcpListener, String, SocketAddr)> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    Ok((listener, format!("http://{addr}"), addr))
}

/// Wraps `router` with recording and fault injection and serves it on a spawned task.
pub(crate) fn spawn(
    listener: TcpListener,
    url: String,
    addr: SocketAddr,
    router: Router,
    common: Arc<Common>,
) -> Running {
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            common,
            record_and_fault,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY));
    let (tx, rx) = watch::channel(false);
    tokio::spawn(accept_loop(listener, router, rx));
    Running {
        url,
        addr,
        shutdown: tx,
    }
}

/// Resolves when shutdown was requested; never if every sender is gone (dropping the fake
/// does not stop the server).
async fn stopped(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn accept_loop(listener: TcpListener, router: Router, rx: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve_conn(stream, router.clone(), rx.clone()));
                }
            }
            _ = stopped(rx.clone()) => break,
        }
    }
}

async fn serve_conn(stream: TcpStream, router: Router, rx: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let ctl = ConnCtl::default();
    let ctl_for_requests = ctl.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ctl_for_requests.clone());
        router.clone().oneshot(req)
    });
    let conn =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    tokio::select! {
        _ = conn => {}
        _ = ctl.0.notified() => {}
        _ = stopped(rx) => {}
    }
    // Dropping `conn` here closes the socket, with any in-flight request unanswered.
}

/// Records every service request and applies the first matching fault. Paths under `/_fake/`
/// (the inspection endpoints) are neither recorded nor faulted.
async fn record_and_fault(State(common): State<Arc<Common>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with("/_fake/") {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response(),
    };
    let method = parts.method.as_str().to_string();
    let path = parts.uri.path().to_string();
    let idx = common.push(Recorded {
        method: method.clone(),
        path: path.clone(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        status: 0,
    });
    let fault = lock(&common.faults).pick(&method, &path);
    let resp = match fault {
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(FaultKind::Delay(d)) => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            common.set_status(idx, resp.status().as_u16());
            tokio::time::sleep(d).await;
            return resp;
        }
        Some(FaultKind::Hang) => {
            tokio::time::sleep(HANG_FOR).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(FaultKind::Reset) => {
            if let Some(ctl) = parts.extensions.get::<ConnCtl>() {
                ctl.0.notify_one();
            }
            return std::future::pending().await;
        }
        Some(kind) => (common.responder)(&kind, &parts),
    };
    common.set_status(idx, resp.status().as_u16());
    resp
}

/// Parses a query string into ordered pairs; a malformed one yields no pairs.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok())
        .unwrap_or_default()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for path segments).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
