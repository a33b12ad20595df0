//! AlienVault OTX API v1 `GET /api/v1/indicators/{IPv4|IPv6|domain}/{value}/general` as the
//! fake answers it: `pulse_info.count` and `pulses`, and `{"detail"}` errors.

use super::{json, set_header, IntelApi, KeyCheck, Shared};
use crate::server::lock;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) fn limited(retry_after: Option<u64>) -> Response {
    let wait = retry_after.unwrap_or(60);
    let mut r = json(
        429,
        &json!({"detail": format!("Request was throttled. Expected available in {wait} seconds.")}),
    );
    if let Some(s) = retry_after {
        set_header(&mut r, "retry-after", s);
    }
    r
}

pub(super) fn general(sh: &Shared, headers: &HeaderMap, section: &str, value: &str) -> Response {
    match sh.key(IntelApi::Otx, headers) {
        KeyCheck::Good | KeyCheck::Missing => {}
        KeyCheck::Wrong => return json(403, &json!({"detail": "Invalid API key"})),
    }
    let valid = match section {
        "IPv4" => value.parse::<Ipv4Addr>().is_ok(),
        "IPv6" => value.parse::<Ipv6Addr>().is_ok(),
        "domain" => value.contains('.') && !value.contains('/'),
        _ => return json(404, &json!({"detail": "Not found."})),
    };
    if !valid {
        return json(400, &json!({"detail": "Invalid indicator"}));
    }
    if let Some(r) = sh.serve(IntelApi::Otx) {
        return r;
    }
    let names = lock(&sh.intel).otx.get(value).cloned().unwrap_or_default();
    let pulses: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"id": format!("5f{i:022x}"), "name": n, "description": "", "tags": [],
                "created": "2026-04-01T00:00:00.000000", "modified": "2026-04-02T00:00:00.000000",
                "TLP": "white", "adversary": "", "malware_families": [], "attack_ids": []})
        })
        .collect();
    json(
        200,
        &json!({"indicator": value, "type": section, "type_title": section,
            "sections": ["general", "geo", "reputation", "url_list", "passive_dns", "malware"],
            "reputation": 0, "base_indicator": {"indicator": value, "type": section},
            "pulse_info": {"count": pulses.len(), "pulses": pulses, "references": [], "related": {}},
            "false_positive": [], "validation": []}),
    )
}
