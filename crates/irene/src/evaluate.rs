//! The one evaluation of an item: decode → Sigma (stateless matching) → triage, shared by the
//! pipeline, `POST /api/v1/rules/test` and `irene rules test`. No I/O and no state: correlation
//! windows (stateful) are fed later, by the commit, with the events the store found new.

use chrono::{DateTime, Utc};
use irene_core::{Alert, Event};
use irene_rules::sigma::{hit_alert, logsource_of, SigmaRules};
use irene_sources::Decoder;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What one item gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated<T> {
    /// Audit-log events in item order, each with what the Sigma rules made of it.
    pub events: Vec<EvaluatedEvent<T>>,
    /// The item's own alerts (findings), judged.
    pub alerts: Vec<T>,
}

/// One audit-log event and its Sigma detections.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluatedEvent<T> {
    pub event: Event,
    /// The ids of the Sigma rules it matched.
    pub detections: Vec<String>,
    /// The matches that make alerts (rules a correlation keeps silent do not), judged.
    pub hits: Vec<T>,
}

/// Why an item gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvaluateError {
    /// The decoder's own error: what was wrong, and where.
    #[error("{0}")]
    Decode(#[from] irene_sources::DecodeError),
    #[error("the decoder crashed on this item (a bug in Irene); kept for replay after a fix")]
    Crashed,
}

/// Decodes `item`, matches its events against `sigma` and judges every alert with `judge`
/// (the pipeline passes `TriageRules::judge`; dry runs pass an explaining judge). Alerts and
/// events without a time get `received_at`. Never panics: a decoder panic is an error.
pub fn evaluate<T>(
    decoder: &dyn Decoder,
    item: &serde_json::Value,
    received_at: DateTime<Utc>,
    sigma: &SigmaRules,
    judge: impl Fn(Alert) -> T,
) -> Result<Evaluated<T>, EvaluateError> {
    let decoded = catch_unwind(AssertUnwindSafe(|| decoder.decode(item)))
        .map_err(|_| EvaluateError::Crashed)??;
    let mut out = Evaluated {
        events: Vec::with_capacity(decoded.events.len()),
        alerts: Vec::with_capacity(decoded.alerts.len()),
    };
    for mut event in decoded.events {
        if event.observed_at.is_none() {
            event.observed_at = Some(received_at);
        }
        let matched = if sigma.is_empty() {
            Vec::new()
        } else {
            sigma.matches(&logsource_of(&event.source), &event.raw)
        };
        let hits = matched
            .iter()
            .filter(|r| sigma.rule_generates_alerts(r))
            .map(|r| judge(hit_alert(r, &event)))
            .collect();
        out.events.push(EvaluatedEvent {
            detections: matched.iter().map(|r| r.id.clone()).collect(),
            hits,
            event,
        });
    }
    for mut alert in decoded.alerts {
        if alert.observed_at.is_none() {
            alert.observed_at = Some(received_at);
        }
        out.alerts.push(judge(alert));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use irene_rules::{RuleFile, TriageRules};
    use irene_sources::decoder;

    fn sigma() -> SigmaRules {
        let (rules, rejected) = SigmaRules::compile(&[RuleFile::new(
            "stop_logging.yml",
            r#"
title: CloudTrail logging stopped
id: 4db60cc0-36fb-42b7-9b58-a5b53019fb74
status: test
logsource: {product: aws, service: cloudtrail}
detection:
  selection: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging}
  condition: selection
level: high
"#,
        )]);
        assert!(rejected.is_empty(), "{rejected:?}");
        rules
    }

    fn record(name: &str) -> serde_json::Value {
        serde_json::json!({
            "eventVersion": "1.08", "eventID": format!("id-{name}"), "eventTime": "2026-12-01T10:00:00Z",
            "eventSource": "cloudtrail.amazonaws.com", "eventName": name, "awsRegion": "eu-west-1",
            "sourceIPAddress": "198.51.100.7", "recipientAccountId": "111111111111",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/mallory",
                             "accountId": "111111111111"}
        })
    }

    #[test]
    fn events_are_matched_and_hits_judged_alerts_judged() {
        let rules = TriageRules::compile(&[RuleFile::new(
            "r.yaml",
            "- name: stop-logging-is-urgent\n  when: alert.type == \"4db60cc0-36fb-42b7-9b58-a5b53019fb74\"\n  severity: urgent\n",
        )])
        .unwrap_or_else(|e| panic!("{e:?}"));
        let sigma = sigma();
        let now = Utc::now();
        let ct = decoder("aws.cloudtrail").unwrap_or_else(|| panic!("no decoder"));
        // (record, detections, hit severities)
        let table = [
            (
                "StopLogging",
                vec!["4db60cc0-36fb-42b7-9b58-a5b53019fb74"],
                vec!["urgent"],
            ),
            ("DescribeTrails", vec![], vec![]),
        ];
        for (name, detections, severities) in table {
            let out = evaluate(ct, &record(name), now, &sigma, |a| rules.judge(a))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(out.alerts.is_empty());
            assert_eq!(out.events.len(), 1, "{name}");
            let e = &out.events[0];
            assert_eq!(e.detections, detections, "{name}");
            let got: Vec<&str> = e.hits.iter().map(|j| j.severity.as_str()).collect();
            assert_eq!(got, severities, "{name}");
            assert!(e.event.observed_at.is_some());
        }
        // A finding decodes into an alert, judged, with the receive time when it has none.
        let generic = decoder("generic").unwrap_or_else(|| panic!("no decoder"));
        let out = evaluate(
            generic,
            &serde_json::json!({"key": "k", "title": "t", "severity": "low"}),
            now,
            &sigma,
            |a| rules.judge(a),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.alerts.len(), 1);
        assert_eq!(out.alerts[0].alert.observed_at, Some(now));
        // What the decoder refuses is an error that says where.
        let err = evaluate(ct, &serde_json::json!({"Records": 3}), now, &sigma, |a| a)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("at "), "{err}");
    }
}
