//! When investigations run: the `[[investigations]]` policies (`use`, `when`, `on`, `every`,
//! `min_severity`), checked and compiled, and the planner that adds their jobs to case changes.
//! No I/O: the worker schedules the periodic re-runs, the store writes the jobs.

use irene_core::{
    Alert, Case, Change, Planned, PlannedInvestigation, Planner, Severity, Transition,
};
use irene_rules::cel_env;
use serde::Deserialize;
use std::time::Duration;

/// One `[[investigations]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The investigator (`reputation`, `geoip`, `actor_history`, `threat_context`, …).
    #[serde(rename = "use")]
    pub investigator: String,
    /// CEL over `alert` (the case's latest alert) and `case`; absent: always.
    #[serde(default)]
    pub when: Option<String>,
    /// The case changes that start it: `open`, `reopen`, `severity_raised`.
    #[serde(default = "default_on")]
    pub on: Vec<String>,
    /// Runs it again on the open cases it ran on, this long after its last run (`"6h"`).
    #[serde(default)]
    pub every: Option<String>,
    /// Cases below this severity are not investigated.
    #[serde(default = "medium")]
    pub min_severity: Severity,
}

/// Investigators re-run by default on the open cases they looked at, and how often.
const DEFAULT_RECHECKS: &[(&str, Duration)] = &[("exposure", Duration::from_secs(6 * 3600))];

fn default_on() -> Vec<String> {
    vec!["open".into(), "reopen".into()]
}

fn medium() -> Severity {
    Severity::Medium
}

/// The case changes an investigation can be started by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Open,
    Reopen,
    SeverityRaised,
}

impl Trigger {
    pub const ALL: [Trigger; 3] = [Trigger::Open, Trigger::Reopen, Trigger::SeverityRaised];

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Open => "open",
            Trigger::Reopen => "reopen",
            Trigger::SeverityRaised => "severity_raised",
        }
    }

    fn of(t: &Transition) -> Option<Trigger> {
        match t {
            Transition::Opened => Some(Trigger::Open),
            Transition::Reopened => Some(Trigger::Reopen),
            Transition::SeverityChanged { from, to } if to > from => Some(Trigger::SeverityRaised),
            _ => None,
        }
    }
}

/// One compiled policy.
pub struct Policy {
    pub investigator: String,
    when: Option<(String, cel_env::Program)>,
    on: Vec<Trigger>,
    pub every: Option<Duration>,
    min_severity: Severity,
}

impl Policy {
    /// Whether the policy covers this case (severity and `when`; not the trigger). A `when`
    /// that fails to evaluate counts as false, with a warning.
    pub fn covers(&self, case: &Case, alert: Option<&Alert>) -> bool {
        self.covers_with(case, &WhenVars::new(case, alert))
    }

    /// As [`covers`](Self::covers), with the `when` variables built once for several policies.
    fn covers_with(&self, case: &Case, vars: &WhenVars<'_>) -> bool {
        if case.severity < self.min_severity {
            return false;
        }
        let Some((src, program)) = &self.when else {
            return true;
        };
        match cel_env::eval_bool(program, vars.get()) {
            Ok(b) => b,
            Err(error) => {
                tracing::warn!(investigator = %self.investigator, when = %src, case = %case.id,
                    %error, "the investigation's `when` failed on this case; counted as false");
                false
            }
        }
    }
}

