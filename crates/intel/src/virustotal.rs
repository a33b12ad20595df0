//! VirusTotal API v3 `GET /api/v3/ip_addresses/{ip}` and `/api/v3/domains/{domain}` (header
//! `x-apikey`): what the engines said last. Its request and reply classification only; no I/O.
//!
//! `details`: `malicious`, `suspicious`, `harmless`, `undetected` (from
//! `data.attributes.last_analysis_stats`), `reputation`, and `as_owner`/`country` (IPs) or
//! `registrar` (domains); `{"found": false}` for a subject VirusTotal does not know (404
//! `NotFoundError`, a valid answer). `malicious` is true from 2 engines saying malicious, false
//! when none does, unknown with one. A 429 (`QuotaExceededError`) may be the minute's or the
//! day's quota; it carries no `Retry-After`, so it is taken as the minute's (the daily count is ours).

use crate::client::Reply;
use crate::lookup::{Api, Request};
use chrono::{DateTime, Utc};
use irene_investigate::providers::VIRUSTOTAL;
use irene_investigate::{ProviderError, Subject, Verdict};
use serde_json::{json, Value};

pub(crate) const DEFAULT_URL: &str = "https://www.virustotal.com";
/// From this many engines saying malicious, the subject counts as malicious.
const MALICIOUS_FROM: u64 = 2;

pub(crate) struct VirusTotal;

/// `error.code: error.message` of a VirusTotal error body.
fn error_of(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    format!(
        "{}: {}",
        v["error"]["code"].as_str().unwrap_or("no error code"),
        v["error"]["message"].as_str().unwrap_or("")
    )
}

impl Api for VirusTotal {
    const NAME: &'static str = VIRUSTOTAL;
    const KEY_HEADER: &'static str = "x-apikey";

    fn handles(_subject: &Subject) -> bool {
        true
    }

    fn request(subject: &Subject) -> Request {
        let path = match subject {
            Subject::Ip(ip) => format!("/api/v3/ip_addresses/{ip}"),
            Subject::Domain(d) => format!("/api/v3/domains/{d}"),
        };
        Request {
            path,
            query: Vec::new(),
        }
    }

    fn limited_for_the_day(_reply: &Reply) -> bool {
        false
    }

    fn classify(status: u16, body: &[u8], now: DateTime<Utc>) -> Result<Verdict, ProviderError> {
        if status == 404 {
            return Ok(Verdict {
                malicious: None,
                score: None,
                label: "unknown to VirusTotal".into(),
                details: json!({"found": false}),
                cached: false,
                fetched_at: now,
            });
        }
        if status != 200 {
            return Err(ProviderError::Failed(format!(
                "{status}: {}",
                error_of(body)
            )));
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ProviderError::Failed(format!("the answer is not JSON: {e}")))?;
        let a = &v["data"]["attributes"];
        let stats = &a["last_analysis_stats"];
        let Some(malicious) = stats["malicious"].as_u64() else {
            return Err(ProviderError::Failed(
                "the answer has no data.attributes.last_analysis_stats".into(),
            ));
        };
        let n = |k: &str| stats[k].as_u64().unwrap_or(0);
        let (suspicious, harmless, undetected) = (n("suspicious"), n("harmless"), n("undetected"));
        let total = malicious + suspicious + harmless + undetected + n("timeout");
        let reputation = a["reputation"].as_i64();
        let mut details = json!({
            "malicious": malicious,
            "suspicious": suspicious,
            "harmless": harmless,
            "undetected": undetected,
            "reputation": reputation,
        });
        for k in ["as_owner", "country", "registrar"] {
            if let Some(s) = a[k].as_str() {
                details[k] = json!(s);
            }
        }
        let mut label = format!("{malicious}/{total} engines malicious, {suspicious} suspicious");
        if let Some(r) = reputation {
            label.push_str(&format!(", reputation {r}"));
        }
        Ok(Verdict {
            malicious: match malicious {
                0 => Some(false),
                m if m >= MALICIOUS_FROM => Some(true),
                _ => None,
            },
            score: None,
            label,
            details,
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
    fn object_and_error_replies_table() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let obj = |m: u64| {
            json!({"data": {"id": "8.8.8.8", "type": "ip_address", "links": {"self": "x"},
                "attributes": {"as_owner": "GOOGLE", "country": "US", "reputation": -3,
                "last_analysis_stats": {"harmless": 60, "malicious": m, "suspicious": 1,
                "undetected": 10, "timeout": 0}}}})
            .to_string()
        };
        // (status, body, Ok((malicious, engines)) or Err(fragment))
        let cases: Vec<Case<(Option<bool>, Option<u64>)>> = vec![
            (200, obj(0), Ok((Some(false), Some(0)))),
            (200, obj(1), Ok((None, Some(1)))),
            (200, obj(5), Ok((Some(true), Some(5)))),
            (
                404,
                r#"{"error":{"code":"NotFoundError","message":"Domain \"nx.example\" not found"}}"#
                    .into(),
                Ok((None, None)),
            ),
            (
                400,
                r#"{"error":{"code":"InvalidArgumentError","message":"Invalid IP address"}}"#
                    .into(),
                Err("InvalidArgumentError"),
            ),
            (
                200,
                r#"{"data":{"attributes":{}}}"#.into(),
                Err("last_analysis_stats"),
            ),
        ];
        for (status, body, want) in cases {
            match (VirusTotal::classify(status, body.as_bytes(), now), want) {
                (Ok(v), Ok((malicious, engines))) => {
                    assert_eq!(v.malicious, malicious, "{body}");
                    assert_eq!(v.details["malicious"].as_u64(), engines, "{body}");
                }
                (Err(e), Err(frag)) => assert!(e.to_string().contains(frag), "{e}"),
                (got, want) => panic!("{status} {body}: got {got:?}, want {want:?}"),
            }
        }
        let v = VirusTotal::classify(200, obj(5).as_bytes(), now).unwrap();
        assert_eq!(
            v.label,
            "5/76 engines malicious, 1 suspicious, reputation -3"
        );
        assert_eq!(v.details["as_owner"], "GOOGLE");
    }

    #[test]
    fn requests_by_kind() {
        let ip = VirusTotal::request(&Subject::Ip("8.8.8.8".parse().unwrap()));
        assert_eq!(ip.path, "/api/v3/ip_addresses/8.8.8.8");
        let d = VirusTotal::request(&Subject::Domain("evil.example.com".into()));
        assert_eq!(d.path, "/api/v3/domains/evil.example.com");
        assert!(d.query.is_empty());
    }
}
