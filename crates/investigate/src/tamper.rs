//! The `tamper` investigator: for a case raised by the web tamper watch (`irene.tamper`), the
//! page's screenshots before (its baseline) and after (the change), read through [`WatchReader`].
//! Pure: it compares nothing (the watch did) and takes no screenshot (the watch worker does).
//!
//! Findings (`enrichment.tamper.<field>`):
//! - `watch`: the watch's name; `url`: the page;
//! - `changes`: how many changes the alert lists;
//! - `screenshots`: how many are attached (`before.png`, `after.png`);
//! - `baseline_at`, `changed_at`: when each screenshot was taken (RFC 3339), or null.
//!
//! Status: `nothing_found` for an alert of another source, `done` otherwise.

use crate::events::ReadError;
use crate::{markdown, Attachment, Context, Input, Investigator, Outcome};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::sync::Arc;

pub const NAME: &str = "tamper";

/// The source whose alerts this investigator looks at.
pub const SOURCE: &str = "irene.tamper";

/// A screenshot of a watched page (PNG) and when it was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shot {
    pub taken_at: DateTime<Utc>,
    pub png: Vec<u8>,
}

/// A watched page's screenshots: its baseline's and the change's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchShots {
    pub before: Option<Shot>,
    pub after: Option<Shot>,
}

/// Read access to the screenshots the tamper watch kept (the store implements it).
#[async_trait::async_trait]
pub trait WatchReader: Send + Sync {
    async fn watch_shots(&self, watch: &str) -> Result<WatchShots, ReadError>;
}

/// A reader with no screenshots (for callers without a watch, and for tests).
pub struct NoWatches;

#[async_trait::async_trait]
impl WatchReader for NoWatches {
    async fn watch_shots(&self, _: &str) -> Result<WatchShots, ReadError> {
        Ok(WatchShots::default())
    }
}

pub struct Tamper;

impl Tamper {
    /// Usable when pages are watched (`Context.watching`).
    pub(crate) fn build(ctx: &Context) -> Option<Arc<dyn Investigator>> {
        ctx.watching
            .then(|| Arc::new(Tamper) as Arc<dyn Investigator>)
    }
}

#[async_trait::async_trait]
impl Investigator for Tamper {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn investigate(&self, input: &Input<'_>) -> Outcome {
        let alert = input.alert;
        if alert.source != SOURCE {
            return Outcome::nothing_found(json!({}), "Not a tamper-watch alert.");
        }
        let raw = &alert.raw;
        let Some(watch) = raw.pointer("/resource/name").and_then(|v| v.as_str()) else {
            return Outcome::failed("the alert does not name its watch (resource.name)");
        };
        let url = raw
            .pointer("/resource/id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let changes = raw
            .get("changes")
            .and_then(|c| c.as_array())
            .map_or(0, Vec::len);
        let shots = match input.watches.watch_shots(watch).await {
            Ok(s) => s,
            Err(e) => return Outcome::failed(e.to_string()).incomplete(e.to_string()),
        };
        let mut attachments = Vec::new();
        let mut cells = Vec::new();
        for (label, name, shot) in [
            ("before", "before.png", &shots.before),
            ("after", "after.png", &shots.after),
        ] {
            match shot {
                Some(s) => {
                    attachments.push(Attachment {
                        name: name.to_string(),
                        content_type: "image/png".to_string(),
                        bytes: s.png.clone(),
                    });
                    cells.push(format!(
                        "**{label}** ({})\n\n![{label}](attachment:{name})",
                        s.taken_at.format("%Y-%m-%d %H:%M UTC")
                    ));
                }
                None => cells.push(format!("**{label}**: no screenshot was taken")),
            }
        }
        let mut summary = format!(
            "The watched page {} ({}) changed: {changes} change(s), listed in the alert.\n\n",
            markdown::escape(watch),
            markdown::escape(url)
        );
        summary.push_str(&cells.join("\n\n"));
        if shots.before.is_none() && shots.after.is_none() {
            summary.push_str(
                "\n\nScreenshots need `[probe] screenshots = true` and a page the probe policy \
                 allows.",
            );
        }
        let findings = json!({
            "watch": watch,
            "url": url,
            "changes": changes,
            "screenshots": attachments.len(),
            "baseline_at": shots.before.as_ref().map(|s| s.taken_at.to_rfc3339()),
            "changed_at": shots.after.as_ref().map(|s| s.taken_at.to_rfc3339()),
        });
        let mut out = Outcome::done(findings, summary);
        out.attachments = attachments;
        out
    }
}