/// The `alert` and `case` variables of `when`, converted on first use and then shared.
struct WhenVars<'a> {
    case: &'a Case,
    alert: Option<&'a Alert>,
    vars: std::sync::OnceLock<[(&'static str, serde_json::Value); 2]>,
}

impl<'a> WhenVars<'a> {
    fn new(case: &'a Case, alert: Option<&'a Alert>) -> Self {
        WhenVars {
            case,
            alert,
            vars: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> &[(&'static str, serde_json::Value)] {
        self.vars.get_or_init(|| {
            let alert = self
                .alert
                .and_then(|a| serde_json::to_value(a).ok())
                .unwrap_or(serde_json::Value::Null);
            [
                ("alert", alert),
                ("case", irene_outputs::case_json(self.case)),
            ]
        })
    }
}

/// The compiled `[[investigations]]`, in order.
pub struct Policies {
    policies: Vec<Policy>,
}

impl Policies {
    /// The default when none is configured: every available investigator, on cases of medium
    /// and above, when they open or reopen.
    /// `exposure` is also re-checked every 6 hours on the open cases it looked at (a fix is
    /// then seen and the case resolved by scan).
    pub fn defaults(available: &[&str]) -> Policies {
        Policies {
            policies: available
                .iter()
                .map(|name| Policy {
                    investigator: name.to_string(),
                    when: None,
                    on: vec![Trigger::Open, Trigger::Reopen],
                    every: DEFAULT_RECHECKS
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, every)| *every),
                    min_severity: Severity::Medium,
                })
                .collect(),
        }
    }

    /// The re-check schedule of a case, for the API: for each periodic policy whose
    /// investigator has run on it (`last_runs`: investigator → latest run), when it last ran
    /// and when it runs next (none once the case is resolved).
    pub fn rechecks(
        &self,
        open: bool,
        last_runs: &[(String, chrono::DateTime<chrono::Utc>)],
    ) -> Vec<serde_json::Value> {
        self.periodic()
            .filter_map(|p| {
                let every = p.every?;
                let (_, last) = last_runs.iter().find(|(n, _)| *n == p.investigator)?;
                let next = open
                    .then(|| chrono::Duration::from_std(every).ok().map(|e| *last + e))
                    .flatten();
                Some(serde_json::json!({
                    "investigator": p.investigator,
                    "every": humantime::format_duration(every).to_string(),
                    "last_run": last,
                    "next_run": next,
                }))
            })
            .collect()
    }

    /// Checks and compiles the configured policies against the investigators this build knows
    /// (`known`) and those this configuration can run (`available`). Every problem is listed,
    /// with the entry it is in.
    pub fn compile(
        configs: &[PolicyConfig],
        known: &[&str],
        available: &[&str],
    ) -> Result<Policies, Vec<String>> {
        let mut policies = Vec::with_capacity(configs.len());
        let mut errors = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let at = format!("[[investigations]] #{} (use = {:?})", i + 1, c.investigator);
            if !known.contains(&c.investigator.as_str()) {
                errors.push(format!(
                    "{at}: no such investigator (known: {})",
                    known.join(", ")
                ));
                continue;
            }
            if !available.contains(&c.investigator.as_str()) {
                errors.push(format!(
                    "{at}: not available in this configuration{}",
                    if c.investigator == irene_investigate::geoip::NAME {
                        " (it needs [geoip] city and/or asn database paths)"
                    } else {
                        ""
                    }
                ));
                continue;
            }
            let when = match &c.when {
                None => None,
                Some(src) => match cel_env::compile(src) {
                    Ok(p) => Some((src.clone(), p)),
                    Err(e) => {
                        errors.push(format!("{at}: when: {e}"));
                        continue;
                    }
                },
            };
            let mut on = Vec::new();
            for name in &c.on {
                match Trigger::ALL.iter().find(|t| t.as_str() == name) {
                    Some(t) => on.push(*t),
                    None => errors.push(format!(
                        "{at}: on: {name:?} is not one of open, reopen, severity_raised"
                    )),
                }
            }
            let every = match c.every.as_deref() {
                None => None,
                Some(e) => match humantime::parse_duration(e.trim()) {
                    Ok(d) if d >= Duration::from_secs(60) => Some(d),
                    Ok(_) => {
                        errors.push(format!("{at}: every {e:?} is shorter than a minute"));
                        None
                    }
                    Err(err) => {
                        errors.push(format!("{at}: every {e:?} is not a duration: {err}"));
                        None
                    }
                },
            };
            policies.push(Policy {
                investigator: c.investigator.clone(),
                when,
                on,
                every,
                min_severity: c.min_severity,
            });
        }
        if errors.is_empty() {
            Ok(Policies { policies })
        } else {
            Err(errors)
        }
    }

    /// An empty set: nothing is investigated on its own (`[investigate] enabled = false`).
    pub fn none() -> Policies {
        Policies {
            policies: Vec::new(),
        }
    }

    /// The investigators the policies name, each once, in order: what a run by hand runs.
    pub fn investigators(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.policies {
            if !out.contains(&p.investigator) {
                out.push(p.investigator.clone());
            }
        }
        out
    }

    /// The policies with `every`.
    pub fn periodic(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter().filter(|p| p.every.is_some())
    }

    /// The jobs a case change calls for: per trigger among its transitions, each covering
    /// policy's investigator once.
    pub fn plan(&self, change: &Change, alert: Option<&Alert>) -> Vec<PlannedInvestigation> {
        let mut out: Vec<PlannedInvestigation> = Vec::new();
        let vars = WhenVars::new(&change.case, alert);
        for trigger in change.transitions.iter().filter_map(Trigger::of) {
            for p in &self.policies {
                if !p.on.contains(&trigger) {
                    continue;
                }
                let planned = out
                    .iter()
                    .any(|j| j.investigator == p.investigator && j.trigger == trigger.as_str());
                if !planned && p.covers_with(&change.case, &vars) {
                    out.push(PlannedInvestigation {
                        investigator: p.investigator.clone(),
                        trigger: trigger.as_str().to_string(),
                    });
                }
            }
        }
        out
    }
}

/// The outputs' planner, plus the investigation policies.
pub struct InvestigatingPlanner<P> {
    pub outputs: P,
    pub policies: std::sync::Arc<Policies>,
}

impl<P: Planner> Planner for InvestigatingPlanner<P> {
    fn plan(&self, change: &Change) -> Vec<Planned> {
        self.outputs.plan(change)
    }

    fn plan_note(&self, case: &Case, detail: &serde_json::Value) -> Vec<Planned> {
        self.outputs.plan_note(case, detail)
    }

    fn investigations(&self, change: &Change, alert: Option<&Alert>) -> Vec<PlannedInvestigation> {
        self.policies.plan(change, alert)
    }

    fn hold(
        &self,
        change: &Change,
        alert: Option<&Alert>,
        inhibitors: &[Case],
    ) -> Option<irene_core::Hold> {
        self.outputs.hold(change, alert, inhibitors)
    }

    fn inhibit_queries(&self, change: &Change) -> Vec<irene_core::InhibitQuery> {
        self.outputs.inhibit_queries(change)
    }

    fn holding(&self, by: &str) -> bool {
        self.outputs.holding(by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use irene_core::{correlate, AlertState, Judged, NoOutputs};
    use serde_json::json;
    use uuid::Uuid;

    const KNOWN: &[&str] = &["reputation", "geoip", "actor_history", "threat_context"];
    const AVAILABLE: &[&str] = &["reputation", "actor_history", "threat_context"];

    fn judged(source: &str, sev: Severity, state: AlertState) -> Judged {
        let mut a = Alert::new(source, "Recon:EC2/Portscan", "k", "title", sev, json!({}));
        a.state = state;
        Judged::unjudged(a)
    }

    fn policies(toml_text: &str) -> Result<Policies, Vec<String>> {
        #[derive(Deserialize)]
        struct Doc {
            investigations: Vec<PolicyConfig>,
        }
        use figment::providers::{Format, Toml};
        let doc: Doc = figment::Figment::from(Toml::string(toml_text))
            .extract()
            .expect("toml");
        Policies::compile(&doc.investigations, KNOWN, AVAILABLE)
    }

    /// Opens a case at `sev`, then raises it to `raised` by a later alert.
    fn changes(source: &str, sev: Severity, raised: Severity) -> (Change, Change, Alert) {
        let now = Utc::now();
        let first = judged(source, sev, AlertState::Active);
        let opened = correlate(None, &first, Uuid::now_v7(), Uuid::now_v7(), now).expect("opens");
        let second = judged(source, raised, AlertState::Active);
        let again = correlate(
            Some(&opened.case),
            &second,
            Uuid::now_v7(),
            Uuid::now_v7(),
            now,
        )
        .expect("changes");
        (opened, again, second.alert)
    }

    fn names(planned: &[PlannedInvestigation]) -> Vec<String> {
        planned
            .iter()
            .map(|p| format!("{}@{}", p.investigator, p.trigger))
            .collect()
    }

    #[test]
    fn policies_choose_investigators_by_trigger_severity_and_when() {
        let set = policies(
            r#"
[[investigations]]
use = "reputation"

[[investigations]]
use = "actor_history"
when = 'alert.source == "aws.cloudtrail" || case.account == "1"'
on = ["open", "severity_raised"]

[[investigations]]
use = "threat_context"
on = ["severity_raised"]
min_severity = "high"
every = "6h"
"#,
        )
        .expect("compiles");
        // (what, source, opening severity, next alert's severity, planned at open, at raise)
        type Row = (
            &'static str,
            &'static str,
            Severity,
            Severity,
            Vec<&'static str>,
            Vec<&'static str>,
        );
        let table: Vec<Row> = vec![
            (
                "guardduty medium then high",
                "aws.guardduty",
                Severity::Medium,
                Severity::High,
                vec!["reputation@open"],
                vec!["threat_context@severity_raised"],
            ),
            (
                "cloudtrail: `when` holds",
                "aws.cloudtrail",
                Severity::Medium,
                Severity::Urgent,
                vec!["reputation@open", "actor_history@open"],
                vec![
                    "actor_history@severity_raised",
                    "threat_context@severity_raised",
                ],
            ),
            (
                "low: below every policy's floor",
                "aws.cloudtrail",
                Severity::Low,
                Severity::Low,
                vec![],
                vec![],
            ),
            (
                "lowered: not a raise",
                "aws.cloudtrail",
                Severity::High,
                Severity::Medium,
                vec!["reputation@open", "actor_history@open"],
                vec![],
            ),
        ];
        for (what, source, sev, next, at_open, at_raise) in table {
            let (opened, again, alert) = changes(source, sev, next);
            assert_eq!(
                names(&set.plan(&opened, Some(&alert))),
                at_open,
                "{what}: open"
            );
            assert_eq!(
                names(&set.plan(&again, Some(&alert))),
                at_raise,
                "{what}: next"
            );
        }
        assert_eq!(
            set.investigators(),
            vec!["reputation", "actor_history", "threat_context"]
        );
        let periodic: Vec<_> = set.periodic().map(|p| p.investigator.as_str()).collect();
        assert_eq!(periodic, vec!["threat_context"]);
    }

    #[test]
    fn the_default_runs_every_available_investigator_on_open_and_reopen() {
        let set = Policies::defaults(AVAILABLE);
        let (opened, _, alert) = changes("aws.guardduty", Severity::Medium, Severity::Medium);
        assert_eq!(
            names(&set.plan(&opened, Some(&alert))),
            vec![
                "reputation@open",
                "actor_history@open",
                "threat_context@open"
            ]
        );
        let (low, _, alert) = changes("aws.guardduty", Severity::Low, Severity::Low);
        assert!(set.plan(&low, Some(&alert)).is_empty());
        let planner = InvestigatingPlanner {
            outputs: NoOutputs,
            policies: std::sync::Arc::new(set),
        };
        assert_eq!(planner.investigations(&opened, None).len(), 3);
    }

    #[test]
    fn exposure_is_rechecked_by_default_and_the_schedule_is_shown() {
        let set = Policies::defaults(&["reputation", "exposure"]);
        let periodic: Vec<(&str, Option<Duration>)> = set
            .periodic()
            .map(|p| (p.investigator.as_str(), p.every))
            .collect();
        assert_eq!(
            periodic,
            vec![("exposure", Some(Duration::from_secs(6 * 3600)))]
        );
        let last = chrono::DateTime::parse_from_rfc3339("2026-12-06T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let runs = vec![
            ("reputation".to_string(), last),
            ("exposure".to_string(), last),
        ];
        let open = set.rechecks(true, &runs);
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0]["investigator"], "exposure");
        assert_eq!(open[0]["every"], "6h");
        assert_eq!(open[0]["next_run"], "2026-12-06T06:00:00Z");
        let resolved = set.rechecks(false, &runs);
        assert!(resolved[0]["next_run"].is_null());
        assert!(
            set.rechecks(true, &runs[..1]).is_empty(),
            "never ran: no re-check"
        );
    }

    #[test]
    fn bad_policies_are_refused_with_where_and_why() {
        let errors = policies(
            r#"
[[investigations]]
use = "reputaton"

[[investigations]]
use = "geoip"

[[investigations]]
use = "reputation"
when = "alert.source =="
on = ["opened"]

[[investigations]]
use = "threat_context"
every = "often"
"#,
        )
        .err()
        .expect("refused");
        let all = errors.join("\n");
        for want in [
            "#1 (use = \"reputaton\"): no such investigator (known: reputation, geoip",
            "#2 (use = \"geoip\"): not available in this configuration (it needs [geoip]",
            "#3 (use = \"reputation\"): when:",
            "#4 (use = \"threat_context\"): every \"often\" is not a duration",
        ] {
            assert!(all.contains(want), "{want}\nin:\n{all}");
        }
        let errors = policies("[[investigations]]\nuse = \"reputation\"\non = [\"opened\"]\n")
            .err()
            .expect("refused");
        assert!(
            errors[0].contains("on: \"opened\" is not one of open, reopen, severity_raised"),
            "{errors:?}"
        );
    }

    #[test]
    fn cases_of_medium_and_above_are_investigated_when_they_open_or_reopen() {
        let p = InvestigatingPlanner {
            outputs: NoOutputs,
            policies: std::sync::Arc::new(Policies::defaults(&["a", "b"])),
        };
        let now = Utc::now();
        let open = |sev| {
            correlate(
                None,
                &judged("generic", sev, AlertState::Active),
                Uuid::now_v7(),
                Uuid::now_v7(),
                now,
            )
            .expect("opens")
        };
        let opened = open(Severity::Medium);
        let planned = p.investigations(&opened, None);
        assert_eq!(planned.len(), 2);
        assert!(planned.iter().all(|j| j.trigger == "open"));
        assert!(p.investigations(&open(Severity::Low), None).is_empty());

        let again = correlate(
            Some(&opened.case),
            &judged("generic", Severity::Medium, AlertState::Active),
            Uuid::now_v7(),
            Uuid::now_v7(),
            now,
        )
        .expect("occurrence");
        assert!(
            p.investigations(&again, None).is_empty(),
            "an occurrence plans nothing"
        );
        let resolved = correlate(
            Some(&again.case),
            &judged("generic", Severity::Medium, AlertState::Resolved),
            Uuid::now_v7(),
            Uuid::now_v7(),
            now,
        )
        .expect("resolve");
        let reopened = correlate(
            Some(&resolved.case),
            &judged("generic", Severity::High, AlertState::Active),
            Uuid::now_v7(),
            Uuid::now_v7(),
            now,
        )
        .expect("reopen");
        let planned = p.investigations(&reopened, None);
        assert_eq!(planned.len(), 2, "{:?}", reopened.transitions);
        assert!(planned.iter().all(|j| j.trigger == "reopen"));
    }
}
