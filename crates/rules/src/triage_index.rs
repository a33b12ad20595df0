//! The candidate index: for each rule, a condition on the alert's text fields that must hold for it
//! to match, so judging evaluates only rules that can. Must never leave out a rule that could match.

use crate::cel_alert::Field;
use cel::common::ast::{operators, Expr, LiteralValue};
use cel::IdedExpr;
use irene_core::Alert;
use std::collections::HashMap;

/// What must hold of a field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Test {
    /// Equal to one of these (none: never).
    Equals(Vec<String>),
    /// Starts with this.
    StartsWith(String),
}

/// One way a guard can hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alternative {
    pub(crate) field: Field,
    pub(crate) test: Test,
}

/// A condition the rule needs: it can match only if one of the alternatives holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Guard {
    pub(crate) alternatives: Vec<Alternative>,
}

impl Guard {
    /// A rough price of the guard: how many alerts it is expected to let through. Smaller is
    /// better; only used to choose among the sides of an `&&`.
    fn cost(&self) -> u32 {
        self.alternatives
            .iter()
            .map(|a| {
                let base = match a.field {
                    Field::Type => 1,
                    Field::Source => 8,
                    Field::State | Field::Severity | Field::SourceSeverity => 20,
                    _ => 3,
                };
                match &a.test {
                    Test::Equals(values) => base * values.len() as u32,
                    Test::StartsWith(p) if p.is_empty() => 1000,
                    Test::StartsWith(_) => base * 2,
                }
            })
            .fold(0u32, u32::saturating_add)
    }

    fn union(mut self, other: Guard) -> Guard {
        self.alternatives.extend(other.alternatives);
        self
    }
}

/// The guard of an expression, `None` when none can be read from it.
///
/// A guard is read from the top of the expression: `&&` keeps the most selective guard of its
/// sides (the whole is true only if every side is), `||` and `c ? a : b` join the guards of their
/// branches (true only if one of them is), and the leaves are `F == "x"`, `"x" == F`,
/// `F in ["x", "y"]` and `F.startsWith("p")` where `F` is a text field of `alert`
/// (`alert.type`, `alert.source`, `alert.account`, `alert.resource.tags.env`, …, see
/// [`Field`]). A field that is missing (a tag the alert lacks) makes CEL fail, and a failing
/// side of `&&` or `||` can never make the whole true, so such a rule is rightly skipped.
pub(crate) fn guard_of(e: &IdedExpr) -> Option<Guard> {
    let Expr::Call(call) = &e.expr else {
        return None;
    };
    let target = call.target.as_deref();
    match (call.func_name.as_str(), target, call.args.as_slice()) {
        (operators::LOGICAL_AND, None, args) if args.len() >= 2 => {
            args.iter().filter_map(guard_of).min_by_key(Guard::cost)
        }
        (operators::LOGICAL_OR, None, args) if args.len() >= 2 => {
            let mut guards = args.iter().map(guard_of);
            let first = guards.next()??;
            guards.try_fold(first, |acc, g| Some(acc.union(g?)))
        }
        (operators::CONDITIONAL, None, [_, a, b]) => Some(guard_of(a)?.union(guard_of(b)?)),
        (operators::EQUALS, None, [a, b]) => {
            let (field, value) = match (field_of(a), string_literal(b)) {
                (Some(f), Some(v)) => (f, v),
                _ => (field_of(b)?, string_literal(a)?),
            };
            Some(single(field, Test::Equals(vec![value.to_string()])))
        }
        (operators::IN, None, [a, b]) => {
            let field = field_of(a)?;
            Some(single(field, Test::Equals(string_list_literal(b)?)))
        }
        ("startsWith", Some(t), [arg]) => Some(single(
            field_of(t)?,
            Test::StartsWith(string_literal(arg)?.to_string()),
        )),
        _ => None,
    }
}

fn single(field: Field, test: Test) -> Guard {
    Guard {
        alternatives: vec![Alternative { field, test }],
    }
}

pub(crate) fn string_literal(e: &IdedExpr) -> Option<&str> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner()),
        _ => None,
    }
}

/// The strings of a list literal of string literals (`["a", "b"]`), else `None`.
pub(crate) fn string_list_literal(e: &IdedExpr) -> Option<Vec<String>> {
    let Expr::List(list) = &e.expr else {
        return None;
    };
    if !list.optional_indices.is_empty() {
        return None;
    }
    list.elements
        .iter()
        .map(|e| string_literal(e).map(str::to_string))
        .collect()
}

