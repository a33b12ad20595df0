//! A rule's `detection` section compiled into search identifiers (selections) and a condition,
//! and run against one event. Pure evaluation: no knowledge of logsources, files or alerts.
//!
//! The specification (rules specification 2.0, "Lists" and "Maps"): a search identifier is a map
//! ("All elements of a map are joined with a logical 'AND'"), a list of maps ("All map items of a
//! list are logically linked with 'OR'"), or a list of plain values, a keyword search ("strings
//! that are applied to the full log message and are linked with a logical 'OR'").

use super::condition::{self, Cond};
use super::modifier::{self, yaml_kind, Item};
use serde_json::Value;
use serde_yaml::{Mapping, Value as Yaml};

/// One search identifier: a list of branches (OR), each a list of items (AND).
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    pub(crate) name: String,
    pub(crate) branches: Vec<Vec<Item>>,
}

impl Selection {
    fn matches(&self, ev: &Value) -> bool {
        self.branches
            .iter()
            .any(|items| items.iter().all(|item| item.matches(ev)))
    }
}

/// A compiled detection.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    pub(crate) selections: Vec<Selection>,
    pub(crate) condition: Cond,
}

impl Detection {
    /// Whether the event satisfies the condition.
    pub(crate) fn matches(&self, ev: &Value) -> bool {
        self.eval(&self.condition, ev)
    }

    fn eval(&self, c: &Cond, ev: &Value) -> bool {
        match c {
            Cond::Sel(i) => self.selections.get(*i).is_some_and(|s| s.matches(ev)),
            Cond::Not(inner) => !self.eval(inner, ev),
            Cond::And(parts) => parts.iter().all(|p| self.eval(p, ev)),
            Cond::Or(parts) => parts.iter().any(|p| self.eval(p, ev)),
        }
    }
}

/// A problem in a rule: where (the keys leading to it, `detection`, `selection`, `field|mod`) and
/// what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: Vec<String>,
    pub(crate) message: String,
}

impl Problem {
    pub(crate) fn new(path: &[&str], message: impl Into<String>) -> Problem {
        Problem {
            path: path.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
        }
    }

    fn under(mut self, outer: &[&str]) -> Problem {
        let mut path: Vec<String> = outer.iter().map(|s| s.to_string()).collect();
        path.append(&mut self.path);
        self.path = path;
        self
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path.join(": "), self.message)
        }
    }
}

/// Compiles a `detection` mapping; `map_field` renames fields (the logsource's field mapping).
/// Returns every problem found.
pub(crate) fn compile(
    det: &Mapping,
    map_field: &dyn Fn(&str) -> String,
) -> Result<Detection, Vec<Problem>> {
    let mut errors = Vec::new();
    let mut selections = Vec::new();
    let mut condition_src: Option<&Yaml> = None;
    for (key, value) in det {
        let Some(name) = key.as_str() else {
            errors.push(Problem::new(
                &["detection"],
                format!("a search identifier must be a name, not {}", yaml_kind(key)),
            ));
            continue;
        };
        match name {
            "condition" => condition_src = Some(value),
            "timeframe" => errors.push(Problem::new(
                &["detection", "timeframe"],
                "only aggregations use it, and they are not supported (Sigma 2 expresses them \
                 as correlation rules)",
            )),
            _ => match compile_selection(value, map_field) {
                Ok(branches) => selections.push(Selection {
                    name: name.to_string(),
                    branches,
                }),
                Err(problems) => {
                    errors.extend(problems.into_iter().map(|p| p.under(&["detection", name])))
                }
            },
        }
    }
    let names: Vec<String> = det
        .iter()
        .filter_map(|(k, _)| k.as_str())
        .filter(|k| *k != "condition" && *k != "timeframe")
        .map(str::to_string)
        .collect();
    let condition = match condition_src {
        None => {
            errors.push(Problem::new(&["detection", "condition"], "missing"));
            None
        }
        Some(Yaml::String(src)) => match condition::parse(src, &names) {
            Ok(c) => Some(c),
            Err(e) => {
                errors.push(Problem::new(&["detection", "condition"], e));
                None
            }
        },
        // "The condition can be a list, in this case, each of them generates a query. They are
        // logically linked with OR."
        Some(Yaml::Sequence(list)) if !list.is_empty() => {
            let mut parts = Vec::new();
            for (i, item) in list.iter().enumerate() {
                match item.as_str().map(|src| condition::parse(src, &names)) {
                    Some(Ok(c)) => parts.push(c),
                    Some(Err(e)) => errors.push(Problem::new(
                        &["detection", "condition"],
                        format!("item {}: {e}", i + 1),
                    )),
                    None => errors.push(Problem::new(
                        &["detection", "condition"],
                        format!(
                            "item {}: expected a condition, found {}",
                            i + 1,
                            yaml_kind(item)
                        ),
                    )),
                }
            }
            Some(if parts.len() == 1 {
                parts.remove(0)
            } else {
                Cond::Or(parts)
            })
        }
        Some(other) => {
            errors.push(Problem::new(
                &["detection", "condition"],
                format!("expected a condition, found {}", yaml_kind(other)),
            ));
            None
        }
    };
    match condition {
        Some(condition) if errors.is_empty() => {
            // selections are compiled even when the condition does not use them (they may be
            // wrong), but a selection the condition references must exist: `parse` checked that
            debug_assert!(selections.iter().map(|s| &s.name).eq(names.iter()));
            Ok(Detection {
                selections,
                condition,
            })
        }
        _ => Err(errors),
    }
}

