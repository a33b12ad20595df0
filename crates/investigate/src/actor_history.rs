//! The `actor_history` investigator: what else the alert's principal and source IP did, from
//! stored events read through `EventReader`'s indexed queries. Never scans or writes the store.
//!
//! The window is the alert's time (`observed_at`, else `now`) ± the configured window (default
//! 7 days), never past `now`. Events from both queries are counted once (by id).
//!
//! Findings (`enrichment.actor_history.<field>`):
//! - `events`: how many events; `first_seen`, `last_seen`: RFC 3339 times;
//! - `by_name`: `{name: count}`; `by_account`: `{account: count}`;
//! - `source_ips`, `user_agents`: distinct values of the principal's events (of all events
//!   when the alert names no principal), sorted;
//! - `principals`: distinct principals seen from the alert's source IP, sorted;
//! - `failed`: how many calls failed (`errorCode`); `failed_by_code`: `{code: count}`;
//!   `failures`: the latest 20 failed calls `{time, name, error_code, source_ip}`;
//! - `listed_ips`: `{ip: [lists]}` for the source IPs above (and the alert's) that are on a
//!   reputation list;
//! - `window`: `{since, until}`; `truncated`: a query hit its limit, counts are lower bounds.
//!
//! Attaches `actor-events.csv`: every event it looked at, newest first.

use crate::events::EventSummary;
use crate::feeds::{FeedSet, SharedFeeds};
use crate::reputation::matches_of;
use crate::{markdown, Context, GeoDb, Input, Investigator, Outcome};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

pub const NAME: &str = "actor_history";

pub struct ActorHistory {
    feeds: Arc<SharedFeeds>,
    geo: Option<Arc<GeoDb>>,
    window: Duration,
    limit: usize,
}

impl ActorHistory {
    pub fn new(
        feeds: Arc<FeedSet>,
        geo: Option<Arc<GeoDb>>,
        window: Duration,
        limit: usize,
    ) -> Self {
        ActorHistory {
            feeds: SharedFeeds::new(feeds),
            geo,
            window,
            limit: limit.max(1),
        }
    }

    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        Some(Arc::new(ActorHistory {
            feeds: ctx.feeds.clone(),
            geo: ctx.geo.clone(),
            window: ctx.history_window,
            limit: ctx.history_limit.max(1),
        }))
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn count<'a>(items: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in items {
        *out.entry(i.to_string()).or_insert(0) += 1;
    }
    out
}

fn top_rows(counts: &BTreeMap<String, usize>) -> Vec<Vec<String>> {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .map(|(k, n)| vec![k.clone(), n.to_string()])
        .collect()
}

