//! Sigma correlation rules (Sigma correlation rules specification 2.0): `event_count`,
//! `value_count`, `temporal` and `temporal_ordered` over the hits of detection rules (or of other
//! correlations), grouped by `group-by`, within a sliding `timespan`. Pure: the caller passes each
//! event's hits and time, and keeps the windows ([`WindowState`]) with its own state.
//!
//! # Loading
//!
//! A correlation rule is a YAML document with a `correlation` section; it names its rules ("by
//! the `id` or `name` of a Sigma rule") in the same file or in any file of the same
//! [`SigmaRules::compile`]. A reference is looked up as an id first, then as a `name` (which
//! must then be unique). A correlation may name other correlations ("Allowing the user to chain
//! multiple correlations together"); cycles are rejected. `aliases` ("field name aliases that are
//! applied to correlated Sigma rules") are supported: an alias used in `group-by` (or as the
//! `value_count` field) is read, in the events of each rule, from the field the alias names for
//! that rule; every alias must name a field for every rule and be used.
//!
//! Rejected at load, with the file, the rule and the reason: a missing `title`, `id` (Irene names
//! alerts and cases by it), `type`, `rules`, `timespan`, or `condition` (`event_count`,
//! `value_count`); unknown keys in the section; unknown types and the types beyond the
//! specification's four (`value_sum`, `value_avg`, `value_percentile`, `value_median`,
//! `temporal_extended`…); string ("extended") conditions; `neq` and `percentile`; a `field`
//! other than in `value_count`; a timespan not written `number + unit` (`s`, `m`, `h`, `d`,
//! `w`), or zero; references to rules that are not loaded, ambiguous names, cycles; aliases that
//! do not cover every rule or are not used; duplicate ids; `detection`/`logsource` in a
//! correlation; and the conditions Irene cannot evaluate faithfully (below). A rejected
//! correlation leaves its rules as they are: they alert on their own.
//!
//! # Semantics chosen
//!
//! - A window per correlation and group: the values of the `group-by` fields, read from the event
//!   as detections read fields (dotted names, arrays; the first value found; a gcp.audit rule's
//!   field names mapped as its detection's are). A hit whose event lacks a group-by field (or the
//!   `value_count` field) is not counted, as `stats … by` drops such events. No `group-by` is one
//!   window for all events.
//! - The window slides: it holds the hits of the last `timespan` before its newest hit (a hit
//!   exactly `timespan` older still counts). `event_count` counts the hits ("Counts events
//!   occurring in the given time frame"; an event hitting two of the rules counts once);
//!   `value_count` counts distinct values of `condition.field` ("the count of distinct values
//!   contained in the field"), compared exactly; `temporal` counts the distinct rules that hit
//!   ("the count of different event types (Sigma rules matching) in the given time frame"),
//!   by default all of them ("All events defined by the rules referred by the rule field must
//!   occur in the time frame"); `temporal_ordered` asks that all rules hit "in the order provided
//!   in the *rule* attribute": times t1 ≤ t2 ≤ … ≤ tn (hits at the same time count as ordered).
//! - The condition is checked each time a hit enters a window. When it holds the correlation
//!   fires once and that group's window is emptied, so the next alert needs the condition met
//!   anew (what streaming engines do: one alert per crossing, not one per further event).
//! - Only lower bounds are evaluated: `gt`, `gte`. An upper bound (`lt`, `lte`, `eq`) asks how a
//!   window *ends*, which only a clock could tell; Irene has none, and the specification wants
//!   an error rather than a query that would "change the intention/context in which the rule
//!   matches" or "cause false negatives" ("An error must be raised … if it would generate a query
//!   from a rule which contains a feature that is not supported"). So upper bounds are rejected,
//!   except in `temporal`, where one at or above the number of rules can never be exceeded.
//!   `temporal_ordered` accepts only its default (all rules, in order).
//! - `generate` ("defines if the rules referred from the correlation rule should be converted as
//!   stand-alone rules or if only the correlation query should be generated (default)"),
//!   read in the `correlation` section (as pySigma does) or at the top level: false by default. A
//!   rule named by correlations alerts on its own only if one of them says `generate: true`
//!   ([`SigmaRules::rule_generates_alerts`]); the same holds for a correlation named by others
//!   ("only the outermost correlation rule may define meta information such as status, level"),
//!   and [`SigmaRules::correlate`] returns only the hits of correlations that alert.
//! - Chains: when a correlation fires, the correlations that name it see a hit of it with the
//!   same event and time.
//! - Time is the time the caller passes (the event's). Events may come out of order: a late hit
//!   is placed at its time; one older than its window's newest hit minus the timespan is too late
//!   for that window and not counted. Windows whose newest hit is more than the timespan before
//!   the current event are dropped; a window is trimmed to its timespan whenever it is touched.
//!
//! # Bounds
//!
//! At most [`MAX_WINDOW_ENTRIES`] hits per window: `event_count`/`value_count` thresholds above
//! it are rejected at load (below it a window never fills: it fires first); a `temporal_ordered`
//! window beyond it forgets its oldest hits. At most [`MAX_GROUPS`] windows and
//! [`MAX_CORRELATION_ENTRIES`] hits per correlation: beyond, the least recently active windows
//! are dropped. State of correlations no longer loaded, or whose definition changed, is dropped.

use super::alert::{event_alert, AlertHead};
use super::detection::Problem;
use super::event;
use super::load::{self, text, texts};
use super::modifier::yaml_kind;
use super::{SigmaError, SigmaRule, SigmaRules};
use crate::RuleFile;
use chrono::{DateTime, Utc};
use irene_core::{Alert, Event, Severity, WindowKey, WindowRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use serde_yaml::{Mapping, Value as Yaml};
use std::collections::{BTreeMap, HashMap};

/// The most hits one window (one correlation, one group) holds.
pub const MAX_WINDOW_ENTRIES: usize = 1_000;
/// The most windows (groups) one correlation keeps.
pub const MAX_GROUPS: usize = 10_000;
/// The most hits all the windows of one correlation hold together.
pub const MAX_CORRELATION_ENTRIES: usize = 100_000;

/// The keys of a `correlation` section.
const SECTION_KEYS: [&str; 7] = [
    "type",
    "rules",
    "group-by",
    "timespan",
    "condition",
    "aliases",
    "generate",
];

/// What a correlation counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
}

