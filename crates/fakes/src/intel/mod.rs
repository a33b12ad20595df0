//! The fake reputation APIs on one server: AbuseIPDB v2, VirusTotal v3, GreyNoise Community v3
//! and AlienVault OTX v1, per `CONTRACT.md`. In memory; must never call the real services.
//!
//! Each API checks its key header like the real one, answers in its own shapes (one file
//! each), counts what it served against an optional daily limit (then 429), and takes queued
//! faults (a `RateLimited { retry_after }` fault answers that API's own 429).

mod abuseipdb;
mod greynoise;
mod otx;
mod virustotal;

use crate::fault::FaultKind;
use crate::server::{self, lock, Common, Recorded, Running};
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One of the four APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntelApi {
    AbuseIpDb,
    VirusTotal,
    GreyNoise,
    Otx,
}

impl IntelApi {
    /// The API a request path belongs to.
    pub fn of_path(path: &str) -> Option<IntelApi> {
        if path.starts_with("/api/v2/") {
            Some(IntelApi::AbuseIpDb)
        } else if path.starts_with("/api/v3/") {
            Some(IntelApi::VirusTotal)
        } else if path.starts_with("/v3/community/") {
            Some(IntelApi::GreyNoise)
        } else if path.starts_with("/api/v1/") {
            Some(IntelApi::Otx)
        } else {
            None
        }
    }

    /// The header that carries the key.
    fn key_header(self) -> &'static str {
        match self {
            IntelApi::AbuseIpDb => "key",
            IntelApi::VirusTotal => "x-apikey",
            IntelApi::GreyNoise => "key",
            IntelApi::Otx => "x-otx-api-key",
        }
    }

    /// Its 429, in its own shape.
    fn limited(self, retry_after: Option<u64>, daily: u32) -> Response {
        match self {
            IntelApi::AbuseIpDb => abuseipdb::limited(retry_after, daily),
            IntelApi::VirusTotal => virustotal::error(429, "QuotaExceededError", "Quota exceeded"),
            IntelApi::GreyNoise => greynoise::limited(retry_after),
            IntelApi::Otx => otx::limited(retry_after),
        }
    }

    /// A plain error status, in its own shape.
    fn status(self, status: u16) -> Response {
        match self {
            IntelApi::AbuseIpDb => abuseipdb::error(status, "injected fault"),
            IntelApi::VirusTotal => virustotal::error(status, "TransientError", "injected fault"),
            IntelApi::GreyNoise => json(status, &serde_json::json!({"message": "injected fault"})),
            IntelApi::Otx => json(status, &serde_json::json!({"detail": "injected fault"})),
        }
    }
}

/// What the fake knows of the subjects, per API.
#[derive(Default)]
struct Intel {
    keys: HashMap<IntelApi, String>,
    /// AbuseIPDB: ip → (confidence, reports).
    abuse: HashMap<String, (u64, u64)>,
    /// VirusTotal: ip or domain → malicious engines (a domain not here is unknown: 404).
    vt: HashMap<String, u64>,
    /// GreyNoise: ip → (classification, name, noise, riot) (an ip not here: 404 not observed).
    greynoise: HashMap<String, (String, String, bool, bool)>,
    /// OTX: ip or domain → pulse names.
    otx: HashMap<String, Vec<String>>,
    /// Per API: answers allowed a day (then 429), and answers served.
    daily: HashMap<IntelApi, u32>,
    served: HashMap<IntelApi, u32>,
}

struct Shared {
    intel: Mutex<Intel>,
}

/// Local stand-in for api.abuseipdb.com, www.virustotal.com, api.greynoise.io and
/// otx.alienvault.com, all on one port.
#[derive(Clone)]
pub struct FakeIntel {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
    shared: Arc<Shared>,
}

