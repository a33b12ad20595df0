//! The tamper watch, wired: the worker that fetches each `[[watch]]` page when due, keeps its
//! baseline and latest snapshot in the store, and raises or resolves its `irene.tamper` alert
//! through the intake like any sender. It judges nothing: `irene-tamper` compares, triage decides.
//! With screenshots on, it keeps the baseline's and the change's PNG for the `tamper` investigator.

use crate::app::{App, Payload};
use crate::config::WatchConfig;
use crate::worker::{Worker, WorkerState};
use anyhow::Context as _;
use chrono::Utc;
use irene_investigate::exposure_seams::Screenshotter;
use irene_store::{WatchImage, WatchImageKind, WatchRow};
use irene_tamper::{compare, Change, Snapshot};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the worker waits at most between passes.
const MAX_WAIT: Duration = Duration::from_secs(60);

pub struct TamperWorker {
    app: App,
    watches: Vec<WatchConfig>,
    client: reqwest::Client,
    due: HashMap<String, Instant>,
    /// Chromium under the probe policy (`[probe] screenshots`); `None`: text only.
    screenshots: Option<Arc<dyn Screenshotter>>,
}

impl TamperWorker {
    pub fn new(
        app: App,
        watches: Vec<WatchConfig>,
        user_agent: &str,
        screenshots: Option<Arc<dyn Screenshotter>>,
    ) -> anyhow::Result<Self> {
        for w in &watches {
            irene_tamper::check(&w.spec()).with_context(|| format!("[[watch]] {:?}", w.name))?;
            let url = reqwest::Url::parse(&w.url)
                .with_context(|| format!("[[watch]] {:?}: url is not a URL", w.name))?;
            if !matches!(url.scheme(), "http" | "https") {
                anyhow::bail!("[[watch]] {:?}: url must be http or https", w.name);
            }
        }
        Ok(TamperWorker {
            app,
            watches,
            client: crate::http_fetch::same_host_client(user_agent, Duration::from_secs(30))?,
            due: HashMap::new(),
            screenshots,
        })
    }

    /// Keeps a screenshot of the page as `kind`; a page Chromium cannot show (or the policy
    /// denies) leaves only the text watch, logged.
    async fn shoot(&self, w: &WatchConfig, kind: WatchImageKind) {
        let Some(shooter) = &self.screenshots else {
            return;
        };
        let taken_at = Utc::now();
        match shooter.screenshot(&w.url).await {
            Ok(png) => {
                let image = WatchImage { taken_at, png };
                if let Err(e) = self.app.store.watch_image_put(&w.name, kind, &image).await {
                    tracing::warn!(watch = %w.name, error = %e, "a screenshot could not be kept");
                }
            }
            Err(e) => {
                tracing::warn!(watch = %w.name, error = %e, "no screenshot of the watched page")
            }
        }
    }

    async fn fetch(&self, w: &WatchConfig) -> Result<Snapshot, String> {
        let resp = self
            .client
            .get(&w.url)
            .send()
            .await
            .map_err(|e| crate::http_fetch::describe(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("the page answered {status}"));
        }
        let body = crate::http_fetch::read_capped(resp, w.max_bytes).await?;
        let html = String::from_utf8_lossy(&body);
        Snapshot::of(&html, &w.url, &w.spec()).map_err(|e| e.to_string())
    }

