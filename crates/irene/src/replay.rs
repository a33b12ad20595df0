//! Rule replay: a draft rule set run over the alerts (and, for Sigma, the events) stored in a
//! window, beside the live rules, with cases and deliveries simulated in memory; the report.
//! It must not write: the store is only read, no case changes and nothing is planned for real.
//!
//! Both sides are computed the same way: each stored raw alert is judged again with the live
//! rules ("before") and with the draft ("after") — stored verdicts are not trusted — and fed, in
//! received order, to its own map key → case through `irene_core::correlate`, from an empty
//! start at `since`. Each change goes through the real planner (the configured outputs), whose
//! deliveries are counted by output and action. Not simulated: expiry, manual resolves,
//! investigations (raises), stateful Sigma correlations.

use chrono::{DateTime, Utc};
use irene_core::{correlate, Action, Alert, Case, CaseStatus, Judged, Planner, Severity};
use irene_rules::sigma::{hit_alert, logsource_of, SigmaRules};
use irene_rules::TriageRules;
use irene_store::{EventFilter, Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// Alerts read per page: one read snapshot each.
pub const PAGE: u32 = 5_000;
/// A progress report every this many alerts (or events).
pub const PROGRESS_EVERY: u64 = 50_000;
/// Cases listed per kind of change in the report, at most.
const CASE_EXAMPLES: usize = 50;

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a store read failed to run: {0}")]
    Task(String),
    #[error("cancelled")]
    Cancelled,
}

/// How far a replay is.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Progress {
    /// `events` (the Sigma pass) or `alerts`.
    pub phase: &'static str,
    pub scanned: u64,
    /// What the window holds, when known.
    pub total: Option<u64>,
}

/// The case keys of both sides, each string kept once.
#[derive(Default)]
struct Keys {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Keys {
    fn id(&mut self, key: &str) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.ids.insert(key.to_string(), id);
        self.names.push(key.to_string());
        id
    }
    fn name(&self, id: u32) -> &str {
        self.names
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }
}

/// One side of the comparison: the cases its rules make and what they cost.
#[derive(Default)]
struct Side {
    cases: HashMap<u32, Case>,
    /// output → count per action (`Action::ALL` order).
    deliveries: HashMap<String, [u64; 8]>,
    rules: HashMap<String, u64>,
    no_rule: u64,
}

impl Side {
    fn apply(
        &mut self,
        key: u32,
        judged: &Judged,
        alert_id: Uuid,
        at: DateTime<Utc>,
        planner: &dyn Planner,
    ) {
        match &judged.rule {
            Some(rule) => match self.rules.get_mut(rule.as_str()) {
                Some(n) => *n += 1,
                None => {
                    self.rules.insert(rule.clone(), 1);
                }
            },
            None => self.no_rule += 1,
        }
        let case_id = Uuid::from_u128(u128::from(key) + 1);
        let Some(change) = correlate(self.cases.get(&key), judged, alert_id, case_id, at) else {
            return;
        };
        for p in planner.plan(&change) {
            let slot = Action::ALL.iter().position(|a| *a == p.action).unwrap_or(0);
            match self.deliveries.get_mut(&p.output) {
                Some(counts) => counts[slot] += 1,
                None => {
                    let mut counts = [0u64; 8];
                    counts[slot] = 1;
                    self.deliveries.insert(p.output, counts);
                }
            }
        }
        self.cases.insert(key, change.case);
    }

    fn delivered(&self) -> u64 {
        self.deliveries.values().flatten().sum()
    }
}

/// What decided an alert on one side.
struct Decided<'a> {
    key: u32,
    severity: Severity,
    rule: Option<&'a str>,
}

/// The simulation: feed it alerts in received order, then take its [`Report`].
pub struct Replay<'a> {
    live: &'a TriageRules,
    draft: &'a TriageRules,
    planner: &'a dyn Planner,
    keys: Keys,
    before: Side,
    after: Side,
    /// (before key, after key) of every alert.
    pairs: HashSet<(u32, u32)>,
    totals: Totals,
    examples: Vec<Example>,
    max_examples: usize,
    sigma: BTreeMap<String, SigmaCount>,
}

