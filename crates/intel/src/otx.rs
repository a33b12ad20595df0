//! AlienVault OTX DirectConnect API v1 `GET /api/v1/indicators/{IPv4|IPv6|domain}/{x}/general`
//! (header `X-OTX-API-KEY`): the community pulses that name a subject. Request and classification only.
//!
//! `details`: `pulse_count` (`pulse_info.count`), `pulses` (the first 5 pulse names),
//! `reputation`. OTX does not judge: `malicious` is unknown, and triage rules read
//! `enrichment.reputation.otx_pulses`.

use crate::client::Reply;
use crate::lookup::{Api, Request};
use chrono::{DateTime, Utc};
use irene_investigate::providers::OTX;
use irene_investigate::{ProviderError, Subject, Verdict};
use serde_json::{json, Value};
use std::net::IpAddr;

pub(crate) const DEFAULT_URL: &str = "https://otx.alienvault.com";
/// Pulse names kept in the details.
const NAMES_KEPT: usize = 5;

pub(crate) struct Otx;

impl Api for Otx {
    const NAME: &'static str = OTX;
    const KEY_HEADER: &'static str = "x-otx-api-key";

    fn handles(_subject: &Subject) -> bool {
        true
    }

    fn request(subject: &Subject) -> Request {
        let section = match subject {
            Subject::Ip(IpAddr::V4(_)) => "IPv4",
            Subject::Ip(IpAddr::V6(_)) => "IPv6",
            Subject::Domain(_) => "domain",
        };
        Request {
            path: format!("/api/v1/indicators/{section}/{subject}/general"),
            query: Vec::new(),
        }
    }

    fn limited_for_the_day(_reply: &Reply) -> bool {
        false
    }

    fn classify(status: u16, body: &[u8], now: DateTime<Utc>) -> Result<Verdict, ProviderError> {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if status != 200 {
            let detail = v["detail"].as_str().unwrap_or("no detail");
            return Err(ProviderError::Failed(format!("{status}: {detail}")));
        }
        let Some(count) = v["pulse_info"]["count"].as_u64() else {
            return Err(ProviderError::Failed(
                "the answer has no pulse_info.count".into(),
            ));
        };
        let names: Vec<String> = v["pulse_info"]["pulses"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| p["name"].as_str().map(str::to_string))
                    .take(NAMES_KEPT)
                    .collect()
            })
            .unwrap_or_default();
        let mut label = format!("{count} pulse(s)");
        if let Some(first) = names.first() {
            label.push_str(&format!(", e.g. {first}"));
        }
        Ok(Verdict {
            malicious: None,
            score: None,
            label,
            details: json!({
                "pulse_count": count,
                "pulses": names,
                "reputation": v["reputation"],
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

    #[test]
    fn general_replies_table() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let general = |n: usize| {
            let pulses: Vec<Value> = (0..n)
                .map(
                    |i| json!({"id": format!("p{i}"), "name": format!("Campaign {i}"), "tags": []}),
                )
                .collect();
            json!({"indicator": "8.8.8.8", "type": "IPv4", "type_title": "IPv4",
                "reputation": 0, "pulse_info": {"count": n, "pulses": pulses, "references": []}})
            .to_string()
        };
        // (status, body, Ok(pulse count) or Err(fragment))
        let cases: Vec<(u16, String, Result<u64, &str>)> = vec![
            (200, general(0), Ok(0)),
            (200, general(7), Ok(7)),
            (200, r#"{"indicator":"x"}"#.into(), Err("pulse_info.count")),
            (
                400,
                r#"{"detail":"Invalid indicator"}"#.into(),
                Err("400: Invalid indicator"),
            ),
        ];
        for (status, body, want) in cases {
            match (Otx::classify(status, body.as_bytes(), now), want) {
                (Ok(v), Ok(count)) => {
                    assert_eq!(v.details["pulse_count"], count, "{body}");
                    assert_eq!(v.malicious, None);
                    assert!(v.details["pulses"].as_array().unwrap().len() <= NAMES_KEPT);
                }
                (Err(e), Err(frag)) => assert!(e.to_string().contains(frag), "{e}"),
                (got, want) => panic!("{status} {body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn sections_by_kind() {
        let p = |s: Subject| Otx::request(&s).path;
        assert_eq!(
            p(Subject::Ip("8.8.8.8".parse().unwrap())),
            "/api/v1/indicators/IPv4/8.8.8.8/general"
        );
        assert_eq!(
            p(Subject::Ip("2606:4700::1111".parse().unwrap())),
            "/api/v1/indicators/IPv6/2606:4700::1111/general"
        );
        assert_eq!(
            p(Subject::Domain("evil.example.com".into())),
            "/api/v1/indicators/domain/evil.example.com/general"
        );
    }
}