    /// Checks one page: the first snapshot becomes its baseline; a change raises the alert
    /// once, the page back to its baseline resolves it.
    async fn check(&self, w: &WatchConfig) -> anyhow::Result<()> {
        let now = Utc::now();
        let rows = self.app.store.watches_list().await?;
        let mut row = rows
            .into_iter()
            .find(|r| r.name == w.name && r.url == w.url)
            .unwrap_or(WatchRow {
                name: w.name.clone(),
                url: w.url.clone(),
                baseline: None,
                baseline_at: None,
                current: None,
                checked_at: None,
                changed: false,
                last_error: None,
            });
        row.checked_at = Some(now);
        let snapshot = match self.fetch(w).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(watch = %w.name, error = %e, "a watched page could not be read");
                metrics::counter!("irene_watch_checks_total", "watch" => w.name.clone(), "result" => "failed").increment(1);
                row.last_error = Some(e);
                self.app.store.watch_save(&row).await?;
                return Ok(());
            }
        };
        row.last_error = None;
        let current = serde_json::to_string(&snapshot)?;
        let baseline: Option<Snapshot> = row
            .baseline
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let Some(baseline) = baseline else {
            self.shoot(w, WatchImageKind::Baseline).await;
            row.baseline = Some(current.clone());
            row.baseline_at = Some(now);
            row.current = Some(current);
            row.changed = false;
            self.app.store.watch_save(&row).await?;
            tracing::info!(watch = %w.name, "baseline taken");
            metrics::counter!("irene_watch_checks_total", "watch" => w.name.clone(), "result" => "baseline").increment(1);
            return Ok(());
        };
        let changes = compare(&baseline, &snapshot, &w.spec());
        row.current = Some(current);
        let was_changed = row.changed;
        row.changed = !changes.is_empty();
        // the alert first: if it cannot be accepted, the state is not saved and the next
        // pass tries again
        if row.changed && !was_changed {
            // the picture before the alert: its investigation reads it
            self.shoot(w, WatchImageKind::Current).await;
            self.raise(w, &row, &changes).await?;
        } else if !row.changed && was_changed {
            self.resolve(w, &row, "the page is back to its baseline")
                .await?;
        }
        self.app.store.watch_save(&row).await?;
        let result = if row.changed { "changed" } else { "same" };
        metrics::counter!("irene_watch_checks_total", "watch" => w.name.clone(), "result" => result)
            .increment(1);
        Ok(())
    }

    async fn raise(
        &self,
        w: &WatchConfig,
        row: &WatchRow,
        changes: &[Change],
    ) -> anyhow::Result<()> {
        let lines: Vec<String> = changes
            .iter()
            .map(|c| format!("- {}", c.describe()))
            .collect();
        tracing::warn!(watch = %w.name, changes = changes.len(), "a watched page changed");
        send(
            &self.app,
            alert(w, row, "active", &lines.join("\n"), json!(changes)),
        )
        .await
    }

    async fn resolve(&self, w: &WatchConfig, row: &WatchRow, why: &str) -> anyhow::Result<()> {
        tracing::info!(watch = %w.name, why, "a watched page is back to its baseline");
        send(&self.app, alert(w, row, "resolved", why, json!([]))).await
    }

    /// Makes the page as last seen its new baseline (`POST /api/v1/watch/{name}/accept`), and
    /// resolves its alert. `Ok(false)`: no such watch, or never read.
    pub async fn accept_current(
        app: &App,
        watches: &[WatchConfig],
        name: &str,
    ) -> anyhow::Result<bool> {
        let Some(w) = watches.iter().find(|w| w.name == name) else {
            return Ok(false);
        };
        let Some(mut row) = app
            .store
            .watches_list()
            .await?
            .into_iter()
            .find(|r| r.name == w.name && r.url == w.url)
        else {
            return Ok(false);
        };
        let Some(current) = row.current.clone() else {
            return Ok(false);
        };
        let was_changed = row.changed;
        row.baseline = Some(current);
        row.baseline_at = Some(Utc::now());
        row.changed = false;
        if was_changed {
            send(
                app,
                alert(
                    w,
                    &row,
                    "resolved",
                    "the current page was accepted as the new baseline",
                    json!([]),
                ),
            )
            .await?;
        }
        app.store.watch_image_promote(&w.name).await?;
        app.store.watch_save(&row).await?;
        Ok(true)
    }
}

/// Hands the watch's alert to the intake, as any sender's (`irene.tamper`).
async fn send(app: &App, alert: serde_json::Value) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&alert)?;
    app.accept(Payload {
        source: "irene.tamper",
        body: &body,
        encoding: None,
        idempotency_key: None,
        complete_scan: false,
    })
    .await
    .map_err(|e| anyhow::anyhow!("the tamper alert was not accepted: {e}"))?;
    Ok(())
}

/// The watch's alert in Irene's generic shape (decoded by `irene.tamper`).
fn alert(
    w: &WatchConfig,
    row: &WatchRow,
    state: &str,
    description: &str,
    changes: serde_json::Value,
) -> serde_json::Value {
    json!({
        "key": format!("tamper/{}", w.name),
        "title": format!("Web page changed: {}", w.name),
        "type": "Tamper:WebPage/Changed",
        "severity": w.severity.as_str(),
        "state": state,
        "description": description,
        "resource": {"id": w.url, "kind": "WebPage", "name": w.name},
        "changes": changes,
        "baseline_at": row.baseline_at,
    })
}

#[async_trait::async_trait]
impl Worker for TamperWorker {
    fn name(&self) -> &'static str {
        "tamper"
    }

    async fn work(&mut self) -> anyhow::Result<WorkerState> {
        if self.watches.is_empty() {
            return Ok(WorkerState::Done);
        }
        let now = Instant::now();
        let due: Vec<WatchConfig> = self
            .watches
            .iter()
            .filter(|w| self.due.get(&w.name).is_none_or(|t| *t <= now))
            .cloned()
            .collect();
        for w in &due {
            self.check(w).await?;
            self.due.insert(w.name.clone(), Instant::now() + w.every);
        }
        Ok(WorkerState::Idle)
    }

    async fn wait_for_work(&mut self) {
        let now = Instant::now();
        let next = self
            .due
            .values()
            .min()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(MAX_WAIT);
        tokio::time::sleep(next.min(MAX_WAIT)).await;
    }
}
