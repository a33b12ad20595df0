//! Irene's rule engines: triage rules (YAML, conditions in CEL) that set an alert's severity, labels
//! and case key, and the Sigma engine over audit-log events. Pure: no I/O, no clock, no async.

mod cel_alert;
pub mod cel_env;
pub mod sigma;
mod template;
mod triage;
mod triage_index;
mod triage_native;
mod yaml_pos;

pub use cel_alert::{ACTOR_FIELDS, ALERT_FIELDS, INDICATOR_FIELDS, RESOURCE_FIELDS};
pub use triage::{EvalError, RuleError, RuleFile, TraceStep, TriageRules, Verdict};
