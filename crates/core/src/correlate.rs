//! How one judged alert changes a case: open, repeat, reopen, resolve, change severity.
//! Pure: the store loads the case, calls these functions and writes the result in one transaction.

use crate::{
    Alert, AlertState, Case, CaseStatus, Raised, Resolution, Severity, TimelineEntry, TimelineKind,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// An alert after triage: the verdict that correlation acts on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub alert: Alert,
    pub severity: Severity,
    pub labels: Vec<String>,
    /// The case key: the alert's own key unless a triage rule set a template.
    pub key: String,
    /// The name of the triage rule that decided, `None` when the source severity stands.
    pub rule: Option<String>,
}

impl Judged {
    /// The verdict when no rule matched: the source severity stands.
    pub fn unjudged(alert: Alert) -> Self {
        Judged {
            severity: alert.source_severity,
            key: alert.key.clone(),
            labels: Vec::new(),
            rule: None,
            alert,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Transition {
    Opened,
    Occurrence,
    Reopened,
    Resolved { resolution: Resolution },
    SeverityChanged { from: Severity, to: Severity },
}

impl Transition {
    /// Its name in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Occurrence => "occurrence",
            Transition::Reopened => "reopened",
            Transition::Resolved { .. } => "resolved",
            Transition::SeverityChanged { .. } => "severity_changed",
        }
    }
}

/// The case as it is after the change, and what happened to it (in order).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub case: Case,
    pub is_new: bool,
    pub transitions: Vec<Transition>,
    pub timeline: Vec<TimelineEntry>,
}

impl Change {
    fn push(&mut self, t: Transition, at: DateTime<Utc>, alert_id: Option<Uuid>) {
        let (kind, detail) = match t {
            Transition::Opened => (
                TimelineKind::Opened,
                json!({"severity": self.case.severity}),
            ),
            Transition::Occurrence => (TimelineKind::Occurrence, json!({"count": self.case.count})),
            Transition::Reopened => (TimelineKind::Reopened, json!({"count": self.case.count})),
            Transition::Resolved { resolution } => {
                (TimelineKind::Resolved, json!({"resolution": resolution}))
            }
            Transition::SeverityChanged { from, to } => (
                TimelineKind::SeverityChanged,
                json!({"from": from, "to": to, "rule": self.case.rule}),
            ),
        };
        self.transitions.push(t);
        self.timeline.push(TimelineEntry {
            at,
            kind,
            alert_id,
            detail,
        });
    }
}