fn compile_selection(
    value: &Yaml,
    map_field: &dyn Fn(&str) -> String,
) -> Result<Vec<Vec<Item>>, Vec<Problem>> {
    let one = |m: String| vec![Problem::new(&[], m)];
    match value {
        Yaml::Mapping(map) => Ok(vec![compile_map(map, map_field)?]),
        Yaml::Sequence(list) if list.is_empty() => Err(one("an empty list".to_string())),
        Yaml::Sequence(list) => {
            let maps = list.iter().filter(|v| v.is_mapping()).count();
            if maps == list.len() {
                let mut branches = Vec::new();
                let mut errors = Vec::new();
                for (i, item) in list.iter().enumerate() {
                    if let Yaml::Mapping(map) = item {
                        match compile_map(map, map_field) {
                            Ok(items) => branches.push(items),
                            Err(e) => {
                                let at = format!("item {}", i + 1);
                                errors.extend(e.into_iter().map(|p| p.under(&[&at])))
                            }
                        }
                    }
                }
                if errors.is_empty() {
                    Ok(branches)
                } else {
                    Err(errors)
                }
            } else if maps == 0 {
                modifier::compile_keywords(value)
                    .map(|item| vec![vec![item]])
                    .map_err(one)
            } else {
                Err(one(
                    "a list must hold either maps (linked with OR) or plain values (keywords), \
                     not both"
                        .to_string(),
                ))
            }
        }
        Yaml::String(_) | Yaml::Number(_) | Yaml::Bool(_) => modifier::compile_keywords(value)
            .map(|item| vec![vec![item]])
            .map_err(one),
        Yaml::Null => Err(one("empty".to_string())),
        other => Err(one(format!(
            "expected a map, a list of maps or a list of keywords, found {}",
            yaml_kind(other)
        ))),
    }
}

fn compile_map(
    map: &Mapping,
    map_field: &dyn Fn(&str) -> String,
) -> Result<Vec<Item>, Vec<Problem>> {
    if map.is_empty() {
        return Err(vec![Problem::new(&[], "an empty map")]);
    }
    let mut items = Vec::with_capacity(map.len());
    let mut errors = Vec::new();
    for (key, value) in map {
        let key = match key {
            Yaml::String(s) => s.clone(),
            // `1: x` or `true: x` in YAML: a field whose name reads as a number
            Yaml::Number(n) => n.to_string(),
            Yaml::Bool(b) => b.to_string(),
            other => {
                errors.push(Problem::new(
                    &[],
                    format!("a field name cannot be {}", yaml_kind(other)),
                ));
                continue;
            }
        };
        match modifier::compile_item(&key, value) {
            Ok(mut item) => {
                item.field = item.field.map(|f| map_field(&f));
                if let modifier::Test::Values { values, .. } = &mut item.test {
                    for m in values.iter_mut().flatten() {
                        if let modifier::Matcher::FieldRef { path, .. } = m {
                            *path = map_field(path);
                        }
                    }
                }
                items.push(item);
            }
            Err(e) => errors.push(Problem::new(&[&key], e)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    // cheap tests first: the outcome of an AND does not depend on the order
    items.sort_by_key(Item::cost);
    Ok(items)
}
