//! AbuseIPDB APIv2 `GET /api/v2/check?ipAddress=&maxAgeInDays=90` (header `Key`): the abuse
//! confidence of an IP. Its request and its reply classification only; no I/O here.
//!
//! `details`: `abuseConfidenceScore`, `totalReports`, `numDistinctUsers`, `lastReportedAt`,
//! `isWhitelisted`, `isTor`, `countryCode`, `usageType`, `isp`, `domain`. `malicious` is true
//! from a confidence of 50 (AbuseIPDB's own blocklist default is 100, tools often use 25–75),
//! false below, and false for a whitelisted address. Its limits are daily: a 429 ends the day.

use crate::client::Reply;
use crate::lookup::{Api, Request};
use chrono::{DateTime, Utc};
use irene_investigate::providers::ABUSEIPDB;
use irene_investigate::{ProviderError, Subject, Verdict};
use serde_json::{json, Value};

pub(crate) const DEFAULT_URL: &str = "https://api.abuseipdb.com";
/// From this confidence on, an address counts as malicious.
const MALICIOUS_FROM: u64 = 50;
/// Reports older than this are not counted.
const MAX_AGE_DAYS: &str = "90";

pub(crate) struct AbuseIpDb;

/// The first `errors[].detail` of an AbuseIPDB error body.
fn detail(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["errors"][0]["detail"].as_str().map(str::to_string))
        .unwrap_or_else(|| "no detail".into())
}

impl Api for AbuseIpDb {
    const NAME: &'static str = ABUSEIPDB;
    const KEY_HEADER: &'static str = "key";

    fn handles(subject: &Subject) -> bool {
        matches!(subject, Subject::Ip(_))
    }

    fn request(subject: &Subject) -> Request {
        Request {
            path: "/api/v2/check".into(),
            query: vec![
                ("ipAddress", subject.to_string()),
                ("maxAgeInDays", MAX_AGE_DAYS.into()),
            ],
        }
    }

    fn limited_for_the_day(_reply: &Reply) -> bool {
        true
    }

    fn classify(status: u16, body: &[u8], now: DateTime<Utc>) -> Result<Verdict, ProviderError> {
        if status != 200 {
            return Err(ProviderError::Failed(format!("{status}: {}", detail(body))));
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ProviderError::Failed(format!("the answer is not JSON: {e}")))?;
        let d = &v["data"];
        let Some(score) = d["abuseConfidenceScore"].as_u64() else {
            return Err(ProviderError::Failed(
                "the answer has no data.abuseConfidenceScore".into(),
            ));
        };
        let score = score.min(100);
        let reports = d["totalReports"].as_u64().unwrap_or(0);
        let whitelisted = d["isWhitelisted"].as_bool().unwrap_or(false);
        let tor = d["isTor"].as_bool().unwrap_or(false);
        let mut label = format!("confidence {score}%, {reports} report(s)");
        if whitelisted {
            label.push_str(", whitelisted");
        }
        if tor {
            label.push_str(", Tor");
        }
        if let Some(isp) = d["isp"].as_str().filter(|s| !s.is_empty()) {
            label.push_str(&format!(", {isp}"));
        }
        let keep = |k: &str| d.get(k).cloned().unwrap_or(Value::Null);
        Ok(Verdict {
            malicious: Some(!whitelisted && score >= MALICIOUS_FROM),
            score: u8::try_from(score).ok(),
            label,
            details: json!({
                "abuseConfidenceScore": score,
                "totalReports": reports,
                "numDistinctUsers": keep("numDistinctUsers"),
                "lastReportedAt": keep("lastReportedAt"),
                "isWhitelisted": keep("isWhitelisted"),
                "isTor": keep("isTor"),
                "countryCode": keep("countryCode"),
                "usageType": keep("usageType"),
                "isp": keep("isp"),
                "domain": keep("domain"),
            }),
            cached: false,
            fetched_at: now,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// (status, body, the expected reading or a fragment of the expected error)
    type Case<'a, T> = (u16, String, Result<T, &'a str>);

    #[test]
    fn check_replies_table() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let data = |score: u64, white: bool| {
            json!({"data": {"ipAddress": "118.25.6.39", "isPublic": true, "ipVersion": 4,
                "isWhitelisted": white, "abuseConfidenceScore": score, "countryCode": "CN",
                "usageType": "Data Center/Web Hosting/Transit", "isp": "Tencent Cloud Computing",
                "domain": "tencent.com", "hostnames": [], "isTor": false, "totalReports": 1,
                "numDistinctUsers": 1, "lastReportedAt": "2018-12-20T20:55:14+00:00"}})
            .to_string()
        };
        // (status, body, Ok((malicious, score)) or Err(message fragment))
        let cases: Vec<Case<(bool, u8)>> = vec![
            (200, data(100, false), Ok((true, 100))),
            (200, data(50, false), Ok((true, 50))),
            (200, data(49, false), Ok((false, 49))),
            (200, data(0, false), Ok((false, 0))),
            (200, data(90, true), Ok((false, 90))),
            (200, r#"{"data": {}}"#.into(), Err("no data.abuseConfidenceScore")),
            (200, "<html>".into(), Err("not JSON")),
            (
                422,
                r#"{"errors":[{"detail":"The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).","status":422,"source":{"parameter":"ipAddress"}}]}"#.into(),
                Err("422: The ip address must be a valid"),
            ),
        ];
        for (status, body, want) in cases {
            let got = AbuseIpDb::classify(status, body.as_bytes(), now);
            match (got, want) {
                (Ok(v), Ok((malicious, score))) => {
                    assert_eq!(v.malicious, Some(malicious), "{body}");
                    assert_eq!(v.score, Some(score), "{body}");
                    assert_eq!(v.details["abuseConfidenceScore"], u64::from(score));
                    assert!(
                        v.label.starts_with(&format!("confidence {score}%")),
                        "{}",
                        v.label
                    );
                    assert_eq!(v.fetched_at, now);
                }
                (Err(e), Err(frag)) => assert!(e.to_string().contains(frag), "{e} vs {frag}"),
                (got, want) => panic!("{status} {body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn the_request_names_the_ip_in_the_query_only() {
        let r = AbuseIpDb::request(&Subject::Ip("2001:4860:4860::8888".parse().unwrap()));
        assert_eq!(r.path, "/api/v2/check");
        assert_eq!(
            r.query,
            vec![
                ("ipAddress", "2001:4860:4860::8888".to_string()),
                ("maxAgeInDays", "90".to_string())
            ]
        );
        assert!(!AbuseIpDb::handles(&Subject::Domain("example.com".into())));
    }
}
