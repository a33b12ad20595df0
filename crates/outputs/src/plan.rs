//! The pure planner: which deliveries a case change (or a note) implies for each output (severity
//! floor, `when` in CEL, the transition table, each kind's quirks). No I/O, no clock.

use crate::config::ConfigError;
use crate::OutputConfig;
use irene_core::{Action, Case, Change, Planned, Planner, Severity, TimelineKind, Transition};
use irene_rules::cel_env;
use irene_rules::cel_env::Program;
use serde_json::{json, Map};

/// What the planner asks of an output kind ([`OutputKind::quirks`](crate::OutputKind::quirks));
/// each kind's module answers for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quirks {
    /// Whether "seen again" is worth a delivery (a comment, a message update, a POST).
    pub repeats: bool,
    /// Whether a case falling below the floor is still told (a relabel, a message).
    pub tells_downgrade: bool,
    /// Whether notes on a case (investigation results among them) go to it: as a comment on
    /// its ticket, a reply in its thread, a message or an event.
    pub takes_notes: bool,
}

impl Quirks {
    /// Keeps a ticket per case (an issue, a thread): told everything, notes included.
    pub const TICKET: Quirks = Quirks {
        repeats: true,
        tells_downgrade: true,
        takes_notes: true,
    };
    /// Posts every event (a webhook receiver), notes as events of their own.
    pub const FEED: Quirks = Quirks::TICKET;
    /// Posts each change as a new message (an incoming webhook): repeats would be noise; a
    /// note is one more message.
    pub const MESSAGES: Quirks = Quirks {
        repeats: false,
        ..Quirks::FEED
    };
    /// Pages once per case (an incident): only opens, raises, reopens and the resolve; a page
    /// has no place for notes.
    pub const PAGE: Quirks = Quirks {
        tells_downgrade: false,
        takes_notes: false,
        ..Quirks::MESSAGES
    };
}

/// The `case` variable of `when`: the fields a route may match on.
pub fn case_json(case: &Case) -> serde_json::Value {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    json!({
        "id": case.id.to_string(),
        "key": case.key,
        "title": case.title,
        "source": case.source,
        "type": case.kind,
        "severity": case.severity.as_str(),
        "status": case.status.as_str(),
        "account": opt(&case.account),
        "region": opt(&case.region),
        "labels": case.labels,
        "rule": opt(&case.rule),
        "count": case.count,
        "resource": {
            "id": opt(&case.resource.id),
            "kind": opt(&case.resource.kind),
            "name": opt(&case.resource.name),
            "tags": case.resource.tags,
        },
    })
}

struct Route {
    name: String,
    /// `"github" | "pagerduty" | "slack" | "webhook"`.
    kind: &'static str,
    quirks: Quirks,
    min_severity: Severity,
    when: Option<(String, Program)>,
}

/// The routes of the configured outputs: the `Planner` the store calls.
pub struct Routes {
    routes: Vec<Route>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.routes
                    .iter()
                    .map(|r| (&r.name, r.kind, r.min_severity)),
            )
            .finish()
    }
}

impl Routes {
    /// Validates the configs and compiles every `when` once.
    pub fn new(configs: &[OutputConfig]) -> Result<Routes, Vec<ConfigError>> {
        crate::config::validate(configs)?;
        let mut routes = Vec::with_capacity(configs.len());
        let mut errors = Vec::new();
        for (i, c) in configs.iter().enumerate() {
            let (common, kind) = c.parts();
            let when = match &common.when {
                None => None,
                Some(src) => match cel_env::compile(src) {
                    Ok(p) => Some((src.to_string(), p)),
                    Err(e) => {
                        errors.push(ConfigError::new(i, c.name(), format!("when: {e}")));
                        continue;
                    }
                },
            };
            routes.push(Route {
                name: common.name.clone(),
                kind: c.kind(),
                quirks: kind.quirks(),
                min_severity: common.min_severity,
                when,
            });
        }
        if errors.is_empty() {
            Ok(Routes { routes })
        } else {
            Err(errors)
        }
    }

    /// The outputs' names, in configuration order.
    pub fn names(&self) -> Vec<&str> {
        self.routes.iter().map(|r| r.name.as_str()).collect()
    }