impl CorrelationKind {
    /// The name the specification gives it (`event_count`…).
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationKind::EventCount => "event_count",
            CorrelationKind::ValueCount => "value_count",
            CorrelationKind::Temporal => "temporal",
            CorrelationKind::TemporalOrdered => "temporal_ordered",
        }
    }

    fn parse(s: &str) -> Result<CorrelationKind, String> {
        Ok(match s {
            "event_count" => CorrelationKind::EventCount,
            "value_count" => CorrelationKind::ValueCount,
            "temporal" => CorrelationKind::Temporal,
            "temporal_ordered" => CorrelationKind::TemporalOrdered,
            "value_sum"
            | "value_avg"
            | "value_percentile"
            | "value_median"
            | "temporal_extended"
            | "temporal_ordered_extended" => {
                return Err(format!(
                    "type '{s}' is not supported: Irene evaluates event_count, value_count, \
                     temporal and temporal_ordered (the types of the correlation rules \
                     specification 2.0)"
                ))
            }
            other => {
                return Err(format!(
                    "unknown correlation type '{other}' (expected event_count, value_count, \
                     temporal or temporal_ordered)"
                ))
            }
        })
    }
}

/// One rule a correlation names.
#[derive(Debug, Clone, PartialEq)]
struct Ref {
    /// As written in `rules`.
    written: String,
    /// The id it resolved to.
    id: String,
    /// The correlation it names, if it names one (its index in [`Resolved::correlations`]).
    corr: Option<u32>,
}

/// One compiled correlation rule: its metadata as written, and what it counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Correlation {
    pub id: String,
    pub title: String,
    /// `name` as written: how other correlations may refer to it.
    pub name: Option<String>,
    /// `level` as written.
    pub level: Option<String>,
    /// The level as an Irene severity, as for detection rules (medium without a level).
    pub severity: Severity,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The file it came from, as named in its [`RuleFile`].
    pub file: String,
    kind: CorrelationKind,
    refs: Vec<Ref>,
    group_by: Vec<String>,
    /// The event field read for each group-by name, for each rule: `[group-by][rule]`.
    group_fields: Vec<Vec<String>>,
    /// `condition.field` (value_count) as written.
    field: Option<String>,
    /// The event field read for `field`, for each rule (value_count only).
    value_fields: Vec<String>,
    timespan: String,
    span_ms: i64,
    /// The count must be at least this…
    min: u64,
    /// …and at most this.
    max: Option<u64>,
    generate: bool,
    /// Whether its hits become alerts (it is named by no correlation, or by one that says
    /// `generate: true`).
    generates: bool,
    /// What its windows depend on: state kept for another definition is dropped.
    definition: String,
}

impl Correlation {
    pub fn kind(&self) -> CorrelationKind {
        self.kind
    }

    /// The ids of the rules (or correlations) it names, in its order.
    pub fn rules(&self) -> Vec<&str> {
        self.refs.iter().map(|r| r.id.as_str()).collect()
    }

    /// `group-by` as written (alias names included).
    pub fn group_by(&self) -> &[String] {
        &self.group_by
    }

    /// `timespan` as written (`5m`).
    pub fn timespan(&self) -> &str {
        &self.timespan
    }

    /// The timespan in seconds.
    pub fn timespan_seconds(&self) -> i64 {
        self.span_ms / 1000
    }

    /// `condition.field` (value_count).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The least count that fires it, and the most (when bounded).
    pub fn bounds(&self) -> (u64, Option<u64>) {
        (self.min, self.max)
    }

    /// `generate` as written (false when absent).
    pub fn generate(&self) -> bool {
        self.generate
    }

    fn group_values(&self, event: &Value, pos: usize) -> Option<Vec<String>> {
        self.group_fields
            .iter()
            .map(|fields| fields.get(pos).and_then(|f| read(event, f)))
            .collect()
    }
}

/// The first text value `field` reaches in `event` (null skipped).
fn read(event: &Value, field: &str) -> Option<String> {
    let mut out = None;
    event::any_leaf(event, field, &mut |v| {
        out = event::with_text(v, str::to_string);
        out.is_some()
    });
    out
}

/// A correlation rule parsed from its document, its references not yet resolved.
#[derive(Debug)]
pub(crate) struct Draft {
    /// Where its `rules` are (`document 2, line 9: `), to place problems found when resolving.
    pub(crate) place: String,
    corr: Correlation,
    aliases: Vec<(String, Vec<(String, String)>)>,
}

