//! Value parsers every decoder shares: timestamps, IP addresses, indicator kinds, tag maps, URL escaping.
//! Pure and lenient: a value that does not parse gives `None` (except `opt_time`, the strict
//! reader for a field that must be a timestamp when present); no source-specific knowledge here.

use crate::json::{scalar_text, Node};
use crate::DecodeError;
use chrono::{DateTime, NaiveDateTime, Utc};
use irene_core::{Alert, IndicatorKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// A timestamp: RFC 3339, a naive ISO 8601 date-time (read as UTC), or an epoch number
/// (seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude).
pub(crate) fn time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => time_str(s),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                epoch_int(i)
            } else if let Some(u) = n.as_u64() {
                epoch_int(i64::try_from(u).ok()?)
            } else {
                epoch_decimal(&n.to_string())
            }
        }
        _ => None,
    }
}

/// The first of `keys` (in order) on `node` that holds a timestamp.
pub(crate) fn first_time(node: &Node, keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter()
        .filter_map(|k| node.get(k))
        .find_map(|n| time(n.value))
}

/// The timestamp at `key` on `node` if present (null counts as missing); a value that is not a
/// timestamp (as `time` reads them) is an error.
pub(crate) fn opt_time(node: &Node, key: &str) -> Result<Option<DateTime<Utc>>, DecodeError> {
    let Some(n) = node.get(key) else {
        return Ok(None);
    };
    match time(n.value) {
        Some(t) => Ok(Some(t)),
        None if n.value.is_string() => Err(n.error(format!(
            "expected a timestamp such as 2024-05-01T10:00:00Z, found {}",
            n.value
        ))),
        None => Err(n.type_error("a timestamp")),
    }
}

fn time_str(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc());
        }
    }
    if s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return epoch_decimal(s);
    }
    None
}

const NANOS_FROM: u64 = 100_000_000_000_000_000; // 1e17: later than year 5138 in µs
const MICROS_FROM: u64 = 100_000_000_000_000; // 1e14
const MILLIS_FROM: u64 = 100_000_000_000; // 1e11: year 5138 in seconds, 1973 in ms

fn epoch_int(i: i64) -> Option<DateTime<Utc>> {
    let a = i.unsigned_abs();
    if a >= NANOS_FROM {
        Some(DateTime::from_timestamp_nanos(i))
    } else if a >= MICROS_FROM {
        DateTime::from_timestamp_micros(i)
    } else if a >= MILLIS_FROM {
        DateTime::from_timestamp_millis(i)
    } else {
        DateTime::from_timestamp(i, 0)
    }
}

/// An epoch number written in decimal (`1513612691.551`), read exactly rather than through `f64`.
fn epoch_decimal(s: &str) -> Option<DateTime<Utc>> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    if fraction.is_empty() {
        let i = i64::try_from(whole).ok()?;
        return epoch_int(if negative { -i } else { i });
    }
    // Digits of the unit below nanoseconds: 9 for seconds, 6 for ms, 3 for µs, 0 for ns.
    let places: u32 = if whole >= NANOS_FROM {
        0
    } else if whole >= MICROS_FROM {
        3
    } else if whole >= MILLIS_FROM {
        6
    } else {
        9
    };
    let kept: String = fraction.chars().take(places as usize).collect();
    let padded = format!("{kept:0<width$}", width = places as usize);
    let fraction: i128 = if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    };
    let total = i128::from(whole) * 10i128.pow(places) + fraction;
    let total = if negative { -total } else { total };
    let seconds = i64::try_from(total.div_euclid(1_000_000_000)).ok()?;
    let nanos = u32::try_from(total.rem_euclid(1_000_000_000)).ok()?;
    DateTime::from_timestamp(seconds, nanos)
}

/// A valid IPv4/IPv6 address in canonical form (`[::1]` brackets allowed).
pub(crate) fn ip(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(t);
    t.parse::<IpAddr>().ok().map(|a| a.to_string())
}

/// The address of `host:port`, `[v6]:port` or a bare address.
pub(crate) fn ip_of_endpoint(s: &str) -> Option<String> {
    let t = s.trim();
    if let Some(a) = ip(t) {
        return Some(a);
    }
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split_once(']').and_then(|(a, _)| ip(a));
    }
    t.rsplit_once(':').and_then(|(a, _)| ip(a))
}

/// Adds `s` as an IP indicator when it is an address other than the unspecified `0.0.0.0`/`::`
/// (which samples use as a placeholder); returns the canonical address.
pub(crate) fn add_ip(alert: &mut Alert, s: &str) -> Option<String> {
    let a = ip(s).filter(|a| a != "0.0.0.0" && a != "::")?;
    alert.add_indicator(IndicatorKind::Ip, a.clone());
    Some(a)
}

