//! Reputation APIs end to end: the real `irene` process asks the AbuseIPDB stand-in about a
//! case's IP; a 429 then a 200 still give the score, a second case with the same IP is answered
//! from the cache, the daily quota stops the asking, and the key never shows in logs or the API.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;
use irene_fakes::{FakeIntel, Fault, FaultKind, IntelApi};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KEY: &str = "abuseipdb-key-7f3c9e1d5b2a";
const IP: &str = "185.220.101.33";
const OTHER_IP: &str = "45.83.66.10";

fn alert(key: &str, ip: &str) -> String {
    json!({"key": key, "title": format!("Odd logins {key}"), "type": "test.logins",
        "severity": "high", "account": "111111111111", "actor": {"ip": ip}})
    .to_string()
}

/// The reputation investigation of the case opened by alert `key`, once it is done.
async fn reputation_of(s: &Server, key: &str) -> Value {
    s.drained().await;
    let cases = s.all_cases("source=generic").await;
    let case = cases
        .iter()
        .find(|c| c["key"] == key || c["title"].as_str().is_some_and(|t| t.ends_with(key)))
        .unwrap_or_else(|| panic!("no case for {key}: {cases:?}"));
    let id = case["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (st, body) = s.get(&format!("/api/v1/cases/{id}")).await;
        let rep = body["investigations"].as_array().and_then(|a| {
            a.iter()
                .find(|i| i["investigator"] == "reputation")
                .cloned()
        });
        if st == 200 {
            if let Some(r) = rep.filter(|r| r["state"] == "done") {
                return r;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no reputation result: {body}\n{}",
            s.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_429_then_200_gives_the_score_the_cache_and_the_quota_hold_and_the_key_stays_secret() {
    let fake = FakeIntel::start().await;
    fake.set_key(IntelApi::AbuseIpDb, KEY);
    fake.set_abuse(IP, 87, 112);
    fake.fault(
        Fault::new(FaultKind::RateLimited {
            retry_after: Some(1),
        })
        .on("GET", "/api/v2/check"),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("irene.toml");
    std::fs::write(
        &cfg,
        format!(
            "[reputation.abuseipdb]\nkey = \"${{ABUSEIPDB_KEY}}\"\nurl = \"{}\"\ndaily = 2\nper_minute = 600\nttl = \"1h\"\n",
            fake.url()
        ),
    )
    .unwrap();
    let s = Server::start_env(
        &dir.path().join("data"),
        &["--config", cfg.to_str().unwrap()],
        &[("ABUSEIPDB_KEY", KEY), ("IRENE_LOG", "debug")],
    );

    // 429 (Retry-After: 1), waited out in line, then 200: the score arrives.
    let (st, body) = s.ingest("generic", alert("k1", IP)).await;
    assert_eq!(st, 202, "{body}");
    let first = reputation_of(&s, "k1").await;
    let f = &first["findings"];
    assert_eq!(f["abuse_score"], 87, "{first}");
    assert_eq!(f["provider_malicious"], true, "{first}");
    assert_eq!(f["providers"]["abuseipdb"][IP]["score"], 87, "{first}");
    assert_eq!(f["providers"]["abuseipdb"][IP]["cached"], false, "{first}");
    assert_eq!(first["status"], "done", "{first}");
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .contains("confidence 87%"),
        "{first}"
    );
    let reqs = fake.requests_to(IntelApi::AbuseIpDb);
    assert_eq!(
        reqs.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![429, 200],
        "one retry after the 429, no more"
    );
    assert!(reqs.iter().all(|r| r.header("key") == Some(KEY)));

    // A second case with the same IP: from the cache, no request.
    let (st, _) = s.ingest("generic", alert("k2", IP)).await;
    assert_eq!(st, 202);
    let second = reputation_of(&s, "k2").await;
    assert_eq!(second["findings"]["abuse_score"], 87, "{second}");
    assert_eq!(
        second["findings"]["providers"]["abuseipdb"][IP]["cached"], true,
        "{second}"
    );
    assert_eq!(fake.requests_to(IntelApi::AbuseIpDb).len(), 2);

    // The day's quota (2, the 429 included) is used: a new IP is not asked about.
    let (st, _) = s.ingest("generic", alert("k3", OTHER_IP)).await;
    assert_eq!(st, 202);
    let third = reputation_of(&s, "k3").await;
    let f = &third["findings"];
    assert_eq!(f["quota_used"], json!(["abuseipdb"]), "{third}");
    assert_eq!(
        f["providers"]["abuseipdb"][OTHER_IP]["skipped"], "daily quota used",
        "{third}"
    );
    assert_eq!(f["abuse_score"], Value::Null, "{third}");
    assert!(
        third["summary"]
            .as_str()
            .unwrap()
            .contains("skipped: daily quota used"),
        "{third}"
    );
    assert_eq!(
        fake.requests_to(IntelApi::AbuseIpDb).len(),
        2,
        "quota honoured"
    );

    // The key is in no log line and no API answer.
    let mut seen = s.logs();
    for path in ["/api/v1/investigations", "/api/v1/status", "/api/v1/cases"] {
        let (_, body) = s.get(path).await;
        seen.push_str(&body.to_string());
    }
    for r in [&first, &second, &third] {
        seen.push_str(&r.to_string());
    }
    assert!(!seen.contains(KEY), "the key leaked");
    assert!(!seen.contains("7f3c9e1d5b2a"), "part of the key leaked");
}
