//! The Sigma detection engine: SigmaHQ rule files compiled once, events matched against them,
//! hits turned into alerts. Pure: no I/O, no clock, no async; callers hand over text and events.
//!
//! # Layout
//!
//! - `load`: YAML documents split and routed by kind; metadata; errors placed by file and line.
//! - `detection`: search identifiers (maps, lists of maps, keywords) and their evaluation.
//! - `modifier`: one `field|modifier…: values` item: modifiers, values, matching one value.
//! - `pattern`: wildcards, escapes and case-insensitive comparison, without allocation.
//! - `condition`: the condition grammar (`and`, `or`, `not`, brackets, `1 of`, `all of`, `them`).
//! - `event`: dotted field names into nested JSON, arrays, the text form of values.
//! - `index`: the candidate index on `eventName`/`eventSource`/`protoPayload.methodName`/…
//! - `alert`: a hit as an Irene alert.
//! - `correlation`: correlation rules (`event_count`, `value_count`, `temporal`,
//!   `temporal_ordered`), their windows ([`WindowState`]) and their alerts.
//!
//! # Semantics, in the specification's words
//!
//! - "All values are treated as case-insensitive strings": a string value compares with the
//!   text of an event value case-insensitively (Unicode simple case folding) unless the
//!   `cased` modifier is given ("Values are applied case sensitively"). A number's text is the
//!   JSON text (`4624`), a boolean's `true`/`false`; so `granted: 'true'` matches `"granted":
//!   true`. A number written in the rule (`EventID: 4624`) matches the number 4624, or the
//!   string `"4624"`; a boolean written in the rule matches the boolean or its text.
//! - "Regular expressions are case-sensitive by default" (`re`, with the sub-modifiers `i`, `m`,
//!   `s`); they are Rust `regex` expressions, found anywhere in the text (not anchored), compiled
//!   once. The PCRE subset the modifiers appendix names is supported; look-around and
//!   back-references are rejected at load.
//! - "A null value is defined with `null`": it matches a field that is missing or JSON null (or
//!   an empty array: no value); "`null` cannot be part of a list of field values" (rejected).
//!   An empty string (`''`) matches only the empty string.
//! - `exists`: "this check only verifies the presence of a field, not its value, be it empty or
//!   null".
//! - Lists of values are linked with OR, with `all` with AND ("Single item values are not allowed
//!   to have an `all` modifier": rejected). A list of maps is an OR of the maps.
//! - A field reached through an array matches if any element does (`all`: each value may match
//!   a different element). A field holding an object compares by its compact JSON text, as the
//!   CloudTrail rules expect of `requestParameters` and `responseElements` (`requestParameters|
//!   contains: 'Suspended'`); pySigma's flattened SQL tables cannot see such a match.
//! - Keyword searches ("strings that are applied to the full log message") look for each value
//!   *within* every text of the event: every string, number and boolean, and every object key,
//!   at any depth (the message of a JSON event is its keys and values).
//! - Google Cloud audit rules (`product: gcp`, `service: gcp.audit`) name fields as Elastic and
//!   pySigma do; `gcp.audit.method_name` is read from `protoPayload.methodName`, and
//!   `data.protoPayload.*` from `protoPayload.*` (see `load::GCP_AUDIT_FIELDS`).
//!
//! Rejected at load, each with the file, the rule and the reason: unknown and unsupported
//! modifiers (`neq`, `expand`, time modifiers), meaningless combinations, aggregations, unknown
//! condition syntax, references to missing search identifiers, `1 of` patterns that match
//! nothing, custom taxonomies, unknown `status`/`level`, rules without `id`, duplicate ids,
//! filters (not supported yet), Sigma 1 collections, bad YAML; and the correlation rules Irene
//! cannot evaluate faithfully (see the `correlation` module).

mod alert;
mod condition;
mod correlation;
mod detection;
mod event;
mod index;
mod load;
mod modifier;
mod pattern;

pub use alert::hit_alert;
pub use correlation::{
    correlation_alert, Correlation, CorrelationHit, CorrelationKind, WindowState,
    MAX_CORRELATION_ENTRIES, MAX_GROUPS, MAX_WINDOW_ENTRIES,
};

use crate::RuleFile;
use index::CandidateIndex;
use irene_core::Severity;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