impl<'a> Replay<'a> {
    pub fn new(
        live: &'a TriageRules,
        draft: &'a TriageRules,
        planner: &'a dyn Planner,
        max_examples: usize,
    ) -> Self {
        Replay {
            live,
            draft,
            planner,
            keys: Keys::default(),
            before: Side::default(),
            after: Side::default(),
            pairs: HashSet::new(),
            totals: Totals::default(),
            examples: Vec::new(),
            max_examples,
            sigma: BTreeMap::new(),
        }
    }

    /// One stored alert (received at `at`): judged by both rule sets, fed to both sides.
    pub fn alert(&mut self, id: Uuid, at: DateTime<Utc>, alert: Alert) {
        self.totals.alerts_scanned += 1;
        let before = self.live.judge(alert);
        let kb = self.keys.id(&before.key);
        self.before.apply(kb, &before, id, at, self.planner);
        let Judged {
            alert,
            severity: sb,
            rule: rb,
            ..
        } = before;
        let after = self.draft.judge(alert);
        let ka = self.keys.id(&after.key);
        self.after.apply(ka, &after, id, at, self.planner);
        self.compare(
            id,
            at,
            Some(Decided {
                key: kb,
                severity: sb,
                rule: rb.as_deref(),
            }),
            Some(Decided {
                key: ka,
                severity: after.severity,
                rule: after.rule.as_deref(),
            }),
        );
    }

    /// The Sigma hits of one event (id `id`, received at `at`), already judged: `before` by the
    /// live Sigma and triage rules, `after` by the draft. Hits of the same Sigma rule pair up.
    pub fn hits(&mut self, id: Uuid, at: DateTime<Utc>, before: &[Judged], after: &[Judged]) {
        for j in before {
            self.sigma_count(&j.alert).before += 1;
        }
        for j in after {
            self.sigma_count(&j.alert).after += 1;
        }
        for j in before {
            let kb = self.keys.id(&j.key);
            self.before.apply(kb, j, id, at, self.planner);
            let pair = after.iter().find(|a| a.alert.kind == j.alert.kind);
            let da = pair.map(|a| {
                let ka = self.keys.id(&a.key);
                self.after.apply(ka, a, id, at, self.planner);
                Decided {
                    key: ka,
                    severity: a.severity,
                    rule: a.rule.as_deref(),
                }
            });
            self.totals.sigma_hits += 1;
            let db = Decided {
                key: kb,
                severity: j.severity,
                rule: j.rule.as_deref(),
            };
            self.compare(id, at, Some(db), da);
        }
        for a in after {
            if before.iter().any(|b| b.alert.kind == a.alert.kind) {
                continue;
            }
            let ka = self.keys.id(&a.key);
            self.after.apply(ka, a, id, at, self.planner);
            self.totals.sigma_hits += 1;
            let da = Decided {
                key: ka,
                severity: a.severity,
                rule: a.rule.as_deref(),
            };
            self.compare(id, at, None, Some(da));
        }
    }

    fn sigma_count(&mut self, hit: &Alert) -> &mut SigmaCount {
        self.sigma
            .entry(hit.kind.clone())
            .or_insert_with(|| SigmaCount {
                rule: hit.kind.clone(),
                title: hit.title.clone(),
                before: 0,
                after: 0,
            })
    }

