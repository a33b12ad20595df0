//! The candidate index: for each rule, a test on a few well-known event fields that every match
//! of the rule passes, so that an event is checked only against rules that could match it.
//! Must never leave out a rule that could match (proved against checking every rule).
//!
//! The fields are CloudTrail's `eventName` and `eventSource` and Google Cloud audit logs'
//! `protoPayload.methodName` and `protoPayload.serviceName`. A rule's guard is read from its
//! condition: a selection item on one of these fields whose values are all literals, prefixes
//! or suffixes (`eventName: CreateUser`, `eventName|startswith: Update`, `v*.compute.x` gives
//! the suffix `.compute.x`). `and` keeps the most selective guard of its sides (every side must
//! hold), `or` (and a list of maps, and a list of values) joins the guards of all its branches
//! (one must hold), `not` gives none. A rule without a guard is a candidate for every event.
//! Keys are case-folded: a case-sensitive (`cased`) literal is filed under its folded form, which
//! lets through a superset of what it matches, never less.

use super::condition::Cond;
use super::detection::{Detection, Selection};
use super::event::{any_leaf, with_text};
use super::modifier::{Item, Matcher, Test};
use super::pattern::{fold_str, KeyTest};
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: the index's keys are the rules' own short literals, looked up once per event, so a
/// simple fast hash is enough (event text only ever probes the fixed table).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The indexed fields and how many events one value of each is expected to let through (only
/// used to choose among the sides of an `and`).
pub(crate) const FIELDS: [(&str, u32); 6] = [
    ("eventName", 1),
    ("eventSource", 8),
    ("protoPayload.methodName", 1),
    ("protoPayload.serviceName", 8),
    // For the CloudTrail rules that name no event: who (`Root`, `AssumedRole`) or which tool.
    ("userAgent", 4),
    ("userIdentity.type", 30),
];

/// One way a guard can hold: the event's `FIELDS[field]` passes `test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Alt {
    pub(crate) field: usize,
    pub(crate) test: KeyTest,
}

/// A condition every match of a rule satisfies: one of the alternatives holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guard {
    pub(crate) alts: Vec<Alt>,
}

impl Guard {
    fn cost(&self) -> u32 {
        self.alts
            .iter()
            .map(|a| {
                let base = FIELDS.get(a.field).map_or(100, |f| f.1);
                match &a.test {
                    KeyTest::Equals(_) => base,
                    KeyTest::Prefix(s) | KeyTest::Suffix(s) if s.len() < 3 => base * 30,
                    KeyTest::Prefix(_) | KeyTest::Suffix(_) => base * 3,
                }
            })
            .fold(0u32, u32::saturating_add)
    }

    fn union(mut self, other: Guard) -> Guard {
        self.alts.extend(other.alts);
        self
    }
}

fn cheapest(guards: impl Iterator<Item = Guard>) -> Option<Guard> {
    guards.min_by_key(Guard::cost)
}

/// All of them, joined; `None` if any is `None` (or there are none).
fn union_all(guards: impl Iterator<Item = Option<Guard>>) -> Option<Guard> {
    let mut out: Option<Guard> = None;
    for g in guards {
        let g = g?;
        out = Some(match out {
            None => g,
            Some(acc) => acc.union(g),
        });
    }
    out
}

/// The guard of a detection, if one can be read from it.
pub(crate) fn guard_of(det: &Detection) -> Option<Guard> {
    guard_cond(det, &det.condition)
}

fn guard_cond(det: &Detection, c: &Cond) -> Option<Guard> {
    match c {
        Cond::Sel(i) => det.selections.get(*i).and_then(guard_selection),
        Cond::Not(inner) => match inner.as_ref() {
            Cond::Not(x) => guard_cond(det, x),
            _ => None,
        },
        Cond::And(parts) => cheapest(parts.iter().filter_map(|p| guard_cond(det, p))),
        Cond::Or(parts) => union_all(parts.iter().map(|p| guard_cond(det, p))),
    }
}

fn guard_selection(sel: &Selection) -> Option<Guard> {
    union_all(
        sel.branches
            .iter()
            .map(|items| cheapest(items.iter().filter_map(guard_item))),
    )
}

fn guard_item(item: &Item) -> Option<Guard> {
    let field = FIELDS
        .iter()
        .position(|(f, _)| Some(*f) == item.field.as_deref())?;
    let Test::Values { values, all } = &item.test else {
        return None;
    };
    let value_guard = |alts: &Vec<Matcher>| {
        union_all(alts.iter().map(|m| match m {
            Matcher::Text(p) => p.key_test().map(|test| Guard {
                alts: vec![Alt { field, test }],
            }),
            _ => None,
        }))
    };
    if *all {
        cheapest(values.iter().filter_map(value_guard))
    } else {
        union_all(values.iter().map(value_guard))
    }
}