/// Reads a correlation rule's document; its references are resolved by [`resolve`].
pub(crate) fn parse(file: &RuleFile, map: &Mapping) -> Result<Draft, Vec<Problem>> {
    let mut problems = Vec::new();
    let title = text(map, "title", &mut problems).filter(|t| !t.trim().is_empty());
    if title.is_none() && !problems.iter().any(|p| p.path == ["title"]) {
        problems.push(Problem::new(
            &["title"],
            "missing (the specification makes it mandatory)",
        ));
    }
    let id = text(map, "id", &mut problems).filter(|t| !t.trim().is_empty());
    if id.is_none() && !problems.iter().any(|p| p.path == ["id"]) {
        problems.push(Problem::new(
            &["id"],
            "missing: Irene names a correlation's alerts and cases by its id, so every \
             correlation rule needs one",
        ));
    }
    let name = text(map, "name", &mut problems);
    let (status, level, severity) = load::status_and_level(map, &mut problems);
    let author = text(map, "author", &mut problems);
    let description = text(map, "description", &mut problems);
    let references = texts(map, "references", &mut problems);
    let tags = texts(map, "tags", &mut problems);
    let falsepositives = texts(map, "falsepositives", &mut problems);
    for key in ["detection", "logsource"] {
        if map.contains_key(key) {
            problems.push(Problem::new(
                &[key],
                "a correlation rule has no detection or logsource of its own: it correlates \
                 the hits of the rules it names",
            ));
        }
    }

    let empty = Mapping::new();
    let section = match map.get("correlation") {
        Some(Yaml::Mapping(m)) => m,
        other => {
            problems.push(Problem::new(
                &["correlation"],
                format!(
                    "expected a mapping, found {}",
                    other.map_or("nothing", yaml_kind)
                ),
            ));
            &empty
        }
    };
    for key in section.keys() {
        match key.as_str() {
            Some(k) if SECTION_KEYS.contains(&k) => {}
            Some(k) => problems.push(Problem::new(
                &["correlation", k],
                format!("unknown key (expected {})", SECTION_KEYS.join(", ")),
            )),
            None => problems.push(Problem::new(
                &["correlation"],
                format!("a key must be a name, not {}", yaml_kind(key)),
            )),
        }
    }

    let kind = match section.get("type") {
        None | Some(Yaml::Null) => {
            problems.push(Problem::new(
                &["correlation", "type"],
                "missing (the specification makes it mandatory)",
            ));
            None
        }
        Some(Yaml::String(s)) => match CorrelationKind::parse(s) {
            Ok(k) => Some(k),
            Err(e) => {
                problems.push(Problem::new(&["correlation", "type"], e));
                None
            }
        },
        Some(other) => {
            problems.push(Problem::new(
                &["correlation", "type"],
                format!("expected text, found {}", yaml_kind(other)),
            ));
            None
        }
    };

    let refs = names(section, "rules", &mut problems);
    if refs.is_empty() && !problems.iter().any(|p| p.path == ["correlation", "rules"]) {
        problems.push(Problem::new(
            &["correlation", "rules"],
            "missing: a correlation names at least one rule (the specification makes it \
             mandatory)",
        ));
    }
    let group_by = names(section, "group-by", &mut problems);

    let (timespan, span_ms) = match section.get("timespan") {
        None | Some(Yaml::Null) => {
            problems.push(Problem::new(
                &["correlation", "timespan"],
                "missing (the specification makes it mandatory)",
            ));
            (String::new(), 0)
        }
        Some(Yaml::String(s)) => match parse_timespan(s) {
            Ok(ms) => (s.clone(), ms),
            Err(e) => {
                problems.push(Problem::new(&["correlation", "timespan"], e));
                (s.clone(), 0)
            }
        },
        Some(other) => {
            problems.push(Problem::new(
                &["correlation", "timespan"],
                format!(
                    "expected a number and a unit (5m, 1h, 1d), found {}",
                    yaml_kind(other)
                ),
            ));
            (String::new(), 0)
        }
    };

    let mut aliases = Vec::new();
    match section.get("aliases") {
        None | Some(Yaml::Null) => {}
        Some(Yaml::Mapping(m)) => {
            for (alias, rules) in m {
                let Some(alias) = alias.as_str() else {
                    problems.push(Problem::new(
                        &["correlation", "aliases"],
                        format!("an alias must be a name, not {}", yaml_kind(alias)),
                    ));
                    continue;
                };
                let Yaml::Mapping(rules) = rules else {
                    problems.push(Problem::new(
                        &["correlation", "aliases", alias],
                        format!(
                            "expected a mapping of rule names to field names, found {}",
                            yaml_kind(rules)
                        ),
                    ));
                    continue;
                };
                let mut fields = Vec::new();
                for (rule, field) in rules {
                    match (rule.as_str(), field.as_str()) {
                        (Some(r), Some(f)) => fields.push((r.to_string(), f.to_string())),
                        _ => problems.push(Problem::new(
                            &["correlation", "aliases", alias],
                            "expected a mapping of rule names to field names",
                        )),
                    }
                }
                if !group_by.iter().any(|g| g == alias) {
                    problems.push(Problem::new(
                        &["correlation", "aliases", alias],
                        "defined but not used in group-by",
                    ));
                }
                aliases.push((alias.to_string(), fields));
            }
        }
        Some(other) => problems.push(Problem::new(
            &["correlation", "aliases"],
            format!("expected a mapping, found {}", yaml_kind(other)),
        )),
    }

    let mut generate = None;
    for (place, m) in [
        (&["correlation", "generate"][..], section),
        (&["generate"], map),
    ] {
        match m.get("generate") {
            None | Some(Yaml::Null) => {}
            Some(Yaml::Bool(b)) => {
                if generate.is_some_and(|g| g != *b) {
                    problems.push(Problem::new(
                        place,
                        "given twice (in the correlation section and at the top level) with \
                         different values",
                    ));
                }
                generate = Some(*b);
            }
            Some(other) => problems.push(Problem::new(
                place,
                format!("expected true or false, found {}", yaml_kind(other)),
            )),
        }
    }

    let (min, max, field) = match kind {
        Some(kind) => condition(kind, section.get("condition"), refs.len(), &mut problems),
        None => (0, None, None),
    };

    match (problems.is_empty(), title, id, kind) {
        (true, Some(title), Some(id), Some(kind)) => Ok(Draft {
            place: String::new(),
            aliases,
            corr: Correlation {
                id,
                title,
                name,
                level,
                severity,
                author,
                tags,
                description,
                status,
                references,
                falsepositives,
                file: file.name.clone(),
                kind,
                refs: refs
                    .into_iter()
                    .map(|written| Ref {
                        written,
                        id: String::new(),
                        corr: None,
                    })
                    .collect(),
                group_by,
                group_fields: Vec::new(),
                field,
                value_fields: Vec::new(),
                timespan,
                span_ms,
                min,
                max,
                generate: generate.unwrap_or(false),
                generates: true,
                definition: String::new(),
            },
        }),
        _ => Err(problems),
    }
}

/// A list of names (`rules`, `group-by`): one text is a list of one; duplicates are refused.
fn names(section: &Mapping, key: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    let mut inner = Vec::new();
    let list = texts(section, key, &mut inner);
    for mut p in inner {
        p.path.insert(0, "correlation".to_string());
        problems.push(p);
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for name in list {
        if out.contains(&name) {
            problems.push(Problem::new(
                &["correlation", key],
                format!("'{name}' is listed twice"),
            ));
        } else {
            out.push(name);
        }
    }
    out
}

/// `number + unit`, in milliseconds: "Xs seconds, Xm minutes, Xh hours, Xd days" (and `w`
/// weeks, as pySigma reads them).
fn parse_timespan(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "'{s}' is not a timespan: expected a number and a unit, s, m, h, d or w (5m, 1h, 1d)"
        )
    };
    let unit = s.chars().last().ok_or_else(bad)?;
    let digits = &s[..s.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let seconds: i64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        'w' => 604_800,
        'M' | 'y' => {
            return Err(format!(
                "'{s}': months and years have no fixed length; write the timespan in days"
            ))
        }
        _ => return Err(bad()),
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(format!("'{s}': a timespan must be greater than zero"));
    }
    n.checked_mul(seconds)
        .and_then(|x| x.checked_mul(1000))
        .ok_or_else(|| format!("'{s}' is too long a timespan"))
}