/// Where a rule's events come from, or what an event source is (`logsource` of the rules
/// specification: "category", "product", "service").
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl LogSource {
    /// Whether a rule with this logsource sees events of `source`: every field the rule sets
    /// equals the source's, case-insensitively; a rule that sets none sees everything.
    pub fn admits(&self, source: &LogSource) -> bool {
        let fits = |rule: &Option<String>, src: &Option<String>| match rule {
            None => true,
            Some(r) => src
                .as_deref()
                .is_some_and(|s| pattern::text_eq(s, r, false)),
        };
        fits(&self.product, &source.product)
            && fits(&self.service, &source.service)
            && fits(&self.category, &source.category)
    }
}

/// The logsource of an Irene event source: `aws.cloudtrail` is product `aws`, service
/// `cloudtrail` (as SigmaHQ's CloudTrail rules say); `gcp.audit` is product `gcp`, service
/// `gcp.audit` (as SigmaHQ's Google Cloud audit rules say). Any other `a.b` is product `a`,
/// service `b`; a name without a dot is a product.
pub fn logsource_of(event_source: &str) -> LogSource {
    let (product, service) = match event_source {
        "gcp.audit" => ("gcp", Some("gcp.audit")),
        other => match other.split_once('.') {
            Some((p, s)) => (p, Some(s)),
            None => (other, None),
        },
    };
    LogSource {
        product: Some(product.to_string()).filter(|p| !p.is_empty()),
        service: service.map(str::to_string).filter(|s| !s.is_empty()),
        category: None,
    }
}

/// A rule that could not be loaded, and why.
///
/// Displays as `rules/aws/x.yml: 0a5177f4-…: line 23: detection: selection: eventName|foo:
/// unknown modifier 'foo'` (the rule is left out when it has neither id nor title).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{file}: {}{message}", rule.as_deref().map(|r| format!("{r}: ")).unwrap_or_default())]
pub struct SigmaError {
    /// The file, as named in its [`RuleFile`].
    pub file: String,
    /// The rule's id, else its title, when it has one.
    pub rule: Option<String>,
    /// What is wrong, starting with where (document, line, keys) when known.
    pub message: String,
}

/// One compiled Sigma detection rule: its metadata as written, and its detection.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub id: String,
    pub title: String,
    /// `name` as written: how correlation rules may refer to the rule besides its id.
    pub name: Option<String>,
    /// `level` as written (`informational`, `low`, `medium`, `high`, `critical`).
    pub level: Option<String>,
    /// The level as an Irene severity: critical→urgent, high→high, medium→medium, low→low,
    /// informational→info; a rule without a level gives medium.
    pub severity: Severity,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub description: Option<String>,
    pub references: Vec<String>,
    pub status: Option<String>,
    /// The file the rule came from, as named in its [`RuleFile`].
    pub file: String,
    pub logsource: LogSource,
    detection: detection::Detection,
}

impl SigmaRule {
    /// Whether the event (the raw record JSON) satisfies the rule's detection, whatever its
    /// source.
    pub fn detects(&self, event: &serde_json::Value) -> bool {
        self.detection.matches(event)
    }
}

/// The rules of one logsource, with their candidate index.
#[derive(Debug)]
struct Group {
    logsource: LogSource,
    index: CandidateIndex,
}

/// A compiled, ordered, immutable set of Sigma rules and correlation rules. Share it with `Arc`.
#[derive(Debug, Default)]
pub struct SigmaRules {
    rules: Vec<SigmaRule>,
    groups: Vec<Group>,
    correlation: correlation::Resolved,
}