/// Tests on one indexed field.
#[derive(Debug, Default)]
struct FieldIndex {
    equals: HashMap<Box<str>, Vec<u32>, BuildHasherDefault<Fnv>>,
    prefix: Vec<(Box<str>, u32)>,
    suffix: Vec<(Box<str>, u32)>,
}

impl FieldIndex {
    fn is_empty(&self) -> bool {
        self.equals.is_empty() && self.prefix.is_empty() && self.suffix.is_empty()
    }
}

/// Rules filed by their guards.
#[derive(Debug, Default)]
pub(crate) struct CandidateIndex {
    fields: Vec<(usize, FieldIndex)>,
    always: Vec<u32>,
}

impl CandidateIndex {
    /// Files each rule (by its number) under its guard, or among those always checked.
    pub(crate) fn build(rules: impl IntoIterator<Item = (u32, Option<Guard>)>) -> CandidateIndex {
        let mut fields: Vec<FieldIndex> = FIELDS.iter().map(|_| FieldIndex::default()).collect();
        let mut always = Vec::new();
        for (rule, guard) in rules {
            let Some(guard) = guard else {
                always.push(rule);
                continue;
            };
            for alt in guard.alts {
                let Some(f) = fields.get_mut(alt.field) else {
                    continue;
                };
                match alt.test {
                    KeyTest::Equals(k) => {
                        let list = f.equals.entry(k.into_boxed_str()).or_default();
                        if list.last() != Some(&rule) {
                            list.push(rule);
                        }
                    }
                    KeyTest::Prefix(k) => f.prefix.push((k.into_boxed_str(), rule)),
                    KeyTest::Suffix(k) => f.suffix.push((k.into_boxed_str(), rule)),
                }
            }
        }
        CandidateIndex {
            fields: fields
                .into_iter()
                .enumerate()
                .filter(|(_, f)| !f.is_empty())
                .collect(),
            always,
        }
    }

    /// The rules checked for every event.
    pub(crate) fn unguarded(&self) -> &[u32] {
        &self.always
    }

    /// Appends the rules `ev` may match (unordered, possibly repeated).
    pub(crate) fn candidates(&self, ev: &Value, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.always);
        for (field, index) in &self.fields {
            let Some((path, _)) = FIELDS.get(*field) else {
                continue;
            };
            any_leaf(ev, path, &mut |leaf| {
                with_text(leaf, |text| {
                    with_folded(text, |key| {
                        if let Some(rules) = index.equals.get(key) {
                            out.extend_from_slice(rules);
                        }
                        for (p, rule) in &index.prefix {
                            if key.starts_with(&**p) {
                                out.push(*rule);
                            }
                        }
                        for (s, rule) in &index.suffix {
                            if key.ends_with(&**s) {
                                out.push(*rule);
                            }
                        }
                    })
                });
                false
            });
        }
    }
}

/// Runs `f` on `s` case-folded, on the stack when `s` is short ASCII.
fn with_folded<R>(s: &str, f: impl FnOnce(&str) -> R) -> R {
    const CAP: usize = 128;
    if s.len() <= CAP && s.is_ascii() {
        let mut buf = [0u8; CAP];
        let b = &mut buf[..s.len()];
        b.copy_from_slice(s.as_bytes());
        b.make_ascii_lowercase();
        match std::str::from_utf8(b) {
            Ok(folded) => f(folded),
            Err(_) => f(&fold_str(s)),
        }
    } else {
        f(&fold_str(s))
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigma::SigmaRules;
    use crate::RuleFile;

    /// Every SigmaHQ CloudTrail rule but four is filed under `eventName` (three of those under
    /// `userAgent` or `userIdentity.type`), and every GCP audit rule under `protoPayload.*`: an
    /// event meets only the rules that name what it did, or who did it.
    #[test]
    #[allow(clippy::disallowed_methods)] // the fixture rules are read from disk
    fn fixture_rules_are_guarded() {
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigma/rules");
        let mut stack = vec![base];
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(text) = std::fs::read_to_string(&p) {
                    files.push(RuleFile::new(p.display().to_string(), text));
                }
            }
        }
        let (rules, errors) = SigmaRules::compile(&files);
        assert!(errors.is_empty() && rules.len() == 73, "{errors:?}");
        let mut unguarded = Vec::new();
        for rule in rules.rules() {
            match guard_of(&rule.detection) {
                None => unguarded.push(rule.file.rsplit('/').next().unwrap_or("").to_string()),
                Some(g) => {
                    let want: &[&str] = if rule.logsource.product.as_deref() == Some("aws") {
                        &["eventName", "userAgent", "userIdentity.type"]
                    } else {
                        &["protoPayload.methodName", "protoPayload.serviceName"]
                    };
                    for alt in &g.alts {
                        assert!(
                            want.contains(&FIELDS[alt.field].0),
                            "{}: {alt:?}",
                            rule.file
                        );
                    }
                }
            }
        }
        unguarded.sort();
        assert_eq!(unguarded, ["aws_cloudtrail_imds_malicious_usage.yml"]);
    }
}