/// The text field of `alert` an expression reads, if it is one: `alert.type`,
/// `alert.resource.tags.env`, `alert.resource.tags["aws:cloudformation:stack-name"]`.
pub(crate) fn field_of(e: &IdedExpr) -> Option<Field> {
    let mut path = Vec::new();
    if alert_path(e, &mut path) {
        Field::from_path(&path)
    } else {
        None
    }
}

/// Collects the path below `alert` that `e` spells, root first; false if it spells none.
pub(crate) fn alert_path<'e>(e: &'e IdedExpr, path: &mut Vec<&'e str>) -> bool {
    match &e.expr {
        Expr::Ident(name) => name == "alert",
        Expr::Select(select) if !select.test => {
            alert_path(&select.operand, path) && {
                path.push(&select.field);
                true
            }
        }
        Expr::Call(call) if call.func_name == operators::INDEX && call.target.is_none() => {
            match call.args.as_slice() {
                [operand, key] => match string_literal(key) {
                    Some(k) => {
                        alert_path(operand, path) && {
                            path.push(k);
                            true
                        }
                    }
                    None => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}

/// Rule positions by field value, for one field.
#[derive(Debug, Default)]
struct FieldIndex {
    exact: HashMap<String, Vec<u32>>,
    prefixes: HashMap<String, Vec<u32>>,
    /// The distinct byte lengths of `prefixes`, ascending.
    prefix_lens: Vec<usize>,
}

/// Which rules can match an alert: those whose guard holds, and those without a guard.
#[derive(Debug, Default)]
pub(crate) struct CandidateIndex {
    always: Vec<u32>,
    fields: Vec<(Field, FieldIndex)>,
}

impl CandidateIndex {
    /// Indexes the guards of the rules, in rule order.
    pub(crate) fn build(guards: &[Option<Guard>]) -> Self {
        let mut index = CandidateIndex::default();
        for (pos, guard) in guards.iter().enumerate() {
            let pos = pos as u32;
            let Some(guard) = guard else {
                index.always.push(pos);
                continue;
            };
            for alt in &guard.alternatives {
                let slot = match index.fields.iter().position(|(f, _)| *f == alt.field) {
                    Some(i) => i,
                    None => {
                        index
                            .fields
                            .push((alt.field.clone(), FieldIndex::default()));
                        index.fields.len() - 1
                    }
                };
                let fi = &mut index.fields[slot].1;
                match &alt.test {
                    Test::Equals(values) => {
                        for v in values {
                            push_once(fi.exact.entry(v.clone()).or_default(), pos);
                        }
                    }
                    Test::StartsWith(p) => {
                        push_once(fi.prefixes.entry(p.clone()).or_default(), pos);
                        if !fi.prefix_lens.contains(&p.len()) {
                            fi.prefix_lens.push(p.len());
                        }
                    }
                }
            }
        }
        for (_, fi) in &mut index.fields {
            fi.prefix_lens.sort_unstable();
        }
        index
    }

    /// The positions of the rules that can match `alert`, ascending, in `out` (cleared first).
    pub(crate) fn candidates(&self, alert: &Alert, out: &mut Vec<u32>) {
        out.clear();
        // the guarded rules whose guard holds, then merged with the (sorted) unguarded ones
        let mut hits: Vec<u32> = Vec::new();
        for (field, fi) in &self.fields {
            let Some(value) = field.get(alert) else {
                continue;
            };
            if let Some(rules) = fi.exact.get(value) {
                hits.extend_from_slice(rules);
            }
            for &len in &fi.prefix_lens {
                if len > value.len() {
                    break;
                }
                if let Some(rules) = value.get(..len).and_then(|p| fi.prefixes.get(p)) {
                    hits.extend_from_slice(rules);
                }
            }
        }
        hits.sort_unstable();
        hits.dedup();
        out.reserve(self.always.len() + hits.len());
        let (mut a, mut h) = (self.always.iter().peekable(), hits.iter().peekable());
        loop {
            let next = match (a.peek(), h.peek()) {
                (Some(&&x), Some(&&y)) if x <= y => a.next(),
                (Some(_), Some(_)) => h.next(),
                (Some(_), None) => a.next(),
                (None, Some(_)) => h.next(),
                (None, None) => break,
            };
            if let Some(&i) = next {
                out.push(i);
            }
        }
    }

    /// The positions of the rules without a guard, evaluated for every alert.
    pub(crate) fn unguarded(&self) -> &[u32] {
        &self.always
    }
}

fn push_once(v: &mut Vec<u32>, pos: u32) {
    if v.last() != Some(&pos) {
        v.push(pos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(src: &str) -> Option<Guard> {
        let program = match cel::Env::stdlib().compile(src) {
            Ok(p) => p,
            Err(e) => panic!("{src}: {e}"),
        };
        guard_of(program.expression())
    }

    fn eq(field: Field, values: &[&str]) -> Alternative {
        Alternative {
            field,
            test: Test::Equals(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn starts(field: Field, p: &str) -> Alternative {
        Alternative {
            field,
            test: Test::StartsWith(p.to_string()),
        }
    }

    #[test]
    fn guards_read_from_expressions() {
        use Field::*;
        let table: Vec<(&str, Option<Vec<Alternative>>)> = vec![
            (r#"alert.type == "A""#, Some(vec![eq(Type, &["A"])])),
            (r#""A" == alert.type"#, Some(vec![eq(Type, &["A"])])),
            (
                r#"alert.source in ["x", "y"]"#,
                Some(vec![eq(Source, &["x", "y"])]),
            ),
            (
                r#"alert.type.startsWith("Recon:")"#,
                Some(vec![starts(Type, "Recon:")]),
            ),
            // && keeps the most selective side: type over source, exact over prefix
            (
                r#"alert.source == "s" && alert.type == "A""#,
                Some(vec![eq(Type, &["A"])]),
            ),
            (
                r#"alert.type.startsWith("R") && alert.type == "R1" && x"#,
                Some(vec![eq(Type, &["R1"])]),
            ),
            (
                r#"alert.resource.tags.role == "hp" && alert.account == "1""#,
                Some(vec![eq(Tag("role".into()), &["hp"])]),
            ),
            (
                r#"alert.resource.tags["aws:stack"] == "s""#,
                Some(vec![eq(Tag("aws:stack".into()), &["s"])]),
            ),
            // || joins, and needs every side guarded
            (
                r#"alert.type == "A" || alert.source.startsWith("gcp")"#,
                Some(vec![eq(Type, &["A"]), starts(Source, "gcp")]),
            ),
            (r#"alert.type == "A" || alert.title == alert.key"#, None),
            (
                r#"c ? alert.type == "A" : alert.type == "B""#,
                Some(vec![eq(Type, &["A"]), eq(Type, &["B"])]),
            ),
            // not guards
            (r#"alert.type != "A""#, None),
            (r#"!(alert.type == "A")"#, None),
            (r#"alert.type == 5"#, None),
            (r#"alert.type in ["A", x]"#, None),
            (r#"alert.raw.type == "A""#, None),
            (r#"alert.indicators == "A""#, None),
            (r#"has(alert.type) && alert.type.endsWith("A")"#, None),
            (r#"[1].exists(alert, alert.type == "A")"#, None),
            (r#"true"#, None),
        ];
        for (src, want) in table {
            assert_eq!(guard(src).map(|g| g.alternatives), want, "{src}");
        }
    }

    #[test]
    fn candidates_are_sorted_and_complete() {
        let guards = vec![
            guard(r#"alert.type == "A""#),
            guard(r#"alert.account == "1""#),
            guard(r#"alert.type.startsWith("A")"#),
            guard(r#"alert.type.startsWith("")"#),
            guard(r#"alert.type == "A" || alert.type == "B""#),
            guard(r#"alert.resource.tags.role == "x""#),
            guard(r#"alert.type in []"#),
        ];
        let index = CandidateIndex::build(&guards);
        let mut alert = irene_core::Alert::new(
            "s",
            "A",
            "k",
            "t",
            irene_core::Severity::Low,
            serde_json::json!({}),
        );
        let mut out = vec![];
        index.candidates(&alert, &mut out);
        assert_eq!(out, vec![0, 2, 3, 4]);
        alert.kind = "B".into();
        alert.account = Some("1".into());
        alert.resource.tags.insert("role".into(), "x".into());
        index.candidates(&alert, &mut out);
        assert_eq!(out, vec![1, 3, 4, 5]);
    }
}