    fn compare(
        &mut self,
        id: Uuid,
        at: DateTime<Utc>,
        before: Option<Decided<'_>>,
        after: Option<Decided<'_>>,
    ) {
        if let (Some(b), Some(a)) = (&before, &after) {
            self.pairs.insert((b.key, a.key));
        }
        let changed = match (&before, &after) {
            (Some(b), Some(a)) => {
                let (sev, key, rule) = (b.severity != a.severity, b.key != a.key, b.rule != a.rule);
                self.totals.severity_changed += u64::from(sev);
                self.totals.key_changed += u64::from(key);
                self.totals.rule_changed += u64::from(rule);
                sev || key || rule
            }
            _ => true,
        };
        if !changed {
            return;
        }
        self.totals.verdicts_changed += 1;
        if self.examples.len() < self.max_examples {
            let shown = |d: &Decided<'_>, keys: &Keys| ExampleVerdict {
                rule: d.rule.map(str::to_string),
                severity: d.severity,
                key: keys.name(d.key).to_string(),
            };
            self.examples.push(Example {
                alert_id: id,
                received_at: at,
                before: before.as_ref().map(|d| shown(d, &self.keys)),
                after: after.as_ref().map(|d| shown(d, &self.keys)),
            });
        }
    }

    /// Counts an event read by the Sigma pass.
    pub fn event_scanned(&mut self) {
        self.totals.events_scanned += 1;
    }

    /// The report: totals, rules, cases, deliveries, Sigma detections, examples.
    pub fn report(self, rule_names: &[&str]) -> Report {
        let Replay {
            keys,
            before,
            after,
            pairs,
            mut totals,
            examples,
            sigma,
            ..
        } = self;
        totals.cases_before = before.cases.len() as u64;
        totals.cases_after = after.cases.len() as u64;
        totals.deliveries_before = before.delivered();
        totals.deliveries_after = after.delivered();

        let mut rules: BTreeMap<&str, RuleCount> = BTreeMap::new();
        for name in rule_names
            .iter()
            .copied()
            .chain(before.rules.keys().map(String::as_str))
            .chain(after.rules.keys().map(String::as_str))
        {
            rules.entry(name).or_insert_with(|| RuleCount {
                rule: Some(name.to_string()),
                before: before.rules.get(name).copied().unwrap_or(0),
                after: after.rules.get(name).copied().unwrap_or(0),
            });
        }
        let mut rules: Vec<RuleCount> = rules.into_values().collect();
        rules.push(RuleCount {
            rule: None,
            before: before.no_rule,
            after: after.no_rule,
        });

        let mut deliveries = Vec::new();
        let outputs: std::collections::BTreeSet<&String> = before
            .deliveries
            .keys()
            .chain(after.deliveries.keys())
            .collect();
        for output in outputs {
            let b = before.deliveries.get(output).copied().unwrap_or_default();
            let a = after.deliveries.get(output).copied().unwrap_or_default();
            for (i, action) in Action::ALL.iter().enumerate() {
                if b[i] + a[i] > 0 {
                    deliveries.push(DeliveryCount {
                        output: output.clone(),
                        action: *action,
                        before: b[i],
                        after: a[i],
                    });
                }
            }
        }

        let cases = case_diff(&keys, &before.cases, &after.cases, &pairs);
        Report {
            totals,
            rules,
            cases,
            deliveries,
            sigma: sigma.into_values().collect(),
            examples,
        }
    }
}