/// Applies one judged alert (stored as `alert_id`, received at `now`) to the case with the same
/// key, if any. Returns `None` when nothing changes: a resolved alert for a key with no case
/// (a passing check never opens a case) or for a case already resolved.
pub fn correlate(
    existing: Option<&Case>,
    judged: &Judged,
    alert_id: Uuid,
    new_case_id: Uuid,
    now: DateTime<Utc>,
) -> Option<Change> {
    let alert = &judged.alert;
    let seen = alert.observed_at.unwrap_or(now);
    match (existing, alert.state) {
        (None, AlertState::Resolved) => None,
        (None, AlertState::Active) => {
            let case = Case {
                id: new_case_id,
                key: judged.key.clone(),
                title: alert.title.clone(),
                source: alert.source.clone(),
                kind: alert.kind.clone(),
                severity: judged.severity,
                status: CaseStatus::Open,
                resolution: None,
                first_seen: seen,
                last_seen: seen,
                count: 1,
                account: alert.account.clone(),
                region: alert.region.clone(),
                resource: alert.resource.clone(),
                labels: judged.labels.clone(),
                rule: judged.rule.clone(),
                last_alert_id: alert_id,
                tickets: Vec::new(),
                updated_at: now,
                raised: None,
            };
            let mut change = Change {
                case,
                is_new: true,
                transitions: vec![],
                timeline: vec![],
            };
            change.push(Transition::Opened, now, Some(alert_id));
            Some(change)
        }
        (Some(case), AlertState::Resolved) => {
            if case.status == CaseStatus::Resolved {
                return None;
            }
            let mut change = Change {
                case: case.clone(),
                is_new: false,
                transitions: vec![],
                timeline: vec![],
            };
            let c = &mut change.case;
            c.status = CaseStatus::Resolved;
            c.resolution = Some(Resolution::Source);
            c.last_alert_id = alert_id;
            c.last_seen = c.last_seen.max(seen);
            c.updated_at = now;
            change.push(
                Transition::Resolved {
                    resolution: Resolution::Source,
                },
                now,
                Some(alert_id),
            );
            Some(change)
        }
        (Some(case), AlertState::Active) => {
            let mut change = Change {
                case: case.clone(),
                is_new: false,
                transitions: vec![],
                timeline: vec![],
            };
            let reopened = case.status == CaseStatus::Resolved;
            let from = case.severity;
            {
                let c = &mut change.case;
                c.count += 1;
                c.last_seen = c.last_seen.max(seen);
                c.last_alert_id = alert_id;
                c.title = alert.title.clone();
                c.severity = judged.severity;
                c.rule = judged.rule.clone();
                c.labels = judged.labels.clone();
                c.resource = alert.resource.clone();
                c.updated_at = now;
                if reopened {
                    c.status = CaseStatus::Open;
                    c.resolution = None;
                    // a new incident: its own investigations decide again
                    c.raised = None;
                }
                // what investigations found still holds while the case stays open
                if let Some(r) = c.raised.as_ref().filter(|r| r.severity > judged.severity) {
                    c.severity = r.severity;
                    c.rule = r.rule.clone();
                    for l in &r.labels {
                        if !c.labels.contains(l) {
                            c.labels.push(l.clone());
                        }
                    }
                }
            }
            if reopened {
                change.push(Transition::Reopened, now, Some(alert_id));
            } else {
                change.push(Transition::Occurrence, now, Some(alert_id));
            }
            let to = change.case.severity;
            if from != to {
                change.push(
                    Transition::SeverityChanged { from, to },
                    now,
                    Some(alert_id),
                );
            }
            Some(change)
        }
    }
}

/// Raises an open case to the verdict of triage run again with investigation findings
/// (`judged`, from the case's latest alert). `None` unless it is open and the verdict is more
/// severe: findings only ever raise a case.
pub fn raise(case: &Case, judged: &Judged, now: DateTime<Utc>) -> Option<Change> {
    if case.status != CaseStatus::Open || judged.severity <= case.severity {
        return None;
    }
    let mut change = Change {
        case: case.clone(),
        is_new: false,
        transitions: vec![],
        timeline: vec![],
    };
    let from = case.severity;
    let c = &mut change.case;
    c.severity = judged.severity;
    c.rule = judged.rule.clone();
    for l in &judged.labels {
        if !c.labels.contains(l) {
            c.labels.push(l.clone());
        }
    }
    c.updated_at = now;
    c.raised = Some(Raised {
        severity: judged.severity,
        rule: judged.rule.clone(),
        labels: judged.labels.clone(),
        at: now,
    });
    change.push(
        Transition::SeverityChanged {
            from,
            to: judged.severity,
        },
        now,
        None,
    );
    if let Some(serde_json::Value::Object(detail)) =
        change.timeline.last_mut().map(|e| &mut e.detail)
    {
        detail.insert("by".into(), json!("investigation"));
    }
    Some(change)
}

/// Resolves an open case that has been silent since before `now - expiry`.
pub fn expire(case: &Case, now: DateTime<Utc>, expiry: chrono::Duration) -> Option<Change> {
    if case.status != CaseStatus::Open || case.last_seen + expiry > now {
        return None;
    }
    Some(resolve_with(case, Resolution::Expired, now, json!({})))
}

/// Resolves a case by a person's hand (console, API, ticket closed). `None` if already resolved.
pub fn resolve_by_hand(case: &Case, now: DateTime<Utc>, by: &str, reason: &str) -> Option<Change> {
    if case.status != CaseStatus::Open {
        return None;
    }
    Some(resolve_with(
        case,
        Resolution::Manual,
        now,
        json!({"by": by, "reason": reason}),
    ))
}