pub(crate) fn json(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

pub(crate) fn set_header(resp: &mut Response, name: &'static str, value: impl ToString) {
    if let Ok(v) = HeaderValue::from_str(&value.to_string()) {
        resp.headers_mut().insert(name, v);
    }
}

fn fault_response(kind: &FaultKind, parts: &Parts) -> Response {
    let Some(api) = IntelApi::of_path(parts.uri.path()) else {
        return json(404, &serde_json::json!({"message": "Not Found"}));
    };
    match kind {
        FaultKind::RateLimited { retry_after } => api.limited(*retry_after, 1000),
        FaultKind::SecondaryLimit { retry_after, .. } => api.limited(*retry_after, 1000),
        FaultKind::PrimaryLimit { .. } | FaultKind::Status(429) => api.limited(None, 1000),
        FaultKind::Status(s) => api.status(*s),
        FaultKind::Delay(_) | FaultKind::Hang | FaultKind::Reset => api.status(500),
    }
}

/// How a request's key compares with the expected one.
pub(crate) enum KeyCheck {
    Good,
    Missing,
    Wrong,
}

impl Shared {
    fn key(&self, api: IntelApi, headers: &HeaderMap) -> KeyCheck {
        let intel = lock(&self.intel);
        let Some(want) = intel.keys.get(&api) else {
            return KeyCheck::Good;
        };
        match headers.get(api.key_header()).and_then(|v| v.to_str().ok()) {
            None | Some("") => KeyCheck::Missing,
            Some(k) if k == want => KeyCheck::Good,
            Some(_) => KeyCheck::Wrong,
        }
    }

    /// Counts one answer against the API's daily limit; the 429 when the limit is reached.
    fn serve(&self, api: IntelApi) -> Option<Response> {
        let mut intel = lock(&self.intel);
        let served = intel.served.get(&api).copied().unwrap_or(0);
        if let Some(limit) = intel.daily.get(&api).copied() {
            if served >= limit {
                return Some(api.limited(Some(3600), limit));
            }
        }
        intel.served.insert(api, served + 1);
        None
    }
}

async fn abuse_check(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    abuseipdb::check(&sh, &headers, &q)
}

async fn vt_ip(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(ip): Path<String>,
) -> Response {
    virustotal::object(&sh, &headers, &ip, true)
}

async fn vt_domain(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(d): Path<String>,
) -> Response {
    virustotal::object(&sh, &headers, &d, false)
}

async fn gn_community(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(ip): Path<String>,
) -> Response {
    greynoise::community(&sh, &headers, &ip)
}

async fn otx_general(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((section, value)): Path<(String, String)>,
) -> Response {
    otx::general(&sh, &headers, &section, &value)
}

async fn not_found() -> Response {
    json(404, &serde_json::json!({"message": "Not Found"}))
}

impl FakeIntel {
    /// Starts on 127.0.0.1 at a free port.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::start_on_port(0)
            .await
            .unwrap_or_else(|e| panic!("FakeIntel: cannot bind 127.0.0.1: {e}"))
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on_port(port: u16) -> std::io::Result<Self> {
        let (listener, url, addr) = server::bind(port).await?;
        let shared = Arc::new(Shared {
            intel: Mutex::new(Intel::default()),
        });
        let common = Common::new(Box::new(fault_response));
        let router = Router::new()
            .route("/api/v2/check", get(abuse_check))
            .route("/api/v3/ip_addresses/{ip}", get(vt_ip))
            .route("/api/v3/domains/{domain}", get(vt_domain))
            .route("/v3/community/{ip}", get(gn_community))
            .route(
                "/api/v1/indicators/{section}/{value}/general",
                get(otx_general),
            )
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .with_state(shared.clone());
        let running = server::spawn(listener, url, addr, router, common.clone());
        Ok(FakeIntel {
            inner: Arc::new(Inner {
                running,
                common,
                shared,
            }),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Intel) -> T) -> T {
        f(&mut lock(&self.inner.shared.intel))
    }

    /// From now on `api` wants this key (missing or wrong: its documented 401/403).
    pub fn set_key(&self, api: IntelApi, key: &str) {
        self.with(|i| i.keys.insert(api, key.to_string()));
    }

    /// AbuseIPDB's confidence and report count for `ip` (others: 0 and 0).
    pub fn set_abuse(&self, ip: &str, score: u64, reports: u64) {
        self.with(|i| i.abuse.insert(ip.to_string(), (score, reports)));
    }

    /// VirusTotal's malicious engine count for an IP or a domain (unknown domains: 404).
    pub fn set_virustotal(&self, subject: &str, malicious: u64) {
        self.with(|i| i.vt.insert(subject.to_string(), malicious));
    }

    /// GreyNoise's view of `ip` (others: 404 "not observed").
    pub fn set_greynoise(
        &self,
        ip: &str,
        classification: &str,
        name: &str,
        noise: bool,
        riot: bool,
    ) {
        self.with(|i| {
            i.greynoise.insert(
                ip.to_string(),
                (classification.to_string(), name.to_string(), noise, riot),
            )
        });
    }

    /// OTX pulses naming an IP or a domain (others: none).
    pub fn set_otx(&self, subject: &str, pulses: &[&str]) {
        self.with(|i| {
            i.otx.insert(
                subject.to_string(),
                pulses.iter().map(|p| p.to_string()).collect(),
            )
        });
    }

    /// `api` answers at most `n` requests (then its 429 with `Retry-After: 3600`).
    pub fn set_daily_limit(&self, api: IntelApi, n: u32) {
        self.with(|i| i.daily.insert(api, n));
    }

    /// The requests `api` received, in order.
    pub fn requests_to(&self, api: IntelApi) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| IntelApi::of_path(&r.path) == Some(api))
            .collect()
    }
}

crate::impl_common!(FakeIntel);
