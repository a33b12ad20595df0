//! The planner over the live settings: the routes of the set live at that moment, and the
//! silences that hold deliveries back. Pure and quick: it runs inside the store's transaction.

use super::live::Live;
use irene_core::{Action, Alert, Case, Change, Hold, InhibitQuery, Planned, Planner};
use std::sync::Arc;

pub struct LivePlanner(pub Arc<Live>);

/// A hold by an open case: `inhibit:<case id>`; released when that case is no longer open.
pub const INHIBIT: &str = "inhibit:";

/// `silence:<id>`, the hold's name for release.
fn by(id: u64) -> String {
    format!("silence:{id}")
}

impl Planner for LivePlanner {
    /// The routes' deliveries; an opening one also names the case's runbook (`detail.runbook`),
    /// which the issue body links.
    fn plan(&self, change: &Change) -> Vec<Planned> {
        let snap = self.0.load();
        let mut planned = snap.routes.plan(change);
        if planned.iter().any(|p| p.action == Action::Open) {
            if let Some(r) = snap
                .runbooks
                .choose(&irene_outputs::case_json(&change.case))
            {
                for p in planned.iter_mut().filter(|p| p.action == Action::Open) {
                    if !p.detail.is_object() {
                        p.detail = serde_json::json!({});
                    }
                    p.detail["runbook"] = serde_json::json!({"name": r.name, "title": r.title});
                }
            }
        }
        planned
    }

    fn plan_note(&self, case: &Case, detail: &serde_json::Value) -> Vec<Planned> {
        self.0.load().routes.plan_note(case, detail)
    }

    fn inhibit_queries(&self, change: &Change) -> Vec<InhibitQuery> {
        let snap = self.0.load();
        if snap.inhibitions.is_empty() {
            return Vec::new();
        }
        snap.inhibitions
            .queries(&irene_outputs::case_json(&change.case))
    }

    fn hold(&self, change: &Change, alert: Option<&Alert>, inhibitors: &[Case]) -> Option<Hold> {
        let snap = self.0.load();
        if snap.silences.is_empty() && snap.inhibitions.is_empty() {
            return None;
        }
        let case = irene_outputs::case_json(&change.case);
        if let Some((by, rule)) = snap.inhibitions.inhibitor(&change.case, &case, inhibitors) {
            return Some(Hold {
                by: format!("{INHIBIT}{}", by.id),
                reason: format!(
                    "inhibited by case {} ({}, {}) under {rule}",
                    by.id,
                    by.title,
                    by.severity.as_str()
                ),
            });
        }
        if snap.silences.is_empty() {
            return None;
        }
        let alert = serde_json::to_value(alert?).ok()?;
        let now = chrono::Utc::now();
        snap.silences.matching(&alert, &case, now).map(|s| Hold {
            by: by(s.id),
            reason: if s.comment.is_empty() {
                format!("silenced by #{}", s.id)
            } else {
                format!("silenced by #{}: {}", s.id, s.comment)
            },
        })
    }

    /// Silences only: whether an inhibiting case is still open is the store's to say.
    fn holding(&self, hold: &str) -> bool {
        let Some(id) = hold
            .strip_prefix("silence:")
            .and_then(|i| i.parse::<u64>().ok())
        else {
            return false;
        };
        self.0.load().silences.is_active(id, chrono::Utc::now())
    }
}
