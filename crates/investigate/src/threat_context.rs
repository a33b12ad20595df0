//! The `threat_context` investigator: what the source itself says about the actor (GuardDuty
//! threat intel and remote IP details, Security Hub indicators, SCC indicators), plus Tor.
//! Reads the alert's raw finding and the loaded Tor feed only; never fetches anything.
//!
//! Findings (`enrichment.threat_context.<field>`):
//! - `threat_lists`: list names the source matched (GuardDuty `threatListName` in
//!   `evidence.threatIntelligenceDetails` or `additionalInfo`, Security Hub
//!   `ThreatIntelIndicators[].Source`), sorted;
//! - `threat_names`: threat names (GuardDuty `threatNames`/`threatName`, Security Hub indicator
//!   `Category`, SCC `detectionCategory.ruleName`), sorted;
//! - `org`, `asn`, `country`: the first remote IP's details as the source gives them
//!   (`remoteIpDetails`, also in Security Hub's flattened `ProductFields`);
//! - `indicator_ips`, `indicator_domains`: SCC `indicator`, Security Hub indicator values;
//! - `tor`: bool, an IP of the alert is on the Tor exit feed (for Sigma hits on CloudTrail/GCP
//!   audit events this is the caller's IP), or the source's finding type says Tor;
//!   `tor_ips`: those IPs.

use crate::feeds::{FeedSet, SharedFeeds, TOR};
use crate::{ips_of, markdown, walk, Context, Input, Investigator, Outcome};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

pub const NAME: &str = "threat_context";

pub struct ThreatContext {
    feeds: Arc<SharedFeeds>,
}

impl ThreatContext {
    pub fn new(feeds: Arc<FeedSet>) -> Self {
        ThreatContext {
            feeds: SharedFeeds::new(feeds),
        }
    }

    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        Some(Arc::new(ThreatContext {
            feeds: ctx.feeds.clone(),
        }))
    }
}

/// What the raw finding says, gathered from leaf paths.
#[derive(Default)]
struct Said {
    lists: BTreeSet<String>,
    names: BTreeSet<String>,
    org: Option<String>,
    asn_org: Option<String>,
    asn: Option<u32>,
    country: Option<String>,
    ips: BTreeSet<String>,
    domains: BTreeSet<String>,
}

fn gather(raw: &serde_json::Value) -> Said {
    let mut s = Said::default();
    walk::leaves(raw, &mut |path, v| {
        let Some(text) = walk::text(v) else { return };
        if path.contains("localipdetails") {
            return;
        }
        let ends = |suffix: &str| path.ends_with(suffix);
        if ends("threatlistname") || ends("threatintelindicators/source") {
            s.lists.insert(text);
        } else if ends("threatnames")
            || ends("additionalinfo/threatname")
            || ends("threatintelindicators/category")
            || ends("detectioncategory/rulename")
        {
            s.names.insert(text);
        } else if ends("remoteipdetails/organization/org") {
            s.org.get_or_insert(text);
        } else if ends("remoteipdetails/organization/asnorg") {
            s.asn_org.get_or_insert(text);
        } else if ends("remoteipdetails/organization/asn") {
            if s.asn.is_none() {
                s.asn = text.parse::<u32>().ok();
            }
        } else if ends("remoteipdetails/country/countryname") {
            s.country.get_or_insert(text);
        } else if ends("indicator/ipaddresses") {
            s.ips.insert(text);
        } else if ends("indicator/domains") {
            s.domains.insert(text);
        } else if ends("threatintelindicators/value") {
            if text.parse::<std::net::IpAddr>().is_ok() {
                s.ips.insert(text);
            } else {
                s.domains.insert(text);
            }
        }
    });
    s
}

#[async_trait::async_trait]
impl Investigator for ThreatContext {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn investigate(&self, input: &Input<'_>) -> Outcome {
        let alert = input.alert;
        let said = gather(&alert.raw);
        let feeds = self.feeds.load();
        let tor_ips: Vec<String> = ips_of(alert)
            .into_iter()
            .filter(|ip| feeds.lists(TOR, *ip))
            .map(|ip| ip.to_string())
            .collect();
        let tor_by_type = alert.source == "aws.guardduty" && alert.kind.contains("Tor");
        let tor = !tor_ips.is_empty() || tor_by_type;
        let org = said.org.clone().or(said.asn_org.clone());
        let findings = json!({
            "threat_lists": said.lists,
            "threat_names": said.names,
            "org": org,
            "asn": said.asn,
            "country": said.country,
            "indicator_ips": said.ips,
            "indicator_domains": said.domains,
            "tor": tor,
            "tor_ips": tor_ips,
        });
        let mut rows: Vec<Vec<String>> = Vec::new();
        let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(", ");
        if !said.lists.is_empty() {
            rows.push(vec!["Threat lists".into(), join(&said.lists)]);
        }
        if !said.names.is_empty() {
            rows.push(vec!["Threat names".into(), join(&said.names)]);
        }
        if let Some(o) = &org {
            rows.push(vec!["Organisation".into(), o.clone()]);
        }
        if let Some(a) = said.asn {
            rows.push(vec!["ASN".into(), format!("AS{a}")]);
        }
        if let Some(c) = &said.country {
            rows.push(vec!["Country".into(), c.clone()]);
        }
        if !said.ips.is_empty() {
            rows.push(vec!["Indicator IPs".into(), join(&said.ips)]);
        }
        if !said.domains.is_empty() {
            rows.push(vec!["Indicator domains".into(), join(&said.domains)]);
        }
        if tor {
            let why = if tor_ips.is_empty() {
                "finding type".to_string()
            } else {
                tor_ips.join(", ")
            };
            rows.push(vec!["Tor exit".into(), why]);
        }
        if rows.is_empty() {
            return Outcome::nothing_found(
                findings,
                "**Threat context**: the source says nothing about the actor.",
            );
        }
        let summary = format!(
            "**Threat context** from {}\n\n{}",
            markdown::escape(&alert.source),
            markdown::table(&["", "What the source says"], &rows)
        );
        Outcome::done(findings, summary)
    }
}
