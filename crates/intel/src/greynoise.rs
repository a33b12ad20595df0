//! GreyNoise Community API `GET /v3/community/{ip}` (header `key`, optional): whether an IPv4
//! address is internet background noise or a known business service. Request and classification only.
//!
//! `details`: `noise`, `riot`, `classification` (`malicious`, `suspicious`, `benign`,
//! `unknown`), `name`, `link`, `last_seen`, and `seen` (false on the documented 404 "IP not
//! observed scanning the internet or contained in RIOT data set.", a valid answer). `malicious`
//! is true for `malicious`, false for `benign` or a RIOT service, unknown otherwise.

use crate::client::Reply;
use crate::lookup::{Api, Request};
use chrono::{DateTime, Utc};
use irene_investigate::providers::GREYNOISE;
use irene_investigate::{ProviderError, Subject, Verdict};
use serde_json::{json, Value};

pub(crate) const DEFAULT_URL: &str = "https://api.greynoise.io";

pub(crate) struct GreyNoise;

impl Api for GreyNoise {
    const NAME: &'static str = GREYNOISE;
    const KEY_HEADER: &'static str = "key";

    /// The community API answers for IPv4 addresses only.
    fn handles(subject: &Subject) -> bool {
        matches!(subject, Subject::Ip(std::net::IpAddr::V4(_)))
    }

    fn request(subject: &Subject) -> Request {
        Request {
            path: format!("/v3/community/{subject}"),
            query: Vec::new(),
        }
    }

    fn limited_for_the_day(_reply: &Reply) -> bool {
        false
    }

    fn classify(status: u16, body: &[u8], now: DateTime<Utc>) -> Result<Verdict, ProviderError> {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let message = v["message"].as_str().unwrap_or("").to_string();
        if status == 404 {
            return Ok(Verdict {
                malicious: None,
                score: None,
                label: "not seen by GreyNoise".into(),
                details: json!({"seen": false, "noise": false, "riot": false}),
                cached: false,
                fetched_at: now,
            });
        }
        if status != 200 {
            return Err(ProviderError::Failed(format!("{status}: {message}")));
        }
        if !v.is_object() {
            return Err(ProviderError::Failed(
                "the answer is not a JSON object".into(),
            ));
        }
        let noise = v["noise"].as_bool().unwrap_or(false);
        let riot = v["riot"].as_bool().unwrap_or(false);
        let class = v["classification"]
            .as_str()
            .unwrap_or("unknown")
            .to_string();
        let name = v["name"].as_str().unwrap_or("").to_string();
        let mut label = class.clone();
        if !name.is_empty() && name != "unknown" {
            label.push_str(&format!(": {name}"));
        }
        if noise {
            label.push_str(", internet scanner");
        }
        if riot {
            label.push_str(", known business service");
        }
        if let Some(seen) = v["last_seen"].as_str() {
            label.push_str(&format!(", last seen {seen}"));
        }
        Ok(Verdict {
            malicious: match class.as_str() {
                "malicious" => Some(true),
                "benign" => Some(false),
                _ if riot => Some(false),
                _ => None,
            },
            score: None,
            label,
            details: json!({
                "seen": true,
                "noise": noise,
                "riot": riot,
                "classification": class,
                "name": name,
                "link": v["link"],
                "last_seen": v["last_seen"],
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
    fn community_replies_table() {
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
        let ok = |noise: bool, riot: bool, class: &str, name: &str| {
            json!({"ip": "1.2.3.4", "noise": noise, "riot": riot, "classification": class,
                "name": name, "link": "https://viz.greynoise.io/ip/1.2.3.4",
                "last_seen": "2026-04-30", "message": "Success"})
            .to_string()
        };
        // (status, body, Ok((malicious, classification or seen=false)) or Err(fragment))
        let cases: Vec<Case<(Option<bool>, Option<&str>)>> = vec![
            (200, ok(true, false, "malicious", "unknown"), Ok((Some(true), Some("malicious")))),
            (200, ok(false, true, "benign", "Cloudflare"), Ok((Some(false), Some("benign")))),
            (200, ok(true, false, "unknown", "unknown"), Ok((None, Some("unknown")))),
            (200, ok(true, false, "suspicious", "x"), Ok((None, Some("suspicious")))),
            (
                404,
                r#"{"ip":"1.2.3.4","noise":false,"riot":false,"message":"IP not observed scanning the internet or contained in RIOT data set."}"#.into(),
                Ok((None, None)),
            ),
            (400, r#"{"message":"Request is not a valid routable IPv4 address"}"#.into(), Err("400: Request is not a valid")),
            (200, "[]".into(), Err("not a JSON object")),
        ];
        for (status, body, want) in cases {
            match (GreyNoise::classify(status, body.as_bytes(), now), want) {
                (Ok(v), Ok((malicious, class))) => {
                    assert_eq!(v.malicious, malicious, "{body}");
                    assert_eq!(v.details["classification"].as_str(), class, "{body}");
                    assert_eq!(v.details["seen"], class.is_some());
                }
                (Err(e), Err(frag)) => assert!(e.to_string().contains(frag), "{e}"),
                (got, want) => panic!("{status} {body}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn ipv4_only() {
        assert!(GreyNoise::handles(&Subject::Ip("8.8.8.8".parse().unwrap())));
        assert!(!GreyNoise::handles(&Subject::Ip(
            "2606:4700::1111".parse().unwrap()
        )));
        assert!(!GreyNoise::handles(&Subject::Domain("example.com".into())));
        assert_eq!(
            GreyNoise::request(&Subject::Ip("8.8.8.8".parse().unwrap())).path,
            "/v3/community/8.8.8.8"
        );
    }
}