    /// `"github" | "pagerduty" | "slack" | "webhook"` for a configured output.
    pub fn kind(&self, name: &str) -> Option<&'static str> {
        self.routes.iter().find(|r| r.name == name).map(|r| r.kind)
    }

    /// The notes of a case (`Action::Note`, `detail` = `{title, markdown, ref}`, plus
    /// `kind: "investigated"` and `investigations` for a finished batch of investigations): one
    /// delivery per output that takes notes ([`Quirks::takes_notes`]: every kind but
    /// PagerDuty) and that the case reaches, by the same `min_severity` and `when` as its
    /// other deliveries, or that holds a ticket of it already. Pure: the caller enqueues them.
    pub fn plan_note(&self, case: &Case, detail: &serde_json::Value) -> Vec<Planned> {
        self.routes
            .iter()
            .filter(|r| r.quirks.takes_notes)
            .filter(|r| {
                (case.severity >= r.min_severity && r.when_holds(case)) || r.has_ticket(case)
            })
            .map(|r| Planned {
                output: r.name.clone(),
                action: Action::Note,
                detail: detail.clone(),
            })
            .collect()
    }
}

impl Route {
    fn when_holds(&self, case: &Case) -> bool {
        let Some((src, program)) = &self.when else {
            return true;
        };
        match cel_env::eval_bool(program, &[("case", case_json(case))]) {
            Ok(b) => b,
            Err(error) => {
                tracing::warn!(output = %self.name, when = %src, case = %case.id, %error,
                    "the output's `when` failed on this case; counted as false");
                false
            }
        }
    }

    fn has_ticket(&self, case: &Case) -> bool {
        case.tickets
            .iter()
            .any(|t| t.output == self.name && !t.reference.is_empty())
    }
}

/// The detail of the `i`-th timeline entry when it is of `kind` (they are pushed in step with
/// the transitions), else of the first such entry.
fn timeline_detail(
    change: &Change,
    i: usize,
    kind: TimelineKind,
) -> Map<String, serde_json::Value> {
    let entry = change
        .timeline
        .get(i)
        .filter(|e| e.kind == kind)
        .or_else(|| change.timeline.iter().find(|e| e.kind == kind));
    match entry.map(|e| &e.detail) {
        Some(serde_json::Value::Object(m)) => m.clone(),
        _ => Map::new(),
    }
}

impl Planner for Routes {
    fn plan_note(&self, case: &Case, detail: &serde_json::Value) -> Vec<Planned> {
        Routes::plan_note(self, case, detail)
    }

