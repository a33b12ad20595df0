//! The `reputation` investigator: every IP of the alert against the local threat-intel feeds.
//! Reads the loaded `FeedSet` (and the ASN database for ASN lists); never fetches anything.
//!
//! Findings (`enrichment.reputation.<field>`):
//! - `listed`: bool, some IP is on some list; `tor`: bool, some IP is a Tor exit (feed `tor`);
//! - `lists`: the names of the lists that matched, sorted;
//! - `ips`: `{ip: [lists]}` for every listed IP;
//! - `matches`: `{ip: [{feed, entry}]}`, the entry that matched (`185.220.101.0/24`, `AS209`);
//! - `checked`: how many IPs were checked.

use crate::feeds::{FeedSet, SharedFeeds, TOR};
use crate::{ips_of, markdown, Context, GeoDb, Input, Investigator, Outcome};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

pub const NAME: &str = "reputation";

pub struct Reputation {
    feeds: Arc<SharedFeeds>,
    geo: Option<Arc<GeoDb>>,
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
        }
    }

    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        Some(Arc::new(Reputation {
            feeds: ctx.feeds.clone(),
            geo: ctx.geo.clone(),
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
        if ips.is_empty() {
            return Outcome::nothing_found(
                json!({"listed": false, "tor": false, "lists": [], "ips": {}, "matches": {}, "checked": 0}),
                "No IP address in this alert.",
            );
        }
        let feeds = self.feeds.load();
        if feeds.is_empty() {
            return Outcome::failed("no threat-intel feed is loaded");
        }
        let mut lists = BTreeSet::new();
        let mut per_ip: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut matches = serde_json::Map::new();
        let mut rows = Vec::new();
        for ip in &ips {
            let found = matches_of(&feeds, self.geo.as_deref(), *ip);
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
        if lists.is_empty() {
            return Outcome::nothing_found(
                findings,
                format!(
                    "**Reputation**: none of {} address(es) is on a list.",
                    ips.len()
                ),
            );
        }
        let summary = format!(
            "**Reputation**: {} of {} address(es) listed{}\n\n{}",
            rows.len(),
            ips.len(),
            if tor { " (Tor exit)" } else { "" },
            markdown::table_folded("Listed addresses", &["IP", "Lists", "Entries"], &rows, 5)
        );
        Outcome::done(findings, summary)
    }
}
