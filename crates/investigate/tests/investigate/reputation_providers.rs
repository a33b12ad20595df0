//! `reputation` with reputation APIs: which subjects are put to them, the aggregates triage
//! reads, and how refusals show. The providers here answer from a fixed table, as a reputation
//! API would (the HTTP clients are tested against the stand-ins in `irene-intel`).

use super::common::*;
use chrono::{DateTime, Utc};
use irene_core::{Alert, IndicatorKind, Severity};
use irene_investigate::providers::{ABUSEIPDB, GREYNOISE, OTX, VIRUSTOTAL};
use irene_investigate::reputation::{Reputation, MAX_PROVIDER_IPS};
use irene_investigate::{FeedSet, Provider, ProviderError, Status, Subject, Verdict};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// A provider answering from a table: subject → answer (absent: a clean verdict).
struct Table {
    name: &'static str,
    ips_only: bool,
    answers: Vec<(String, Result<Verdict, ProviderError>)>,
    asked: Mutex<Vec<String>>,
}

fn verdict(malicious: Option<bool>, score: Option<u8>, details: Value) -> Verdict {
    Verdict {
        malicious,
        score,
        label: "answer".into(),
        details,
        cached: false,
        fetched_at: now(),
    }
}

impl Table {
    fn new(name: &'static str, answers: Vec<(&str, Result<Verdict, ProviderError>)>) -> Arc<Table> {
        Arc::new(Table {
            name,
            ips_only: name == ABUSEIPDB || name == GREYNOISE,
            answers: answers
                .into_iter()
                .map(|(s, a)| (s.to_string(), a))
                .collect(),
            asked: Mutex::new(Vec::new()),
        })
    }
    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Provider for Table {
    fn name(&self) -> &'static str {
        self.name
    }
    fn handles(&self, s: &Subject) -> bool {
        !self.ips_only || matches!(s, Subject::Ip(_))
    }
    async fn lookup(&self, s: &Subject, _now: DateTime<Utc>) -> Result<Verdict, ProviderError> {
        self.asked.lock().unwrap().push(s.to_string());
        self.answers
            .iter()
            .find(|(k, _)| *k == s.to_string())
            .map(|(_, a)| a.clone())
            .unwrap_or_else(|| Ok(verdict(Some(false), Some(0), json!({}))))
    }
}

fn alert_with(ips: &[&str], domains: &[&str]) -> Alert {
    let mut a = Alert::new("generic", "t", "k", "T", Severity::High, json!({}));
    for ip in ips {
        a.add_indicator(IndicatorKind::Ip, *ip);
    }
    for d in domains {
        a.add_indicator(IndicatorKind::Domain, *d);
    }
    a
}

fn no_feeds() -> Arc<FeedSet> {
    Arc::new(FeedSet::new())
}

#[tokio::test]
async fn public_subjects_are_asked_and_aggregated_without_any_feed() {
    let abuse = Table::new(
        ABUSEIPDB,
        vec![
            (
                "45.83.66.10",
                Ok(verdict(
                    Some(true),
                    Some(87),
                    json!({"abuseConfidenceScore": 87}),
                )),
            ),
            (
                "8.8.8.8",
                Ok(verdict(
                    Some(false),
                    Some(3),
                    json!({"abuseConfidenceScore": 3}),
                )),
            ),
        ],
    );
    let vt = Table::new(
        VIRUSTOTAL,
        vec![
            (
                "45.83.66.10",
                Ok(verdict(Some(true), None, json!({"malicious": 4}))),
            ),
            (
                "evil.example.com",
                Ok(verdict(Some(true), None, json!({"malicious": 11}))),
            ),
        ],
    );
    let gn = Table::new(
        GREYNOISE,
        vec![
            (
                "45.83.66.10",
                Ok(verdict(None, None, json!({"classification": "suspicious"}))),
            ),
            (
                "8.8.8.8",
                Ok(verdict(
                    Some(false),
                    None,
                    json!({"classification": "benign"}),
                )),
            ),
        ],
    );
    let otx = Table::new(
        OTX,
        vec![(
            "evil.example.com",
            Ok(verdict(None, None, json!({"pulse_count": 6}))),
        )],
    );
    let providers: Vec<Arc<dyn Provider>> =
        vec![abuse.clone(), vt.clone(), gn.clone(), otx.clone()];
    let inv = Reputation::new(no_feeds(), None).with_providers(providers);
    let a = alert_with(
        &[
            "10.0.0.5",
            "45.83.66.10",
            "198.51.100.7",
            "8.8.8.8",
            "127.0.0.1",
        ],
        &["Evil.Example.com", "not a domain"],
    );
    let out = run(&inv, &a).await;
    assert_eq!(out.status, Status::Done, "{}", out.summary);
    assert_eq!(out.incomplete, None);
    // Private, documentation and loopback addresses are never sent; the domain only where handled.
    assert_eq!(abuse.asked(), vec!["45.83.66.10", "8.8.8.8"]);
    assert_eq!(
        vt.asked(),
        vec!["45.83.66.10", "8.8.8.8", "evil.example.com"]
    );
    assert_eq!(otx.asked(), vt.asked());
    let f = &out.findings;
    assert_eq!(f["abuse_score"], 87);
    assert_eq!(f["vt_malicious"], 11);
    assert_eq!(f["greynoise"], "suspicious");
    assert_eq!(f["otx_pulses"], 6);
    assert_eq!(f["provider_malicious"], true);
    assert_eq!(f["asked"], 3);
    assert_eq!(f["listed"], false);
    assert_eq!(f["providers"]["abuseipdb"]["45.83.66.10"]["score"], 87);
    assert!(
        out.summary.contains("| Subject | Provider |"),
        "{}",
        out.summary
    );
    assert!(out.summary.contains("evil.example.com"), "{}", out.summary);
}