/// What changes for cases: keys that would get a case only after or only before, keys that
/// fold together or fall apart, and cases of the same key whose severity or status differs.
fn case_diff(
    keys: &Keys,
    before: &HashMap<u32, Case>,
    after: &HashMap<u32, Case>,
    pairs: &HashSet<(u32, u32)>,
) -> CaseDiff {
    let state = |c: &Case| CaseState {
        severity: c.severity,
        status: c.status,
        count: c.count,
    };
    let mut into: HashMap<u32, Vec<u32>> = HashMap::new(); // after key ← before keys
    let mut from: HashMap<u32, Vec<u32>> = HashMap::new(); // before key → after keys
    for &(b, a) in pairs {
        if before.contains_key(&b) && after.contains_key(&a) {
            into.entry(a).or_default().push(b);
            from.entry(b).or_default().push(a);
        }
    }
    let mut changes: Vec<CaseChange> = Vec::new();
    let name = |k: u32| keys.name(k).to_string();
    let entry = |k: u32, change: &'static str, related: Vec<String>| CaseChange {
        key: name(k),
        change,
        before: before.get(&k).map(state),
        after: after.get(&k).map(state),
        keys: related,
    };
    let sorted = |v: &[u32]| {
        let mut names: Vec<String> = v.iter().map(|&k| name(k)).collect();
        names.sort();
        names
    };
    for (&k, _) in after.iter().filter(|(k, _)| !before.contains_key(k)) {
        changes.push(entry(k, "opened", vec![]));
    }
    for (&k, _) in before.iter().filter(|(k, _)| !after.contains_key(k)) {
        changes.push(entry(
            k,
            "gone",
            sorted(from.get(&k).map_or(&[][..], |v| v)),
        ));
    }
    for (&a, bs) in into.iter().filter(|(_, bs)| bs.len() > 1) {
        changes.push(entry(a, "merged", sorted(bs)));
    }
    for (&b, as_) in from.iter().filter(|(_, v)| v.len() > 1) {
        changes.push(entry(b, "split", sorted(as_)));
    }
    for (&k, b) in before {
        let Some(a) = after.get(&k) else { continue };
        if a.severity != b.severity {
            changes.push(entry(k, "severity", vec![]));
        }
        match (b.status, a.status) {
            (CaseStatus::Open, CaseStatus::Resolved) => changes.push(entry(k, "closed", vec![])),
            (CaseStatus::Resolved, CaseStatus::Open) => changes.push(entry(k, "reopened", vec![])),
            _ => {}
        }
    }
    changes.sort_by(|x, y| (x.change, &x.key).cmp(&(y.change, &y.key)));
    let mut diff = CaseDiff::default();
    let mut shown: HashMap<&'static str, usize> = HashMap::new();
    for c in changes {
        match c.change {
            "opened" => diff.opened += 1,
            "gone" => diff.gone += 1,
            "merged" => diff.merged += 1,
            "split" => diff.split += 1,
            "severity" => diff.severity_changed += 1,
            "closed" => diff.closed += 1,
            _ => diff.reopened += 1,
        }
        let n = shown.entry(c.change).or_default();
        if *n < CASE_EXAMPLES {
            *n += 1;
            diff.examples.push(c);
        }
    }
    diff
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub alerts_scanned: u64,
    pub events_scanned: u64,
    /// Sigma hits made by the replay (either side) from the events.
    pub sigma_hits: u64,
    /// Alerts (and hits) whose rule, severity or key differs, or that only one side makes.
    pub verdicts_changed: u64,
    pub severity_changed: u64,
    pub key_changed: u64,
    pub rule_changed: u64,
    pub cases_before: u64,
    pub cases_after: u64,
    pub deliveries_before: u64,
    pub deliveries_after: u64,
}