/// The condition's bounds and field. "It is a map of exactly one condition criterion" (`gt`,
/// `gte`, `lt`, `lte`, `eq`); "To define a range, you can use the conjunction 'AND' in the
/// mapping".
fn condition(
    kind: CorrelationKind,
    cond: Option<&Yaml>,
    rules: usize,
    problems: &mut Vec<Problem>,
) -> (u64, Option<u64>, Option<String>) {
    const AT: [&str; 2] = ["correlation", "condition"];
    let temporal = matches!(
        kind,
        CorrelationKind::Temporal | CorrelationKind::TemporalOrdered
    );
    let all = rules as u64;
    let m = match cond {
        None | Some(Yaml::Null) if temporal => return (all, None, None),
        None | Some(Yaml::Null) => {
            problems.push(Problem::new(
                &AT,
                format!(
                    "missing: {} needs one (the specification makes it mandatory)",
                    kind.as_str()
                ),
            ));
            return (0, None, None);
        }
        Some(Yaml::String(s)) => {
            problems.push(Problem::new(
                &AT,
                format!(
                    "extended (boolean) conditions such as '{s}' are not supported: write a \
                     map of gt, gte, lt, lte or eq"
                ),
            ));
            return (0, None, None);
        }
        Some(Yaml::Mapping(m)) => m,
        Some(other) => {
            problems.push(Problem::new(
                &AT,
                format!("expected a mapping, found {}", yaml_kind(other)),
            ));
            return (0, None, None);
        }
    };
    let mut min: Option<u64> = None;
    let mut max: Option<u64> = None;
    let mut field = None;
    let mut criteria = 0;
    let mut start = problems.len();
    for (key, value) in m {
        let Some(key) = key.as_str() else {
            problems.push(Problem::new(
                &AT,
                format!("a key must be a name, not {}", yaml_kind(key)),
            ));
            continue;
        };
        let at = ["correlation", "condition", key];
        match key {
            "gt" | "gte" | "lt" | "lte" | "eq" => {
                criteria += 1;
                let Some(n) = value.as_u64() else {
                    problems.push(Problem::new(
                        &at,
                        format!(
                            "expected a whole number of at least 0, found {}",
                            yaml_kind(value)
                        ),
                    ));
                    continue;
                };
                let (lo, hi) = match key {
                    "gt" => (n.checked_add(1), None),
                    "gte" => (Some(n), None),
                    "lt" if n == 0 => {
                        problems.push(Problem::new(&at, "a count below 0 can never be met"));
                        continue;
                    }
                    "lt" => (None, Some(n - 1)),
                    "lte" => (None, Some(n)),
                    _ => (Some(n), Some(n)),
                };
                if let Some(lo) = lo {
                    min = Some(min.map_or(lo, |m| m.max(lo)));
                }
                if let Some(hi) = hi {
                    max = Some(max.map_or(hi, |m| m.min(hi)));
                    // an upper bound no count can exceed changes nothing
                    if !(kind == CorrelationKind::Temporal && hi >= all) {
                        problems.push(Problem::new(
                            &at,
                            format!(
                                "'{key}' bounds the count from above, and whether a window ends \
                                 with at most so many needs the window to close: Irene checks a \
                                 correlation as each hit arrives, with no clock, so it would \
                                 fire early or never (the specification: an error must be \
                                 raised rather than a result that could \"cause false \
                                 negatives\"); only 'gt' and 'gte' are supported"
                            ),
                        ));
                    }
                }
            }
            "field" => match value {
                Yaml::String(s) if kind == CorrelationKind::ValueCount => field = Some(s.clone()),
                Yaml::String(_) => problems.push(Problem::new(
                    &at,
                    format!(
                        "only value_count counts the values of a field; {} does not use it",
                        kind.as_str()
                    ),
                )),
                other => problems.push(Problem::new(
                    &at,
                    format!("expected a field name, found {}", yaml_kind(other)),
                )),
            },
            "neq" => problems.push(Problem::new(
                &at,
                "'neq' is not a condition of the specification (gt, gte, lt, lte, eq)",
            )),
            "percentile" => problems.push(Problem::new(
                &at,
                "only value_percentile uses it, and that type is not supported",
            )),
            other => problems.push(Problem::new(
                &at,
                format!("unknown key '{other}' (expected gt, gte, lt, lte, eq or field)"),
            )),
        }
    }
    if problems.len() > start {
        return (0, None, None);
    }
    if kind == CorrelationKind::ValueCount && field.is_none() {
        problems.push(Problem::new(
            &AT,
            "value_count needs 'field', the field whose distinct values it counts",
        ));
    }
    let min = match min {
        Some(m) => m,
        None if temporal && criteria > 0 => 0,
        None if temporal => all,
        None => {
            problems.push(Problem::new(
                &AT,
                "no count given: expected gt or gte (and, for value_count, field)",
            ));
            0
        }
    };
    start = problems.len();
    match kind {
        CorrelationKind::EventCount | CorrelationKind::ValueCount
            if min > MAX_WINDOW_ENTRIES as u64 =>
        {
            problems.push(Problem::new(
                &AT,
                format!("a count of {min} is more than a window holds ({MAX_WINDOW_ENTRIES} hits)"),
            ));
        }
        CorrelationKind::Temporal if min > all => problems.push(Problem::new(
            &AT,
            format!("asks for {min} different rules of the {all} named: it can never be met"),
        )),
        CorrelationKind::TemporalOrdered if min != all => problems.push(Problem::new(
            &AT,
            format!(
                "temporal_ordered fires when all {all} rules hit in order (its default \
                 condition, gte: {all}); another count is not supported"
            ),
        )),
        _ => {}
    }
    if problems.len() > start {
        return (0, None, None);
    }
    let max = max.filter(|m| !(temporal && *m >= all));
    (min, max, field)
}

/// The correlations of a rule set, resolved, and how the detection rules' hits reach them.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    correlations: Vec<Correlation>,
    /// Indices into `correlations`, every correlation after those it names.
    order: Vec<u32>,
    by_id: HashMap<String, u32>,
    /// Detection rule id → (correlation, position of the rule in its `rules`).
    by_rule: HashMap<String, Vec<(u32, u32)>>,
    /// Detection rule id → whether its own hits alert, for rules that correlations name.
    rule_generates: HashMap<String, bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Rule(usize),
    Corr(usize),
}