    fn plan(&self, change: &Change) -> Vec<Planned> {
        let case = &change.case;
        // `when` depends only on the case: evaluate it once per route
        let mut when_cache: Vec<Option<bool>> = vec![None; self.routes.len()];
        let mut when =
            |i: usize, r: &Route| *when_cache[i].get_or_insert_with(|| r.when_holds(case));
        let mut out = Vec::new();
        for (t_index, t) in change.transitions.iter().enumerate() {
            for (i, r) in self.routes.iter().enumerate() {
                let floor = |s: Severity| s >= r.min_severity;
                let push = |out: &mut Vec<Planned>, action, detail| {
                    out.push(Planned {
                        output: r.name.clone(),
                        action,
                        detail,
                    })
                };
                match *t {
                    Transition::Opened => {
                        if floor(case.severity) && when(i, r) {
                            push(&mut out, Action::Open, json!({"severity": case.severity}));
                        }
                    }
                    Transition::Occurrence => {
                        if r.quirks.repeats && floor(case.severity) && when(i, r) {
                            push(&mut out, Action::Repeat, json!({"count": case.count}));
                        }
                    }
                    Transition::SeverityChanged { from, to } => {
                        let was = floor(from) && when(i, r);
                        let now = floor(case.severity) && when(i, r);
                        let detail = json!({"from": from, "to": to, "rule": case.rule});
                        if now && !was {
                            push(&mut out, Action::Open, detail);
                        } else if was && (now || r.quirks.tells_downgrade) {
                            push(&mut out, Action::Severity, detail);
                        }
                    }
                    Transition::Resolved { resolution } => {
                        // a ticket that exists must be closed even if the case fell below
                        // this output's floor since it was made
                        if (floor(case.severity) && when(i, r)) || r.has_ticket(case) {
                            let entry = timeline_detail(change, t_index, TimelineKind::Resolved);
                            let get =
                                |k: &str| entry.get(k).cloned().unwrap_or(serde_json::Value::Null);
                            let detail = json!({
                                "resolution": entry.get("resolution").cloned().unwrap_or(json!(resolution)),
                                "by": get("by"),
                                "reason": get("reason"),
                            });
                            push(&mut out, Action::Resolve, detail);
                        }
                    }
                    Transition::Reopened => {
                        if floor(case.severity) && when(i, r) {
                            let entry = timeline_detail(change, t_index, TimelineKind::Reopened);
                            let by = entry.get("by").cloned().unwrap_or(serde_json::Value::Null);
                            push(
                                &mut out,
                                Action::Reopen,
                                json!({"count": case.count, "by": by}),
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use irene_core::{CaseStatus, Resolution, Resource, TimelineEntry};
    use uuid::Uuid;

    pub(crate) fn case(sev: Severity) -> Case {
        let t = Utc
            .timestamp_opt(1_700_000_000, 0)
            .single()
            .unwrap_or_default();
        Case {
            id: Uuid::from_u128(7),
            key: "k1".into(),
            title: "Root login".into(),
            source: "aws.guardduty".into(),
            kind: "Policy:IAMUser/RootCredentialUsage".into(),
            severity: sev,
            status: CaseStatus::Open,
            resolution: None,
            first_seen: t,
            last_seen: t,
            count: 3,
            account: Some("111111111111".into()),
            region: Some("eu-west-1".into()),
            resource: Resource {
                id: Some("i-1".into()),
                kind: Some("Instance".into()),
                name: None,
                tags: [("env".to_string(), "prod".to_string())].into(),
            },
            labels: vec!["prod".into()],
            rule: Some("root-login".into()),
            last_alert_id: Uuid::from_u128(8),
            tickets: vec![],
            updated_at: t,
            raised: None,
        }
    }

    fn configs(when: Option<&str>) -> Vec<OutputConfig> {
        let mut entries = json!([
            {"type": "github", "name": "gh", "repository": "o/r", "token": "t"},
            {"type": "pagerduty", "name": "pd", "routing_key": "k"},
            {"type": "slack", "name": "slw", "webhook_url": "https://hooks.example.com/x", "digest_every": "off"},
            {"type": "slack", "name": "slb", "bot_token": "xoxb", "channel": "C1", "digest_every": "off"},
            {"type": "webhook", "name": "wh", "url": "https://example.com/hook"},
        ]);
        if let (Some(when), Some(all)) = (when, entries.as_array_mut()) {
            for e in all.iter_mut().filter_map(serde_json::Value::as_object_mut) {
                e.insert("when".into(), json!(when));
            }
        }
        serde_json::from_value(entries).unwrap_or_else(|e| panic!("{e}"))
    }

    fn change(sev: Severity, transitions: Vec<Transition>) -> Change {
        let at = Utc
            .timestamp_opt(1_700_000_100, 0)
            .single()
            .unwrap_or_default();
        let timeline = transitions
            .iter()
            .map(|t| {
                let (kind, detail) = match t {
                    Transition::Opened => (TimelineKind::Opened, json!({})),
                    Transition::Occurrence => (TimelineKind::Occurrence, json!({"count": 3})),
                    Transition::Reopened => {
                        (TimelineKind::Reopened, json!({"count": 3, "by": "carol"}))
                    }
                    Transition::Resolved { resolution } => (
                        TimelineKind::Resolved,
                        json!({"resolution": resolution, "by": "alice", "reason": "fixed"}),
                    ),
                    Transition::SeverityChanged { from, to } => (
                        TimelineKind::SeverityChanged,
                        json!({"from": from, "to": to}),
                    ),
                };
                TimelineEntry {
                    at,
                    kind,
                    alert_id: None,
                    detail,
                }
            })
            .collect();
        Change {
            case: case(sev),
            is_new: false,
            transitions,
            timeline,
        }
    }

    /// `output:action` for each planned delivery.
    fn plan_of(routes: &Routes, ch: &Change) -> Vec<String> {
        routes
            .plan(ch)
            .iter()
            .map(|p| format!("{}:{}", p.output, p.action.as_str()))
            .collect()
    }

    #[test]
    fn transition_table() {
        use Severity::*;
        let routes = Routes::new(&configs(None)).unwrap_or_else(|e| panic!("{e:?}"));
        let sc = |from, to| Transition::SeverityChanged { from, to };
        let resolved = Transition::Resolved {
            resolution: Resolution::Manual,
        };
        let table: Vec<(Severity, Vec<Transition>, &str)> = vec![
            (Urgent, vec![Transition::Opened], "gh:open pd:open slw:open slb:open wh:open"),
            (High, vec![Transition::Opened], "gh:open pd:open slw:open slb:open wh:open"),
            (Medium, vec![Transition::Opened], "gh:open slw:open slb:open wh:open"),
            (Low, vec![Transition::Opened], "slw:open slb:open wh:open"),
            (Info, vec![Transition::Opened], "wh:open"),
            (Urgent, vec![Transition::Occurrence], "gh:repeat slb:repeat wh:repeat"),
            (Low, vec![Transition::Occurrence], "slb:repeat wh:repeat"),
            (Info, vec![Transition::Occurrence], "wh:repeat"),
            // up across floors: first time eligible → open; already eligible → severity
            (High, vec![sc(Low, High)], "gh:open pd:open slw:severity slb:severity wh:severity"),
            (Urgent, vec![sc(High, Urgent)], "gh:severity pd:severity slw:severity slb:severity wh:severity"),
            (Medium, vec![sc(Info, Medium)], "gh:open slw:open slb:open wh:severity"),
            // down: told to all that had it except pagerduty
            (Medium, vec![sc(Urgent, Medium)], "gh:severity slw:severity slb:severity wh:severity"),
            (Info, vec![sc(Medium, Info)], "gh:severity slw:severity slb:severity wh:severity"),
            (Low, vec![sc(Info, Low)], "slw:open slb:open wh:severity"),
            (Urgent, vec![resolved], "gh:resolve pd:resolve slw:resolve slb:resolve wh:resolve"),
            (Low, vec![resolved], "slw:resolve slb:resolve wh:resolve"),
            (Medium, vec![Transition::Reopened], "gh:reopen slw:reopen slb:reopen wh:reopen"),
            (
                High,
                vec![Transition::Occurrence, sc(Medium, High)],
                "gh:repeat slb:repeat wh:repeat gh:severity pd:open slw:severity slb:severity wh:severity",
            ),
            (
                High,
                vec![Transition::Reopened, sc(Low, High)],
                "gh:reopen pd:reopen slw:reopen slb:reopen wh:reopen gh:open pd:open slw:severity slb:severity wh:severity",
            ),
        ];
        for (sev, transitions, want) in table {
            let ch = change(sev, transitions.clone());
            let got = plan_of(&routes, &ch).join(" ");
            assert_eq!(got, want, "{sev} {transitions:?}");
        }
    }

    #[test]
    fn details() {
        let routes = Routes::new(&configs(None)).unwrap_or_else(|e| panic!("{e:?}"));
        let first = |ch: &Change| routes.plan(ch).into_iter().next().map(|p| p.detail);
        let ch = change(Severity::High, vec![Transition::Occurrence]);
        assert_eq!(first(&ch), Some(json!({"count": 3})));
        let ch = change(
            Severity::High,
            vec![Transition::SeverityChanged {
                from: Severity::Medium,
                to: Severity::High,
            }],
        );
        assert_eq!(
            first(&ch),
            Some(json!({"from": "medium", "to": "high", "rule": "root-login"}))
        );
        let ch = change(
            Severity::High,
            vec![Transition::Resolved {
                resolution: Resolution::Manual,
            }],
        );
        assert_eq!(
            first(&ch),
            Some(json!({"resolution": "manual", "by": "alice", "reason": "fixed"}))
        );
        let mut ch = change(
            Severity::High,
            vec![Transition::Resolved {
                resolution: Resolution::Source,
            }],
        );
        ch.timeline.clear();
        assert_eq!(
            first(&ch),
            Some(json!({"resolution": "source", "by": null, "reason": null}))
        );
        let ch = change(Severity::High, vec![Transition::Reopened]);
        assert_eq!(first(&ch), Some(json!({"count": 3, "by": "carol"})));
    }

    #[test]
    fn resolve_reaches_a_ticket_below_the_floor() {
        let routes = Routes::new(&configs(None)).unwrap_or_else(|e| panic!("{e:?}"));
        let mut ch = change(
            Severity::Medium,
            vec![Transition::Resolved {
                resolution: Resolution::Source,
            }],
        );
        ch.case.tickets.push(irene_core::case::Ticket {
            output: "pd".into(),
            kind: "pagerduty".into(),
            reference: "irene:x".into(),
            url: None,
        });
        assert_eq!(
            plan_of(&routes, &ch).join(" "),
            "gh:resolve pd:resolve slw:resolve slb:resolve wh:resolve"
        );
    }

    #[test]
    fn when_table() {
        let table = [
            ("case.account == \"111111111111\"", true),
            ("case.account == \"222222222222\"", false),
            ("case.account in [\"1\", \"111111111111\"]", true),
            ("\"prod\" in case.labels", true),
            ("case.resource.tags.env == \"prod\"", true),
            ("case.severity == \"urgent\"", true),
            ("case.type.startsWith(\"Policy:\")", true),
            ("case.count > 5", false),
            (
                "case.rule == \"root-login\" && case.region == \"eu-west-1\"",
                true,
            ),
            ("case.source.lowerAscii() == \"aws.guardduty\"", true),
            // errors count as false
            ("case.resource.tags.missing == \"x\"", false),
            ("case.count", false),
        ];
        for (when, want) in table {
            let routes =
                Routes::new(&configs(Some(when))).unwrap_or_else(|e| panic!("{when}: {e:?}"));
            let ch = change(Severity::Urgent, vec![Transition::Opened]);
            let got = routes.plan(&ch).len();
            assert_eq!(got, if want { 5 } else { 0 }, "{when}");
        }
        // `when` on the was/now sides of a severity change: both use the case's fields
        let routes = Routes::new(&configs(Some("case.account == \"111111111111\"")))
            .unwrap_or_else(|e| panic!("{e:?}"));
        let ch = change(
            Severity::High,
            vec![Transition::SeverityChanged {
                from: Severity::Low,
                to: Severity::High,
            }],
        );
        assert_eq!(
            plan_of(&routes, &ch).join(" "),
            "gh:open pd:open slw:severity slb:severity wh:severity"
        );
    }

    #[test]
    fn notes_go_to_every_output_the_case_reaches_but_pagerduty() {
        let detail = json!({"title": "t", "markdown": "m", "ref": "run-1"});
        let ticket = |output: &str| irene_core::case::Ticket {
            output: output.into(),
            kind: "github".into(),
            reference: "12".into(),
            url: None,
        };
        // (severity, when, tickets, outputs a note goes to)
        let table: Vec<(Severity, Option<&str>, Vec<&str>, &str)> = vec![
            // every kind but PagerDuty, by each output's floor
            (Severity::Urgent, None, vec![], "gh slw slb wh"),
            (Severity::High, None, vec![], "gh slw slb wh"),
            (Severity::Medium, None, vec![], "gh slw slb wh"),
            // below GitHub's floor
            (Severity::Low, None, vec![], "slw slb wh"),
            (Severity::Info, None, vec![], "wh"),
            // an issue made earlier still gets it; a page never does
            (Severity::Low, None, vec!["gh"], "gh slw slb wh"),
            (Severity::Low, None, vec!["gh", "pd"], "gh slw slb wh"),
            // `when` as for every other delivery
            (Severity::Urgent, Some("case.account == \"2\""), vec![], ""),
            (
                Severity::Urgent,
                Some("case.account == \"111111111111\""),
                vec![],
                "gh slw slb wh",
            ),
        ];
        for (sev, when, tickets, want) in table {
            let routes = Routes::new(&configs(when)).unwrap_or_else(|e| panic!("{e:?}"));
            let mut c = case(sev);
            c.tickets = tickets.into_iter().map(ticket).collect();
            let planned = routes.plan_note(&c, &detail);
            let got: Vec<&str> = planned.iter().map(|p| p.output.as_str()).collect();
            assert_eq!(got.join(" "), want, "{sev} {when:?}");
            assert!(planned
                .iter()
                .all(|p| p.action == Action::Note && p.detail == detail));
        }
    }

    #[test]
    fn names_kinds_and_bad_when() {
        let routes = Routes::new(&configs(None)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(routes.names(), vec!["gh", "pd", "slw", "slb", "wh"]);
        assert_eq!(routes.kind("slb"), Some("slack"));
        assert_eq!(routes.kind("pd"), Some("pagerduty"));
        assert_eq!(routes.kind("nope"), None);
        let Err(errors) = Routes::new(&configs(Some("case.account == "))) else {
            panic!("bad when accepted")
        };
        assert_eq!(errors.len(), 5);
        assert!(
            errors[0]
                .to_string()
                .starts_with("output \"gh\" (#1): when:"),
            "{}",
            errors[0]
        );
    }
}
