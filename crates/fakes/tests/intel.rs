//! Contract tests for the fake reputation APIs (`src/intel/CONTRACT.md`): each API's paths, key
//! header, answer and error shapes, "not known" answers, daily limits and injected 429s.
// Tests may unwrap and expect.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use irene_fakes::{FakeIntel, Fault, FaultKind, IntelApi};
use serde_json::Value;

/// GET with an optional (header, value); the status, one header and the JSON body.
async fn get(
    fake: &FakeIntel,
    path: &str,
    auth: Option<(&str, &str)>,
    want_header: &str,
) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .get(format!("{}{path}", fake.url()))
        .header("accept", "application/json");
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let resp = req.send().await.expect("the fake answers");
    let status = resp.status().as_u16();
    let h = resp
        .headers()
        .get(want_header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, h, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn abuseipdb_check_keys_errors_and_daily_limit() {
    let f = FakeIntel::start().await;
    f.set_key(IntelApi::AbuseIpDb, "k1");
    f.set_abuse("118.25.6.39", 100, 7);
    let path = "/api/v2/check?ipAddress=118.25.6.39&maxAgeInDays=90";
    let (st, _, body) = get(&f, path, None, "").await;
    assert_eq!(st, 401);
    assert_eq!(body["errors"][0]["status"], 401);
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("Authentication failed"));
    assert_eq!(get(&f, path, Some(("Key", "wrong")), "").await.0, 401);
    let (st, remaining, body) = get(&f, path, Some(("Key", "k1")), "x-ratelimit-remaining").await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["data"]["abuseConfidenceScore"], 100);
    assert_eq!(body["data"]["totalReports"], 7);
    assert_eq!(body["data"]["ipVersion"], 4);
    assert!(remaining.is_some());
    let (st, _, body) = get(&f, "/api/v2/check?ipAddress=nope", Some(("Key", "k1")), "").await;
    assert_eq!(st, 422, "{body}");
    let (st, _, _) = get(
        &f,
        "/api/v2/check?ipAddress=8.8.8.8&maxAgeInDays=999",
        Some(("Key", "k1")),
        "",
    )
    .await;
    assert_eq!(st, 422);
    f.set_daily_limit(IntelApi::AbuseIpDb, 1);
    let (st, retry, body) = get(&f, path, Some(("Key", "k1")), "retry-after").await;
    assert_eq!(st, 429);
    assert_eq!(retry.as_deref(), Some("3600"));
    assert!(body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .starts_with("Daily rate limit of 1 requests"));
    assert_eq!(f.requests_to(IntelApi::AbuseIpDb).len(), 6);
}

#[tokio::test]
async fn virustotal_objects_not_found_and_credentials() {
    let f = FakeIntel::start().await;
    f.set_key(IntelApi::VirusTotal, "vt");
    f.set_virustotal("evil.example.com", 12);
    let (st, _, body) = get(&f, "/api/v3/ip_addresses/8.8.8.8", None, "").await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("AuthenticationRequiredError"))
    );
    let (st, _, body) = get(
        &f,
        "/api/v3/ip_addresses/8.8.8.8",
        Some(("x-apikey", "no")),
        "",
    )
    .await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (401, Some("WrongCredentialsError"))
    );
    let key = Some(("x-apikey", "vt"));
    let (st, _, body) = get(&f, "/api/v3/ip_addresses/8.8.8.8", key, "").await;
    assert_eq!(st, 200);
    assert_eq!(body["data"]["type"], "ip_address");
    assert_eq!(
        body["data"]["attributes"]["last_analysis_stats"]["malicious"],
        0
    );
    let (_, _, body) = get(&f, "/api/v3/domains/evil.example.com", key, "").await;
    assert_eq!(
        body["data"]["attributes"]["last_analysis_stats"]["malicious"],
        12
    );
    let (st, _, body) = get(&f, "/api/v3/domains/nx.example.org", key, "").await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (404, Some("NotFoundError"))
    );
    f.fault(Fault::new(FaultKind::Status(429)).on("GET", "/api/v3/"));
    let (st, _, body) = get(&f, "/api/v3/ip_addresses/8.8.8.8", key, "").await;
    assert_eq!(
        (st, body["error"]["code"].as_str()),
        (429, Some("QuotaExceededError"))
    );
}

#[tokio::test]
async fn greynoise_community_and_otx_general() {
    let f = FakeIntel::start().await;
    f.set_greynoise("1.2.3.4", "benign", "Cloudflare", false, true);
    f.set_otx("evil.example.com", &["Campaign A"]);
    let (st, _, body) = get(&f, "/v3/community/1.2.3.4", None, "").await;
    assert_eq!(st, 200, "the community API answers without a key");
    assert_eq!(body["classification"], "benign");
    assert_eq!(body["riot"], true);
    assert_eq!(body["message"], "Success");
    let (st, _, body) = get(&f, "/v3/community/8.8.8.8", Some(("key", "x")), "").await;
    assert_eq!(st, 404);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("IP not observed"));
    assert_eq!(get(&f, "/v3/community/2001:db8::1", None, "").await.0, 400);
    f.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(2),
        })
        .on("GET", "/v3/community/"),
    );
    let (st, retry, _) = get(&f, "/v3/community/1.2.3.4", None, "retry-after").await;
    assert_eq!((st, retry.as_deref()), (429, Some("2")));

    f.set_key(IntelApi::Otx, "otx");
    let (st, _, body) = get(
        &f,
        "/api/v1/indicators/domain/evil.example.com/general",
        Some(("X-OTX-API-KEY", "otx")),
        "",
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(body["pulse_info"]["count"], 1);
    assert_eq!(body["pulse_info"]["pulses"][0]["name"], "Campaign A");
    let (st, _, body) = get(
        &f,
        "/api/v1/indicators/IPv6/2606:4700::1111/general",
        None,
        "",
    )
    .await;
    assert_eq!((st, body["pulse_info"]["count"].as_u64()), (200, Some(0)));
    let (st, _, body) = get(
        &f,
        "/api/v1/indicators/IPv4/8.8.8.8/general",
        Some(("X-OTX-API-KEY", "bad")),
        "",
    )
    .await;
    assert_eq!(
        (st, body["detail"].as_str()),
        (403, Some("Invalid API key"))
    );
    assert_eq!(
        get(&f, "/api/v1/indicators/IPv4/not-an-ip/general", None, "")
            .await
            .0,
        400
    );
}
