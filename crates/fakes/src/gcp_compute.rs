//! A stand-in for the Compute Engine API v1 (`compute.googleapis.com`): `firewalls.get` and
//! `instances.aggregatedList`, per `gcp_compute_CONTRACT.md`. In memory; never calls Google.
//!
//! Checks the bearer token like the real API (401 without or with a wrong one), answers 404
//! in Google's error shape for unknown projects, firewalls and paths, and pages the aggregated
//! list with `maxResults` / `pageToken` / `nextPageToken`.

use crate::fault::FaultKind;
use crate::server::{self, lock, Common, Running};
use axum::extract::{Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One firewall rule, as stored (the JSON is built from it).
#[derive(Debug, Clone, Default)]
pub struct GcpFirewall {
    pub name: String,
    /// Numeric id (a decimal string in the API); the rule is also found by it.
    pub id: String,
    /// Network name (`default`).
    pub network: String,
    pub source_ranges: Vec<String>,
    /// (`tcp`, `["22", "8000-8080"]`); no ports: all ports of the protocol.
    pub allowed: Vec<(String, Vec<String>)>,
    pub target_tags: Vec<String>,
    pub target_service_accounts: Vec<String>,
    pub disabled: bool,
}

/// One instance with one network interface.
#[derive(Debug, Clone, Default)]
pub struct GcpInstance {
    pub name: String,
    /// `us-central1-a`.
    pub zone: String,
    pub network: String,
    pub internal_ip: String,
    /// External IPv4 (`accessConfigs[0].natIP`); `None`: no external address.
    pub nat_ip: Option<String>,
    pub tags: Vec<String>,
    pub service_accounts: Vec<String>,
}

#[derive(Default)]
struct Compute {
    token: Option<String>,
    /// project → firewalls
    firewalls: HashMap<String, Vec<GcpFirewall>>,
    /// project → instances
    instances: HashMap<String, Vec<GcpInstance>>,
}

struct Shared {
    compute: Mutex<Compute>,
}

/// Local stand-in for compute.googleapis.com (the two read calls Irene makes).
#[derive(Clone)]
pub struct FakeGcpCompute {
    inner: Arc<Inner>,
}

struct Inner {
    running: Running,
    common: Arc<Common>,
    shared: Arc<Shared>,
}

const BASE: &str = "https://www.googleapis.com/compute/v1";

/// Google's error shape (https://cloud.google.com/apis/design/errors).
fn error(status: u16, reason: &str, message: &str) -> Response {
    let status_text = match status {
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    };
    json_response(
        status,
        &json!({"error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
            "status": status_text,
        }}),
    )
}

