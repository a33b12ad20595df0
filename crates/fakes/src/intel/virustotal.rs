//! VirusTotal API v3 IP address and domain objects as the fake answers them:
//! `data.attributes.last_analysis_stats`, and the `{"error": {code, message}}` shape.

use super::{json, IntelApi, KeyCheck, Shared};
use crate::server::lock;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::net::IpAddr;

pub(super) fn error(status: u16, code: &str, message: &str) -> Response {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

pub(super) fn object(sh: &Shared, headers: &HeaderMap, id: &str, ip: bool) -> Response {
    match sh.key(IntelApi::VirusTotal, headers) {
        KeyCheck::Good => {}
        KeyCheck::Missing => {
            return error(
                401,
                "AuthenticationRequiredError",
                "X-Apikey header is missing",
            )
        }
        KeyCheck::Wrong => return error(401, "WrongCredentialsError", "Wrong API key"),
    }
    if ip && id.parse::<IpAddr>().is_err() {
        return error(
            400,
            "InvalidArgumentError",
            &format!("Invalid IP address: {id}"),
        );
    }
    if let Some(r) = sh.serve(IntelApi::VirusTotal) {
        return r;
    }
    let known = lock(&sh.intel).vt.get(id).copied();
    let malicious = match (known, ip) {
        (Some(m), _) => m,
        (None, true) => 0,
        (None, false) => return error(404, "NotFoundError", &format!("Domain \"{id}\" not found")),
    };
    let kind = if ip { "ip_address" } else { "domain" };
    let mut attributes = json!({
        "last_analysis_date": 1_777_000_000,
        "last_analysis_stats": {
            "harmless": 60, "malicious": malicious, "suspicious": 0, "undetected": 20, "timeout": 0
        },
        "reputation": if malicious > 0 { -10 } else { 0 },
        "total_votes": {"harmless": 0, "malicious": 0},
    });
    if ip {
        attributes["as_owner"] = json!("Example Hosting B.V.");
        attributes["country"] = json!("NL");
        attributes["network"] = json!(format!("{id}/32"));
    } else {
        attributes["registrar"] = json!("Example Registrar, Inc.");
    }
    let plural = if ip { "ip_addresses" } else { "domains" };
    json(
        200,
        &json!({"data": {
            "id": id,
            "type": kind,
            "links": {"self": format!("https://www.virustotal.com/api/v3/{plural}/{id}")},
            "attributes": attributes,
        }}),
    )
}