/// Resolves an open case that a check found fixed (`by`: what checked, `reason`: what it
/// found). `None` if already resolved.
pub fn resolve_by_scan(case: &Case, now: DateTime<Utc>, by: &str, reason: &str) -> Option<Change> {
    if case.status != CaseStatus::Open {
        return None;
    }
    Some(resolve_with(
        case,
        Resolution::Scan,
        now,
        json!({"by": by, "reason": reason}),
    ))
}

/// Reopens a resolved case by a person's hand (a ticket reopened). `None` if already open.
pub fn reopen_by_hand(case: &Case, now: DateTime<Utc>, by: &str) -> Option<Change> {
    if case.status != CaseStatus::Resolved {
        return None;
    }
    let mut change = Change {
        case: case.clone(),
        is_new: false,
        transitions: vec![],
        timeline: vec![],
    };
    change.case.status = CaseStatus::Open;
    change.case.resolution = None;
    change.case.updated_at = now;
    change.push(Transition::Reopened, now, None);
    if let Some(serde_json::Value::Object(detail)) =
        change.timeline.last_mut().map(|e| &mut e.detail)
    {
        detail.insert("by".into(), json!(by));
    }
    Some(change)
}

fn resolve_with(
    case: &Case,
    resolution: Resolution,
    now: DateTime<Utc>,
    extra: serde_json::Value,
) -> Change {
    let mut change = Change {
        case: case.clone(),
        is_new: false,
        transitions: vec![],
        timeline: vec![],
    };
    change.case.status = CaseStatus::Resolved;
    change.case.resolution = Some(resolution);
    change.case.updated_at = now;
    change.push(Transition::Resolved { resolution }, now, None);
    if let (Some(entry), serde_json::Value::Object(extra)) = (change.timeline.last_mut(), extra) {
        if let serde_json::Value::Object(detail) = &mut entry.detail {
            detail.extend(extra);
        }
    }
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .unwrap_or_default()
    }

    fn judged(state: AlertState, sev: Severity) -> Judged {
        let mut a = Alert::new("generic", "test", "k1", "Test", sev, json!({}));
        a.state = state;
        Judged::unjudged(a)
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn lifecycle_table() {
        use AlertState::*;
        // (alert state, severity, expected transitions, expected status, expected count)
        type Step = (
            AlertState,
            Severity,
            Vec<Transition>,
            Option<CaseStatus>,
            i64,
        );
        let steps: Vec<Step> = vec![
            (
                Active,
                Severity::Low,
                vec![Transition::Opened],
                Some(CaseStatus::Open),
                1,
            ),
            (
                Active,
                Severity::Low,
                vec![Transition::Occurrence],
                Some(CaseStatus::Open),
                2,
            ),
            (
                Active,
                Severity::High,
                vec![
                    Transition::Occurrence,
                    Transition::SeverityChanged {
                        from: Severity::Low,
                        to: Severity::High,
                    },
                ],
                Some(CaseStatus::Open),
                3,
            ),
            (
                Resolved,
                Severity::High,
                vec![Transition::Resolved {
                    resolution: Resolution::Source,
                }],
                Some(CaseStatus::Resolved),
                3,
            ),
            (Resolved, Severity::High, vec![], None, 3),
            (
                Active,
                Severity::High,
                vec![Transition::Reopened],
                Some(CaseStatus::Open),
                4,
            ),
        ];
        let mut case: Option<Case> = None;
        for (i, (state, sev, want, status, count)) in steps.into_iter().enumerate() {
            let change = correlate(
                case.as_ref(),
                &judged(state, sev),
                id(i as u128 + 100),
                id(1),
                t(i as i64),
            );
            match (change, status) {
                (None, None) => {}
                (Some(ch), Some(status)) => {
                    assert_eq!(ch.transitions, want, "step {i}");
                    assert_eq!(ch.timeline.len(), want.len(), "step {i}");
                    assert_eq!(ch.case.status, status, "step {i}");
                    assert_eq!(ch.case.count, count, "step {i}");
                    assert_eq!(ch.case.id, id(1));
                    case = Some(ch.case);
                }
                (got, want) => panic!("step {i}: got {got:?}, want status {want:?}"),
            }
        }
    }

    #[test]
    fn resolved_alert_without_case_opens_nothing() {
        assert!(correlate(
            None,
            &judged(AlertState::Resolved, Severity::High),
            id(2),
            id(1),
            t(0)
        )
        .is_none());
    }

    #[test]
    fn expiry_and_manual() {
        let open = correlate(
            None,
            &judged(AlertState::Active, Severity::Medium),
            id(2),
            id(1),
            t(0),
        )
        .map(|c| c.case);
        let Some(open) = open else { panic!("no case") };
        assert!(expire(&open, t(50), chrono::Duration::seconds(100)).is_none());
        let ch = expire(&open, t(101), chrono::Duration::seconds(100));
        assert_eq!(
            ch.map(|c| c.case.resolution),
            Some(Some(Resolution::Expired))
        );
        let ch = resolve_by_hand(&open, t(5), "alice", "fixed");
        let Some(ch) = ch else { panic!("not resolved") };
        assert_eq!(ch.case.resolution, Some(Resolution::Manual));
        assert_eq!(ch.timeline[0].detail["by"], "alice");
        assert!(resolve_by_hand(&ch.case, t(6), "bob", "again").is_none());
        let Some(re) = reopen_by_hand(&ch.case, t(7), "carol") else {
            panic!("not reopened")
        };
        assert_eq!(re.case.status, CaseStatus::Open);
        assert_eq!(re.case.resolution, None);
        assert_eq!(re.transitions, vec![Transition::Reopened]);
        assert_eq!(re.timeline[0].detail["by"], "carol");
        assert!(reopen_by_hand(&re.case, t(8), "dave").is_none());
    }

    #[test]
    fn findings_raise_an_open_case_and_hold_it_until_it_reopens() {
        let Some(open) = correlate(
            None,
            &judged(AlertState::Active, Severity::Medium),
            id(2),
            id(1),
            t(0),
        ) else {
            panic!("no case")
        };
        let mut verdict = judged(AlertState::Active, Severity::Urgent);
        verdict.rule = Some("tor".into());
        verdict.labels = vec!["tor".into()];
        // (what, case, verdict severity, raised to)
        let table = [
            ("higher: raised", Severity::Urgent, Some(Severity::Urgent)),
            ("same: nothing", Severity::Medium, None),
            ("lower: findings never lower", Severity::Low, None),
        ];
        for (what, sev, want) in table {
            verdict.severity = sev;
            let got = raise(&open.case, &verdict, t(1)).map(|c| c.case.severity);
            assert_eq!(got, want, "{what}");
        }
        verdict.severity = Severity::Urgent;
        let Some(raised) = raise(&open.case, &verdict, t(1)) else {
            panic!("not raised")
        };
        assert_eq!(
            raised.transitions,
            vec![Transition::SeverityChanged {
                from: Severity::Medium,
                to: Severity::Urgent
            }]
        );
        assert_eq!(raised.timeline[0].detail["by"], "investigation");
        assert_eq!(raised.case.rule.as_deref(), Some("tor"));
        assert_eq!(raised.case.labels, vec!["tor".to_string()]);

        // the next alert, judged medium without findings, keeps the case urgent
        let Some(again) = correlate(
            Some(&raised.case),
            &judged(AlertState::Active, Severity::Medium),
            id(3),
            id(9),
            t(2),
        ) else {
            panic!("no change")
        };
        assert_eq!(again.case.severity, Severity::Urgent);
        assert_eq!(again.transitions, vec![Transition::Occurrence]);
        assert_eq!(again.case.labels, vec!["tor".to_string()]);
        // a resolved case: nothing to raise
        let Some(resolved) = resolve_by_hand(&again.case, t(3), "a", "b") else {
            panic!("not resolved")
        };
        assert!(raise(&resolved.case, &verdict, t(4)).is_none());
        // a reopen is a new incident: back to what its alert says, until investigated again
        let Some(reopened) = correlate(
            Some(&resolved.case),
            &judged(AlertState::Active, Severity::Medium),
            id(4),
            id(9),
            t(5),
        ) else {
            panic!("no change")
        };
        assert_eq!(reopened.case.severity, Severity::Medium);
        assert!(reopened.case.raised.is_none());
    }
}
