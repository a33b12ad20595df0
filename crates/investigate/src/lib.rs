//! Investigators: what Irene finds out about a case on its own, as findings, a markdown summary
//! and attachments. Never writes to the store, never calls an output, reads no files or clock.
//!
//! # Layout
//!
//! - `lib.rs`: the [`Investigator`] trait, its [`Input`] and [`Outcome`], and [`registry`], the
//!   ONE list of investigators (adding one is one module and one line in `INVESTIGATORS`).
//! - `events.rs`: [`EventReader`], the narrow read access to stored audit-log events
//!   (the store implements it with its indexed queries), and [`EventSummary`].
//! - `ips.rs`: [`ips_of`], every IP an alert names (actor, indicators, remote IPs in the raw).
//! - `domains.rs`: [`domains_of`], the alert's domain indicators that are plain host names.
//! - `providers.rs`: [`Provider`], the seam to reputation APIs (a [`Subject`] in, a [`Verdict`]
//!   out); the clients live in `irene-intel`.
//! - `walk.rs`: the leaf walker over raw JSON that `ips.rs` and `threat_context.rs` share.
//! - `feeds.rs`: threat-intel feed formats, parsing, the built-in feeds, and [`FeedSet`]
//!   (CIDR containment over every feed, plus ASN lists).
//! - `markdown.rs`: table, `<details>` and escaping helpers for summaries.
//! - `exposure_seams.rs`: the traits the exposure checks are given (cloud lookup, prober,
//!   screenshotter) and their result types; their implementations live in other crates.
//! - One file per investigator: `reputation.rs`, `geoip.rs` (and its [`GeoDb`]),
//!   `actor_history.rs`, `threat_context.rs`, `exposure.rs` (only with a prober), `tamper.rs` (the
//!   watch's before/after screenshots, only when pages are watched, read through its
//!   [`WatchReader`]). Each documents the `enrichment.<name>.<field>`
//!   fields its findings expose to triage rules.

pub mod actor_history;
mod domains;
pub mod events;
pub mod exposure;
pub mod exposure_seams;
pub mod feeds;
pub mod geoip;
mod ips;
mod markdown;
pub mod providers;
pub mod reputation;
pub mod tamper;
pub mod threat_context;
mod walk;

pub use domains::domains_of;
pub use events::{EventReader, EventSummary, ReadError};
pub use feeds::{FeedDef, FeedFormat, FeedSet, FeedStats, Parsed, SharedFeeds};
pub use geoip::{GeoDb, GeoError, GeoInfo};
pub use ips::ips_of;
pub use providers::{Provider, ProviderError, Subject, Verdict};
pub use tamper::{NoWatches, Shot, WatchReader, WatchShots};

use chrono::{DateTime, Utc};
use irene_core::{Alert, Case};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What an investigator is given: the case, its latest alert, the time, and read access to
/// stored events. Nothing else: it cannot write anywhere.
#[derive(Clone, Copy)]
pub struct Input<'a> {
    pub case: &'a Case,
    pub alert: &'a Alert,
    /// The only clock an investigator may read.
    pub now: DateTime<Utc>,
    pub events: &'a dyn EventReader,
    /// The tamper watch's screenshots (`tamper`).
    pub watches: &'a dyn WatchReader,
}

/// How an investigation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Status {
    /// It found something worth reading.
    Done,
    /// It ran and there was nothing to say (no IPs, nothing listed, no events…).
    NothingFound,
    /// It could not run; `reason` says why (for the ticket and the retry decision).
    Failed { reason: String },
}

/// A file to attach to the investigation (a screenshot, a CSV of events…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// What an investigation returns. `findings` is what triage rules see as
/// `enrichment.<investigator>.<field>`; `summary` is markdown for the ticket comment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub findings: serde_json::Value,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Set when part of the answer is missing for a reason that may pass (a provider answered
    /// 429 or 5xx, a connection timed out): the worker runs the investigation again later, with
    /// backoff, while attempts remain, and records this outcome as it is on the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Set when the investigation found the problem fixed (the port no longer open to the
    /// world, the resource gone): the case resolves with resolution `scan` and this reason
    /// once the batch has finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
}

impl Outcome {
    pub fn done(findings: serde_json::Value, summary: String) -> Self {
        Outcome {
            status: Status::Done,
            findings,
            summary,
            attachments: Vec::new(),
            incomplete: None,
            fixed: None,
        }
    }

    pub fn nothing_found(findings: serde_json::Value, summary: impl Into<String>) -> Self {
        Outcome {
            status: Status::NothingFound,
            findings,
            summary: summary.into(),
            attachments: Vec::new(),
            incomplete: None,
            fixed: None,
        }
    }