#[tokio::test]
async fn transient_misses_make_it_incomplete_a_used_quota_does_not() {
    let later = now() + chrono::Duration::minutes(5);
    let abuse = Table::new(
        ABUSEIPDB,
        vec![(
            "45.83.66.10",
            Err(ProviderError::QuotaExhausted { until: later }),
        )],
    );
    let vt = Table::new(
        VIRUSTOTAL,
        vec![(
            "45.83.66.10",
            Err(ProviderError::RateLimited { retry_after: later }),
        )],
    );
    let a = alert_with(&["45.83.66.10"], &[]);

    let only_quota = Reputation::new(no_feeds(), None).with_providers(vec![abuse.clone()]);
    let out = run(&only_quota, &a).await;
    assert_eq!(out.status, Status::NothingFound, "{}", out.summary);
    assert_eq!(out.incomplete, None, "a used quota is not retried");
    assert_eq!(out.findings["quota_used"], json!(["abuseipdb"]));
    assert_eq!(
        out.findings["providers"]["abuseipdb"]["45.83.66.10"]["skipped"],
        "daily quota used"
    );
    assert!(
        out.summary.contains("abuseipdb: skipped: daily quota used"),
        "{}",
        out.summary
    );

    let both = Reputation::new(feeds_arc(), None).with_providers(vec![abuse, vt]);
    let out = run(&both, &a).await;
    let why = out.incomplete.clone().expect("incomplete");
    assert!(
        why.contains("virustotal 45.83.66.10: rate-limited"),
        "{why}"
    );
    assert!(
        out.findings["providers"]["virustotal"]["45.83.66.10"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("rate-limited"))
    );
    assert_eq!(out.findings["checked"], 1, "the feeds still ran");
    // An unusable answer is reported but not retried.
    let bad = Table::new(
        OTX,
        vec![("45.83.66.10", Err(ProviderError::Failed("400: bad".into())))],
    );
    let out = run(
        &Reputation::new(no_feeds(), None).with_providers(vec![bad]),
        &a,
    )
    .await;
    assert_eq!(out.incomplete, None);
    assert!(
        out.summary.contains("no answer: failed: 400: bad"),
        "{}",
        out.summary
    );
}

#[tokio::test]
async fn at_most_eight_ips_are_asked_and_none_without_public_subjects() {
    let abuse = Table::new(ABUSEIPDB, vec![]);
    let inv = Reputation::new(no_feeds(), None).with_providers(vec![abuse.clone()]);
    let ips: Vec<String> = (1..=12).map(|i| format!("45.83.66.{i}")).collect();
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    run(&inv, &alert_with(&refs, &[])).await;
    assert_eq!(abuse.asked().len(), MAX_PROVIDER_IPS);

    let abuse = Table::new(ABUSEIPDB, vec![]);
    let inv = Reputation::new(no_feeds(), None).with_providers(vec![abuse.clone()]);
    let out = run(&inv, &alert_with(&["10.1.1.1"], &[])).await;
    assert!(abuse.asked().is_empty());
    assert_eq!(out.status, Status::NothingFound);
    assert_eq!(out.findings["asked"], 0);
    assert!(
        out.summary.contains("no public address or domain"),
        "{}",
        out.summary
    );
}