#[async_trait::async_trait]
impl Investigator for ActorHistory {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn investigate(&self, input: &Input<'_>) -> Outcome {
        let alert = input.alert;
        let principal = alert.actor.principal.as_deref().filter(|p| !p.is_empty());
        let ip: Option<IpAddr> = alert
            .actor
            .ip
            .as_deref()
            .and_then(|s| s.trim().parse().ok());
        if principal.is_none() && ip.is_none() {
            return Outcome::nothing_found(
                json!({"events": 0}),
                "The alert names no principal and no source IP.",
            );
        }
        let center = alert.observed_at.unwrap_or(input.now);
        let since = center - self.window;
        // `until` is exclusive; one second past `now` keeps events stamped `now`.
        let until = (center + self.window).min(input.now + Duration::seconds(1));
        if until <= since {
            return Outcome::nothing_found(
                json!({"events": 0}),
                "The alert's time is out of range.",
            );
        }
        let mut truncated = false;
        let by_principal = match principal {
            Some(p) => match input
                .events
                .events_by_principal(p, since, until, self.limit)
                .await
            {
                Ok(rows) => rows,
                Err(e) => return Outcome::failed(e.to_string()),
            },
            None => Vec::new(),
        };
        truncated |= by_principal.len() >= self.limit;
        let by_ip = match ip {
            Some(ip) => match input
                .events
                .events_by_ip(ip, since, until, self.limit)
                .await
            {
                Ok(rows) => rows,
                Err(e) => return Outcome::failed(e.to_string()),
            },
            None => Vec::new(),
        };
        truncated |= by_ip.len() >= self.limit;

        let mut seen = HashSet::new();
        let mut all: Vec<&EventSummary> = by_principal
            .iter()
            .chain(by_ip.iter())
            .filter(|e| seen.insert(e.id.as_str()))
            .collect();
        all.sort_by(|a, b| b.time.cmp(&a.time).then(a.id.cmp(&b.id)));
        let window = json!({"since": rfc3339(since), "until": rfc3339(until)});
        if all.is_empty() {
            return Outcome::nothing_found(
                json!({"events": 0, "window": window, "truncated": false}),
                "**Actor history**: no stored event for this principal or IP in the window.",
            );
        }

        let by_name = count(all.iter().map(|e| e.name.as_str()));
        let by_account = count(all.iter().filter_map(|e| e.account.as_deref()));
        let own: Vec<&EventSummary> = if principal.is_some() {
            by_principal.iter().collect()
        } else {
            all.clone()
        };
        let source_ips: BTreeSet<&str> =
            own.iter().filter_map(|e| e.source_ip.as_deref()).collect();
        let user_agents: BTreeSet<&str> =
            own.iter().filter_map(|e| e.user_agent.as_deref()).collect();
        let principals: BTreeSet<&str> = by_ip
            .iter()
            .filter_map(|e| e.principal.as_deref())
            .collect();
        let failed: Vec<&&EventSummary> = all.iter().filter(|e| e.error_code.is_some()).collect();
        let failed_by_code = count(failed.iter().filter_map(|e| e.error_code.as_deref()));
        let failures: Vec<serde_json::Value> = failed
            .iter()
            .take(20)
            .map(|e| {
                json!({"time": rfc3339(e.time), "name": e.name, "error_code": e.error_code, "source_ip": e.source_ip})
            })
            .collect();

        let mut candidates: BTreeSet<IpAddr> =
            source_ips.iter().filter_map(|s| s.parse().ok()).collect();
        candidates.extend(ip);
        let feeds = self.feeds.load();
        let mut listed_ips: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for c in candidates {
            let mut names: Vec<String> = Vec::new();
            for (feed, _) in matches_of(&feeds, self.geo.as_deref(), c) {
                if !names.contains(&feed) {
                    names.push(feed);
                }
            }
            if !names.is_empty() {
                listed_ips.insert(c.to_string(), names);
            }
        }

        let first_seen = all.iter().map(|e| e.time).min();
        let last_seen = all.iter().map(|e| e.time).max();
        let findings = json!({
            "events": all.len(),
            "first_seen": first_seen.map(rfc3339),
            "last_seen": last_seen.map(rfc3339),
            "by_name": by_name,
            "by_account": by_account,
            "source_ips": source_ips,
            "user_agents": user_agents,
            "principals": principals,
            "failed": failed.len(),
            "failed_by_code": failed_by_code,
            "failures": failures,
            "listed_ips": listed_ips,
            "window": window,
            "truncated": truncated,
        });

        let who = match (principal, ip) {
            (Some(p), Some(ip)) => format!("`{}` / `{ip}`", markdown::escape(p)),
            (Some(p), None) => format!("`{}`", markdown::escape(p)),
            (None, Some(ip)) => format!("`{ip}`"),
            (None, None) => String::new(),
        };
        let mut summary = format!(
            "**Actor history** of {who}: {}{} event(s) from {} to {}, {} failed, {} source IP(s){}.\n\n",
            if truncated { "at least " } else { "" },
            all.len(),
            first_seen.map(rfc3339).unwrap_or_default(),
            last_seen.map(rfc3339).unwrap_or_default(),
            failed.len(),
            source_ips.len(),
            if listed_ips.is_empty() {
                String::new()
            } else {
                format!(", {} on a reputation list", listed_ips.len())
            }
        );
        summary.push_str(&markdown::table_folded(
            "Events by name",
            &["Event", "Count"],
            &top_rows(&by_name),
            8,
        ));
        if !listed_ips.is_empty() {
            let rows: Vec<Vec<String>> = listed_ips
                .iter()
                .map(|(ip, l)| vec![ip.clone(), l.join(", ")])
                .collect();
            summary.push('\n');
            summary.push_str(&markdown::table(&["Listed IP", "Lists"], &rows));
        }
        if !failed_by_code.is_empty() {
            summary.push('\n');
            summary.push_str(&markdown::table_folded(
                "Failed calls by error",
                &["Error", "Count"],
                &top_rows(&failed_by_code),
                0,
            ));
        }
        // the store makes `attachment:NAME` this run's attachment id; outputs make it a link
        summary.push_str("\n[events as CSV](attachment:actor-events.csv)\n");
        let mut outcome = Outcome::done(findings, summary);
        outcome.attachments.push(crate::Attachment {
            name: "actor-events.csv".into(),
            content_type: "text/csv; charset=utf-8".into(),
            bytes: events_csv(&all),
        });
        outcome
    }
}

/// The events looked at, newest first, as CSV (RFC 4180 quoting): the attachment
/// `actor-events.csv`, for the reader who wants every row the summary counts.
fn events_csv(events: &[&EventSummary]) -> Vec<u8> {
    fn field(out: &mut String, v: &str) {
        // a leading =, +, - or @ would be a formula in a spreadsheet: quote it as text
        let formula = v.starts_with(['=', '+', '-', '@']);
        if formula || v.contains([',', '"', '\n', '\r']) {
            out.push('"');
            if formula {
                out.push('\'');
            }
            out.push_str(&v.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(v);
        }
    }
    let mut out = String::from("time,name,account,principal,source_ip,user_agent,error_code\r\n");
    for e in events {
        let time = rfc3339(e.time);
        let cols = [
            time.as_str(),
            e.name.as_str(),
            e.account.as_deref().unwrap_or(""),
            e.principal.as_deref().unwrap_or(""),
            e.source_ip.as_deref().unwrap_or(""),
            e.user_agent.as_deref().unwrap_or(""),
            e.error_code.as_deref().unwrap_or(""),
        ];
        for (i, c) in cols.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            field(&mut out, c);
        }
        out.push_str("\r\n");
    }
    out.into_bytes()
}