thread_local! {
    /// Candidate lists, reused from one event to the next.
    static SCRATCH: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

impl SigmaRules {
    /// Loads every detection rule and correlation rule of `files`, in order (a file may hold
    /// several YAML documents), and returns the rules that compiled with one error for each
    /// problem of the others. A rule with a problem is left out; the others load. A correlation
    /// rule may refer to rules (by `id` or `name`) of any of `files`.
    ///
    /// Compiling runs on a short-lived thread of its own with a large stack, as the triage rules
    /// do: a pathological file must give an error, not overflow the caller's (small) stack.
    pub fn compile(files: &[RuleFile]) -> (SigmaRules, Vec<SigmaError>) {
        const STACK: usize = 64 << 20;
        std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new()
                .name("irene-sigma-compile".into())
                .stack_size(STACK)
                .spawn_scoped(scope, || Self::compile_here(files));
            match spawned {
                Ok(handle) => handle.join().unwrap_or_else(|_| {
                    (
                        SigmaRules::default(),
                        vec![SigmaError {
                            file: files.first().map(|f| f.name.clone()).unwrap_or_default(),
                            rule: None,
                            message: "the Sigma compiler failed on these files".to_string(),
                        }],
                    )
                }),
                Err(_) => Self::compile_here(files),
            }
        })
    }

    fn compile_here(files: &[RuleFile]) -> (SigmaRules, Vec<SigmaError>) {
        let mut loaded = Vec::new();
        let mut drafts = Vec::new();
        let mut errors = Vec::new();
        for file in files {
            load::load_file(file, &mut loaded, &mut drafts, &mut errors);
        }
        // ids name alerts and cases: the first definition wins, later ones are errors
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut rules = Vec::with_capacity(loaded.len());
        for rule in loaded {
            match seen.get(&rule.id) {
                Some(first) => errors.push(SigmaError {
                    file: rule.file.clone(),
                    rule: Some(rule.id.clone()),
                    message: format!("id: duplicate rule id, first defined in {first}"),
                }),
                None => {
                    seen.insert(rule.id.clone(), rule.file.clone());
                    rules.push(rule);
                }
            }
        }
        let mut by_source: Vec<(LogSource, Vec<u32>)> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let key = LogSource {
                product: rule.logsource.product.as_deref().map(pattern::fold_str),
                service: rule.logsource.service.as_deref().map(pattern::fold_str),
                category: rule.logsource.category.as_deref().map(pattern::fold_str),
            };
            match by_source.iter_mut().find(|(ls, _)| *ls == key) {
                Some((_, members)) => members.push(i as u32),
                None => by_source.push((key, vec![i as u32])),
            }
        }
        let groups = by_source
            .into_iter()
            .map(|(logsource, members)| Group {
                logsource,
                index: CandidateIndex::build(members.into_iter().map(|i| {
                    let guard = rules
                        .get(i as usize)
                        .and_then(|r| index::guard_of(&r.detection));
                    (i, guard)
                })),
            })
            .collect();
        let correlation = correlation::resolve(&rules, drafts, &mut errors);
        (
            SigmaRules {
                rules,
                groups,
                correlation,
            },
            errors,
        )
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[SigmaRule] {
        &self.rules
    }

    /// The ids of the rules checked against every event of their logsource, because no test on
    /// an indexed field (`eventName`, `eventSource`, `protoPayload.methodName`,
    /// `protoPayload.serviceName`) could be read from their condition.
    pub fn always_checked(&self) -> Vec<&str> {
        let mut ids: Vec<u32> = self
            .groups
            .iter()
            .flat_map(|g| g.index.unguarded().iter().copied())
            .collect();
        ids.sort_unstable();
        ids.iter()
            .filter_map(|&i| self.rules.get(i as usize))
            .map(|r| r.id.as_str())
            .collect()
    }

    /// Rules matching `event` (the raw record JSON) among those whose logsource fits `source`
    /// (what [`logsource_of`] returns), in rule order.
    pub fn matches<'a>(
        &'a self,
        source: &LogSource,
        event: &serde_json::Value,
    ) -> Vec<&'a SigmaRule> {
        let mut out = Vec::new();
        self.visit(source, event, |r| out.push(r));
        out
    }

    /// Calls `f` on each rule matching `event` among those whose logsource fits `source`, in
    /// rule order, without allocating: candidates go to a buffer reused from event to event;
    /// only the JSON text of an object a rule compares as text, and the folded form of an
    /// indexed value that is long or not ASCII, are allocated.
    pub fn for_each_match(
        &self,
        source: &LogSource,
        event: &serde_json::Value,
        f: impl FnMut(&SigmaRule),
    ) {
        self.visit(source, event, f);
    }

    /// [`matches`](Self::matches) without the candidate index: every rule whose logsource fits,
    /// in order. The reference the index is tested against.
    pub fn matches_naive<'a>(
        &'a self,
        source: &LogSource,
        event: &serde_json::Value,
    ) -> Vec<&'a SigmaRule> {
        self.rules
            .iter()
            .filter(|r| r.logsource.admits(source) && r.detection.matches(event))
            .collect()
    }

    fn visit<'a>(
        &'a self,
        source: &LogSource,
        event: &serde_json::Value,
        mut f: impl FnMut(&'a SigmaRule),
    ) {
        // taken out of the thread's slot, so that `f` may match other events meanwhile
        let mut candidates = SCRATCH.with(|s| s.take());
        candidates.clear();
        for group in &self.groups {
            if group.logsource.admits(source) {
                group.index.candidates(event, &mut candidates);
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        for &i in &candidates {
            if let Some(rule) = self.rules.get(i as usize) {
                if rule.detection.matches(event) {
                    f(rule);
                }
            }
        }
        SCRATCH.with(|s| {
            let mut slot = s.borrow_mut();
            if slot.capacity() < candidates.capacity() {
                *slot = candidates;
            }
        });
    }
}
