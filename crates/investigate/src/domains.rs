//! Every domain an alert names that a reputation provider may be asked about: its domain
//! indicators, checked to be plain host names. Reads the alert only; never resolves or judges.

use irene_core::{Alert, IndicatorKind};

/// The domain indicators that are plain DNS names, lower-cased, without a trailing dot,
/// deduplicated, in order. Conservative: only what a decoder already called a domain
/// (GuardDuty `dnsRequestAction.domain`, Security Hub/SCC/Falco/generic domain indicators),
/// and only names of 2+ labels of letters, digits and hyphens with an alphabetic top label, so
/// that nothing but a host name can ever reach a provider's URL path.
pub fn domains_of(alert: &Alert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ind in &alert.indicators {
        if ind.kind != IndicatorKind::Domain {
            continue;
        }
        let d = ind.value.trim().trim_end_matches('.').to_ascii_lowercase();
        if is_host_name(&d) && !out.contains(&d) {
            out.push(d);
        }
    }
    out
}

/// A DNS name of at least two labels (1–63 of `[a-z0-9-]`, no hyphen at either end), at most
/// 253 characters, whose last label is alphabetic (or an IDN `xn--` label).
pub fn is_host_name(d: &str) -> bool {
    if d.is_empty() || d.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let tld = labels[labels.len() - 1];
    labels.iter().all(|l| label_ok(l))
        && (tld.bytes().all(|b| b.is_ascii_lowercase()) || tld.starts_with("xn--"))
        && tld.len() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_names_table() {
        let cases = [
            ("example.com", true),
            ("a-b.c0.example.org", true),
            ("xn--bcher-kva.example", true),
            ("guarddutyc2activityb.com", true),
            ("localhost", false),
            ("example", false),
            ("-bad.com", false),
            ("bad-.com", false),
            ("a..com", false),
            ("1.2.3.4", false),
            ("example.c0m", false),
            ("http://evil.com/x", false),
            ("evil.com/../../x", false),
            ("evil.com?x=1", false),
            ("ex ample.com", false),
            ("EXAMPLE.COM", false), // domains_of lower-cases first
        ];
        for (d, want) in cases {
            assert_eq!(is_host_name(d), want, "{d}");
        }
    }

    #[test]
    fn only_clean_domain_indicators_in_order() {
        let mut a = Alert::new(
            "generic",
            "t",
            "k",
            "T",
            irene_core::Severity::High,
            json!({}),
        );
        a.add_indicator(IndicatorKind::Domain, "Evil.Example.COM.");
        a.add_indicator(IndicatorKind::Url, "https://other.example.net/x");
        a.add_indicator(IndicatorKind::Domain, "evil.example.com");
        a.add_indicator(IndicatorKind::Domain, "not a domain");
        a.add_indicator(IndicatorKind::Domain, "second.example.org");
        assert_eq!(
            domains_of(&a),
            vec![
                "evil.example.com".to_string(),
                "second.example.org".to_string()
            ]
        );
    }
}
