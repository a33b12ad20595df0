//! The Sigma correlator the store calls inside a commit: new events' detections fed into the
//! correlation window rows, the hits judged by triage, and a case's alert judged again on its
//! investigation findings. No I/O: the store loads and writes rows.

use irene_core::{Correlator, Event, Fed, WindowKey, WindowRow};
use irene_rules::sigma::correlation_alert;
use std::collections::HashMap;
use std::sync::Arc;

/// Counts with the loaded Sigma correlation rules; a correlation that fires becomes an alert
/// judged like any other.
pub struct SigmaCorrelator {
    /// The live settings (their Sigma and triage rules at the time of each call).
    pub live: Arc<crate::settings::live::Live>,
}

impl Correlator for SigmaCorrelator {
    fn keys(&self, event: &Event, detections: &[String]) -> Vec<WindowKey> {
        let snap = self.live.load();
        if snap.sigma.correlations().is_empty() {
            return Vec::new();
        }
        snap.sigma.window_keys(detections, &event.raw)
    }

    fn feed(
        &self,
        event: &Event,
        detections: &[String],
        at: chrono::DateTime<chrono::Utc>,
        rows: &[WindowRow],
    ) -> Fed {
        let snap = self.live.load();
        let mut state = snap.sigma.windows_from_rows(rows);
        let alerts = snap
            .sigma
            .correlate_detections(&mut state, detections, &event.raw, at)
            .iter()
            .map(|hit| snap.triage.judge(correlation_alert(hit, event)))
            .collect();
        let before: HashMap<&WindowKey, &str> =
            rows.iter().map(|r| (&r.key, r.state.as_str())).collect();
        let after = snap.sigma.window_rows(&state);
        let delete = rows
            .iter()
            .filter(|r| !after.iter().any(|a| a.key == r.key))
            .map(|r| r.key.clone())
            .collect();
        let upsert = after
            .into_iter()
            .filter(|a| before.get(&a.key) != Some(&a.state.as_str()))
            .collect();
        Fed {
            alerts,
            upsert,
            delete,
        }
    }

    fn rejudge(
        &self,
        alert: &irene_core::Alert,
        enrichment: &serde_json::Value,
    ) -> Option<irene_core::Judged> {
        Some(
            self.live
                .load()
                .triage
                .judge_enriched(alert.clone(), enrichment),
        )
    }
}