    /// Marks this outcome as partial for a reason that may pass (see [`Outcome::incomplete`]).
    pub fn incomplete(mut self, why: impl Into<String>) -> Self {
        self.incomplete = Some(why.into());
        self
    }

    /// Marks the problem as found fixed (see [`Outcome::fixed`]).
    pub fn fixed(mut self, reason: impl Into<String>) -> Self {
        self.fixed = Some(reason.into());
        self
    }

    pub fn failed(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Outcome {
            summary: format!("Failed: {}", markdown::escape(&reason)),
            status: Status::Failed { reason },
            findings: serde_json::Value::Object(Default::default()),
            attachments: Vec::new(),
            incomplete: None,
            fixed: None,
        }
    }
}

/// One investigator. It reads its input and returns an outcome; it never writes to the store
/// nor calls an output (the worker stores the outcome and posts the summary).
#[async_trait::async_trait]
pub trait Investigator: Send + Sync {
    /// Its name in config, in `enrichment.<name>` and in the case's investigations.
    fn name(&self) -> &'static str;
    async fn investigate(&self, input: &Input<'_>) -> Outcome;
}

/// What investigators are built from: loaded threat-intel feeds, GeoIP databases, settings.
/// The caller (the binary) fetches feeds and reads mmdb files; this crate gets bytes.
#[derive(Clone)]
pub struct Context {
    /// The loaded feeds, refreshed in place by the binary's feed job.
    pub feeds: Arc<SharedFeeds>,
    /// `None` when no GeoIP database is configured: `geoip` is then not registered, and
    /// reputation cannot match ASN lists.
    pub geo: Option<Arc<GeoDb>>,
    /// How far around the alert's time `actor_history` looks (default ±7 days).
    pub history_window: chrono::Duration,
    /// At most this many events per `actor_history` query.
    pub history_limit: usize,
    /// Reputation APIs `reputation` asks besides the feeds (none unless configured).
    pub providers: Vec<Arc<dyn Provider>>,
    /// What the cloud says an open security group or firewall exposes (`exposure`); `None`:
    /// no cloud credentials, only the alert's own addresses are probed.
    pub targets: Option<Arc<dyn exposure_seams::TargetLookup>>,
    /// Touches targets (`exposure`); `None`: `exposure` is not available.
    pub prober: Option<Arc<dyn exposure_seams::Prober>>,
    /// Screenshots of web pages (`exposure`, `tamper`); `None`: no screenshots.
    pub screenshots: Option<Arc<dyn exposure_seams::Screenshotter>>,
    /// Some page is watched (`[[watch]]`): `tamper` is available.
    pub watching: bool,
}

impl Context {
    pub fn new(feeds: Arc<FeedSet>, geo: Option<Arc<GeoDb>>) -> Self {
        Self::shared(SharedFeeds::new(feeds), geo)
    }

    /// A context over feeds that a feed job refreshes.
    pub fn shared(feeds: Arc<SharedFeeds>, geo: Option<Arc<GeoDb>>) -> Self {
        Context {
            feeds,
            geo,
            history_window: chrono::Duration::days(7),
            history_limit: 1000,
            providers: Vec::new(),
            targets: None,
            prober: None,
            screenshots: None,
            watching: false,
        }
    }
}

type Constructor = fn(&Context) -> Option<Arc<dyn Investigator>>;

/// THE list of investigators: name and constructor (`None`: not usable with this context).
const INVESTIGATORS: &[(&str, Constructor)] = &[
    (reputation::NAME, reputation::Reputation::build),
    (geoip::NAME, geoip::GeoIp::build),
    (actor_history::NAME, actor_history::ActorHistory::build),
    (threat_context::NAME, threat_context::ThreatContext::build),
    (exposure::NAME, exposure::ExposureCheck::build),
    (tamper::NAME, tamper::Tamper::build),
];

/// The names of every investigator this build knows.
pub fn names() -> Vec<&'static str> {
    INVESTIGATORS.iter().map(|(name, _)| *name).collect()
}

/// Every investigator usable with `ctx`, in list order.
pub fn registry(ctx: &Context) -> Vec<Arc<dyn Investigator>> {
    INVESTIGATORS
        .iter()
        .filter_map(|(_, build)| build(ctx))
        .collect()
}

/// One investigator by name, if known and usable with `ctx`.
pub fn investigator(name: &str, ctx: &Context) -> Option<Arc<dyn Investigator>> {
    INVESTIGATORS
        .iter()
        .find(|(n, _)| *n == name)
        .and_then(|(_, build)| build(ctx))
}