fn is_hex_hash(s: &str) -> bool {
    matches!(s.len(), 32 | 40 | 64 | 128) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A DNS name with at least two labels and an alphabetic top-level label.
pub(crate) fn is_domain(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() || s.len() > 253 || !s.contains('.') {
        return false;
    }
    let labels: Vec<&str> = s.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let tld_ok = labels.last().is_some_and(|t| {
        t.len() >= 2 && (t.bytes().all(|b| b.is_ascii_alphabetic()) || t.starts_with("xn--"))
    });
    labels.iter().all(label_ok) && tld_ok
}

fn is_url(s: &str) -> bool {
    match s.split_once("://") {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.')
                && scheme
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphabetic())
                && !rest.is_empty()
                && !rest.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn is_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !local.contains(char::is_whitespace)
                && !domain.contains('@')
                && is_domain(domain)
        }
        None => false,
    }
}

/// What kind of observable a bare string is: IP, URL, hash (MD5/SHA-1/SHA-256/SHA-512 hex),
/// e-mail address or domain. `None` when it is none of those.
pub(crate) fn classify(s: &str) -> Option<IndicatorKind> {
    let t = s.trim();
    if ip(t).is_some() {
        Some(IndicatorKind::Ip)
    } else if is_url(t) {
        Some(IndicatorKind::Url)
    } else if is_hex_hash(t) {
        Some(IndicatorKind::Hash)
    } else if is_email(t) {
        Some(IndicatorKind::Email)
    } else if is_domain(t) {
        Some(IndicatorKind::Domain)
    } else {
        None
    }
}

/// Tags in any of the usual shapes, leniently: a `{"k": "v"}` map, a list of
/// `{"key"|"name": k, "value": v}` objects (any key casing), or a list of `"k:v"`/`"k=v"` strings.
/// Non-scalar values are skipped.
pub(crate) fn tags(node: Option<&Node>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Some(node) = node else {
        return out;
    };
    match node.value {
        Value::Object(_) => {
            for (k, v) in node.members() {
                if let Some(text) = scalar_text(v.value) {
                    out.insert(k.to_string(), text);
                } else if v.value.as_str().is_some() {
                    out.insert(k.to_string(), String::new());
                }
            }
        }
        Value::Array(_) => {
            for item in node.elements() {
                match item.value {
                    Value::Object(_) => {
                        let key = item.text_at("key").or_else(|| item.text_at("name"));
                        if let Some(key) = key {
                            out.insert(key, item.text_at("value").unwrap_or_default());
                        }
                    }
                    Value::String(s) => {
                        let s = s.trim();
                        if s.is_empty() {
                            continue;
                        }
                        let (k, v) = s
                            .split_once(':')
                            .or_else(|| s.split_once('='))
                            .unwrap_or((s, ""));
                        out.insert(k.trim().to_string(), v.trim().to_string());
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times() {
        let table = [
            (
                json!("2025-01-20T14:35:00.000Z"),
                Some("2025-01-20T14:35:00+00:00"),
            ),
            (
                json!("2025-02-14T14:27:03.913874"),
                Some("2025-02-14T14:27:03.913874+00:00"),
            ),
            (json!(1739539623), Some("2025-02-14T13:27:03+00:00")),
            (json!(1497058274000_i64), Some("2017-06-10T01:31:14+00:00")),
            (json!(1513612691.551), Some("2017-12-18T15:58:11.551+00:00")),
            (
                json!(1683727764046826000_u64),
                Some("2023-05-10T14:09:24.046826+00:00"),
            ),
            (json!("1513612692"), Some("2017-12-18T15:58:12+00:00")),
            (json!("yesterday"), None),
            (json!(true), None),
            (json!(u64::MAX), None),
            (json!(1e300), None),
            (json!(-1.5), Some("1969-12-31T23:59:58.500+00:00")),
            (
                json!(1497058274000.5),
                Some("2017-06-10T01:31:14.000500+00:00"),
            ),
            (json!("12.x"), None),
        ];
        for (input, want) in table {
            assert_eq!(
                time(&input).map(|t| t.to_rfc3339()).as_deref(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn classification() {
        let table = [
            ("198.51.100.7", Some(IndicatorKind::Ip)),
            ("2001:db8::1", Some(IndicatorKind::Ip)),
            ("https://evil.example/x", Some(IndicatorKind::Url)),
            (
                "d41d8cd98f00b204e9800998ecf8427e",
                Some(IndicatorKind::Hash),
            ),
            ("evil.example.com", Some(IndicatorKind::Domain)),
            ("someone@example.org", Some(IndicatorKind::Email)),
            ("not an indicator", None),
            ("1.2.3", None),
            ("", None),
        ];
        for (input, want) in table {
            assert_eq!(classify(input), want, "{input}");
        }
    }

    #[test]
    fn endpoints_and_tags() {
        assert_eq!(
            ip_of_endpoint("155.94.163.103:8080").as_deref(),
            Some("155.94.163.103")
        );
        assert_eq!(
            ip_of_endpoint("[2001:db8::1]:443").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(ip_of_endpoint("/bin/hack"), None);
        let v = json!([{"Key": "a", "Value": "1"}, "b:2", "c=3", 7, {"name": "d", "value": 4}]);
        let t = tags(Some(&Node::root(&v, crate::json::Keys::Loose)));
        let want: BTreeMap<String, String> = [("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(t, want);
        assert_eq!(url_encode("id=a b/é"), "id%3Da%20b%2F%C3%A9");
    }
}
