//! The `reputation` investigator: every IP of the alert against the local threat-intel feeds,
//! and, when reputation APIs are configured, its public IPs and domains against them.
//! Reads the loaded `FeedSet` (and the ASN database for ASN lists) and asks the configured
//! [`Provider`]s; never fetches anything itself, and never builds a URL from the alert.
//!
//! Findings (`enrichment.reputation.<field>`):
//! - `listed`: bool, some IP is on some list; `tor`: bool, some IP is a Tor exit (feed `tor`);
//! - `lists`: the names of the lists that matched, sorted;
//! - `ips`: `{ip: [lists]}` for every listed IP;
//! - `matches`: `{ip: [{feed, entry}]}`, the entry that matched (`185.220.101.0/24`, `AS209`);
//! - `checked`: how many IPs were checked against the feeds.
//!
//! With providers (each only when configured; the first 8 public IPs — private, loopback,
//! documentation and other reserved addresses are never sent — and the first 4 domains):
//! - `providers`: `{provider: {subject: answer}}`, an answer being the normalised verdict
//!   (`malicious` bool or null, `score` 0–100 or null, `label`, `details`, `cached`,
//!   `fetched_at`), or `{"skipped": "daily quota used"}`, or `{"error": "…"}`;
//! - `abuse_score`: the highest AbuseIPDB `abuseConfidenceScore` (0–100), null if none;
//! - `vt_malicious`: the most VirusTotal engines that said malicious for one subject, or null;
//! - `greynoise`: the worst GreyNoise classification seen (`malicious` > `suspicious` >
//!   `unknown` > `benign`), null if GreyNoise knew none of the IPs;
//! - `otx_pulses`: the most OTX pulses that name one subject, or null;
//! - `provider_malicious`: bool, some provider judged some subject malicious;
//! - `asked`: how many subjects were put to the providers;
//! - `quota_used`: the providers skipped because today's quota is used (not retried).
//!
//! A provider that could not answer for a reason that may pass (rate-limited, 5xx, timeout)
//! leaves the outcome `incomplete`: the rest is still reported, and the worker asks again later.

use crate::feeds::{FeedSet, SharedFeeds, TOR};
use crate::providers::{is_public, ABUSEIPDB, GREYNOISE, OTX, VIRUSTOTAL};
use crate::{
    domains_of, ips_of, markdown, Context, GeoDb, Input, Investigator, Outcome, Provider,
    ProviderError, Subject, Verdict,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

pub const NAME: &str = "reputation";
/// At most this many IPs of one alert are put to the providers (quotas are small).
pub const MAX_PROVIDER_IPS: usize = 8;
/// At most this many domains of one alert are put to the providers.
pub const MAX_PROVIDER_DOMAINS: usize = 4;

pub struct Reputation {
    feeds: Arc<SharedFeeds>,
    geo: Option<Arc<GeoDb>>,
    providers: Vec<Arc<dyn Provider>>,
}

/// One IP's matches: (feed, entry as text).
pub(crate) fn matches_of(
    feeds: &FeedSet,
    geo: Option<&GeoDb>,
    ip: IpAddr,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = feeds
        .match_ip(ip)
        .into_iter()
        .map(|m| (m.feed, m.entry.to_string()))
        .collect();
    if let Some(asn) = geo.and_then(|g| g.asn(ip)) {
        for feed in feeds.match_asn(asn) {
            out.push((feed, format!("AS{asn}")));
        }
    }
    out
}

impl Reputation {
    pub fn new(feeds: Arc<FeedSet>, geo: Option<Arc<GeoDb>>) -> Self {
        Reputation {
            feeds: SharedFeeds::new(feeds),
            geo,
            providers: Vec::new(),
        }
    }

    /// The same, asking these providers too.
    pub fn with_providers(mut self, providers: Vec<Arc<dyn Provider>>) -> Self {
        self.providers = providers;
        self
    }

    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        Some(Arc::new(Reputation {
            feeds: ctx.feeds.clone(),
            geo: ctx.geo.clone(),
            providers: ctx.providers.clone(),
        }))
    }
}

