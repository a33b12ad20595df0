//! AbuseIPDB APIv2 `GET /api/v2/check` as the fake answers it: the `data` object, the
//! `errors[]` shape, the daily-limit 429 with its `X-RateLimit-*` and `Retry-After` headers.

use super::{json, set_header, IntelApi, KeyCheck, Shared};
use crate::server::lock;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::collections::HashMap;
use std::net::IpAddr;

pub(super) fn error(status: u16, detail: &str) -> Response {
    json(
        status,
        &json!({"errors": [{"detail": detail, "status": status}]}),
    )
}

/// The daily limit's 429.
pub(super) fn limited(retry_after: Option<u64>, daily: u32) -> Response {
    let mut r = error(
        429,
        &format!("Daily rate limit of {daily} requests exceeded for this endpoint. See headers for additional details."),
    );
    let wait = retry_after.unwrap_or(3600);
    set_header(&mut r, "x-ratelimit-limit", daily);
    set_header(&mut r, "x-ratelimit-remaining", 0);
    set_header(
        &mut r,
        "x-ratelimit-reset",
        chrono::Utc::now().timestamp() + wait as i64,
    );
    if let Some(s) = retry_after {
        set_header(&mut r, "retry-after", s);
    }
    r
}

pub(super) fn check(sh: &Shared, headers: &HeaderMap, q: &HashMap<String, String>) -> Response {
    match sh.key(IntelApi::AbuseIpDb, headers) {
        KeyCheck::Good => {}
        KeyCheck::Missing | KeyCheck::Wrong => {
            return error(
                401,
                "Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key differs from the APIv1 key.",
            )
        }
    }
    let Some(ip) = q.get("ipAddress").and_then(|s| s.parse::<IpAddr>().ok()) else {
        let mut r = error(
            422,
            "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).",
        );
        set_header(&mut r, "x-ratelimit-limit", 1000);
        return r;
    };
    if let Some(max_age) = q.get("maxAgeInDays") {
        if !max_age.parse::<u32>().is_ok_and(|d| (1..=365).contains(&d)) {
            return error(422, "The max age in days must be between 1 and 365.");
        }
    }
    if let Some(r) = sh.serve(IntelApi::AbuseIpDb) {
        return r;
    }
    let (score, reports) = lock(&sh.intel)
        .abuse
        .get(&ip.to_string())
        .copied()
        .unwrap_or((0, 0));
    let (limit, used) = {
        let i = lock(&sh.intel);
        (
            i.daily.get(&IntelApi::AbuseIpDb).copied().unwrap_or(1000),
            i.served.get(&IntelApi::AbuseIpDb).copied().unwrap_or(0),
        )
    };
    let mut r = json(
        200,
        &json!({"data": {
            "ipAddress": ip.to_string(),
            "isPublic": true,
            "ipVersion": if ip.is_ipv4() { 4 } else { 6 },
            "isWhitelisted": false,
            "abuseConfidenceScore": score,
            "countryCode": "NL",
            "usageType": "Data Center/Web Hosting/Transit",
            "isp": "Example Hosting B.V.",
            "domain": "example.net",
            "hostnames": [],
            "isTor": false,
            "totalReports": reports,
            "numDistinctUsers": reports.min(50),
            "lastReportedAt": if reports > 0 { json!("2026-04-30T12:00:00+00:00") } else { json!(null) },
        }}),
    );
    set_header(&mut r, "x-ratelimit-limit", limit);
    set_header(&mut r, "x-ratelimit-remaining", limit.saturating_sub(used));
    r
}