fn json_response(status: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

fn fault_response(kind: &FaultKind, _parts: &Parts) -> Response {
    match kind {
        FaultKind::RateLimited { .. }
        | FaultKind::SecondaryLimit { .. }
        | FaultKind::PrimaryLimit { .. }
        | FaultKind::Status(429) => error(429, "rateLimitExceeded", "Rate Limit Exceeded"),
        FaultKind::Status(s) => error(*s, "backendError", "injected fault"),
        FaultKind::Delay(_) | FaultKind::Hang | FaultKind::Reset => {
            error(503, "backendError", "injected fault")
        }
    }
}

impl Shared {
    /// `None` when the token is right (or none is required), else the 401.
    fn auth(&self, headers: &HeaderMap) -> Option<Response> {
        let want = lock(&self.compute).token.clone()?;
        let got = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if got == Some(want.as_str()) {
            return None;
        }
        Some(error(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        ))
    }
}

fn firewall_json(project: &str, fw: &GcpFirewall) -> Value {
    let allowed: Vec<Value> = fw
        .allowed
        .iter()
        .map(|(proto, ports)| {
            if ports.is_empty() {
                json!({"IPProtocol": proto})
            } else {
                json!({"IPProtocol": proto, "ports": ports})
            }
        })
        .collect();
    let mut v = json!({
        "kind": "compute#firewall",
        "id": fw.id,
        "creationTimestamp": "2024-01-01T00:00:00.000-08:00",
        "name": fw.name,
        "description": "",
        "network": format!("{BASE}/projects/{project}/global/networks/{}", fw.network),
        "priority": 1000,
        "sourceRanges": fw.source_ranges,
        "allowed": allowed,
        "direction": "INGRESS",
        "logConfig": {"enable": false},
        "disabled": fw.disabled,
        "selfLink": format!("{BASE}/projects/{project}/global/firewalls/{}", fw.name),
    });
    if !fw.target_tags.is_empty() {
        v["targetTags"] = json!(fw.target_tags);
    }
    if !fw.target_service_accounts.is_empty() {
        v["targetServiceAccounts"] = json!(fw.target_service_accounts);
    }
    v
}

fn instance_json(project: &str, i: &GcpInstance, id: usize) -> Value {
    let mut nic = json!({
        "kind": "compute#networkInterface",
        "network": format!("{BASE}/projects/{project}/global/networks/{}", i.network),
        "subnetwork": format!("{BASE}/projects/{project}/regions/{}/subnetworks/{}",
            region_of(&i.zone), i.network),
        "networkIP": i.internal_ip,
        "name": "nic0",
        "fingerprint": "abc=",
        "stackType": "IPV4_ONLY",
    });
    if let Some(ip) = &i.nat_ip {
        nic["accessConfigs"] = json!([{
            "kind": "compute#accessConfig",
            "type": "ONE_TO_ONE_NAT",
            "name": "External NAT",
            "natIP": ip,
            "networkTier": "PREMIUM",
        }]);
    }
    let zone = format!("{BASE}/projects/{project}/zones/{}", i.zone);
    json!({
        "kind": "compute#instance",
        "id": format!("{}", 7_000_000_000_000_000_000u64 + id as u64),
        "creationTimestamp": "2024-01-01T00:00:00.000-08:00",
        "name": i.name,
        "tags": {"items": i.tags, "fingerprint": "42WmSpB8rSM="},
        "machineType": format!("{zone}/machineTypes/e2-micro"),
        "status": "RUNNING",
        "zone": zone,
        "networkInterfaces": [nic],
        "serviceAccounts": i.service_accounts.iter()
            .map(|e| json!({"email": e, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}))
            .collect::<Vec<_>>(),
        "selfLink": format!("{zone}/instances/{}", i.name),
    })
}

fn region_of(zone: &str) -> &str {
    zone.rsplit_once('-').map_or(zone, |(r, _)| r)
}

async fn firewall_get(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path((project, name)): Path<(String, String)>,
) -> Response {
    if let Some(denied) = sh.auth(&headers) {
        return denied;
    }
    let compute = lock(&sh.compute);
    let found = compute
        .firewalls
        .get(&project)
        .and_then(|fws| fws.iter().find(|f| f.name == name || f.id == name));
    match found {
        Some(fw) => json_response(200, &firewall_json(&project, fw)),
        None => error(
            404,
            "notFound",
            &format!("The resource 'projects/{project}/global/firewalls/{name}' was not found"),
        ),
    }
}

async fn instances_aggregated(
    State(sh): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(denied) = sh.auth(&headers) {
        return denied;
    }
    let compute = lock(&sh.compute);
    if !compute.firewalls.contains_key(&project) && !compute.instances.contains_key(&project) {
        return error(
            404,
            "notFound",
            &format!("The resource 'projects/{project}' was not found"),
        );
    }
    let all = compute.instances.get(&project).cloned().unwrap_or_default();
    let max = q
        .get("maxResults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(500)
        .clamp(1, 500);
    let start = q
        .get("pageToken")
        .and_then(|t| t.strip_prefix("page-"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let page: Vec<(usize, &GcpInstance)> = all.iter().enumerate().skip(start).take(max).collect();
    let mut items: BTreeMap<String, Value> = BTreeMap::new();
    for (id, inst) in &page {
        let entry = items
            .entry(format!("zones/{}", inst.zone))
            .or_insert_with(|| json!({"instances": []}));
        if let Some(list) = entry["instances"].as_array_mut() {
            list.push(instance_json(&project, inst, *id));
        }
    }
    // The real API lists every zone; those without instances carry a warning instead.
    items
        .entry("zones/europe-west1-b".into())
        .or_insert_with(|| {
            json!({"warning": {
                "code": "NO_RESULTS_ON_PAGE",
                "message": "There are no results for scope 'zones/europe-west1-b' on this page.",
                "data": [{"key": "scope", "value": "zones/europe-west1-b"}],
            }})
        });
    let mut body = json!({
        "kind": "compute#instanceAggregatedList",
        "id": format!("projects/{project}/aggregated/instances"),
        "items": items,
        "selfLink": format!("{BASE}/projects/{project}/aggregated/instances"),
    });
    if start + max < all.len() {
        body["nextPageToken"] = json!(format!("page-{}", start + max));
    }
    json_response(200, &body)
}

async fn not_found() -> Response {
    error(404, "notFound", "Not Found")
}

impl FakeGcpCompute {
    /// Starts on 127.0.0.1 at a free port.
    ///
    /// # Panics
    /// If no port can be bound.
    pub async fn start() -> Self {
        Self::start_on_port(0)
            .await
            .unwrap_or_else(|e| panic!("FakeGcpCompute: cannot bind 127.0.0.1: {e}"))
    }

    /// Starts on 127.0.0.1:`port` (0 = any free port).
    pub async fn start_on_port(port: u16) -> std::io::Result<Self> {
        let (listener, url, addr) = server::bind(port).await?;
        let shared = Arc::new(Shared {
            compute: Mutex::new(Compute::default()),
        });
        let common = Common::new(Box::new(fault_response));
        let router = Router::new()
            .route(
                "/compute/v1/projects/{project}/global/firewalls/{firewall}",
                get(firewall_get),
            )
            .route(
                "/compute/v1/projects/{project}/aggregated/instances",
                get(instances_aggregated),
            )
            .fallback(not_found)
            .method_not_allowed_fallback(not_found)
            .with_state(shared.clone());
        let running = server::spawn(listener, url, addr, router, common.clone());
        Ok(FakeGcpCompute {
            inner: Arc::new(Inner {
                running,
                common,
                shared,
            }),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Compute) -> T) -> T {
        f(&mut lock(&self.inner.shared.compute))
    }

    /// From now on every call needs `Authorization: Bearer <token>` (else 401).
    pub fn set_token(&self, token: &str) {
        self.with(|c| c.token = Some(token.to_string()));
    }

    /// Adds or replaces a firewall rule (by name) in `project`.
    pub fn put_firewall(&self, project: &str, fw: GcpFirewall) {
        self.with(|c| {
            let list = c.firewalls.entry(project.to_string()).or_default();
            list.retain(|f| f.name != fw.name);
            list.push(fw);
        });
    }

    /// Deletes a firewall rule; afterwards `firewalls.get` answers 404.
    pub fn delete_firewall(&self, project: &str, name: &str) {
        self.with(|c| {
            if let Some(list) = c.firewalls.get_mut(project) {
                list.retain(|f| f.name != name);
            }
        });
    }

    /// Adds an instance to `project`.
    pub fn add_instance(&self, project: &str, instance: GcpInstance) {
        self.with(|c| {
            c.instances
                .entry(project.to_string())
                .or_default()
                .push(instance)
        });
    }
}

crate::impl_common!(FakeGcpCompute);