/// Resolves the references of the correlations parsed from every file against the loaded rules
/// and each other; a correlation with a problem is left out, with an error.
pub(crate) fn resolve(
    rules: &[SigmaRule],
    drafts: Vec<Draft>,
    errors: &mut Vec<SigmaError>,
) -> Resolved {
    let fail = |d: &Draft, place: bool, message: String| SigmaError {
        file: d.corr.file.clone(),
        rule: Some(d.corr.id.clone()),
        message: if place {
            format!("{}{message}", d.place)
        } else {
            message
        },
    };
    let rule_ids: HashMap<&str, usize> = rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    // ids name alerts and cases: the first definition wins
    let mut drafts_kept: Vec<Draft> = Vec::with_capacity(drafts.len());
    for d in drafts {
        let first = rule_ids
            .get(d.corr.id.as_str())
            .map(|&i| rules[i].file.clone())
            .or_else(|| {
                drafts_kept
                    .iter()
                    .find(|k| k.corr.id == d.corr.id)
                    .map(|k| k.corr.file.clone())
            });
        match first {
            Some(file) => errors.push(fail(
                &d,
                false,
                format!("id: duplicate rule id, first defined in {file}"),
            )),
            None => drafts_kept.push(d),
        }
    }
    let drafts = drafts_kept;
    let draft_ids: Vec<String> = drafts.iter().map(|d| d.corr.id.clone()).collect();
    let corr_ids: HashMap<&str, usize> = drafts
        .iter()
        .enumerate()
        .map(|(i, d)| (d.corr.id.as_str(), i))
        .collect();
    let mut named: HashMap<&str, Vec<(Target, &str, &str)>> = HashMap::new();
    for (i, r) in rules.iter().enumerate() {
        if let Some(n) = &r.name {
            named.entry(n.as_str()).or_default().push((
                Target::Rule(i),
                r.id.as_str(),
                r.file.as_str(),
            ));
        }
    }
    for (i, d) in drafts.iter().enumerate() {
        if let Some(n) = &d.corr.name {
            named.entry(n.as_str()).or_default().push((
                Target::Corr(i),
                d.corr.id.as_str(),
                d.corr.file.as_str(),
            ));
        }
    }
    let lookup = |r: &str| -> Result<Target, String> {
        if let Some(&i) = rule_ids.get(r) {
            return Ok(Target::Rule(i));
        }
        if let Some(&i) = corr_ids.get(r) {
            return Ok(Target::Corr(i));
        }
        match named.get(r).map(Vec::as_slice) {
            Some([(t, _, _)]) => Ok(*t),
            Some(several) => Err(format!(
                "'{r}' is the name of several rules ({}): refer to one by its id",
                several
                    .iter()
                    .map(|(_, id, file)| format!("{id} in {file}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            None => Err(format!(
                "'{r}': no rule or correlation rule of the loaded files has this id or name"
            )),
        }
    };

    // references and aliases
    let n = drafts.len();
    let mut targets: Vec<Vec<Target>> = vec![Vec::new(); n];
    let mut alias_fields: Vec<HashMap<String, Vec<String>>> = vec![HashMap::new(); n];
    let mut alive = vec![true; n];
    for (i, d) in drafts.iter().enumerate() {
        let mut problems = Vec::new();
        for r in &d.corr.refs {
            match lookup(&r.written) {
                Ok(Target::Corr(j)) if j == i => {
                    problems.push(format!("'{}' is this correlation itself", r.written))
                }
                Ok(t) if targets[i].contains(&t) => problems.push(format!(
                    "'{}' names a rule already listed under another id or name",
                    r.written
                )),
                Ok(t) => targets[i].push(t),
                Err(e) => problems.push(e),
            }
        }
        let problems: Vec<String> = problems
            .into_iter()
            .map(|p| format!("correlation: rules: {p}"))
            .collect();
        let mut alias_problems = Vec::new();
        if problems.is_empty() {
            for (alias, fields) in &d.aliases {
                let mut per_rule: Vec<Option<String>> = vec![None; targets[i].len()];
                for (rule, field) in fields {
                    let pos = lookup(rule)
                        .ok()
                        .and_then(|t| targets[i].iter().position(|x| *x == t));
                    match pos {
                        Some(p) if per_rule[p].is_none() => per_rule[p] = Some(field.clone()),
                        Some(_) => alias_problems
                            .push(format!("{alias}: gives rule '{rule}' a field twice")),
                        None => alias_problems.push(format!(
                            "{alias}: '{rule}' is not one of the rules this correlation names"
                        )),
                    }
                }
                let missing: Vec<&str> = d
                    .corr
                    .refs
                    .iter()
                    .zip(&per_rule)
                    .filter(|(_, f)| f.is_none())
                    .map(|(r, _)| r.written.as_str())
                    .collect();
                if !missing.is_empty() {
                    alias_problems.push(format!(
                        "{alias}: names no field for {}",
                        missing
                            .iter()
                            .map(|m| format!("'{m}'"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                alias_fields[i].insert(alias.clone(), per_rule.into_iter().flatten().collect());
            }
        }
        let all: Vec<String> = problems
            .into_iter()
            .chain(
                alias_problems
                    .into_iter()
                    .map(|p| format!("correlation: aliases: {p}")),
            )
            .collect();
        if !all.is_empty() {
            alive[i] = false;
            errors.extend(all.into_iter().map(|m| fail(d, true, m)));
        }
    }
    // a correlation naming one that did not load does not load either
    loop {
        let mut changed = false;
        for i in 0..n {
            if !alive[i] {
                continue;
            }
            let dead = drafts[i]
                .corr
                .refs
                .iter()
                .zip(&targets[i])
                .find(|(_, t)| matches!(t, Target::Corr(j) if !alive[*j]));
            if let Some((r, _)) = dead {
                alive[i] = false;
                changed = true;
                errors.push(fail(
                    &drafts[i],
                    true,
                    format!(
                        "correlation: rules: '{}' is a correlation rule that did not load",
                        r.written
                    ),
                ));
            }
        }
        if !changed {
            break;
        }
    }
    // every correlation after those it names; the rest form cycles
    let mut done = vec![false; n];
    let mut order_drafts = Vec::new();
    loop {
        let mut progressed = false;
        for i in 0..n {
            let ready = alive[i]
                && !done[i]
                && targets[i]
                    .iter()
                    .all(|t| !matches!(t, Target::Corr(j) if !done[*j]));
            if ready {
                done[i] = true;
                order_drafts.push(i);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    for i in 0..n {
        if alive[i] && !done[i] {
            alive[i] = false;
            errors.push(fail(
                &drafts[i],
                true,
                "correlation: rules: the correlation rules name each other in a cycle".into(),
            ));
        }
    }

    // build, in load order
    let mut index = vec![u32::MAX; n];
    let mut next = 0u32;
    for i in 0..n {
        if alive[i] {
            index[i] = next;
            next += 1;
        }
    }
    let mut out = Resolved::default();
    for (i, d) in drafts.into_iter().enumerate() {
        if !alive[i] {
            continue;
        }
        let mut c = d.corr;
        for (r, t) in c.refs.iter_mut().zip(&targets[i]) {
            match *t {
                Target::Rule(k) => r.id = rules[k].id.clone(),
                Target::Corr(j) => {
                    r.id = draft_ids[j].clone();
                    r.corr = Some(index[j]);
                }
            }
        }
        // the event field for a name, for each rule: the alias's, mapped as the rule's
        // detection maps its fields
        let field_for = |name: &str| -> Vec<String> {
            targets[i]
                .iter()
                .enumerate()
                .map(|(p, t)| {
                    let f = alias_fields[i]
                        .get(name)
                        .and_then(|fs| fs.get(p))
                        .map_or(name, String::as_str);
                    match *t {
                        Target::Rule(k) => load::field_mapping(&rules[k].logsource)(f),
                        Target::Corr(_) => f.to_string(),
                    }
                })
                .collect()
        };
        c.group_fields = c.group_by.iter().map(|g| field_for(g)).collect();
        c.value_fields = c.field.as_deref().map(field_for).unwrap_or_default();
        c.definition = format!(
            "{}|{}|{}|{}|{}|{:?}|{}",
            c.kind.as_str(),
            c.refs
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(","),
            c.group_fields
                .iter()
                .map(|f| f.join(","))
                .collect::<Vec<_>>()
                .join(";"),
            c.value_fields.join(","),
            c.span_ms,
            c.max,
            c.min,
        );
        out.by_id.insert(c.id.clone(), index[i]);
        out.correlations.push(c);
    }
    out.order = order_drafts
        .into_iter()
        .filter(|&i| alive[i])
        .map(|i| index[i])
        .collect();
    // who alerts: a rule (or correlation) named by correlations only if one says generate
    let mut corr_named = vec![false; out.correlations.len()];
    let mut corr_gen = vec![false; out.correlations.len()];
    for (ci, c) in out.correlations.iter().enumerate() {
        for (pos, r) in c.refs.iter().enumerate() {
            match r.corr {
                Some(j) => {
                    corr_named[j as usize] = true;
                    corr_gen[j as usize] |= c.generate;
                }
                None => {
                    *out.rule_generates.entry(r.id.clone()).or_insert(false) |= c.generate;
                    out.by_rule
                        .entry(r.id.clone())
                        .or_default()
                        .push((ci as u32, pos as u32));
                }
            }
        }
    }
    for (j, c) in out.correlations.iter_mut().enumerate() {
        c.generates = !corr_named[j] || corr_gen[j];
    }
    out
}

/// The correlations' windows: what each correlation has seen, per group, within its timespan.
///
/// Serializes to JSON (serde), so the caller can keep it with its own state and reload it after
/// a restart: a run resumed from a saved state gives what an uninterrupted run gives. Bounded
/// (see [`MAX_WINDOW_ENTRIES`], [`MAX_GROUPS`], [`MAX_CORRELATION_ENTRIES`]): entries older than
/// their timespan are dropped as events come.
#[derive(Default, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// Correlation id → its windows.
    #[serde(default)]
    correlations: BTreeMap<String, Windows>,
}

impl WindowState {
    /// Whether no window holds anything.
    pub fn is_empty(&self) -> bool {
        self.correlations.is_empty()
    }

    /// How many windows (correlation and group) are open.
    pub fn groups(&self) -> usize {
        self.correlations.values().map(|w| w.groups.len()).sum()
    }

    /// How many hits the windows hold.
    pub fn entries(&self) -> usize {
        self.correlations
            .values()
            .flat_map(|w| w.groups.values())
            .map(Vec::len)
            .sum()
    }
}

/// The windows of one correlation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Windows {
    /// The correlation's definition when the windows were filled.
    definition: String,
    /// A time (ms) no later than the first at which a window expires: a sweep is due after it.
    expires: i64,
    /// Hits held in all the windows.
    entries: usize,
    /// Group values (a JSON array) → the hits, by time then rule.
    groups: BTreeMap<String, Vec<Entry>>,
}

/// One hit in a window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    /// Its time, milliseconds since the epoch.
    t: i64,
    /// The position of the rule in the correlation's `rules`.
    r: u32,
    /// The value counted (value_count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<String>,
}

/// A correlation that fired.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrelationHit<'a> {
    pub correlation: &'a Correlation,
    /// Each group-by name (as written) with its value.
    pub group: Vec<(String, String)>,
    /// What the condition counted: hits (event_count), distinct values (value_count), distinct
    /// rules (temporal, temporal_ordered).
    pub count: u64,
    /// The time of the window's first and last hits.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// The ids of the rules (or correlations) whose hits are in the window, in the
    /// correlation's order.
    pub rules: Vec<String>,
}

impl SigmaRules {
    /// The correlation rules, in load order.
    pub fn correlations(&self) -> &[Correlation] {
        &self.correlation.correlations
    }

    /// Whether the rule's own hits should become alerts: true unless correlation rules name it
    /// and none of them says `generate: true` (the specification's default: "only the
    /// correlation query should be generated").
    pub fn rule_generates_alerts(&self, rule: &SigmaRule) -> bool {
        self.correlation
            .rule_generates
            .get(&rule.id)
            .copied()
            .unwrap_or(true)
    }

    /// Whether the correlation's hits become alerts: true unless other correlations name it and
    /// none of them says `generate: true`. [`correlate`](Self::correlate) returns only these.
    pub fn correlation_generates_alerts(&self, correlation: &Correlation) -> bool {
        correlation.generates
    }

    /// Feeds one event's detection hits (the rules [`for_each_match`](Self::for_each_match)
    /// found for it) into the windows at time `at` (the event's time) and returns the
    /// correlations that fire now (those that alert; a correlation named by another feeds it
    /// silently unless `generate` says otherwise). Pure: the same state and input give the same
    /// output and state.
    pub fn correlate<'a>(
        &'a self,
        state: &mut WindowState,
        hits: &[&SigmaRule],
        event: &Value,
        at: DateTime<Utc>,
    ) -> Vec<CorrelationHit<'a>> {
        self.correlate_ids(state, hits.iter().map(|h| h.id.as_str()), event, at)
    }

    /// [`correlate`](Self::correlate) with the event's detections as rule ids (as stored with
    /// the event).
    pub fn correlate_detections<'a>(
        &'a self,
        state: &mut WindowState,
        detections: &[String],
        event: &Value,
        at: DateTime<Utc>,
    ) -> Vec<CorrelationHit<'a>> {
        self.correlate_ids(state, detections.iter().map(String::as_str), event, at)
    }

    fn correlate_ids<'a, 'b>(
        &'a self,
        state: &mut WindowState,
        hits: impl Iterator<Item = &'b str> + Clone,
        event: &Value,
        at: DateTime<Utc>,
    ) -> Vec<CorrelationHit<'a>> {
        let r = &self.correlation;
        state.correlations.retain(|id, w| {
            r.by_id
                .get(id)
                .and_then(|&i| r.correlations.get(i as usize))
                .is_some_and(|c| c.definition == w.definition)
        });
        let mut out = Vec::new();
        if r.correlations.is_empty() || hits.clone().next().is_none() {
            return out;
        }
        let mut positions: Vec<Vec<u32>> = vec![Vec::new(); r.correlations.len()];
        let mut any = false;
        for rule in hits {
            for &(ci, pos) in r.by_rule.get(rule).map_or(&[][..], Vec::as_slice) {
                if let Some(p) = positions.get_mut(ci as usize) {
                    p.push(pos);
                    any = true;
                }
            }
        }
        if !any {
            return out;
        }
        let t = at.timestamp_millis();
        let mut fired = vec![false; r.correlations.len()];
        let mut found = Vec::new();
        for &ci in &r.order {
            let ci = ci as usize;
            let Some(c) = r.correlations.get(ci) else {
                continue;
            };
            let mut pos = std::mem::take(&mut positions[ci]);
            for (p, rf) in c.refs.iter().enumerate() {
                if rf.corr.is_some_and(|j| fired[j as usize]) {
                    pos.push(p as u32);
                }
            }
            if pos.is_empty() {
                continue;
            }
            pos.sort_unstable();
            pos.dedup();
            found.clear();
            observe(c, state, &pos, event, t, at, &mut found);
            if !found.is_empty() {
                fired[ci] = true;
                if c.generates {
                    out.append(&mut found);
                }
            }
        }
        out
    }
}

/// A group's key: its values as a JSON array.
fn group_key(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_default()
}

/// One window as a row's state: the definition it was filled under and its hits.
#[derive(Serialize, Deserialize)]
struct RowState {
    definition: String,
    entries: Vec<Entry>,
}

/// The windows as rows, one per correlation and group, so that a store can keep them apart,
/// load only those an event touches and write back only those it changed.
///
/// Rebuilt from the rows an event touches, the windows give the hits the uninterrupted state
/// gives for events that come in time order. One difference for late events: the in-memory
/// state drops a window whose newest hit is more than the timespan before the newest event of
/// its correlation, while a row stays until an event touches it (or the store prunes it after
/// its expiry), so a hit later than that can still join it.
impl SigmaRules {
    /// The windows (correlation, group) an event with these detections (the ids of the rules
    /// it matched) could touch: those of the correlations naming the rules, and of the
    /// correlations naming those, and so on (chains; over-approximated: a chained correlation
    /// is included whether or not the one it names fires).
    pub fn window_keys(&self, detections: &[String], event: &Value) -> Vec<WindowKey> {
        let r = &self.correlation;
        let mut out: Vec<WindowKey> = Vec::new();
        if r.correlations.is_empty() || detections.is_empty() {
            return out;
        }
        let mut reached = vec![false; r.correlations.len()];
        let push = |c: &Correlation, pos: usize, out: &mut Vec<WindowKey>| {
            if let Some(values) = c.group_values(event, pos) {
                let key = WindowKey {
                    correlation: c.id.clone(),
                    group: group_key(&values),
                };
                if !out.contains(&key) {
                    out.push(key);
                }
            }
        };
        for d in detections {
            for &(ci, pos) in r.by_rule.get(d).map_or(&[][..], Vec::as_slice) {
                if let Some(c) = r.correlations.get(ci as usize) {
                    reached[ci as usize] = true;
                    push(c, pos as usize, &mut out);
                }
            }
        }
        for &ci in &r.order {
            let Some(c) = r.correlations.get(ci as usize) else {
                continue;
            };
            for (p, rf) in c.refs.iter().enumerate() {
                if rf.corr.is_some_and(|j| reached[j as usize]) {
                    reached[ci as usize] = true;
                    push(c, p, &mut out);
                }
            }
        }
        out
    }

    /// The windows held in `rows` (a part of the whole state). A row that does not read, or
    /// whose correlation is no longer loaded or was filled under another definition, is left
    /// out: its window starts empty (and [`window_rows`](Self::window_rows) no longer has it).
    pub fn windows_from_rows(&self, rows: &[WindowRow]) -> WindowState {
        let r = &self.correlation;
        let mut state = WindowState::default();
        for row in rows {
            let Some(c) = r
                .by_id
                .get(&row.key.correlation)
                .and_then(|&i| r.correlations.get(i as usize))
            else {
                continue;
            };
            let Ok(saved) = serde_json::from_str::<RowState>(&row.state) else {
                continue;
            };
            if saved.definition != c.definition || saved.entries.is_empty() {
                continue;
            }
            let w = state
                .correlations
                .entry(c.id.clone())
                .or_insert_with(|| Windows {
                    definition: c.definition.clone(),
                    // a sweep is due on the first touch: the rows may be old
                    expires: i64::MIN,
                    entries: 0,
                    groups: BTreeMap::new(),
                });
            w.entries += saved.entries.len();
            w.groups.insert(row.key.group.clone(), saved.entries);
        }
        state
    }

    /// Every window of `state` as a row, with its expiry: its newest hit plus the timespan.
    pub fn window_rows(&self, state: &WindowState) -> Vec<WindowRow> {
        let r = &self.correlation;
        let mut out = Vec::new();
        for (id, w) in &state.correlations {
            let Some(c) = r
                .by_id
                .get(id)
                .and_then(|&i| r.correlations.get(i as usize))
            else {
                continue;
            };
            for (group, entries) in &w.groups {
                let Some(newest) = entries.last() else {
                    continue;
                };
                let saved = RowState {
                    definition: w.definition.clone(),
                    entries: entries.clone(),
                };
                let Ok(text) = serde_json::to_string(&saved) else {
                    continue;
                };
                let expires = newest.t.saturating_add(c.span_ms);
                out.push(WindowRow {
                    key: WindowKey {
                        correlation: id.clone(),
                        group: group.clone(),
                    },
                    state: text,
                    expires_at: DateTime::from_timestamp_millis(expires)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                });
            }
        }
        out
    }
}

/// Adds the hits of one event to one correlation's windows; pushes the hits that fire.
fn observe<'a>(
    c: &'a Correlation,
    state: &mut WindowState,
    positions: &[u32],
    event: &Value,
    t: i64,
    at: DateTime<Utc>,
    out: &mut Vec<CorrelationHit<'a>>,
) {
    // what this event brings: one hit for a count, one per rule for temporal
    let mut adds: Vec<(Vec<String>, Entry)> = Vec::new();
    for &pos in positions {
        let p = pos as usize;
        let Some(values) = c.group_values(event, p) else {
            continue;
        };
        let v = match c.kind {
            CorrelationKind::ValueCount => {
                match c.value_fields.get(p).and_then(|f| read(event, f)) {
                    Some(v) => Some(v),
                    None => continue,
                }
            }
            _ => None,
        };
        adds.push((values, Entry { t, r: pos, v }));
        if matches!(
            c.kind,
            CorrelationKind::EventCount | CorrelationKind::ValueCount
        ) {
            break;
        }
    }
    if adds.is_empty() {
        return;
    }
    if !state.correlations.contains_key(&c.id) {
        state.correlations.insert(
            c.id.clone(),
            Windows {
                definition: c.definition.clone(),
                expires: i64::MAX,
                entries: 0,
                groups: BTreeMap::new(),
            },
        );
    }
    let Some(w) = state.correlations.get_mut(&c.id) else {
        return;
    };
    let span = c.span_ms;
    if t > w.expires {
        sweep(w, t, span);
    }
    let mut touched: Vec<(String, Vec<String>)> = Vec::new();
    for (values, entry) in adds {
        let key = group_key(&values);
        let group = w.groups.entry(key.clone()).or_default();
        let before = group.len();
        let inserted = insert(c, group, entry);
        let after = group.len();
        w.entries = (w.entries + after).saturating_sub(before);
        match group.last() {
            Some(last) => w.expires = w.expires.min(last.t.saturating_add(span)),
            None => {
                w.groups.remove(&key);
                continue;
            }
        }
        if inserted && !touched.iter().any(|(k, _)| *k == key) {
            touched.push((key, values));
        }
    }
    enforce_caps(w, touched.first().map(|(k, _)| k.as_str()));
    for (key, values) in touched {
        let Some(group) = w.groups.get(&key) else {
            continue;
        };
        if let Some(hit) = evaluate(c, group, values, at) {
            if let Some(g) = w.groups.remove(&key) {
                w.entries = w.entries.saturating_sub(g.len());
            }
            out.push(hit);
        }
    }
    if w.groups.is_empty() {
        state.correlations.remove(&c.id);
    }
}

