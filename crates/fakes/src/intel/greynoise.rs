//! GreyNoise Community API v3 `GET /v3/community/{ip}` as the fake answers it: the community
//! object, the 404 "not observed" answer, and its `{"message"}` errors.

use super::{json, set_header, IntelApi, KeyCheck, Shared};
use crate::server::lock;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use std::net::Ipv4Addr;

pub(super) fn limited(retry_after: Option<u64>) -> Response {
    let mut r = json(
        429,
        &json!({"plan": "unauthenticated", "rate-limit": "10-lookups/day",
            "plan_url": "https://greynoise.io/pricing",
            "message": "You have hit your daily rate limit of 10 requests per day. Please create a free account or upgrade your plan at https://greynoise.io/pricing."}),
    );
    if let Some(s) = retry_after {
        set_header(&mut r, "retry-after", s);
    }
    r
}

pub(super) fn community(sh: &Shared, headers: &HeaderMap, ip: &str) -> Response {
    match sh.key(IntelApi::GreyNoise, headers) {
        // the community API answers without a key (on a lower limit); a wrong key is refused
        KeyCheck::Good | KeyCheck::Missing => {}
        KeyCheck::Wrong => return json(401, &json!({"message": "Authentication required"})),
    }
    if ip.parse::<Ipv4Addr>().is_err() {
        return json(
            400,
            &json!({"message": "Request is not a valid routable IPv4 address"}),
        );
    }
    if let Some(r) = sh.serve(IntelApi::GreyNoise) {
        return r;
    }
    let known = lock(&sh.intel).greynoise.get(ip).cloned();
    match known {
        None => json(
            404,
            &json!({"ip": ip, "noise": false, "riot": false,
                "message": "IP not observed scanning the internet or contained in RIOT data set."}),
        ),
        Some((classification, name, noise, riot)) => {
            let kind = if riot { "riot" } else { "ip" };
            json(
                200,
                &json!({"ip": ip, "noise": noise, "riot": riot,
                    "classification": classification, "name": name,
                    "link": format!("https://viz.greynoise.io/{kind}/{ip}"),
                    "last_seen": "2026-04-30", "message": "Success"}),
            )
        }
    }
}