#[async_trait::async_trait]
impl Investigator for Reputation {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn investigate(&self, input: &Input<'_>) -> Outcome {
        let ips = ips_of(input.alert);
        let mut subjects: Vec<Subject> = Vec::new();
        if !self.providers.is_empty() {
            subjects.extend(
                ips.iter()
                    .copied()
                    .filter(|ip| is_public(*ip))
                    .take(MAX_PROVIDER_IPS)
                    .map(Subject::Ip),
            );
            subjects.extend(
                domains_of(input.alert)
                    .into_iter()
                    .take(MAX_PROVIDER_DOMAINS)
                    .map(Subject::Domain),
            );
        }
        if ips.is_empty() && subjects.is_empty() {
            return Outcome::nothing_found(
                json!({"listed": false, "tor": false, "lists": [], "ips": {}, "matches": {}, "checked": 0}),
                "No IP address in this alert.",
            );
        }
        let feeds = self.feeds.load();
        if feeds.is_empty() && self.providers.is_empty() {
            return Outcome::failed("no threat-intel feed is loaded");
        }
        let (mut findings, listed_part) = feed_part(&feeds, self.geo.as_deref(), &ips);
        let listed = findings["listed"] == true;
        let mut summary = if feeds.is_empty() {
            String::new()
        } else {
            listed_part
        };
        let mut incomplete = Vec::new();
        let mut bad = false;
        if !self.providers.is_empty() {
            let asked = ask_all(&self.providers, &subjects, input.now).await;
            bad = asked.malicious;
            incomplete = asked.transient.clone();
            if let Value::Object(map) = &mut findings {
                for (k, v) in asked.findings(subjects.len()) {
                    map.insert(k, v);
                }
            }
            if !summary.is_empty() {
                summary.push_str("\n\n");
            }
            summary.push_str(&asked.summary(subjects.len()));
        }
        let outcome = if listed || bad {
            Outcome::done(findings, summary)
        } else {
            Outcome::nothing_found(findings, summary)
        };
        if incomplete.is_empty() {
            outcome
        } else {
            outcome.incomplete(incomplete.join("; "))
        }
    }
}

