//! Irene's rule engines: triage rules (YAML, conditions in CEL) that set an alert's severity, labels
//! and case key. Pure: callers hand over file text and alerts; no I/O, no clock, no async here.

// The Sigma detection engine will be a `sigma` module next to the triage ones.

mod cel_alert;
mod template;
mod triage;
mod triage_index;
mod triage_native;
mod yaml_pos;

pub use cel_alert::{ACTOR_FIELDS, ALERT_FIELDS, INDICATOR_FIELDS, RESOURCE_FIELDS};
pub use triage::{EvalError, RuleError, RuleFile, TriageRules, Verdict};