/// Drops the windows whose newest hit is more than the timespan before `t`.
fn sweep(w: &mut Windows, t: i64, span: i64) {
    let cutoff = t.saturating_sub(span);
    w.groups
        .retain(|_, g| g.last().is_some_and(|e| e.t >= cutoff));
    w.entries = w.groups.values().map(Vec::len).sum();
    w.expires = w
        .groups
        .values()
        .filter_map(|g| g.last())
        .map(|e| e.t.saturating_add(span))
        .min()
        .unwrap_or(i64::MAX);
}

/// Drops the least recently active windows (but `keep`) while there are too many.
fn enforce_caps(w: &mut Windows, keep: Option<&str>) {
    while w.groups.len() > MAX_GROUPS || w.entries > MAX_CORRELATION_ENTRIES {
        let victim = w
            .groups
            .iter()
            .filter(|(k, _)| Some(k.as_str()) != keep)
            .min_by_key(|(k, g)| (g.last().map_or(i64::MIN, |e| e.t), k.as_str()))
            .map(|(k, _)| k.clone());
        let Some(victim) = victim else { break };
        if let Some(g) = w.groups.remove(&victim) {
            w.entries = w.entries.saturating_sub(g.len());
        }
    }
}

/// Puts a hit in its window, in time order, and trims the window; false when the hit changes
/// nothing (too late, or a value or rule already there at a later time).
fn insert(c: &Correlation, group: &mut Vec<Entry>, entry: Entry) -> bool {
    let span = c.span_ms;
    if let Some(newest) = group.last() {
        if entry.t < newest.t.saturating_sub(span) {
            return false;
        }
    }
    // a value (value_count) or a rule (temporal) counts once: its newest hit is kept
    let same = match c.kind {
        CorrelationKind::ValueCount => group.iter().position(|e| e.v == entry.v),
        CorrelationKind::Temporal => group.iter().position(|e| e.r == entry.r),
        _ => None,
    };
    if let Some(i) = same {
        if group[i].t >= entry.t {
            return false;
        }
        group.remove(i);
    }
    let at = group.partition_point(|e| (e.t, e.r) <= (entry.t, entry.r));
    group.insert(at, entry);
    if let Some(newest) = group.last().map(|e| e.t) {
        let cutoff = newest.saturating_sub(span);
        let old = group.partition_point(|e| e.t < cutoff);
        group.drain(..old);
    }
    if group.len() > MAX_WINDOW_ENTRIES {
        let excess = group.len() - MAX_WINDOW_ENTRIES;
        group.drain(..excess);
    }
    true
}