/// The feeds' findings and summary for `ips`.
fn feed_part(feeds: &FeedSet, geo: Option<&GeoDb>, ips: &[IpAddr]) -> (Value, String) {
    let mut lists = BTreeSet::new();
    let mut per_ip: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut matches = serde_json::Map::new();
    let mut rows = Vec::new();
    for ip in ips {
        let found = matches_of(feeds, geo, *ip);
        if found.is_empty() {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        for (feed, _) in &found {
            if !names.contains(feed) {
                names.push(feed.clone());
            }
            lists.insert(feed.clone());
        }
        rows.push(vec![
            ip.to_string(),
            names.join(", "),
            found
                .iter()
                .map(|(_, e)| e.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ]);
        matches.insert(
            ip.to_string(),
            json!(found
                .iter()
                .map(|(f, e)| json!({"feed": f, "entry": e}))
                .collect::<Vec<_>>()),
        );
        per_ip.insert(ip.to_string(), names);
    }
    let tor = lists.contains(TOR);
    let findings = json!({
        "listed": !lists.is_empty(),
        "tor": tor,
        "lists": lists,
        "ips": per_ip,
        "matches": matches,
        "checked": ips.len(),
    });
    let summary = if lists.is_empty() {
        format!(
            "**Reputation**: none of {} address(es) is on a list.",
            ips.len()
        )
    } else {
        format!(
            "**Reputation**: {} of {} address(es) listed{}\n\n{}",
            rows.len(),
            ips.len(),
            if tor { " (Tor exit)" } else { "" },
            markdown::table_folded("Listed addresses", &["IP", "Lists", "Entries"], &rows, 5)
        )
    };
    (findings, summary)
}

/// What the providers said about the subjects.
#[derive(Default)]
struct Asked {
    /// provider → subject → answer
    answers: BTreeMap<&'static str, serde_json::Map<String, Value>>,
    rows: Vec<Vec<String>>,
    /// Why some answers are missing for now ("virustotal 1.2.3.4: rate-limited until …").
    transient: Vec<String>,
    quota_used: BTreeSet<&'static str>,
    malicious: bool,
    abuse_score: Option<u64>,
    vt_malicious: Option<u64>,
    greynoise: Option<String>,
    otx_pulses: Option<u64>,
}

/// GreyNoise classifications, least to most worrying.
const GREYNOISE_RANK: &[&str] = &["benign", "unknown", "suspicious", "malicious"];

fn max_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Asked {
    fn answered(&mut self, provider: &'static str, subject: &Subject, v: Verdict) {
        self.malicious |= v.malicious == Some(true);
        let num = |k: &str| v.details.get(k).and_then(Value::as_u64);
        match provider {
            ABUSEIPDB => {
                self.abuse_score = max_opt(
                    self.abuse_score,
                    num("abuseConfidenceScore").or(v.score.map(u64::from)),
                )
            }
            VIRUSTOTAL => self.vt_malicious = max_opt(self.vt_malicious, num("malicious")),
            OTX => self.otx_pulses = max_opt(self.otx_pulses, num("pulse_count")),
            GREYNOISE => {
                if let Some(c) = v.details.get("classification").and_then(Value::as_str) {
                    let rank = |c: &str| GREYNOISE_RANK.iter().position(|r| *r == c);
                    if rank(c).is_some() && self.greynoise.as_deref().and_then(rank) < rank(c) {
                        self.greynoise = Some(c.to_string());
                    }
                }
            }
            _ => {}
        }
        self.rows.push(vec![
            subject.to_string(),
            provider.to_string(),
            v.label.clone(),
            v.score.map(|s| s.to_string()).unwrap_or_default(),
            if v.cached { "cached" } else { "asked" }.to_string(),
        ]);
        self.answer(provider, subject, json!(v));
    }

    fn answer(&mut self, provider: &'static str, subject: &Subject, v: Value) {
        self.answers
            .entry(provider)
            .or_default()
            .insert(subject.to_string(), v);
    }

    fn refused(&mut self, provider: &'static str, subject: &Subject, e: ProviderError) {
        match &e {
            ProviderError::QuotaExhausted { .. } => {
                self.quota_used.insert(provider);
                self.answer(provider, subject, json!({"skipped": "daily quota used"}));
                return;
            }
            e if e.is_transient() => self.transient.push(format!("{provider} {subject}: {e}")),
            _ => {}
        }
        self.rows.push(vec![
            subject.to_string(),
            provider.to_string(),
            format!("no answer: {e}"),
            String::new(),
            String::new(),
        ]);
        self.answer(provider, subject, json!({"error": e.to_string()}));
    }

    fn findings(&self, asked: usize) -> Vec<(String, Value)> {
        vec![
            ("providers".into(), json!(self.answers)),
            ("abuse_score".into(), json!(self.abuse_score)),
            ("vt_malicious".into(), json!(self.vt_malicious)),
            ("greynoise".into(), json!(self.greynoise)),
            ("otx_pulses".into(), json!(self.otx_pulses)),
            ("provider_malicious".into(), json!(self.malicious)),
            ("asked".into(), json!(asked)),
            ("quota_used".into(), json!(self.quota_used)),
        ]
    }

    fn summary(&self, asked: usize) -> String {
        if asked == 0 {
            return "**Reputation APIs**: no public address or domain to ask about.".into();
        }
        let mut out = format!(
            "**Reputation APIs**: {asked} subject(s){}\n\n",
            if self.malicious {
                ", judged malicious by some provider"
            } else {
                ""
            }
        );
        if !self.rows.is_empty() {
            out.push_str(&markdown::table_folded(
                "Provider answers",
                &["Subject", "Provider", "Answer", "Score", "Source"],
                &self.rows,
                8,
            ));
        }
        for p in &self.quota_used {
            out.push_str(&format!("\n{p}: skipped: daily quota used."));
        }
        if !self.transient.is_empty() {
            out.push_str("\nSome answers are missing for now; the investigation will ask again.");
        }
        out
    }
}

/// Asks every provider about every subject it handles: providers at once, each one's subjects
/// in turn (its client paces them).
async fn ask_all(
    providers: &[Arc<dyn Provider>],
    subjects: &[Subject],
    now: DateTime<Utc>,
) -> Asked {
    let per_provider = providers.iter().map(|p| async move {
        let mut out = Vec::new();
        for s in subjects.iter().filter(|s| p.handles(s)) {
            out.push((s.clone(), p.lookup(s, now).await));
        }
        (p.name(), out)
    });
    let mut asked = Asked::default();
    for (name, answers) in futures_util::future::join_all(per_provider).await {
        for (subject, answer) in answers {
            match answer {
                Ok(v) => asked.answered(name, &subject, v),
                Err(e) => asked.refused(name, &subject, e),
            }
        }
    }
    asked
}
