//! The feed worker: downloads each `[[feeds]]` list when due (conditional requests, a size cap,
//! redirects only within the feed's host), keeps the last good copy in the store, and replaces
//! the feed set the investigators read. It must not match or judge anything, and never calls a
//! URL that is not configured.

use crate::http_fetch::describe;
use crate::worker::{Worker, WorkerState};
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use irene_investigate::feeds::parse;
use irene_investigate::{FeedDef, FeedSet, SharedFeeds};
use irene_store::{FeedCopy, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Longest wait between passes (a feed added to the store by hand is picked up by then).
const MAX_WAIT: Duration = Duration::from_secs(300);

pub struct FeedWorker {
    store: Arc<dyn Store>,
    defs: Vec<FeedDef>,
    max_bytes: HashMap<String, usize>,
    client: reqwest::Client,
    shared: Arc<SharedFeeds>,
    /// The set was built from the stored copies (at the first pass).
    loaded: bool,
    next_wait: Duration,
}

/// How one download ended.
enum Fetched {
    NotModified,
    Body {
        body: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

impl FeedWorker {
    /// `feeds`: (definition, size cap in bytes).
    pub fn new(
        store: Arc<dyn Store>,
        feeds: Vec<(FeedDef, usize)>,
        shared: Arc<SharedFeeds>,
        user_agent: &str,
    ) -> anyhow::Result<FeedWorker> {
        let client = crate::http_fetch::same_host_client(user_agent, Duration::from_secs(30))
            .context("building the feeds' HTTP client")?;
        let max_bytes = feeds.iter().map(|(d, m)| (d.name.clone(), *m)).collect();
        Ok(FeedWorker {
            store,
            defs: feeds.into_iter().map(|(d, _)| d).collect(),
            max_bytes,
            client,
            shared,
            loaded: false,
            next_wait: MAX_WAIT,
        })
    }

    /// Builds the investigators' set from the stored copies of the configured feeds.
    async fn rebuild(&self) -> anyhow::Result<()> {
        let copies = self
            .store
            .feeds_list(true)
            .await
            .context("reading feed copies")?;
        let mut set = FeedSet::new();
        for def in &self.defs {
            let Some(copy) = copies.iter().find(|c| c.name == def.name) else {
                continue;
            };
            if copy.body.is_empty() {
                continue;
            }
            let _ = set
                .add_body(&def.name, &def.format, &copy.body)
                .map_err(|_| anyhow::anyhow!("too many feeds"))?;
        }
        self.shared.store(Arc::new(set));
        Ok(())
    }

    /// One download, conditional on what the last good copy carries.
    async fn fetch(&self, def: &FeedDef, last: Option<&FeedCopy>) -> Result<Fetched, String> {
        let max = self.max_bytes.get(&def.name).copied().unwrap_or(50 << 20);
        let mut req = self.client.get(&def.url);
        if let Some(copy) = last.filter(|c| !c.body.is_empty() || c.entries > 0) {
            if let Some(etag) = &copy.etag {
                req = req.header(reqwest::header::IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &copy.last_modified {
                req = req.header(reqwest::header::IF_MODIFIED_SINCE, lm);
            }
        }
        let resp = req.send().await.map_err(|e| describe(&e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(Fetched::NotModified);
        }
        if status.is_redirection() {
            return Err(format!(
                "{status}: redirected to another host (only same-host redirects are followed)"
            ));
        }
        if !status.is_success() {
            return Err(status.to_string());
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        let body = crate::http_fetch::read_capped(resp, max).await?;
        Ok(Fetched::Body {
            body,
            etag,
            last_modified,
        })
    }

    /// Downloads one due feed and records the result; true when a new copy was stored.
    async fn refresh(
        &self,
        def: &FeedDef,
        last: Option<&FeedCopy>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let format = def.format.to_string();
        let format = format.as_str();
        let count = |result: &'static str| {
            metrics::counter!("irene_feed_downloads_total", "feed" => def.name.clone(), "result" => result)
                .increment(1)
        };
        let failed = |error: String| async move {
            tracing::warn!(feed = %def.name, error = %error, "feed download failed; the last good copy stays");
            self.store
                .feed_checked(&def.name, &def.url, format, Some(&error), now)
                .await
        };
        match self.fetch(def, last).await {
            Ok(Fetched::NotModified) => {
                count("not_modified");
                self.store
                    .feed_checked(&def.name, &def.url, format, None, now)
                    .await?;
                Ok(false)
            }
            Ok(Fetched::Body {
                body,
                etag,
                last_modified,
            }) => {
                let parsed = parse(&def.format, &body);
                if parsed.entries.is_empty() {
                    count("empty");
                    failed(format!(
                        "parsed to nothing ({} bytes, {} unusable lines): the last good copy is kept",
                        body.len(),
                        parsed.bad
                    ))
                    .await?;
                    return Ok(false);
                }
                count("ok");
                let copy = FeedCopy {
                    name: def.name.clone(),
                    url: def.url.clone(),
                    format: format.to_string(),
                    etag,
                    last_modified,
                    entries: parsed.entries.len() as i64,
                    body,
                    fetched_at: Some(now),
                    checked_at: now,
                    last_error: None,
                };
                self.store.feed_saved(&copy).await?;
                tracing::info!(feed = %def.name, entries = copy.entries, bad = parsed.bad, "feed refreshed");
                Ok(true)
            }
            Err(error) => {
                count("failed");
                failed(error).await?;
                Ok(false)
            }
        }
    }
}

/// A transport error without the URL (feed URLs may carry keys).
#[async_trait::async_trait]
impl Worker for FeedWorker {
    fn name(&self) -> &'static str {
        "feeds"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        if self.defs.is_empty() {
            return Ok(WorkerState::Done);
        }
        if !self.loaded {
            self.rebuild().await?;
            self.loaded = true;
        }
        let now = Utc::now();
        let copies = self
            .store
            .feeds_list(false)
            .await
            .context("reading feed states")?;
        let mut changed = false;
        let mut next = MAX_WAIT;
        for def in &self.defs {
            let last = copies.iter().find(|c| c.name == def.name);
            let due_at = last
                .map(|c| c.checked_at + chrono::Duration::from_std(def.every).unwrap_or_default());
            if due_at.is_none_or(|at| at <= now) {
                changed |= self.refresh(def, last, now).await?;
                next = next.min(def.every);
            } else if let Some(at) = due_at {
                next = next.min((at - now).to_std().unwrap_or_default());
            }
        }
        if changed {
            self.rebuild().await?;
        }
        // what the metrics and the status show: each feed's age and size
        for c in self.store.feeds_list(false).await? {
            let age = c
                .fetched_at
                .map(|t| (now - t).num_milliseconds() as f64 / 1000.0)
                .unwrap_or(f64::INFINITY);
            metrics::gauge!("irene_feed_age_seconds", "feed" => c.name.clone()).set(age);
            metrics::gauge!("irene_feed_entries", "feed" => c.name.clone()).set(c.entries as f64);
        }
        self.next_wait = next.max(Duration::from_millis(200));
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.next_wait).await
    }
}