/// The hit, if the window meets the condition.
fn evaluate<'a>(
    c: &'a Correlation,
    group: &[Entry],
    values: Vec<String>,
    at: DateTime<Utc>,
) -> Option<CorrelationHit<'a>> {
    let chosen: Vec<&Entry> = match c.kind {
        CorrelationKind::TemporalOrdered => {
            // the earliest hit of each rule after the previous rule's: the earliest chain
            let mut chain = Vec::new();
            for e in group {
                if e.r as usize == chain.len() {
                    chain.push(e);
                    if chain.len() == c.refs.len() {
                        break;
                    }
                }
            }
            chain
        }
        _ => group.iter().collect(),
    };
    let count = chosen.len() as u64;
    if count < c.min.max(1) || c.max.is_some_and(|m| count > m) {
        return None;
    }
    let time = |e: Option<&&Entry>| {
        e.and_then(|e| DateTime::from_timestamp_millis(e.t))
            .unwrap_or(at)
    };
    let mut rules: Vec<u32> = chosen.iter().map(|e| e.r).collect();
    rules.sort_unstable();
    rules.dedup();
    Some(CorrelationHit {
        correlation: c,
        group: c.group_by.iter().cloned().zip(values).collect(),
        count,
        first: time(chosen.first()),
        last: time(chosen.last()),
        rules: rules
            .into_iter()
            .filter_map(|r| c.refs.get(r as usize).map(|r| r.id.clone()))
            .collect(),
    })
}