/// Alerts a triage rule decides (`rule: null`: no rule, the source severity stands).
#[derive(Debug, Clone, Serialize)]
pub struct RuleCount {
    pub rule: Option<String>,
    pub before: u64,
    pub after: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryCount {
    pub output: String,
    pub action: Action,
    pub before: u64,
    pub after: u64,
}

/// Hits (alerts made) of one Sigma rule over the window's events.
#[derive(Debug, Clone, Serialize)]
pub struct SigmaCount {
    pub rule: String,
    pub title: String,
    pub before: u64,
    pub after: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseState {
    pub severity: Severity,
    pub status: CaseStatus,
    pub count: i64,
}

/// A case that changes. `change`: `opened` (a key that gets a case only with the draft),
/// `gone` (only with the live rules; `keys`: where its alerts go instead), `merged` (`keys`: the
/// live keys folded into this one), `split` (`keys`: the draft keys its alerts go to),
/// `severity`, `closed` (open → resolved), `reopened` (resolved → open).
#[derive(Debug, Clone, Serialize)]
pub struct CaseChange {
    pub key: String,
    pub change: &'static str,
    pub before: Option<CaseState>,
    pub after: Option<CaseState>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseDiff {
    pub opened: u64,
    pub gone: u64,
    pub merged: u64,
    pub split: u64,
    pub severity_changed: u64,
    pub closed: u64,
    pub reopened: u64,
    /// The first changes of each kind, by kind then key.
    pub examples: Vec<CaseChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExampleVerdict {
    pub rule: Option<String>,
    pub severity: Severity,
    pub key: String,
}

/// An alert whose verdict changes (`before`/`after` null: a Sigma hit only one side makes).
#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub alert_id: Uuid,
    pub received_at: DateTime<Utc>,
    pub before: Option<ExampleVerdict>,
    pub after: Option<ExampleVerdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub totals: Totals,
    pub rules: Vec<RuleCount>,
    pub cases: CaseDiff,
    pub deliveries: Vec<DeliveryCount>,
    pub sigma: Vec<SigmaCount>,
    pub examples: Vec<Example>,
}

/// What to replay: the rule sets of both sides and the window.
pub struct Plan {
    pub live: Arc<TriageRules>,
    pub draft: Arc<TriageRules>,
    /// Live and draft Sigma rules: replayed over the window's events when set (and the stored
    /// Sigma hit alerts are left out, both sides making theirs again).
    pub sigma: Option<(Arc<SigmaRules>, Arc<SigmaRules>)>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub examples: usize,
}

/// A stored alert that a Sigma rule made from an event (not a correlation's).
fn is_sigma_hit(alert: &Alert) -> bool {
    // a correlation's alert has `raw.correlation` instead of `raw.rule`
    alert.key.starts_with("sigma:")
        && alert.raw.get("rule").is_some()
        && alert.raw.get("event").is_some()
        && alert.raw.get("correlation").is_none()
}

/// The Sigma hits of `sigma` on one event, judged by `triage`, raw dropped.
fn sigma_hits(sigma: &SigmaRules, triage: &TriageRules, event: &irene_core::Event) -> Vec<Judged> {
    if sigma.is_empty() {
        return Vec::new();
    }
    sigma
        .matches(&logsource_of(&event.source), &event.raw)
        .into_iter()
        .filter(|r| sigma.rule_generates_alerts(r))
        .map(|r| {
            let mut j = triage.judge(hit_alert(r, event));
            j.alert.raw = serde_json::Value::Null;
            j
        })
        .collect()
}

/// The hits of one event, waiting for their turn among the alerts.
struct EventHits {
    at: DateTime<Utc>,
    id: Uuid,
    before: Vec<Judged>,
    after: Vec<Judged>,
}

/// Runs a replay on the calling thread, which must be allowed to block (a `spawn_blocking`
/// task or a thread of its own): store reads go through `handle`, the next page read while
/// this one is judged; `planner` says what each simulated change delivers (the server passes
/// the store's own, the configured outputs). `progress` is told every [`PROGRESS_EVERY`] alerts; false cancels.
pub fn run(
    handle: &tokio::runtime::Handle,
    store: Arc<dyn Store>,
    planner: &dyn Planner,
    plan: &Plan,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<Report, ReplayError> {
    let mut replay = Replay::new(&plan.live, &plan.draft, planner, plan.examples);
    let (since, until) = (plan.since, plan.until);

    // 1. Sigma: the window's events (by event time), hits made by both sides, kept judged.
    let mut hits: Vec<EventHits> = Vec::new();
    if let Some((live_sigma, draft_sigma)) = &plan.sigma {
        let mut cursor = None;
        let mut scanned = 0u64;
        loop {
            let filter = EventFilter {
                since: Some(since),
                until: Some(until),
                limit: 500,
                cursor: cursor.take(),
                ..EventFilter::default()
            };
            let page = handle.block_on(store.events_list(&filter))?;
            for e in &page.items {
                replay.event_scanned();
                scanned += 1;
                let before = sigma_hits(live_sigma, &plan.live, &e.event);
                let after = sigma_hits(draft_sigma, &plan.draft, &e.event);
                if !before.is_empty() || !after.is_empty() {
                    hits.push(EventHits {
                        at: e.received_at,
                        id: e.id,
                        before,
                        after,
                    });
                }
                if scanned.is_multiple_of(PROGRESS_EVERY)
                    && !progress(Progress {
                        phase: "events",
                        scanned,
                        total: None,
                    })
                {
                    return Err(ReplayError::Cancelled);
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        hits.sort_by_key(|h| (h.at, h.id));
    }
    let mut hits = hits.into_iter().peekable();

    // 2. The alerts, in received order, the events' hits merged in at their place.
    let total = handle.block_on(store.alerts_count(since, until))?;
    let fetch = |after: Option<(DateTime<Utc>, Uuid)>| {
        let store = store.clone();
        handle.spawn(async move { store.alerts_scan(since, until, after, PAGE).await })
    };
    let mut next = Some(fetch(None));
    let mut scanned = 0u64;
    while let Some(task) = next.take() {
        let page = handle
            .block_on(task)
            .map_err(|e| ReplayError::Task(e.to_string()))??;
        if page.len() == PAGE as usize {
            next = Some(fetch(page.last().map(|a| (a.received_at, a.id))));
        }
        for a in page {
            while let Some(h) = hits.next_if(|h| (h.at, h.id) < (a.received_at, a.id)) {
                replay.hits(h.id, h.at, &h.before, &h.after);
            }
            scanned += 1;
            let alert = a.judged.alert;
            if plan.sigma.is_none() || !is_sigma_hit(&alert) {
                replay.alert(a.id, a.received_at, alert);
            }
            if scanned.is_multiple_of(PROGRESS_EVERY)
                && !progress(Progress {
                    phase: "alerts",
                    scanned,
                    total: Some(total),
                })
            {
                return Err(ReplayError::Cancelled);
            }
        }
    }
    for h in hits {
        replay.hits(h.id, h.at, &h.before, &h.after);
    }
    progress(Progress {
        phase: "alerts",
        scanned,
        total: Some(total),
    });
    Ok(replay.report(&plan.draft.names()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use irene_core::{AlertState, Change, Planned};
    use irene_rules::RuleFile;
    use serde_json::json;

    /// A planner that delivers every transition to one output, named after it.
    struct EveryChange;
    impl Planner for EveryChange {
        fn plan(&self, change: &Change) -> Vec<Planned> {
            change
                .transitions
                .iter()
                .map(|t| Planned {
                    output: "log".into(),
                    action: match t {
                        irene_core::Transition::Opened => Action::Open,
                        irene_core::Transition::Occurrence => Action::Repeat,
                        irene_core::Transition::Reopened => Action::Reopen,
                        irene_core::Transition::Resolved { .. } => Action::Resolve,
                        irene_core::Transition::SeverityChanged { .. } => Action::Severity,
                    },
                    detail: json!({}),
                })
                .collect()
        }
    }

    fn rules(yaml: &str) -> TriageRules {
        TriageRules::compile(&[RuleFile::new("r.yaml", yaml)]).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn alert(key: &str, kind: &str, sev: Severity, state: AlertState) -> Alert {
        let mut a = Alert::new("generic", kind, key, format!("T {key}"), sev, json!({}));
        a.state = state;
        a.account = Some("111111111111".into());
        a
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn count<'r>(r: &'r Report, change: &str) -> Vec<&'r CaseChange> {
        r.cases
            .examples
            .iter()
            .filter(|c| c.change == change)
            .collect()
    }

    /// (what, live rules, draft rules, alerts, check)
    type Case_ = (
        &'static str,
        &'static str,
        &'static str,
        Vec<Alert>,
        fn(&Report),
    );

    #[test]
    fn table() {
        use AlertState::{Active, Resolved};
        use Severity::*;
        let table: Vec<Case_> = vec![
            (
                "a draft rule raises severity",
                "",
                "- name: raise\n  when: alert.type == \"x\"\n  severity: urgent\n",
                vec![
                    alert("k1", "x", Low, Active),
                    alert("k1", "x", Low, Active),
                    alert("k2", "y", Low, Active),
                ],
                |r| {
                    assert_eq!(r.totals.alerts_scanned, 3);
                    assert_eq!(r.totals.verdicts_changed, 2);
                    assert_eq!(r.totals.severity_changed, 2);
                    assert_eq!(r.totals.key_changed, 0);
                    let raise = r.rules.iter().find(|c| c.rule.as_deref() == Some("raise"));
                    assert_eq!(raise.map(|c| (c.before, c.after)), Some((0, 2)));
                    let none = r.rules.iter().find(|c| c.rule.is_none());
                    assert_eq!(none.map(|c| (c.before, c.after)), Some((3, 1)));
                    assert_eq!(r.cases.severity_changed, 1);
                    let sev = count(r, "severity");
                    assert_eq!(sev[0].key, "k1");
                    assert_eq!(sev[0].after.as_ref().map(|s| s.severity), Some(Urgent));
                    assert_eq!((r.totals.cases_before, r.totals.cases_after), (2, 2));
                    assert_eq!(r.examples.len(), 2);
                    assert_eq!(
                        r.examples[0].after.as_ref().map(|v| v.rule.clone()),
                        Some(Some("raise".into()))
                    );
                }),
            (
                "a key template merges two cases into one",
                "",
                "- name: by-account\n  when: alert.type == \"x\"\n  key: '{{ alert.account }}/x'\n",
                vec![alert("k1", "x", Medium, Active), alert("k2", "x", Medium, Active)],
                |r| {
                    assert_eq!((r.totals.cases_before, r.totals.cases_after), (2, 1));
                    assert_eq!(r.totals.key_changed, 2);
                    assert_eq!(r.cases.merged, 1);
                    assert_eq!(r.cases.gone, 2);
                    assert_eq!(r.cases.opened, 1);
                    let m = count(r, "merged");
                    assert_eq!(m[0].key, "111111111111/x");
                    assert_eq!(m[0].keys, vec!["k1".to_string(), "k2".to_string()]);
                    assert_eq!(m[0].after.as_ref().map(|s| s.count), Some(2));
                    // before: 2 opens; after: 1 open + 1 repeat
                    assert_eq!((r.totals.deliveries_before, r.totals.deliveries_after), (2, 2));
                    let repeat = r.deliveries.iter().find(|d| d.action == Action::Repeat);
                    assert_eq!(repeat.map(|d| (d.before, d.after)), Some((0, 1)));
                }),
            (
                "a key template splits a case",
                "",
                "- name: by-resource\n  when: alert.type == \"x\"\n  key: 'x/{{ alert.title }}'\n",
                vec![
                    {
                        let mut a = alert("k1", "x", Medium, Active);
                        a.title = "a".into();
                        a
                    },
                    {
                        let mut a = alert("k1", "x", Medium, Active);
                        a.title = "b".into();
                        a
                    },
                ],
                |r| {
                    assert_eq!((r.totals.cases_before, r.totals.cases_after), (1, 2));
                    assert_eq!(r.cases.split, 1);
                    let s = count(r, "split");
                    assert_eq!(s[0].key, "k1");
                    assert_eq!(s[0].keys, vec!["x/a".to_string(), "x/b".to_string()]);
                }),
            (
                "an alert now decided by no rule",
                "- name: old\n  when: alert.type == \"x\"\n  severity: high\n",
                "- name: other\n  when: alert.type == \"z\"\n  severity: high\n",
                vec![alert("k1", "x", Low, Active)],
                |r| {
                    assert_eq!(r.totals.rule_changed, 1);
                    let old = r.rules.iter().find(|c| c.rule.as_deref() == Some("old"));
                    assert_eq!(old.map(|c| (c.before, c.after)), Some((1, 0)));
                    let other = r.rules.iter().find(|c| c.rule.as_deref() == Some("other"));
                    assert_eq!(other.map(|c| (c.before, c.after)), Some((0, 0)), "draft rules are listed");
                    let none = r.rules.iter().find(|c| c.rule.is_none());
                    assert_eq!(none.map(|c| (c.before, c.after)), Some((0, 1)));
                    let ex = &r.examples[0];
                    assert_eq!(ex.before.as_ref().map(|v| v.severity), Some(High));
                    assert_eq!(ex.after.as_ref().map(|v| (v.severity, v.rule.clone())), Some((Low, None)));
                }),
            (
                "a case that would now close",
                "",
                // the resolving alert's own key differs; the draft folds it into the open case
                "- name: fold\n  when: alert.type == \"x\"\n  key: 'x'\n",
                vec![alert("k1", "x", High, Active), alert("k1-fixed", "x", High, Resolved)],
                |r| {
                    assert_eq!(r.cases.closed, 0, "a different key is not the same case");
                    assert_eq!(r.cases.opened, 1);
                    let resolves: Vec<_> = r.deliveries.iter().filter(|d| d.action == Action::Resolve).collect();
                    assert_eq!(resolves.len(), 1);
                    assert_eq!((resolves[0].before, resolves[0].after), (0, 1));
                    let after = r.cases.examples.iter().find(|c| c.key == "x").and_then(|c| c.after.as_ref());
                    assert_eq!(after.map(|s| s.status), Some(CaseStatus::Resolved));
                }),
            (
                "the same case closes under the draft",
                "- name: keep\n  when: alert.type == \"x\"\n  key: 'k'\n",
                "- name: keep\n  when: alert.type == \"x\"\n  key: 'k'\n- name: fold-fixes\n  when: alert.type == \"fix\"\n  key: 'k'\n",
                vec![alert("a", "x", High, Active), alert("b", "fix", High, Resolved)],
                |r| {
                    assert_eq!(r.cases.closed, 1);
                    let c = count(r, "closed");
                    assert_eq!(c[0].key, "k");
                    assert_eq!(c[0].before.as_ref().map(|s| s.status), Some(CaseStatus::Open));
                    assert_eq!(c[0].after.as_ref().map(|s| s.status), Some(CaseStatus::Resolved));
                }),
            (
                "the same rules change nothing",
                "- name: keep\n  when: alert.type == \"x\"\n  severity: high\n",
                "- name: keep\n  when: alert.type == \"x\"\n  severity: high\n",
                vec![alert("k1", "x", Low, Active), alert("k1", "x", Low, Resolved)],
                |r| {
                    assert_eq!(r.totals.verdicts_changed, 0);
                    assert!(r.examples.is_empty());
                    assert!(r.cases.examples.is_empty());
                    assert_eq!(r.totals.deliveries_before, r.totals.deliveries_after);
                    assert!(r.deliveries.iter().all(|d| d.before == d.after));
                }),
        ];
        for (what, live, draft, alerts, check) in table {
            let (live, draft) = (rules(live), rules(draft));
            let mut replay = Replay::new(&live, &draft, &EveryChange, 10);
            for (i, a) in alerts.into_iter().enumerate() {
                replay.alert(Uuid::from_u128(i as u128 + 1), t(i as i64), a);
            }
            let report = replay.report(&draft.names());
            eprintln!("{what}");
            check(&report);
        }
    }

    #[test]
    fn sigma_hits_pair_by_rule_and_count_new_detections() {
        let none = TriageRules::empty();
        let mut replay = Replay::new(&none, &none, &EveryChange, 10);
        let hit = |rule: &str| {
            let mut a = alert(
                &format!("sigma:{rule}:1:p"),
                rule,
                Severity::High,
                AlertState::Active,
            );
            a.title = format!("rule {rule}");
            Judged::unjudged(a)
        };
        // event 1: both sides hit with rule A; the draft adds rule B
        replay.hits(Uuid::from_u128(1), t(0), &[hit("A")], &[hit("A"), hit("B")]);
        // event 2: only the live rules hit with rule C
        replay.hits(Uuid::from_u128(2), t(1), &[hit("C")], &[]);
        let r = replay.report(&[]);
        let counts: Vec<_> = r
            .sigma
            .iter()
            .map(|s| (s.rule.as_str(), s.before, s.after))
            .collect();
        assert_eq!(counts, vec![("A", 1, 1), ("B", 0, 1), ("C", 1, 0)]);
        assert_eq!(r.totals.sigma_hits, 3);
        assert_eq!(r.totals.verdicts_changed, 2, "B new, C gone; A the same");
        assert_eq!((r.totals.cases_before, r.totals.cases_after), (2, 2));
        assert_eq!(r.cases.opened, 1);
        assert_eq!(r.cases.gone, 1);
    }
}