/// A correlation hit as an Irene alert.
///
/// `source` is the event's source, `type` the correlation's id, `title` its title, the severity
/// its level (as for detection rules), with the level as written kept as the source's label.
/// Account, region, actor and time come from the event (the last one of the window); the actor's
/// IP is an indicator. The key is `sigma:<correlation id>:<group values joined by ':'>`, so that
/// one group is one case. `raw` is `{"correlation": {id, title, name, level, status, author,
/// description, tags, falsepositives, references, file, type, rules, group-by, timespan,
/// condition}, "group": {name: value}, "count", "first", "last", "rules", "event": <the event's
/// raw JSON>}`.
pub fn correlation_alert(hit: &CorrelationHit, event: &Event) -> Alert {
    let c = hit.correlation;
    let values: Vec<&str> = hit.group.iter().map(|(_, v)| v.as_str()).collect();
    let key = format!("sigma:{}:{}", c.id, values.join(":"));
    let mut condition = serde_json::Map::new();
    condition.insert("gte".into(), json!(c.min));
    if let Some(max) = c.max {
        condition.insert("lte".into(), json!(max));
    }
    if let Some(f) = &c.field {
        condition.insert("field".into(), json!(f));
    }
    let group: serde_json::Map<String, Value> = hit
        .group
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let raw = json!({
        "correlation": {
            "id": c.id,
            "title": c.title,
            "name": c.name,
            "level": c.level,
            "status": c.status,
            "author": c.author,
            "description": c.description,
            "tags": c.tags,
            "falsepositives": c.falsepositives,
            "references": c.references,
            "file": c.file,
            "type": c.kind.as_str(),
            "rules": c.rules(),
            "group-by": c.group_by,
            "timespan": c.timespan,
            "condition": condition,
        },
        "group": group,
        "count": hit.count,
        "first": hit.first,
        "last": hit.last,
        "rules": hit.rules,
        "event": event.raw,
    });
    let mut alert = event_alert(
        event,
        AlertHead {
            kind: &c.id,
            title: &c.title,
            severity: c.severity,
            level: c.level.as_deref(),
            description: c.description.as_deref(),
        },
        key,
        raw,
    );
    alert.observed_at = event.observed_at.or(Some(hit.last));
    alert
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("5m"), Ok(300_000));
        assert_eq!(parse_timespan("1h"), Ok(3_600_000));
        assert_eq!(parse_timespan("2d"), Ok(172_800_000));
        assert_eq!(parse_timespan("1w"), Ok(604_800_000));
        assert_eq!(parse_timespan("90s"), Ok(90_000));
        for bad in [
            "", "m", "5", "5x", "-5m", "5 m", "1.5h", "0s", "1M", "1y", "é",
        ] {
            assert!(parse_timespan(bad).is_err(), "{bad}");
        }
        assert!(parse_timespan("99999999999999999d").is_err());
    }
}
